"""The maintainer console pages, through the login a browser uses (TestClient, real PostGIS).

Users log in at ``/login`` (cookie + the form's CSRF token, as a browser does); every
console form posts the session's CSRF token taken from the page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import web.console
from accounts.models import Role, User
from accounts.scope import Scope
from accounts.service import create_user
from geo.models import Site, SiteStatus
from stewardship.models import ChangeSet, ChangeSetStatus, Publication
from tests.stewardship.conftest import (
    HUAIYIN,
    LIXIA_POINT,
    PASSWORD,
    People,
    make_people,
    new_site,
    site_csv,
)
from web.console import PendingUploads

CSV = "text/csv"


@pytest.fixture
def people(session: Session) -> People:
    return make_people(session)


@pytest.fixture(autouse=True)
def pending_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Kept copies of uploads go to this test's directory."""
    monkeypatch.setattr(web.console, "pending_uploads", PendingUploads(lambda: tmp_path))


def log_in(client: TestClient, user: User) -> str:
    """Log in through the form like a browser; returns the console's CSRF token."""
    client.cookies.clear()
    form = client.get("/login", params={"next": "/console"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": "/console",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    return csrf_of(client.get("/console"))


def csrf_of(page: Response) -> str:
    assert page.status_code == 200, page.text[:500]
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def upload(
    client: TestClient,
    csrf: str | None,
    rows: list[dict[str, object]],
    name: str = "sites.csv",
    **fields: str,
) -> Response:
    data = {"entity": "sites", "crs": "wgs84", **fields}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post("/console/upload", data=data, files={"file": (name, site_csv(rows), CSV)})


def change_set_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ChangeSet)) or 0)


def created_change_set(page: Response) -> int:
    assert page.status_code == 201, page.text[:2000]
    found = re.search(r'id="change-set-link" href="/console/change-sets/(\d+)"', page.text)
    assert found is not None
    return int(found.group(1))


