"""``daofu users …``: add, list, disable and enable accounts; issue and revoke API tokens.

Passwords are read from stdin (``--password-stdin``) or a hidden prompt, never from an
argument (arguments end up in shell history and ``ps``)."""

from __future__ import annotations

import json
import secrets
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from accounts import service
from accounts.models import Role, TokenKind
from accounts.scope import Scope
from geo.cli import friendly_errors
from geo.db import session_scope
from geo.settings import get_settings

app = typer.Typer(
    help="维护人员账户 Accounts: add, list, disable, enable, tokens.", no_args_is_help=True
)
console = Console()
ACTOR = "cli"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("密码 Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="user name (letters, digits, . _ @ -)")],
    role: Annotated[Role, typer.Option(help="admin, reviewer, maintainer or agent")],
    scope: Annotated[
        str | None,
        typer.Option(help="division code of the region subtree the user may write, e.g. 370102"),
    ] = None,
    department: Annotated[
        list[str] | None,
        typer.Option("--department", help="a department the user may write for (repeatable)"),
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="name shown, e.g. 张三")] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="read the password from the first line of stdin"),
    ] = False,
) -> None:
    """Add a user. The password is asked for twice (hidden), or read from stdin."""
    with friendly_errors():
        user_scope = Scope.of(scope, department or ())
        password = _read_password(password_stdin)
        with session_scope() as session:
            user = service.create_user(
                session, name, password, role, user_scope, display_name, actor=ACTOR
            )
            console.print(
                f"[green]added[/green] {user.username} ({user.role.value}), "
                f"权限范围 scope: {user.scope.describe()}"
            )


@app.command("list")
def list_command() -> None:
    """List users: role, scope, disabled, locked."""
    now = datetime.now(UTC)
    with friendly_errors(), session_scope() as session:
        table = Table(
            "用户 user", "姓名 name", "角色 role", "权限范围 scope", "停用 disabled", "锁定 locked"
        )
        for user in service.list_users(session):
            locked = user.locked_until is not None and user.locked_until > now
            table.add_row(
                user.username,
                user.display_name,
                user.role.value,
                user.scope.describe(),
                "[red]yes[/red]" if user.disabled else "no",
                f"[red]until {user.locked_until:%Y-%m-%d %H:%M}[/red]"
                if locked and user.locked_until
                else "no",
            )
        console.print(table)


@app.command("disable")
def disable(name: str) -> None:
    """Disable a user and revoke all their sessions and tokens."""
    with friendly_errors(), session_scope() as session:
        user = service.disable_user(session, name, actor=ACTOR)
        console.print(f"[yellow]disabled[/yellow] {user.username}; all sessions and tokens revoked")


@app.command("enable")
def enable(name: str) -> None:
    """Enable a user again (also lifts a lock-out after failed logins)."""
    with friendly_errors(), session_scope() as session:
        user = service.enable_user(session, name, actor=ACTOR)
        console.print(f"[green]enabled[/green] {user.username}")


@app.command("password")
def password(
    name: str,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="read the password from the first line of stdin"),
    ] = False,
) -> None:
    """Set a new password (ends every session and token of the user)."""
    with friendly_errors():
        new_password = _read_password(password_stdin)
        with session_scope() as session:
            user = service.set_password(session, name, new_password, actor=ACTOR)
            console.print(f"[green]password set[/green] for {user.username}; sessions ended")


@app.command("token")
def token(
    name: str,
    days: Annotated[int, typer.Option(min=1, max=3650, help="valid for this many days")] = 30,
    label: Annotated[str | None, typer.Option(help="what the token is for")] = None,
) -> None:
    """Issue an API token for a user; it is printed once and never stored in clear."""
    with friendly_errors(), session_scope() as session:
        user = service.get_user(session, name)
        plaintext, row = service.issue_token(
            session, user, TokenKind.api, ttl_s=days * 86400, label=label
        )
        console.print(
            f"API token for {user.username} (id {row.id}), valid until "
            f"{row.expires_at:%Y-%m-%d %H:%M %Z}. Shown only once: "
            "send it as 'Authorization: Bearer <token>'.",
            highlight=False,
        )
        # Plain print: no wrapping or markup, so the token can be copied or piped.
        print(plaintext)


@app.command("revoke")
def revoke(name: str) -> None:
    """Revoke every session and API token of a user."""
    with friendly_errors(), session_scope() as session:
        user = service.get_user(session, name)
        count = service.revoke_all(session, user, actor=ACTOR)
        console.print(f"revoked {count} session(s) and token(s) of {user.username}")


DEMO_ACCOUNTS = (
    ("demo-admin", Role.admin, None, "演示管理员"),
    ("demo-reviewer", Role.reviewer, "370100", "济南市审核员（演示）"),
    ("demo-lixia", Role.maintainer, "370102", "历下区维护员（演示）"),
    ("demo-nanjing", Role.maintainer, "320100", "南京市维护员（演示）"),
)


@app.command("demo")
def demo_accounts() -> None:
    """Create the demo's accounts (admin, a Jinan reviewer, maintainers of 历下区 and
    Nanjing) with generated passwords, kept in ``.daofu/demo-accounts.json`` (mode 600).
    Accounts that exist are left as they are."""
    path = get_settings().home / "demo-accounts.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    with friendly_errors(), session_scope() as session:
        for name, role, scope, display in DEMO_ACCOUNTS:
            if service.find_user(session, name) is not None:
                continue
            password = known.get(name) or secrets.token_urlsafe(12)
            service.create_user(
                session, name, password, role, Scope.of(scope) if scope else None, display, ACTOR
            )
            known[name] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, ensure_ascii=False, indent=1))
    path.chmod(0o600)
    table = Table("账户 user", "角色 role", "范围 scope", "密码 password")
    for name, role, scope, _ in DEMO_ACCOUNTS:
        table.add_row(name, role.value, scope or "全部", known.get(name, "(set before)"))
    console.print(table)
    console.print(f"passwords kept in {path}; log in at /login")
