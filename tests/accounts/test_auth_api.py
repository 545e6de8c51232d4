"""The /api/auth endpoints and the bearer / cookie dependencies, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import service
from accounts.api import SESSION_COOKIE, csrf_token_for
from accounts.models import AuthToken, Role, TokenKind, User
from geo.models import AuditEntry
from tests.accounts.conftest import MAX_FAILURES, PASSWORD, MakeUser


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_login_gives_a_bearer_token_that_works(client: TestClient, make_user: MakeUser) -> None:
    user = make_user(departments=("区公安分局",))
    response = client.post(
        "/api/auth/token",
        json={"username": user.username, "password": PASSWORD, "label": "nightly import"},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC) + timedelta(days=29)

    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    assert me.json()["role"] == "maintainer"
    assert me.json()["scope"]["description"] == "区划 370102000000 及下级; 部门: 区公安分局"
    assert "password_hash" not in me.text


def test_no_or_a_bad_token_is_401_telling_how_to_log_in(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        response = client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] in {"not_authenticated"}
        assert "Bearer" in response.json()["detail"]


def test_a_wrong_password_does_not_reveal_whether_the_user_exists(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    wrong = client.post("/api/auth/token", json={"username": user.username, "password": "x" * 12})
    unknown = client.post(
        "/api/auth/token", json={"username": "no_such_user", "password": "x" * 12}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "access_token" not in wrong.text


def test_failed_logins_are_kept_although_the_request_fails(
    committing_client: TestClient, make_user: MakeUser, session: Session
) -> None:
    """The request's session rolls back on the 401; the failure count must survive it,
    or nobody would ever be locked out."""
    user = make_user()
    session.flush()
    wrong = {"username": user.username, "password": "wrong password!"}
    for _ in range(MAX_FAILURES - 1):
        assert committing_client.post("/api/auth/token", json=wrong).status_code == 401
    locked = committing_client.post("/api/auth/token", json=wrong)
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert "locked until" in locked.json()["detail"]
    right = {"username": user.username, "password": PASSWORD}
    assert committing_client.post("/api/auth/token", json=right).status_code == 429

    session.expire_all()
    stored = session.get(User, user.id)
    assert stored is not None and stored.failed_logins == MAX_FAILURES
    assert stored.locked_until is not None and stored.locked_until > datetime.now(UTC)
    actions = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.entity == "user", AuditEntry.entity_id == str(user.id)
        )
    ).all()
    assert actions.count("login_failed") == MAX_FAILURES - 1
    assert "account_locked" in actions and "login_refused_locked" in actions

    stored.locked_until = datetime.now(UTC) - timedelta(minutes=1)
    session.flush()
    assert committing_client.post("/api/auth/token", json=right).status_code == 200


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    user = make_user()
    expired, token = service.issue_token(session, user, TokenKind.api)
    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]

    first, second = login(client, user.username), login(client, user.username)
    listed = client.get("/api/auth/tokens", headers=first).json()
    assert len(listed) == 2 and sum(t["current"] for t in listed) == 1
    assert not any(key in listed[0] for key in ("token_sha256", "access_token"))
    other_id = next(t["id"] for t in listed if not t["current"])
    assert client.delete(f"/api/auth/tokens/{other_id}", headers=first).status_code == 204
    revoked = client.get("/api/auth/me", headers=second)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]

    assert client.post("/api/auth/logout", headers=first).status_code == 204
    assert client.get("/api/auth/me", headers=first).status_code == 401


def test_nobody_revokes_another_users_token(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    mine = login(client, make_user("first_user").username)
    _, theirs = service.issue_token(session, make_user("second_user"), TokenKind.api)
    assert client.delete(f"/api/auth/tokens/{theirs.id}", headers=mine).status_code == 404
    assert theirs.revoked_at is None


def test_a_disabled_user_is_refused_and_their_tokens_revoked(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    user = make_user()
    auth = login(client, user.username)
    service.disable_user(session, user.username, actor="test")
    assert client.get("/api/auth/me", headers=auth).status_code == 401
    tokens = session.scalars(select(AuthToken).where(AuthToken.user_id == user.id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    again = client.post("/api/auth/token", json={"username": user.username, "password": PASSWORD})
    assert again.status_code == 401 and "disabled" in again.json()["detail"]


def test_cookie_requests_that_change_things_need_the_csrf_token(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    user = make_user("reviewer_one", Role.reviewer)
    cookie, _ = service.issue_token(session, user, TokenKind.session)
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/api/auth/me").status_code == 200  # reading needs no CSRF token

    missing = client.post("/api/auth/logout")
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf_token_for("other")})
    assert wrong.status_code == 403 and wrong.json()["code"] == "csrf_failed"
    assert client.get("/api/auth/me").status_code == 200  # still logged in

    right = client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf_token_for(cookie)})
    assert right.status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_a_session_cookie_is_no_bearer_token_and_vice_versa(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    user = make_user()
    web_session, _ = service.issue_token(session, user, TokenKind.session)
    api_token, _ = service.issue_token(session, user, TokenKind.api)
    assert (
        client.get("/api/auth/me", headers={"Authorization": f"Bearer {web_session}"}).status_code
        == 401
    )
    client.cookies.set(SESSION_COOKIE, api_token)
    assert client.get("/api/auth/me").status_code == 401
