"""Alembic environment: the models of every package, on the URL daofu is configured with."""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine

from geo.db import database_url
from geo.migrate import include_object, model_metadata

config = context.config
target_metadata = model_metadata(config)


def run_migrations() -> None:
    url = config.attributes.get("url") or database_url()
    connectable = config.attributes.get("connection") or create_engine(url)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
            connection.commit()
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