def text_of(page: Response) -> str:
    """The page's text without tags, entities decoded (what a reader sees)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


def test_the_console_sends_a_visitor_without_login_to_the_login_page(client: TestClient) -> None:
    answer = client.get("/console", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/console"
    deep = client.get("/console/change-sets/7", follow_redirects=False)
    assert deep.headers["location"] == "/login?next=/console/change-sets/7"
    posted = client.post("/console/upload", data={"csrf_token": "x"})
    assert posted.status_code == 401 and posted.headers["content-type"].startswith("text/html")
    assert "请先登录" in posted.text


def test_the_dashboard_says_who_i_am_and_offers_the_upload_form(
    client: TestClient, people: People
) -> None:
    log_in(client, people.police)
    page = client.get("/console")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = text_of(page)
    assert "maint_police" in text and "维护员" in text
    assert "历下区（370102000000）及下级；部门：区公安分局" in text
    assert 'action="/console/upload"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert "只接受正确的行" in text and "只校验" in text and "BD-09" in text
    assert "<script>" not in page.text and "style=" not in page.text  # the CSP allows neither


def test_a_file_with_bad_rows_gets_a_readable_report_and_writes_nothing(
    client: TestClient, session: Session, people: People
) -> None:
    csrf = log_in(client, people.maintainer)
    lon, lat = LIXIA_POINT
    rows = [
        new_site("历下区控制台测试中心"),
        new_site("经纬度颠倒的中心", (lat, lon)),
        new_site("", 电话="0531-88880001"),
    ]
    before = change_set_count(session)
    page = upload(client, csrf, rows)
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    text = text_of(page)
    assert "未写入任何数据" in text
    assert "第 3 行" in text and "第 4 行" in text and "第 2 行" not in text
    assert re.search(r'data-row="3" data-field="(经度|纬度)"', page.text)
    assert 'data-row="4" data-field="名称"' in page.text
    assert "正确 1 行" in text and "有误 2 行" in text
    assert change_set_count(session) == before

    # one click takes only the good row, from the copy kept for this user
    pending = re.search(r'name="pending" value="([^"]+)"', page.text)
    assert pending is not None and "只导入正确的 1 行" in text
    again = client.post(
        "/console/upload",
        data={"csrf_token": csrf, "pending": pending.group(1), "accept_good_rows": "on"},
    )
    number = created_change_set(again)
    assert "有误的 2 行未导入" in text_of(again)
    change_set = session.get(ChangeSet, number)
    assert change_set is not None and change_set.report["bad_rows"] == [3, 4]

    # the kept copy is the uploader's only, and gone once used
    other = client.post("/console/upload", data={"csrf_token": csrf, "pending": pending.group(1)})
    assert other.status_code == 422 and "已过期" in other.text
    stored = client.get(f"/console/change-sets/{number}/report")
    assert stored.status_code == 200 and "第 3 行" in text_of(stored)


def test_a_dry_run_writes_nothing_and_offers_to_submit(
    client: TestClient, session: Session, people: People
) -> None:
    csrf = log_in(client, people.maintainer)
    before = change_set_count(session)
    page = upload(client, csrf, [new_site("只校验中心")], dry_run="on")
    assert page.status_code == 200 and "只校验，未写入任何数据" in page.text
    assert change_set_count(session) == before
    pending = re.search(r'name="pending" value="([^"]+)"', page.text)
    assert pending is not None
    # as a browser posts it: the (empty) file input is sent too
    submitted = client.post(
        "/console/upload",
        data={"csrf_token": csrf, "pending": pending.group(1)},
        files={"file": ("", b"", "application/octet-stream")},
    )
    created_change_set(submitted)


def test_forms_without_the_csrf_token_are_refused_with_a_page(
    client: TestClient, session: Session, people: People
) -> None:
    csrf = log_in(client, people.maintainer)
    before = change_set_count(session)
    for token in (None, "forged"):
        page = upload(client, token, [new_site("无令牌中心")])
        assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
        assert "CSRF" in page.text
    assert change_set_count(session) == before
    number = created_change_set(upload(client, csrf, [new_site("令牌测试中心")]))
    log_in(client, people.reviewer)
    refused = client.post(f"/console/change-sets/{number}/approve", data={"note": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    change_set = session.get(ChangeSet, number)
    assert change_set is not None and change_set.status == ChangeSetStatus.draft


def test_a_reviewer_approves_and_the_site_is_published(
    client: TestClient, session: Session, people: People
) -> None:
    csrf = log_in(client, people.maintainer)
    number = created_change_set(upload(client, csrf, [new_site("控制台发布测试中心")]))
    mine = client.get(f"/console/change-sets/{number}")
    assert mine.status_code == 200
    assert 'id="withdraw"' in mine.text and 'id="approve"' not in mine.text  # the author
    assert "控制台发布测试中心" in mine.text and "新增" in mine.text
    assert f"/api/change-sets/{number}/preview" in mine.text  # the map's data

    csrf = log_in(client, people.reviewer)
    page = client.get(f"/console/change-sets/{number}")
    assert 'id="approve"' in page.text and 'id="reject"' in page.text
    answer = client.post(
        f"/console/change-sets/{number}/approve",
        data={"csrf_token": csrf, "note": "核对无误"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/change-sets/{number}?done=approved"
    done = client.get(answer.headers["location"])
    version = session.scalar(select(func.max(Publication.version)))
    assert f"已发布为版本 v{version}" in done.text and "核对无误" in done.text
    [site] = session.scalars(
        select(Site).where(Site.name == "控制台发布测试中心", Site.status == SiteStatus.published)
    )
    assert f'href="/sites/{site.id}"' in done.text
    assert client.get(f"/sites/{site.id}").status_code == 200

    again = client.post(f"/console/change-sets/{number}/approve", data={"csrf_token": csrf})
    assert again.status_code == 409 and "已处理" in again.text


def test_a_rejection_needs_a_reason(client: TestClient, session: Session, people: People) -> None:
    csrf = log_in(client, people.maintainer)
    number = created_change_set(upload(client, csrf, [new_site("退回测试中心")]))
    csrf = log_in(client, people.reviewer)
    blank = client.post(
        f"/console/change-sets/{number}/reject", data={"csrf_token": csrf, "reason": "  "}
    )
    assert blank.status_code == 422 and "请填写退回原因" in blank.text
    done = client.post(
        f"/console/change-sets/{number}/reject",
        data={"csrf_token": csrf, "reason": "地址<不完整>"},
    )
    assert done.status_code == 200 and "地址&lt;不完整&gt;" in done.text
    change_set = session.get(ChangeSet, number)
    assert change_set is not None and change_set.status == ChangeSetStatus.rejected


def test_out_of_scope_users_are_told_their_scope(
    client: TestClient, session: Session, people: People
) -> None:
    csrf = log_in(client, people.maintainer_huaiyin)
    refused = upload(client, csrf, [new_site("越界的中心")])
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    text = text_of(refused)
    assert "未写入任何数据" in text and "不在您的权限范围内" in text
    assert "区划 370104000000 及下级" in text
    assert 'data-row="2" data-field="区划代码"' in refused.text  # the row is named too

    csrf = log_in(client, people.maintainer)
    number = created_change_set(upload(client, csrf, [new_site("别区审核员测试中心")]))
    reviewer = create_user(session, "reviewer_huaiyin", PASSWORD, Role.reviewer, Scope.of(HUAIYIN))
    csrf = log_in(client, reviewer)
    page = client.post(f"/console/change-sets/{number}/approve", data={"csrf_token": csrf})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    text = text_of(page)
    assert "超出权限范围" in text and "您的权限范围是 区划 370104000000 及下级" in text
    change_set = session.get(ChangeSet, number)
    assert change_set is not None and change_set.status == ChangeSetStatus.draft
    assert session.scalar(select(func.count()).where(Site.name == "别区审核员测试中心")) == 0


def test_versions_page_and_rollback_with_a_confirmation_step(
    client: TestClient, session: Session, people: People
) -> None:
    csrf = log_in(client, people.maintainer)
    number = created_change_set(upload(client, csrf, [new_site("回退测试中心")]))
    assert "回退到此版本" not in client.get("/console/versions").text  # not a reviewer
    csrf = log_in(client, people.reviewer)
    client.post(f"/console/change-sets/{number}/approve", data={"csrf_token": csrf})
    published = int(session.scalar(select(func.max(Publication.version))) or 0)

    versions = client.get("/console/versions")
    assert versions.status_code == 200
    assert f'id="version-{published}"' in versions.text and f"变更集 #{number}" in versions.text
    confirm = client.get(f"/console/versions/{published - 1}/rollback")
    assert confirm.status_code == 200 and "确认回退" in confirm.text
    assert f'id="version-{published}"' in confirm.text  # what would be undone

    no_csrf = client.post(f"/console/versions/{published - 1}/rollback", data={"note": "x"})
    assert no_csrf.status_code == 403
    answer = client.post(
        f"/console/versions/{published - 1}/rollback",
        data={"csrf_token": csrf, "note": "误发布"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/versions?done=rolled_back"
    after = client.get(answer.headers["location"])
    assert f'id="version-{published + 1}"' in after.text and "恢复到 v" in after.text
    [site] = session.scalars(select(Site).where(Site.name == "回退测试中心"))
    assert site.status == SiteStatus.retired

    current = client.post(f"/console/versions/{published + 1}/rollback", data={"csrf_token": csrf})
    assert current.status_code == 422 and "只能回退到当前版本" in current.text
    unknown = client.get("/console/versions/999999/rollback")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")


def test_unknown_change_sets_and_bad_numbers_get_a_page(client: TestClient, people: People) -> None:
    log_in(client, people.agent)
    for path in ("/console/change-sets/999999", "/console/change-sets/abc"):
        page = client.get(path)
        assert page.headers["content-type"].startswith("text/html")
        assert page.status_code in (404, 422)
    assert "只能查看" in client.get("/console").text  # an agent is offered no upload


def test_names_from_a_file_are_escaped_everywhere(client: TestClient, people: People) -> None:
    csrf = log_in(client, people.maintainer)
    evil = '<img src=x onerror="alert(1)">中心'
    number = created_change_set(upload(client, csrf, [new_site(evil)], name="<b>x</b>.csv"))
    for path in (f"/console/change-sets/{number}", "/console"):
        page = client.get(path)
        assert "<img src=x" not in page.text and "<b>x</b>" not in page.text
