"""`daofu users …` against the test database (it commits, so each test cleans up)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import accounts.cli
from accounts import service
from accounts.errors import NotAuthenticated
from accounts.models import Role, User
from geo.models import AuditEntry
from geo.settings import get_settings
from tests.accounts.conftest import PASSWORD
from web.cli import app


@pytest.fixture
def on_test_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DAOFU_DATABASE_URL", db_url)
    # Wide enough that a table row stays on one line, as in a real terminal.
    monkeypatch.setattr(accounts.cli, "console", Console(width=200))
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


@pytest.fixture
def username(on_test_database: str, engine: Engine) -> Iterator[str]:
    """A fresh user name; the user and their audit entries are deleted afterwards."""
    name = f"cli_{uuid.uuid4().hex[:8]}"
    yield name
    with Session(engine) as session:
        ids = session.scalars(select(User.id).where(User.username == name)).all()
        session.execute(
            delete(AuditEntry).where(
                AuditEntry.entity == "user", AuditEntry.entity_id.in_([str(i) for i in ids])
            )
        )
        session.execute(delete(User).where(User.username == name))
        session.commit()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["users", *args], input=stdin)
    return result.exit_code, result.output


def test_add_list_token_disable(username: str, engine: Engine) -> None:
    code, output = invoke(
        "add",
        username,
        "--role",
        "maintainer",
        "--scope",
        "370102",
        "--department",
        "区公安分局",
        "--display-name",
        "张三",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, output
    assert "区划 370102000000 及下级; 部门: 区公安分局" in output

    code, output = invoke("list")
    assert code == 0, output
    row = next(line for line in output.splitlines() if username in line)
    assert "maintainer" in row and "370102000000" in row and "张三" in row

    code, output = invoke("token", username, "--days", "7", "--label", "import job")
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    assert "Bearer" in output and len(token) >= 40
    with Session(engine) as session:
        user = service.user_for_token(session, token)
        assert user.username == username and user.role == Role.maintainer
        assert user.password_hash.startswith("$argon2id$")
        assert service.authenticate(session, username, PASSWORD).id == user.id
        session.rollback()

    code, output = invoke("disable", username)
    assert code == 0, output
    with Session(engine) as session, pytest.raises(NotAuthenticated):
        service.user_for_token(session, token)
    code, output = invoke("list")
    row = next(line for line in output.splitlines() if username in line)
    assert "yes" in row

    assert invoke("enable", username)[0] == 0
    assert "revoked 0" in invoke("revoke", username)[1]  # disabling revoked them already


def test_the_password_is_asked_twice_hidden_and_never_an_argument(username: str) -> None:
    code, output = invoke("add", username, "--role", "agent", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, output
    assert PASSWORD not in output
    assert invoke("add", username, "--role", "agent", "--password", PASSWORD)[0] == 2


def test_mistakes_are_explained_without_a_traceback(username: str) -> None:
    code, output = invoke("add", username, "--role", "agent", "--password-stdin", stdin="short\n")
    assert code == 1 and "10" in output and "Traceback" not in output
    code, output = invoke(
        "add", username, "--role", "maintainer", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 1 and "scope" in output
    code, output = invoke("disable", "no_such_user_here")
    assert code == 1 and "no_such_user_here" in output
