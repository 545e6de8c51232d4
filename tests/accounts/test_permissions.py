"""Roles and scopes: who may write where, and what a refusal says."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from accounts import service
from accounts.api import CurrentUser, role_required
from accounts.errors import Forbidden, OutOfScope, RoleRequired
from accounts.models import Role, TokenKind, User
from accounts.permissions import may_write, require_role, require_scope
from accounts.scope import Scope
from tests.accounts.conftest import MakeUser

LIXIA = "370102000000"
LIXIA_STREET = "370102001000"
SHIZHONG = "370103000000"
POLICE = "区公安分局"


def test_a_maintainer_writes_inside_the_scope_only(make_user: MakeUser) -> None:
    user = make_user(region="370102", departments=(POLICE,))
    require_scope(user, LIXIA_STREET, POLICE)
    assert may_write(user, LIXIA, POLICE)

    with pytest.raises(OutOfScope) as elsewhere:
        require_scope(user, SHIZHONG, POLICE)
    message = elsewhere.value.message
    assert elsewhere.value.status == 403
    assert f"您的权限范围是 {user.scope.describe()}" in message
    assert "370102000000" in message and POLICE in message

    with pytest.raises(OutOfScope, match="区划 370102000000 及下级"):
        require_scope(user, LIXIA, "区税务局")
    assert not may_write(user, LIXIA, "区税务局")


def test_a_scope_without_departments_covers_all_of_them(make_user: MakeUser) -> None:
    user = make_user(region="370102")
    require_scope(user, LIXIA_STREET, "区税务局")
    require_scope(user, LIXIA, None)
    with pytest.raises(OutOfScope, match="全部部门"):
        require_scope(user, SHIZHONG, None)


def test_an_agent_reads_but_never_writes(make_user: MakeUser) -> None:
    agent = make_user("hotline_agent", Role.agent, region=None)
    with pytest.raises(Forbidden, match="read"):
        require_scope(agent, LIXIA, None)
    assert not may_write(agent, LIXIA, None)


def test_an_admin_passes_every_check(make_user: MakeUser) -> None:
    admin = make_user("city_admin", Role.admin, region=None)
    require_scope(admin, SHIZHONG, "任何部门")
    require_role(admin, Role.reviewer)


def test_require_role_names_the_role_needed(make_user: MakeUser) -> None:
    maintainer = make_user()
    require_role(maintainer, Role.maintainer, Role.reviewer)
    with pytest.raises(RoleRequired) as refused:
        require_role(maintainer, Role.reviewer)
    assert "reviewer" in refused.value.message and "maintainer" in refused.value.message
    assert refused.value.status == 403


def test_the_api_answers_403_naming_the_scope(
    client: TestClient, make_user: MakeUser, session: Session
) -> None:
    """A router that writes calls require_scope; the 403 tells the user their scope."""
    app = client.app
    assert hasattr(app, "add_api_route")

    def write_site(region: str, user: CurrentUser) -> dict[str, str]:
        require_scope(user, region, POLICE)
        return {"written": region}

    def review(user: Annotated[User, Depends(role_required(Role.reviewer))]) -> dict[str, str]:
        return {"reviewer": user.username}

    app.add_api_route("/test/write/{region}", write_site, methods=["PUT"])
    app.add_api_route("/test/review", review, methods=["GET"])
    user = make_user(region="370102", departments=(POLICE,))
    plaintext, _ = service.issue_token(session, user, TokenKind.api)
    auth = {"Authorization": f"Bearer {plaintext}"}

    assert client.put(f"/test/write/{LIXIA_STREET}", headers=auth).status_code == 200
    refused = client.put(f"/test/write/{SHIZHONG}", headers=auth)
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "out_of_scope"
    assert Scope.of("370102", [POLICE]).describe() in body["detail"]
    assert "您的权限范围是" in body["detail"]

    not_reviewer = client.get("/test/review", headers=auth)
    assert not_reviewer.status_code == 403 and "reviewer" in not_reviewer.json()["detail"]
