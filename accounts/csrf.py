"""CSRF tokens: HMACs with the secret key, bound to a login session (or, before login, to a
random nonce in a cookie: the signed double-submit pattern)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from accounts.models import AuthToken
from accounts.secrets import secret_key
from geo.settings import get_settings


def _sign(purpose: str, value: str) -> str:
    key = secret_key(get_settings())
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def sha256_hex(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def csrf_token_for(session_token: str | AuthToken) -> str:
    """The CSRF token that forms of this login session carry (field ``csrf_token`` or
    header ``X-CSRF-Token``). Pass the session cookie's value or its :class:`AuthToken`."""
    digest = (
        session_token.token_sha256
        if isinstance(session_token, AuthToken)
        else (sha256_hex(session_token))
    )
    return _sign("session", digest)


def new_login_nonce() -> str:
    """A random value for the pre-login CSRF cookie."""
    return secrets.token_urlsafe(24)


def login_csrf_token(nonce: str) -> str:
    """The hidden field of the login form that goes with the nonce cookie."""
    return _sign("login", nonce)


def tokens_match(expected: str | None, submitted: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
