"""Accounts: create and manage users, check passwords (with lock-out), issue and check tokens.

Plain functions taking a Session; they flush, never commit. One exception to "the edge
decides": a failed login raises *after* flushing its bookkeeping (failure counter, lock,
audit entry), and the edge must commit before letting the error through, or the request's
rollback would forget the failure and the lock-out would never trigger. The API and the
login page do this with :func:`accounts.api.keep_login_bookkeeping`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounts.errors import (
    AccountDisabled,
    AccountLocked,
    LoginFailed,
    NotAuthenticated,
    TokenNotFound,
    UserExists,
    UserNotFound,
)
from accounts.models import AuthToken, Role, TokenKind, User
from accounts.passwords import burn_verify, check_policy, hash_password, needs_rehash
from accounts.passwords import verify_password as _verify
from accounts.permissions import may_write, require_role, require_scope
from accounts.scope import Scope
from geo.errors import InvalidInput
from geo.models import AuditEntry, Region
from geo.settings import get_settings

__all__ = [
    "authenticate",
    "authenticate_token",
    "create_user",
    "disable_user",
    "enable_user",
    "get_token",
    "get_user",
    "issue_token",
    "list_tokens",
    "list_users",
    "may_write",
    "require_role",
    "require_scope",
    "revoke_all",
    "revoke_token",
    "set_password",
    "user_for_token",
]

log = logging.getLogger("daofu.accounts")

Actor = User | str
"""Who makes a change: a signed-in user (whose role is checked) or an operator at the
server's command line (``"cli"``), who is trusted."""

_USERNAME = re.compile(r"^[\w.@-]{2,64}$")
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


def _actor_name(actor: Actor) -> str:
    return actor.username if isinstance(actor, User) else actor


def _check_admin(actor: Actor) -> None:
    if isinstance(actor, User):
        require_role(actor, Role.admin)


def _audit(
    session: Session, actor: Actor, action: str, user_id: int | None, **detail: object
) -> None:
    session.add(
        AuditEntry(
            actor=_actor_name(actor),
            action=action,
            entity="user",
            entity_id=str(user_id) if user_id is not None else None,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )


def normalise_username(username: str) -> str:
    """User names are compared stripped and in lower case."""
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise InvalidInput(
            "username",
            "用户名为 2–64 个字母、数字或 . _ @ - A user name has 2 to 64 letters, digits "
            f"or . _ @ - (got {username[:70]!r}).",
        )
    return name


def _find_user(session: Session, username: str, for_update: bool = False) -> User | None:
    try:
        name = normalise_username(username)
    except InvalidInput:
        return None
    query = select(User).where(User.username == name)
    if for_update:  # concurrent failed logins must not overwrite each other's count
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def find_user(session: Session, username: str) -> User | None:
    """The user of this name (any case), or None."""
    return _find_user(session, username)


def get_user(session: Session, username: str) -> User:
    """The user of this name, or :class:`UserNotFound`."""
    user = _find_user(session, username)
    if user is None:
        raise UserNotFound(username)
    return user


def _checked_scope(session: Session, role: Role, scope: Scope | None) -> Scope:
    scope = scope or Scope()
    if scope.region_code and session.get(Region, scope.region_code) is None:
        raise InvalidInput("scope", f"区划 {scope.region_code} 不存在 No such division.")
    if role == Role.maintainer and scope.region_code is None:
        raise InvalidInput(
            "scope",
            "维护人员须指定区划范围 A maintainer needs a scope: a division code (e.g. 370102).",
        )
    return scope


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    scope: Scope | None = None,
    display_name: str | None = None,
    actor: Actor = "cli",
) -> User:
    """Create a user with an argon2 hash of ``password`` (which must meet the policy).

    ``scope`` is where the user may write (``None``: everywhere; a maintainer needs one).
    """
    _check_admin(actor)
    name = normalise_username(username)
    role = Role(role)
    if _find_user(session, name) is not None:
        raise UserExists(name)
    check_policy(password, name)
    scope = _checked_scope(session, role, scope)
    user = User(
        username=name,
        display_name=(display_name or "").strip() or name,
        role=role,
        scope_region_code=scope.region_code,
        scope_departments=list(scope.departments),
        password_hash=hash_password(password),
        disabled=False,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    _audit(session, actor, "user_created", user.id, role=role.value, scope=scope.describe())
    session.flush()
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def disable_user(session: Session, username: str, actor: Actor = "cli") -> User:
    """Disable the account and revoke all its sessions and tokens."""
    _check_admin(actor)
    user = get_user(session, username)
    user.disabled = True
    revoked = revoke_all(session, user)
    _audit(session, actor, "user_disabled", user.id, tokens_revoked=revoked)
    session.flush()
    log.info("user %s disabled by %s (%d tokens revoked)", user.username, actor, revoked)
    return user


def enable_user(session: Session, username: str, actor: Actor = "cli") -> User:
    """Enable the account again, and lift a lock-out."""
    _check_admin(actor)
    user = get_user(session, username)
    user.disabled = False
    user.failed_logins = 0
    user.locked_until = None
    _audit(session, actor, "user_enabled", user.id)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str, actor: Actor = "cli") -> User:
    """Replace the password (the policy applies) and end every session and token."""
    if not (isinstance(actor, User) and actor.username == normalise_username(username)):
        _check_admin(actor)  # users may change their own password
    user = get_user(session, username)
    check_policy(password, user.username)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    revoked = revoke_all(session, user)
    _audit(session, actor, "password_set", user.id, tokens_revoked=revoked)
    session.flush()
    return user


