"""Typed errors of accounts: who you are (401), what you may do (403), and account upkeep."""

from __future__ import annotations

from datetime import datetime

from accounts.scope import Scope
from geo.errors import DaofuError, InvalidInput, NotFound


class NotAuthenticated(DaofuError):
    """No valid credentials: no token, or an expired, revoked or unknown one."""

    code = "not_authenticated"
    status = 401
    title = "未登录 Not authenticated"

    def __init__(self, message: str = "", **detail: object) -> None:
        super().__init__(
            (message + " " if message else "")
            + "请登录 Log in at /login, or send 'Authorization: Bearer <token>' "
            "(a token from POST /api/auth/token).",
            **detail,
        )


class AccountDisabled(NotAuthenticated):
    """The right password for an account an administrator has disabled."""

    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__("账户已停用 This account is disabled; ask an administrator.")


class LoginFailed(DaofuError):
    """Wrong user name or password; deliberately does not say which."""

    code = "login_failed"
    status = 401
    title = "登录失败 Login failed"

    def __init__(self) -> None:
        super().__init__("用户名或密码错误 Wrong user name or password.")


class AccountLocked(DaofuError):
    """Too many failed logins in a row: locked until a time, even for the right password."""

    code = "account_locked"
    status = 429
    title = "账户已锁定 Account locked"

    def __init__(self, until: datetime) -> None:
        when = until.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        super().__init__(
            f"登录失败次数过多，账户已锁定至 {when}，请稍后再试。"
            f" Too many failed logins: this account is locked until {when}.",
            locked_until=until.isoformat(),
        )
        self.until = until


class CsrfFailed(DaofuError):
    """A cookie-authenticated form or request without the right CSRF token."""

    code = "csrf_failed"
    status = 403
    title = "CSRF 校验失败 CSRF check failed"

    def __init__(self) -> None:
        super().__init__(
            "缺少或错误的 CSRF 令牌 Missing or wrong CSRF token: reload the page and submit "
            "again (scripts: send header X-CSRF-Token, or use a bearer token instead)."
        )


class Forbidden(DaofuError):
    """The user's role does not allow this."""

    code = "forbidden"
    status = 403
    title = "无权限 Forbidden"

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message, **detail)


class RoleRequired(Forbidden):
    code = "role_required"

    def __init__(self, role: str, needed: tuple[str, ...]) -> None:
        wanted = " / ".join(needed)
        super().__init__(
            f"需要角色 {wanted}，您的角色是 {role}。"
            f" This needs the role {wanted}; your role is {role}.",
            role=role,
            roles_needed=list(needed),
        )


class OutOfScope(Forbidden):
    """A write outside the user's scope: says which scope the user has."""

    code = "out_of_scope"
    title = "超出权限范围 Out of scope"

    def __init__(self, scope: Scope, region_code: str | None, department: str | None) -> None:
        target = f"区划 {region_code or '(无)'}" + (f", 部门 {department}" if department else "")
        super().__init__(
            f"{target} 不在您的权限范围内。您的权限范围是 {scope.describe()}。"
            f" This record is outside your scope.",
            scope=scope.describe(),
            region_code=region_code,
            department=department,
        )


class UserExists(DaofuError):
    code = "user_exists"
    status = 409
    title = "用户已存在 User exists"

    def __init__(self, username: str) -> None:
        super().__init__(f"用户 '{username}' 已存在 A user named '{username}' exists already.")


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, username: str) -> None:
        super().__init__(f"没有用户 '{username}' No user named '{username}'.")


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: int) -> None:
        super().__init__(f"没有令牌 {token_id} No token {token_id} of yours.")


class WeakPassword(InvalidInput):
    """The password does not meet the minimum policy."""

    code = "weak_password"
    title = "密码不符合要求 Password too weak"

    def __init__(self, message: str) -> None:
        super().__init__("password", message)
