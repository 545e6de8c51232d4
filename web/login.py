"""The web login and logout pages.

The login form is protected against CSRF by a signed double submit: a random nonce in a
cookie and its HMAC in a hidden field. After login the session cookie ``daofu_session``
(HttpOnly, SameSite=Strict) holds a session token; forms then carry
``accounts.api.csrf_token_for(cookie)``. No inline script: pages send ``script-src 'self'``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from accounts import service
from accounts.api import SESSION_COOKIE, client_address, keep_login_bookkeeping
from accounts.csrf import csrf_token_for, login_csrf_token, new_login_nonce, tokens_match
from accounts.errors import AccountDisabled, AccountLocked, LoginFailed, NotAuthenticated
from accounts.models import TokenKind
from geo.db import request_session
from geo.settings import get_settings
from web.pages import render

router = APIRouter(include_in_schema=False)

SessionDep = Annotated[Session, Depends(request_session)]
LOGIN_CSRF_COOKIE = "daofu_login_csrf"
DEFAULT_NEXT = "/console"
NO_STORE = {"Cache-Control": "no-store"}
"""Login answers are never cached; the app's middleware adds the strict CSP and the rest."""


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything that could leave the site (an absolute
    URL, ``//host``, backslashes, control characters) becomes the default."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return DEFAULT_NEXT
    if any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return target


def _page(
    request: Request, title: str, message: str | None, status: int = 200, **form: str
) -> HTMLResponse:
    response = render(
        request, "login.html", status, title=title, message=message, form=bool(form), **form
    )
    response.headers.update(NO_STORE)
    return response


def _login_form(
    request: Request,
    next_path: str,
    message: str | None = None,
    username: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The form, with a fresh or the existing pre-login CSRF nonce cookie."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_nonce()
    response = _page(
        request,
        "登录 Log in",
        message,
        status,
        csrf=login_csrf_token(nonce),
        next_path=next_path,
        username=username,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> HTMLResponse:
    """The login form (用户名 + 密码)."""
    return _login_form(request, safe_next(next))


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the password; on success set the session cookie and go to ``next``."""
    target = safe_next(next)
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not nonce or not tokens_match(login_csrf_token(nonce), csrf_token):
        message = "页面已过期，请重新登录 The form expired (CSRF check failed); please try again."
        return _login_form(request, target, message, username, status=403)
    try:
        with keep_login_bookkeeping(session):
            user = service.authenticate(session, username, password, client_address(request))
    except AccountLocked as error:
        return _page(request, "账户已锁定 Account locked", error.message, status=429)
    except (LoginFailed, AccountDisabled) as error:
        return _login_form(request, target, error.message, username, status=401)
    plaintext, _ = service.issue_token(session, user, TokenKind.session, label="web")
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        plaintext,
        max_age=get_settings().session_ttl_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", response_model=None)
def logout(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the web session (the form's CSRF token is checked) and clear the cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        if not tokens_match(csrf_token_for(cookie), csrf_token):
            return _page(
                request,
                "CSRF 校验失败 CSRF check failed",
                "缺少或错误的 CSRF 令牌 Missing or wrong CSRF token; reload and retry.",
                status=403,
            )
        try:
            user, token = service.authenticate_token(session, cookie, TokenKind.session)
            service.revoke_token(session, token, actor=user)
        except NotAuthenticated:
            pass  # already expired or revoked: clearing the cookie is all that is left
    response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
