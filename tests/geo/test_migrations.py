"""``alembic upgrade head`` yields exactly the models' schema, and migrations reverse cleanly."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from geo.migrate import alembic_config, include_object, model_metadata
from tests.conftest import drop_database, scratch_database


def schema_differences(url: str) -> list[object]:
    config = alembic_config(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"include_object": include_object, "compare_type": True},
            )
            return list(compare_metadata(context, model_metadata(config)))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_gives_the_models_schema_and_downgrade_removes_it() -> None:
    url = scratch_database("migrations")
    config = alembic_config(url)
    command.upgrade(config, "head")
    assert schema_differences(url) == []
    ours = set(model_metadata(config).tables)
    assert ours <= table_names(url)

    command.downgrade(config, "base")
    assert not (ours & table_names(url))
    engine = create_engine(url)
    with engine.connect() as connection:
        leftover_types = connection.execute(
            text("SELECT typname FROM pg_type WHERE typname IN ('site_level', 'region_level')")
        ).all()
    engine.dispose()
    assert leftover_types == []

    command.upgrade(config, "head")  # and up again, from nothing
    assert schema_differences(url) == []
    drop_database(url)


def test_a_drifted_schema_is_detected() -> None:
    """The comparison can fail: a column dropped behind alembic's back is reported."""
    url = scratch_database("migrations_drift")
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE sites DROP COLUMN phone"))
    engine.dispose()
    differences = schema_differences(url)
    assert any("phone" in str(d) for d in differences)
    drop_database(url)
