"""Tables of accounts: users with a role and a scope, and their login sessions and tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from accounts.scope import Scope
from geo.db import Base


class Role(enum.StrEnum):
    """What a user does. Responder / handler / supervisor come with work orders."""

    admin = "admin"  # manages accounts; may do everything
    reviewer = "reviewer"  # approves or rejects change sets within their scope
    maintainer = "maintainer"  # uploads and edits sites within their scope
    agent = "agent"  # reads the map and attaches directions to replies


class TokenKind(enum.StrEnum):
    session = "session"  # a web login, held in a cookie
    api = "api"  # a bearer token for scripts and the API


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", values_callable=lambda e: [m.value for m in e])
    )
    scope_region_code: Mapped[str | None] = mapped_column(String(12))
    """Root of the division subtree the user may write; NULL means everywhere."""
    scope_departments: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default="{}"
    )
    """Departments the user may write for; empty means all."""
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            "scope_region_code IS NULL OR scope_region_code ~ '^[0-9]{12}$'",
            name="user_scope_code_12_digits",
        ),
    )

    @property
    def scope(self) -> Scope:
        return Scope(self.scope_region_code, tuple(self.scope_departments or ()))


class AuthToken(Base):
    """A login session or API token. Only its SHA-256 is stored; it can expire or be revoked."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TokenKind] = mapped_column(
        Enum(TokenKind, name="token_kind", values_callable=lambda e: [m.value for m in e])
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
