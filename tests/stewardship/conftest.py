"""People with roles and scopes, and small upload files, for the change-set tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from accounts.models import Role, TokenKind, User
from accounts.scope import Scope
from accounts.service import create_user, issue_token
from geo.loading import BOUNDARIES, DIVISIONS
from tests.conftest import drop_database, fill_database, scratch_database

PASSWORD = "correct horse battery staple"
LIXIA = "370102000000"  # 历下区, Jinan
HUAIYIN = "370104000000"  # 槐荫区, Jinan
JIEFANGLU = "370102001000"  # 解放路街道, 历下区
LIXIA_POINT = (117.0712409, 36.6480925)  # inside 历下区 (WGS-84)
HUAIYIN_POINT = (116.8807899, 36.6804167)  # inside 槐荫区

HEADERS = [
    "编号",
    "操作",
    "名称",
    "层级",
    "区划代码",
    "部门",
    "地址",
    "电话",
    "办公时间",
    "经度",
    "纬度",
]


@dataclass
class People:
    admin: User
    reviewer: User  # all of Jinan
    reviewer_lixia: User
    maintainer: User  # 历下区
    police: User  # 历下区, 区公安分局 only
    maintainer_huaiyin: User
    agent: User

    def bearer(self, session: Session, user: User) -> dict[str, str]:
        token, _ = issue_token(session, user, TokenKind.api)
        return {"Authorization": f"Bearer {token}"}


def make_people(session: Session) -> People:
    def add(name: str, role: Role, scope: Scope | None) -> User:
        return create_user(session, name, PASSWORD, role, scope)

    return People(
        admin=add("admin1", Role.admin, None),
        reviewer=add("reviewer1", Role.reviewer, Scope.of("370100")),
        reviewer_lixia=add("reviewer_lixia", Role.reviewer, Scope.of("370102")),
        maintainer=add("maint_lixia", Role.maintainer, Scope.of("370102")),
        police=add("maint_police", Role.maintainer, Scope.of("370102", ["区公安分局"])),
        maintainer_huaiyin=add("maint_huaiyin", Role.maintainer, Scope.of("370104")),
        agent=add("agent1", Role.agent, None),
    )


@pytest.fixture
def people(session: Session) -> People:
    return make_people(session)


def site_csv(rows: list[dict[str, object]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue().encode(encoding)


def new_site(
    name: str, point: tuple[float, float] = LIXIA_POINT, **fields: object
) -> dict[str, object]:
    """A row adding a district-level hall of 历下区 (override any field)."""
    row: dict[str, object] = {
        "名称": name,
        "层级": "区县级",
        "区划代码": LIXIA,
        "部门": "区行政审批服务局",
        "地址": "济南市历下区示例路1号",
        "电话": "0531-88880000",
        "办公时间": "Mo-Fr 09:00-17:00; PH off",
        "经度": point[0],
        "纬度": point[1],
    }
    row.update(fields)
    return row


@pytest.fixture(scope="module")
def committed_db() -> Iterator[str]:
    """A database of its own whose writes are committed (for concurrent reviewers, a crash
    mid-publish and the CLI): migrated, with Shandong's divisions and boundaries."""
    url = scratch_database("stewardship")
    fill_database(url, (DIVISIONS, BOUNDARIES))
    yield url
    drop_database(url)
