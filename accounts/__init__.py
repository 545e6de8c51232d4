"""Accounts of the people who keep the map: roles, scopes, passwords, sessions and tokens.

Other packages check permissions with :func:`require_role` and :func:`require_scope`
in their service functions (so API, CLI and pages obey the same rules); routers get the
signed-in user from the dependencies in :mod:`accounts.api` (``CurrentUser``).
"""

from accounts.errors import Forbidden, NotAuthenticated, OutOfScope
from accounts.models import AuthToken, Role, TokenKind, User
from accounts.permissions import may_write, require_role, require_scope
from accounts.scope import Scope

__all__ = [
    "AuthToken",
    "Forbidden",
    "NotAuthenticated",
    "OutOfScope",
    "Role",
    "Scope",
    "TokenKind",
    "User",
    "may_write",
    "require_role",
    "require_scope",
]
