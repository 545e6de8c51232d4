"""The login page: CSRF-protected form, session cookie, safe redirects, lock-out page."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from accounts import service
from accounts.api import SESSION_COOKIE, csrf_token_for
from accounts.models import TokenKind
from tests.accounts.conftest import MAX_FAILURES, PASSWORD, MakeUser
from web.login import LOGIN_CSRF_COOKIE, safe_next


def form_csrf(client: TestClient, next_path: str = "") -> str:
    page = client.get("/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def post_login(
    client: TestClient, username: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    data = {"username": username, "password": password, "next": next_path}
    data["csrf_token"] = form_csrf(client, next_path)
    return client.post("/login", data=data, follow_redirects=False)


def set_cookie_headers(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_the_login_form_is_chinese_first_without_inline_script(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "登录" in page.text and 'lang="zh-CN"' in page.text
    assert "<script" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert LOGIN_CSRF_COOKIE in page.cookies


def test_a_login_sets_a_strict_httponly_session_cookie_and_goes_on(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    response = post_login(client, user.username, next_path="/console/uploads?page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/uploads?page=2"
    cookie = next(h for h in set_cookie_headers(response) if h.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    me = client.get("/api/auth/me")  # the cookie now authenticates
    assert me.status_code == 200 and me.json()["username"] == user.username


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "/\tevil",
        "",
    ],
)
def test_after_login_the_redirect_never_leaves_the_site(
    client: TestClient, make_user: MakeUser, target: str
) -> None:
    user = make_user()
    response = post_login(client, user.username, next_path=target)
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "evil" not in location or location == target  # an encoded path stays a local path
    assert safe_next(target) == location


def test_safe_next_keeps_local_paths_only() -> None:
    assert safe_next("/sites/3701?tab=map") == "/sites/3701?tab=map"
    assert safe_next("https://evil.example") == "/console"
    assert safe_next("http:/evil.example") == "/console"
    assert safe_next("//evil.example") == "/console"


def test_a_login_without_the_form_csrf_token_is_refused(
    client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    form_csrf(client)  # the cookie is there, but the hidden field is forged
    data = {"username": user.username, "password": PASSWORD, "csrf_token": "forged"}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403 and "CSRF" in response.text
    assert not any(h.startswith(SESSION_COOKIE) for h in set_cookie_headers(response))

    client.cookies.clear()  # a field copied from another browser, without its cookie
    data["csrf_token"] = form_csrf(client)
    client.cookies.clear()
    assert client.post("/login", data=data, follow_redirects=False).status_code == 403


def test_a_wrong_password_shows_the_form_again_escaped(
    client: TestClient, make_user: MakeUser
) -> None:
    make_user()
    response = post_login(client, '<script>alert("x")</script>', "wrong password!")
    assert response.status_code == 401
    text = response.text
    assert "用户名或密码错误" in text and 'name="password"' in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_a_locked_account_gets_the_429_page(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    for _ in range(MAX_FAILURES - 1):
        assert post_login(client, user.username, "wrong password!").status_code == 401
    locked = post_login(client, user.username, "wrong password!")
    assert locked.status_code == 429
    assert "账户已锁定" in locked.text
    assert post_login(client, user.username).status_code == 429


def test_logout_checks_the_csrf_token_then_ends_the_session(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    cookie, token = service.issue_token(session, make_user(), TokenKind.session)
    client.cookies.set(SESSION_COOKIE, cookie)
    refused = client.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403 and token.revoked_at is None

    done = client.post(
        "/logout", data={"csrf_token": csrf_token_for(cookie)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert token.revoked_at is not None
    assert any(h.startswith(f'{SESSION_COOKIE}=""') for h in set_cookie_headers(done))


def test_pages_can_post_forms_with_the_csrf_field(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    """The form-field path of the CSRF check (what page forms use) on an API endpoint."""
    cookie, token = service.issue_token(session, make_user(), TokenKind.session)
    client.cookies.set(SESSION_COOKIE, cookie)
    response = client.post("/api/auth/logout", data={"csrf_token": csrf_token_for(token)})
    assert response.status_code == 204 and token.revoked_at is not None