def _login_failed(
    session: Session, user: User | None, username: str, client: str | None, reason: str
) -> LoginFailed | AccountLocked:
    """Count a failure; lock the account when there were too many in a row."""
    settings = get_settings()
    detail = {"username": username[:64], "client": client, "reason": reason}
    if user is None:
        _audit(session, "anonymous", "login_failed", None, **detail)
        log.warning("failed login for unknown user %r from %s", username[:64], client)
        return LoginFailed()
    user.failed_logins += 1
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = _now() + timedelta(seconds=settings.login_lockout_s)
        _audit(
            session,
            "anonymous",
            "account_locked",
            user.id,
            failures=user.failed_logins,
            until=user.locked_until.isoformat(),
            **detail,
        )
        log.warning(
            "account %s locked until %s after %d failed logins (last from %s)",
            user.username,
            user.locked_until.isoformat(),
            user.failed_logins,
            client,
        )
        return AccountLocked(user.locked_until)
    _audit(session, "anonymous", "login_failed", user.id, failures=user.failed_logins, **detail)
    log.warning(
        "failed login %d for %s from %s (%s)", user.failed_logins, user.username, client, reason
    )
    return LoginFailed()


def authenticate(session: Session, username: str, password: str, client: str | None = None) -> User:
    """The user whose password this is, or an error: :class:`LoginFailed` (never saying
    whether the user exists), :class:`AccountLocked` (after ``login_max_failures`` failures
    in a row, for ``login_lockout_s``, even with the right password) or
    :class:`AccountDisabled` (right password, disabled account).

    Failures are counted, audited and logged, and flushed *before* the error is raised:
    the caller must commit then (see the module docstring).
    """
    user = _find_user(session, username, for_update=True)
    if user is None:
        burn_verify(password)  # as slow as a real check: timing does not reveal who exists
        error: Exception = _login_failed(session, None, username, client, "unknown user")
    elif user.locked_until is not None and user.locked_until > _now():
        _audit(session, "anonymous", "login_refused_locked", user.id, client=client)
        log.warning("login refused for locked account %s from %s", user.username, client)
        error = AccountLocked(user.locked_until)
    else:
        if user.locked_until is not None:  # the lock-out has been served: start counting anew
            user.locked_until = None
            user.failed_logins = 0
        if not _verify(user.password_hash, password):
            error = _login_failed(session, user, username, client, "wrong password")
        elif user.disabled:
            _audit(session, "anonymous", "login_refused_disabled", user.id, client=client)
            log.warning("login refused for disabled account %s from %s", user.username, client)
            error = AccountDisabled()
        else:
            user.failed_logins = 0
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            _audit(session, user, "login", user.id, client=client)
            session.flush()
            return user
    session.flush()
    raise error


