"""Shared fixtures: a real PostGIS test database, migrated and loaded once per session.

The test session starts the project-local cluster itself (or uses the server of
``DAOFU_DATABASE_URL``) and creates fresh databases on it, named after this run's
process id so two runs on one machine never drop each other's database (they are
dropped at the end).
Each test gets a transaction that is rolled back afterwards. ``nanjing`` imports the
real Nanjing extract in it, ``holder`` sees it, ``nanjing_client`` serves the whole app
from both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo import cluster
from geo.db import normalise_url, request_session
from geo.loading import Dataset, load_all
from geo.migrate import upgrade_to_head
from geo.settings import PROJECT_ROOT, get_settings
from routing import api as routing_api
from routing import service
from routing.holder import EngineHolder
from routing.models import NetworkVersion
from web.datasets import ALL_DATASETS


def server_url() -> str:
    """The URL of the server tests run on: DAOFU_DATABASE_URL's, or the local cluster's."""
    settings = get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    return cluster.ensure_running(settings).url()


def scratch_database(name_suffix: str) -> str:
    """A fresh, empty database of this test run on the test server; returns its URL."""
    url = server_url()
    return cluster.scratch_database(url, f"{make_url(url).database}_{name_suffix}_{os.getpid()}")


def drop_database(url: str) -> None:
    """Drop a scratch database made by :func:`scratch_database` (end of the run)."""
    from sqlalchemy import text

    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        name = make_url(url).database
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees its own transaction's sites and links, never a cached answer."""
    import catalogue.calendar
    import catalogue.matching

    monkeypatch.setattr(catalogue.matching, "CACHE_CHECK_S", 0.0)
    monkeypatch.setattr(catalogue.calendar, "CALENDAR_CHECK_S", 0.0)


def fill_database(
    url: str,
    datasets: Sequence[Dataset] = ALL_DATASETS,
    prepare: Callable[[Session], object] | None = None,
) -> None:
    """Migrate ``url`` and commit ``datasets`` and the rows ``prepare`` adds."""
    upgrade_to_head(url)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            load_all(session, get_settings().data_dir, lambda *_: None, datasets=datasets)
            if prepare is not None:
                prepare(session)
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    url = scratch_database("test")
    fill_database(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
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
def client(session: Session) -> Iterator[TestClient]:
    """The web app, its requests served from the test session."""
    from web.app import create_app

    app = create_app()

    def test_session() -> Iterator[Session]:
        yield session
        session.flush()

    app.dependency_overrides[request_session] = test_session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


NANJING_PBF = PROJECT_ROOT / "data" / "roads" / "nanjing_xinjiekou_highways.osm.pbf"


@pytest.fixture
def nanjing(session: Session) -> NetworkVersion:
    return service.import_network(session, NANJING_PBF)


@pytest.fixture
def holder(nanjing: NetworkVersion) -> EngineHolder:
    return EngineHolder(check_interval_s=0)


@pytest.fixture
def nanjing_client(session: Session, holder: EngineHolder) -> Iterator[TestClient]:
    """The whole web app, served from the test session with the Nanjing network active."""
    from web.app import create_app

    app = create_app()
    app.dependency_overrides[request_session] = lambda: session
    app.dependency_overrides[routing_api.get_holder] = lambda: holder
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
