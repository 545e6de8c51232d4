"""Who may do what: the checks every service that writes calls, so API, CLI and pages obey
the same rules. An admin may do everything; an agent may read but never write."""

from __future__ import annotations

from accounts.errors import Forbidden, OutOfScope, RoleRequired
from accounts.models import Role, User

WRITER_ROLES = (Role.admin, Role.reviewer, Role.maintainer)


def require_role(user: User, *roles: Role | str) -> None:
    """Raise :class:`Forbidden` (naming the roles needed) unless the user has one of
    ``roles``; an admin always passes."""
    if user.role == Role.admin or user.role in {Role(r) for r in roles}:
        return
    raise RoleRequired(user.role.value, tuple(Role(r).value for r in roles))


def may_write(user: User, region_code: str | None, department: str | None = None) -> bool:
    """Whether the user may change a record of this region and department."""
    if user.role == Role.admin:
        return True
    return user.role in WRITER_ROLES and user.scope.covers(region_code, department)


def require_scope(user: User, region_code: str | None, department: str | None = None) -> None:
    """Raise unless the user may write a record of ``region_code`` (12-digit division code)
    and ``department``: :class:`Forbidden` for a role that never writes (agent),
    :class:`OutOfScope` (saying which scope the user has) outside the user's scope."""
    if user.role == Role.admin:
        return
    if user.role not in WRITER_ROLES:
        raise Forbidden(
            f"角色 {user.role.value} 只能查看，不能修改数据。"
            f" The role {user.role.value} may read but not change data.",
            role=user.role.value,
        )
    if not user.scope.covers(region_code, department):
        raise OutOfScope(user.scope, region_code, department)
