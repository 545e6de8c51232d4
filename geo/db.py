"""The database of daofu: engine, sessions and the declarative base all packages share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from geo import cluster
from geo.errors import DatabaseUnavailable
from geo.settings import Settings, get_settings


class Base(DeclarativeBase):
    """Declarative base of every table; other packages declare theirs on it too."""


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(settings: Settings | None = None) -> str:
    """The configured URL, or the project-local cluster's (which must have been set up)."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    config = cluster.load_config(settings)
    if config is None:
        raise DatabaseUnavailable(
            "DAOFU_DATABASE_URL is unset and no local cluster exists yet: run `daofu db up`."
        )
    return config.url()


@lru_cache
def engine_for(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    return engine_for(database_url())


@lru_cache
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error.

    For the edges (CLI commands, request dependency): services only flush.
    """
    session = _sessionmaker(database_url())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def request_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request, committed when the request succeeds."""
    with session_scope() as session:
        yield session


def vacuum_analyze(engine: Engine | None = None) -> None:
    """After a bulk load: planner statistics and the visibility map that index-only
    scans need (VACUUM cannot run inside a transaction, so it has its own connection).
    ``engine``: another database than the app's (a benchmark's scratch database)."""
    with (
        (engine or get_engine())
        .connect()
        .execution_options(isolation_level="AUTOCOMMIT") as connection
    ):
        connection.exec_driver_sql("VACUUM ANALYZE")
