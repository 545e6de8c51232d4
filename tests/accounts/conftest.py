"""Fixtures of the accounts tests: settings with a known secret and a short lock-out
threshold, users, and a client whose requests commit or roll back like production."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from accounts import service
from accounts.models import Role, User
from accounts.scope import Scope
from geo.db import request_session
from geo.settings import get_settings

PASSWORD = "correct horse battery"
MAX_FAILURES = 3

MakeUser = Callable[..., User]


@pytest.fixture(autouse=True)
def accounts_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DAOFU_SECRET_KEY", "test-secret-not-for-production")
    monkeypatch.setenv("DAOFU_LOGIN_MAX_FAILURES", str(MAX_FAILURES))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def make_user(session: Session) -> MakeUser:
    def make(
        username: str = "lixia_maintainer",
        role: Role = Role.maintainer,
        region: str | None = "370102",
        departments: tuple[str, ...] = (),
        password: str = PASSWORD,
    ) -> User:
        scope = Scope.of(region, departments) if region else None
        return service.create_user(session, username, password, role, scope, actor="test")

    return make


@pytest.fixture
def committing_client(session: Session) -> Iterator[TestClient]:
    """Like ``client``, but each request has its own session that commits when the request
    succeeds and rolls back when it fails, as ``geo.db.session_scope`` does in production
    (savepoints on the test's connection, so the test's transaction still undoes it all)."""
    from web.app import create_app

    app = create_app()

    def production_like() -> Iterator[Session]:
        request = Session(
            bind=session.connection(),
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        try:
            yield request
            request.commit()
        except BaseException:
            request.rollback()
            raise
        finally:
            request.close()

    app.dependency_overrides[request_session] = production_like
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
