"""What crosses the API boundary about accounts (never a password or a token's hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from accounts.models import AuthToken, Role, TokenKind, User


class ScopeOut(BaseModel):
    region_code: str | None = Field(description="root of the division subtree; null: all")
    departments: list[str] = Field(description="departments; empty: all")
    description: str = Field(description="the scope in words, e.g. '区划 370102000000 及下级'")


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    scope: ScopeOut
    disabled: bool
    locked_until: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        scope = user.scope
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            scope=ScopeOut(
                region_code=scope.region_code,
                departments=list(scope.departments),
                description=scope.describe(),
            ),
            disabled=user.disabled,
            locked_until=user.locked_until,
        )


class TokenRequest(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=2048)
    label: str | None = Field(None, max_length=200, description="what the token is for")


class TokenResponse(BaseModel):
    access_token: str = Field(description="shown once: send as 'Authorization: Bearer …'")
    token_type: Literal["bearer"] = Field("bearer", description="RFC 6750 bearer token")
    expires_at: datetime
    user: UserOut


class TokenOut(BaseModel):
    id: int
    kind: TokenKind
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    current: bool = Field(description="the token this request was made with")

    @classmethod
    def of(cls, token: AuthToken, current: AuthToken | None = None) -> TokenOut:
        return cls(
            id=token.id,
            kind=token.kind,
            label=token.label,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
            current=current is not None and token.id == current.id,
        )