def _sha256(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def issue_token(
    session: Session,
    user: User,
    kind: TokenKind | str,
    ttl_s: int | None = None,
    label: str | None = None,
) -> tuple[str, AuthToken]:
    """A new session or API token for the user: ``(plaintext, row)``. Only its SHA-256 is
    stored, so the plaintext is shown once. ``ttl_s`` defaults to the settings'
    ``session_ttl_s`` or ``api_token_ttl_days``."""
    if user.disabled:
        raise AccountDisabled()
    kind = TokenKind(kind)
    settings = get_settings()
    if ttl_s is None:
        ttl_s = (
            settings.session_ttl_s
            if kind == TokenKind.session
            else settings.api_token_ttl_days * 86400
        )
    if ttl_s <= 0:
        raise InvalidInput("ttl_s", "令牌有效期须为正 A token's lifetime must be positive.")
    plaintext = secrets.token_urlsafe(32)
    token = AuthToken(
        user_id=user.id,
        kind=kind,
        token_sha256=_sha256(plaintext),
        label=(label or "").strip()[:200] or None,
        expires_at=_now() + timedelta(seconds=ttl_s),
    )
    session.add(token)
    session.flush()
    if kind == TokenKind.api:
        _audit(session, user, "token_issued", user.id, token_id=token.id, label=token.label)
        session.flush()
    return plaintext, token


def authenticate_token(
    session: Session, plaintext: str, kind: TokenKind | str | None = None
) -> tuple[User, AuthToken]:
    """The user and token row of a presented token, or :class:`NotAuthenticated` when it is
    unknown, of another kind, expired or revoked, or its user is disabled."""
    token = session.scalars(
        select(AuthToken).where(AuthToken.token_sha256 == _sha256(plaintext))
    ).one_or_none()
    if token is None or (kind is not None and token.kind != TokenKind(kind)):
        raise NotAuthenticated("令牌无效 Unknown token.")
    now = _now()
    if token.revoked_at is not None:
        raise NotAuthenticated("令牌已撤销 This token has been revoked.")
    if token.expires_at <= now:
        raise NotAuthenticated(
            f"令牌已过期 This token expired at {token.expires_at:%Y-%m-%d %H:%M}."
        )
    user = session.get(User, token.user_id)
    if user is None:
        raise NotAuthenticated("令牌无效 Unknown token.")
    if user.disabled:
        raise AccountDisabled()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now  # at most once a minute: reads stay cheap
        session.flush()
    return user, token


def user_for_token(session: Session, plaintext: str, kind: TokenKind | str | None = None) -> User:
    """The user a presented token belongs to (see :func:`authenticate_token`)."""
    return authenticate_token(session, plaintext, kind)[0]


def revoke_token(session: Session, token: AuthToken, actor: Actor = "cli") -> None:
    """Revoke one session or token (idempotent); a user may revoke only their own."""
    if isinstance(actor, User) and actor.id != token.user_id:
        require_role(actor, Role.admin)
    if token.revoked_at is None:
        token.revoked_at = _now()
        if token.kind == TokenKind.api:
            _audit(session, actor, "token_revoked", token.user_id, token_id=token.id)
        session.flush()


def revoke_all(session: Session, user: User, actor: Actor | None = None) -> int:
    """Revoke every live session and token of the user; returns how many. With an
    ``actor``, the revocation is audited (disabling and password changes audit their own)."""
    result = session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=_now())
        .execution_options(synchronize_session="fetch")
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if actor is not None:
        _audit(session, actor, "tokens_revoked", user.id, count=count)
    session.flush()
    return count


def get_token(session: Session, user: User, token_id: int) -> AuthToken:
    """One of the user's tokens (an admin may name anyone's), or :class:`TokenNotFound`."""
    token = session.get(AuthToken, token_id)
    if token is None or (token.user_id != user.id and user.role != Role.admin):
        raise TokenNotFound(token_id)
    return token


def list_tokens(
    session: Session, user: User, include_inactive: bool = False
) -> Sequence[AuthToken]:
    """The user's sessions and tokens, newest first; only live ones unless asked."""
    query = select(AuthToken).where(AuthToken.user_id == user.id)
    if not include_inactive:
        query = query.where(AuthToken.revoked_at.is_(None), AuthToken.expires_at > _now())
    return session.scalars(query.order_by(AuthToken.created_at.desc(), AuthToken.id.desc())).all()


def verify_password(user: User, password: str) -> bool:
    """Whether the password is the user's (no counting: for re-confirming a signed-in user)."""
    return _verify(user.password_hash, password)
