"""Accounts in the service layer: hashing, the password policy, lock-out, tokens."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import service
from accounts.errors import (
    AccountDisabled,
    AccountLocked,
    LoginFailed,
    NotAuthenticated,
    UserExists,
    WeakPassword,
)
from accounts.models import Role, TokenKind
from accounts.scope import Scope
from geo.errors import InvalidInput
from geo.models import AuditEntry
from tests.accounts.conftest import MAX_FAILURES, PASSWORD, MakeUser


def audit_actions(session: Session, user_id: int | None = None) -> list[str]:
    query = select(AuditEntry.action).where(AuditEntry.entity == "user")
    if user_id is not None:
        query = query.where(AuditEntry.entity_id == str(user_id))
    return list(session.scalars(query.order_by(AuditEntry.id)))


def test_the_stored_hash_is_argon2id_never_the_password(make_user: MakeUser) -> None:
    user = make_user()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert service.verify_password(user, PASSWORD)
    assert not service.verify_password(user, PASSWORD + "!")


def test_a_short_password_is_refused_with_the_rule(session: Session) -> None:
    with pytest.raises(WeakPassword, match="10"):
        service.create_user(session, "short_pw", "123456789", Role.agent)
    with pytest.raises(WeakPassword, match="user name"):
        service.create_user(session, "longusername", "LongUserName", Role.agent)


def test_user_names_are_unique_whatever_their_case(make_user: MakeUser, session: Session) -> None:
    make_user("zhang.san")
    with pytest.raises(UserExists) as error:
        service.create_user(session, " Zhang.San ", PASSWORD, Role.agent)
    assert error.value.status == 409


def test_a_maintainer_needs_a_scope_that_exists(session: Session) -> None:
    with pytest.raises(InvalidInput, match="scope"):
        service.create_user(session, "no_scope", PASSWORD, Role.maintainer, None)
    with pytest.raises(InvalidInput, match="379999"):
        service.create_user(session, "bad_scope", PASSWORD, Role.maintainer, Scope.of("379999"))


def test_login_rehashes_a_hash_made_with_older_parameters(
    make_user: MakeUser, session: Session
) -> None:
    user = make_user()
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    old_hash = user.password_hash
    assert service.authenticate(session, user.username, PASSWORD) is user
    assert user.password_hash != old_hash
    assert service.verify_password(user, PASSWORD)


def test_lock_out_after_repeated_failures_is_audited_logged_and_ends(
    make_user: MakeUser, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user()
    caplog.set_level(logging.WARNING, logger="daofu.accounts")
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginFailed):
            service.authenticate(session, user.username, "wrong password!", client="10.0.0.7")
    with pytest.raises(AccountLocked) as locked:
        service.authenticate(session, user.username, "wrong password!", client="10.0.0.7")
    assert "锁定" in locked.value.message and "locked until" in locked.value.message
    # While locked, even the right password is refused.
    with pytest.raises(AccountLocked):
        service.authenticate(session, user.username, PASSWORD)

    actions = audit_actions(session, user.id)
    assert actions.count("login_failed") == MAX_FAILURES - 1
    assert "account_locked" in actions and "login_refused_locked" in actions
    assert any("locked until" in r.getMessage() for r in caplog.records)
    assert any("10.0.0.7" in r.getMessage() for r in caplog.records)

    user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lock time is over
    assert service.authenticate(session, user.username, PASSWORD) is user
    assert user.failed_logins == 0 and user.locked_until is None


def test_a_success_resets_the_count_of_failures(make_user: MakeUser, session: Session) -> None:
    user = make_user()
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginFailed):
            service.authenticate(session, user.username, "wrong password!")
    service.authenticate(session, user.username, PASSWORD)
    with pytest.raises(LoginFailed):  # counting starts again: one failure does not lock
        service.authenticate(session, user.username, "wrong password!")


def test_an_unknown_user_fails_like_a_wrong_password_and_is_audited(session: Session) -> None:
    with pytest.raises(LoginFailed) as unknown:
        service.authenticate(session, "nobody_here", PASSWORD, client="10.0.0.9")
    assert unknown.value.message == LoginFailed().message
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "login_failed").order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None and entry.detail["username"] == "nobody_here"


def test_tokens_are_stored_hashed_and_expire_and_revoke(
    make_user: MakeUser, session: Session
) -> None:
    user = make_user()
    plaintext, token = service.issue_token(session, user, TokenKind.api, label="script")
    assert plaintext not in token.token_sha256 and len(token.token_sha256) == 64
    assert service.user_for_token(session, plaintext) is user
    with pytest.raises(NotAuthenticated):  # an API token is not a web session
        service.user_for_token(session, plaintext, TokenKind.session)

    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(NotAuthenticated, match="expired"):
        service.user_for_token(session, plaintext)

    other, other_token = service.issue_token(session, user, TokenKind.api)
    service.revoke_token(session, other_token)
    with pytest.raises(NotAuthenticated, match="revoked"):
        service.user_for_token(session, other)


def test_last_used_is_recorded_at_most_once_a_minute(make_user: MakeUser, session: Session) -> None:
    plaintext, token = service.issue_token(session, make_user(), TokenKind.api)
    service.user_for_token(session, plaintext)
    first = token.last_used_at
    assert first is not None
    service.user_for_token(session, plaintext)
    assert token.last_used_at == first
    token.last_used_at = first - timedelta(minutes=2)
    service.user_for_token(session, plaintext)
    assert token.last_used_at is not None and token.last_used_at > first


def test_disabling_revokes_every_token_and_refuses_login(
    make_user: MakeUser, session: Session
) -> None:
    user = make_user()
    plaintexts = [service.issue_token(session, user, kind)[0] for kind in TokenKind]
    service.disable_user(session, user.username, actor="test")
    for plaintext in plaintexts:
        with pytest.raises(NotAuthenticated):
            service.user_for_token(session, plaintext)
    assert service.list_tokens(session, user) == []
    with pytest.raises(AccountDisabled):
        service.authenticate(session, user.username, PASSWORD)
    with pytest.raises(LoginFailed):  # a wrong password does not learn it is disabled
        service.authenticate(session, user.username, "wrong password!")

    service.enable_user(session, user.username, actor="test")
    assert service.authenticate(session, user.username, PASSWORD) is user
    actions = audit_actions(session, user.id)
    assert actions.index("user_disabled") < actions.index("user_enabled")


def test_a_new_password_ends_every_session(make_user: MakeUser, session: Session) -> None:
    user = make_user()
    plaintext, _ = service.issue_token(session, user, TokenKind.session)
    service.set_password(session, user.username, "a brand new passphrase", actor="test")
    with pytest.raises(NotAuthenticated):
        service.user_for_token(session, plaintext)
    with pytest.raises(LoginFailed):
        service.authenticate(session, user.username, PASSWORD)
    assert service.authenticate(session, user.username, "a brand new passphrase") is user
