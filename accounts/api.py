"""Logins, tokens and the current user for the API; the dependencies other routers use.

A request is authenticated by a bearer token (``Authorization: Bearer …``, an API token)
or by the web login's session cookie ``daofu_session``. Cookie-authenticated requests
with an unsafe method must carry the session's CSRF token (header ``X-CSRF-Token`` or
form field ``csrf_token``); bearer requests need none, as browsers never add them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from accounts import service
from accounts.csrf import csrf_token_for, tokens_match
from accounts.errors import (
    AccountDisabled,
    AccountLocked,
    CsrfFailed,
    LoginFailed,
    NotAuthenticated,
)
from accounts.models import AuthToken, Role, TokenKind, User
from accounts.permissions import require_role
from accounts.schemas import TokenOut, TokenRequest, TokenResponse, UserOut
from geo.db import request_session

__all__ = [
    "SESSION_COOKIE",
    "CsrfToken",
    "CurrentToken",
    "CurrentUser",
    "OptionalUser",
    "csrf_token_for",
    "current_token",
    "current_user",
    "keep_login_bookkeeping",
    "optional_user",
    "page_csrf_token",
    "role_required",
    "router",
]

router = APIRouter(prefix="/api/auth", tags=["accounts 账户"])

SessionDep = Annotated[Session, Depends(request_session)]
SESSION_COOKIE = "daofu_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@contextmanager
def keep_login_bookkeeping(session: Session) -> Iterator[None]:
    """Around :func:`accounts.service.authenticate`: a failed login's counter, lock and
    audit entry are committed before the error goes on, since the request's session rolls
    back on errors and would otherwise forget them (and never lock anyone out)."""
    try:
        yield
    except (LoginFailed, AccountLocked, AccountDisabled):
        session.commit()
        raise


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request) -> str | None:
    """The bearer token of the Authorization header; NotAuthenticated if it is malformed."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("Authorization 头格式应为 The header must be 'Bearer <token>'.")
    return value.strip()


async def submitted_csrf_token(request: Request) -> str | None:
    """The CSRF token a cookie-authenticated unsafe request sent (header, else form field)."""
    if request.method not in UNSAFE_METHODS or "authorization" in request.headers:
        return None
    if header := request.headers.get(CSRF_HEADER):
        return header
    content_type = request.headers.get("content-type", "")
    if request.cookies.get(SESSION_COOKIE) and content_type.startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)  # parsed once, cached for the route
        return value if isinstance(value, str) else None
    return None


CsrfSubmitted = Annotated[str | None, Depends(submitted_csrf_token)]


def current_token(request: Request, session: SessionDep, csrf: CsrfSubmitted) -> AuthToken:
    """The session or API token this request is authenticated with (401 if none, 403 if a
    cookie-authenticated unsafe request lacks its CSRF token)."""
    bearer = _bearer(request)
    if bearer is not None:
        _, token = service.authenticate_token(session, bearer, TokenKind.api)
        return token
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("未提供凭据 No credentials were sent.")
    _, token = service.authenticate_token(session, cookie, TokenKind.session)
    if request.method in UNSAFE_METHODS and not tokens_match(csrf_token_for(token), csrf):
        raise CsrfFailed()
    return token


CurrentToken = Annotated[AuthToken, Depends(current_token)]


def current_user(session: SessionDep, token: CurrentToken) -> User:
    """FastAPI dependency: the signed-in user, or 401."""
    user = session.get(User, token.user_id)
    assert user is not None  # authenticate_token checked it
    return user


def optional_user(request: Request, session: SessionDep, csrf: CsrfSubmitted) -> User | None:
    """FastAPI dependency: the signed-in user, or ``None`` when there is no valid login
    (a CSRF failure still answers 403)."""
    try:
        token = current_token(request, session, csrf)
    except NotAuthenticated:
        return None
    return session.get(User, token.user_id)


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def role_required(*roles: Role) -> Callable[[User], User]:
    """A dependency: the current user if they have one of ``roles`` (admin always), else 403.
    Use as ``user: Annotated[User, Depends(role_required(Role.reviewer))]``."""

    def dependency(user: CurrentUser) -> User:
        require_role(user, *roles)
        return user

    return dependency


def page_csrf_token(request: Request) -> str | None:
    """FastAPI dependency for pages: the CSRF token to embed in forms (field ``csrf_token``)
    for the session cookie of this request, or None when there is no cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return csrf_token_for(cookie) if cookie else None


CsrfToken = Annotated[str | None, Depends(page_csrf_token)]


@router.post("/token", response_model=TokenResponse)
def create_token(
    body: TokenRequest, request: Request, response: Response, session: SessionDep
) -> TokenResponse:
    """Log in with user name and password; get a bearer token for the API (shown once).

    After too many failed attempts in a row the account is locked for a while (429)."""
    with keep_login_bookkeeping(session):
        user = service.authenticate(
            session, body.username, body.password, client=client_address(request)
        )
    plaintext, token = service.issue_token(session, user, TokenKind.api, label=body.label)
    response.headers["Cache-Control"] = "no-store"
    return TokenResponse(access_token=plaintext, expires_at=token.expires_at, user=UserOut.of(user))


@router.post("/logout", status_code=204)
def logout(token: CurrentToken, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke the token (or web session) this request was made with."""
    service.revoke_token(session, token, actor=user)
    response = Response(status_code=204)
    if token.kind == TokenKind.session:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """Who I am: role and scope (where I may write)."""
    return UserOut.of(user)


@router.get("/tokens", response_model=list[TokenOut])
def tokens(
    user: CurrentUser,
    token: CurrentToken,
    session: SessionDep,
    include_inactive: Annotated[bool, Query(description="also expired and revoked ones")] = False,
) -> list[TokenOut]:
    """My web sessions and API tokens (never their values)."""
    return [
        TokenOut.of(t, current=token)
        for t in service.list_tokens(session, user, include_inactive=include_inactive)
    ]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke(token_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke one of my sessions or tokens (an admin may revoke anyone's)."""
    service.revoke_token(session, service.get_token(session, user, token_id), actor=user)
    return Response(status_code=204)
