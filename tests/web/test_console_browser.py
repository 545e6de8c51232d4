"""The maintainer console end to end in Debian's chromium (Playwright), on a server of its own.

A maintainer logs in, uploads a file with errors and sees the bad rows named, uploads a
good file, sees the new site on the change set's map; a reviewer logs in and publishes
it, and the site's public page shows it. Every page loads only from the app (offline)
and logs no console error or CSP violation. Screenshots go to ``.daofu/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from accounts.models import Role
from accounts.scope import Scope
from accounts.service import create_user
from geo.coords import CRS
from geo.models import Site
from stewardship import service
from stewardship.report import Entity
from tests.conftest import drop_database, scratch_database
from tests.stewardship.conftest import LIXIA_POINT, PASSWORD, new_site, site_csv
from tests.web.live import (
    CHROMIUM,
    SCREENSHOTS,
    LiveServer,
    Recorder,
    assert_offline_and_clean,
    fill_database,
    record,
    running_server,
)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")

MAINTAINER = "maint_lixia"
REVIEWER = "reviewer_jinan"
NEW_SITE = "历下区控制台端到端测试中心"
TO_MOVE, TO_RETIRE = "历下区预置便民服务中心", "历下区预置自助服务区"
PUBLISHED = {TO_MOVE: (117.0652, 36.6531), TO_RETIRE: (117.0801, 36.6602)}
MOVED_TO = (117.0668, 36.6522)
PHONE = {"viewport": {"width": 390, "height": 844}}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
TIMEOUT_MS = 30_000  # generous: the machine is shared


def add_console_users(session: Session) -> None:
    """The two users, and two sites of 历下区 they published (to change and to retire)."""
    maintainer = create_user(session, MAINTAINER, PASSWORD, Role.maintainer, Scope.of("370102"))
    reviewer = create_user(session, REVIEWER, PASSWORD, Role.reviewer, Scope.of("370100"))
    rows = [new_site(name, point) for name, point in PUBLISHED.items()]
    _, change_set = service.upload(
        session,
        maintainer,
        file_name="预置.csv",
        data=site_csv(rows),
        entity=Entity.sites,
        crs=CRS.wgs84,
    )
    assert change_set is not None
    service.approve(session, change_set.id, reviewer)


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on a committed database of its own (these tests publish sites), with a
    home of its own (the kept copies of uploads go there)."""
    url = scratch_database("console")
    home = {"DAOFU_HOME": str(tmp_path_factory.mktemp("console-home"))}
    try:
        with running_server(url, home, wait=False) as server:  # the app imports meanwhile
            fill_database(url, add_console_users)
            server.wait_until_ready()
            yield server
    finally:
        drop_database(url)


@pytest.fixture
def open_page(browser: Any, console_server: LiveServer) -> Iterator[Any]:
    """``open_page(**context_options)`` → (page, recorder) on the console's server."""
    contexts: list[Any] = []

    def new(**options: Any) -> tuple[Any, Recorder]:
        context = browser.new_context(
            base_url=console_server.url, locale="zh-CN", timezone_id="Asia/Shanghai", **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        return page, record(page)

    yield new
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any, username: str, path: str = "/console") -> None:
    """Open a console page; the login form comes first and leads back to it."""
    page.goto(path)
    assert "/login" in page.url
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    try:
        page.wait_for_url(lambda url: urlsplit(url).path == path, wait_until="domcontentloaded")
    except Exception:
        shot(page, f"console-login-failed-{username}")  # what the login answered
        raise
    assert username in page.locator("#whoami").inner_text()


def bad_file(tmp_path: Path) -> Path:
    """Row 2 good, row 3 with longitude and latitude swapped, row 4 without a name."""
    lon, lat = LIXIA_POINT
    rows = [
        new_site("历下区好的一行中心"),
        new_site("经纬度颠倒的中心", (lat, lon)),
        new_site("", 电话="0531-88880001"),
    ]
    path = tmp_path / "历下区场所_有误.csv"
    path.write_bytes(site_csv(rows))
    return path


def upload(page: Any, path: Path) -> int:
    """Choose the file in the upload form and send it; returns the answer's status."""
    page.locator("#upload-file").set_input_files(str(path))
    with page.expect_navigation() as navigation:
        page.locator("#upload-submit").click()
    return int(navigation.value.status)


def assert_no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


def test_a_maintainer_uploads_a_reviewer_publishes_and_the_site_is_public(
    open_page: Any, console_server: LiveServer, tmp_path: Path
) -> None:
    page, recorder = open_page(**DESKTOP)
    log_in(page, MAINTAINER)
    assert "历下区（370102000000）及下级" in page.locator("#my-scope").inner_text()

    # a file with errors: refused whole, the bad rows named with their fields
    assert upload(page, bad_file(tmp_path)) == 422
    outcome = page.locator("#outcome")
    assert "未写入任何数据" in outcome.inner_text()
    assert "第 3、4 行" in page.locator("#bad-rows").inner_text()
    swapped = page.locator("tr.problem.sev-error[data-row='3']")
    assert swapped.count() >= 1 and "第 3 行" in swapped.first.inner_text()
    nameless = page.locator("tr.problem.sev-error[data-row='4'][data-field='名称']")
    assert nameless.count() == 1 and nameless.is_visible()
    assert page.locator("#accept-good").is_visible()  # offered: only the good row
    shot(page, "console-report-rejected")

    # a good file: a draft change set, with the new site on the map
    good = tmp_path / "历下区场所.csv"
    good.write_bytes(site_csv([new_site(NEW_SITE)]))
    assert upload(page, good) == 201
    assert "已生成待审核的变更集" in page.locator("#outcome").inner_text()
    page.locator("#change-set-link").click()
    page.wait_for_selector("#map[data-ready='1']")
    marker = page.locator("#map .leaflet-marker-icon.cs-marker.cs-added")
    assert marker.count() == 1 and marker.is_visible()
    assert marker.inner_text() == "新" and NEW_SITE in (marker.get_attribute("title") or "")
    colour = marker.evaluate("node => getComputedStyle(node).backgroundColor")
    assert colour == "rgb(46, 125, 50)"  # the legend's green
    assert page.locator("#approve").count() == 0 and page.locator("#withdraw").is_visible()
    marker.click()
    assert NEW_SITE in page.locator(".leaflet-popup-content").inner_text()
    change_set_url = page.url
    shot(page, "console-change-set-preview")
    page.locator("button", has_text="退出").click()
    page.wait_for_url("**/login")

    # another person, a reviewer, approves: published as a version
    log_in(page, REVIEWER, change_set_url.removeprefix(console_server.url))
    page.locator("#approve-note").fill("核对无误，同意发布")
    page.locator("#approve").click()
    page.wait_for_url("**?done=approved")
    published = page.locator("#published").inner_text()
    version = re.search(r"已发布为版本 v(\d+)", published)
    assert version is not None
    shot(page, "console-change-set-published")
    link = page.locator("#published a.site-link")
    site_id = link.get_attribute("data-site-id")

    # the public site page shows it, on its map
    link.click()
    page.wait_for_url(f"**/sites/{site_id}")
    assert page.locator("#site-name").inner_text() == NEW_SITE
    page.locator("#map .site-pin").wait_for()
    api = page.request.get(f"/api/sites/{site_id}")
    assert api.ok and api.json()["properties"]["status"] == "published"
    shot(page, "console-published-site-page")

    page.goto("/console/versions")
    row = page.locator(f"#version-{version.group(1)}")
    assert "当前" in row.inner_text() and row.locator("a", has_text="变更集").count() == 1
    assert_offline_and_clean(recorder, console_server, expected_failures=1)


def test_the_report_reads_on_a_phone(
    open_page: Any, console_server: LiveServer, tmp_path: Path
) -> None:
    page, recorder = open_page(**PHONE)
    log_in(page, MAINTAINER)
    assert_no_sideways_scroll(page)
    shot(page, "console-phone-dashboard")
    assert upload(page, bad_file(tmp_path)) == 422
    row = page.locator("tr.problem[data-row='4'][data-field='名称']")
    assert row.is_visible() and "行号" in row.evaluate(
        "node => getComputedStyle(node.cells[0], '::before').content"
    )
    assert_no_sideways_scroll(page)
    shot(page, "console-phone-report")
    page.goto("/console/versions")
    assert_no_sideways_scroll(page)
    assert_offline_and_clean(recorder, console_server, expected_failures=1)


def site_ids(server: LiveServer) -> dict[str, int]:
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(Site.name, Site.id).where(Site.name.in_(PUBLISHED)))
            return {name: number for name, number in rows}
    finally:
        engine.dispose()


def test_the_preview_styles_changed_retired_and_moved_sites(
    open_page: Any, console_server: LiveServer, tmp_path: Path
) -> None:
    ids = site_ids(console_server)
    path = tmp_path / "历下区场所_修改.csv"
    rows: list[dict[str, object]] = [
        {"编号": ids[TO_MOVE], "电话": "0531-86660000", "经度": MOVED_TO[0], "纬度": MOVED_TO[1]},
        {"编号": ids[TO_RETIRE], "操作": "撤销"},
    ]
    path.write_bytes(site_csv(rows))
    page, recorder = open_page(**DESKTOP)
    log_in(page, MAINTAINER)
    assert upload(page, path) == 201
    page.locator("#change-set-link").click()
    page.wait_for_selector("#map[data-ready='2']")
    changed = page.locator("#map .leaflet-marker-icon.cs-marker.cs-changed")
    retired = page.locator("#map .leaflet-marker-icon.cs-marker.cs-retired")
    assert changed.count() == 1 and retired.count() == 1
    assert retired.inner_text() == "×" and TO_RETIRE in (retired.get_attribute("title") or "")
    colours = [
        m.evaluate("node => getComputedStyle(node).backgroundColor") for m in (changed, retired)
    ]
    assert colours == ["rgb(230, 126, 0)", "rgb(138, 138, 138)"]
    assert page.locator("#map path.cs-move").count() == 1  # from the old place to the new
    assert page.locator("#map path.cs-old").count() == 1
    # the published neighbours around the changes, faint, for context
    page.wait_for_selector("#map path.cs-neighbour")
    assert page.locator("#map path.cs-neighbour").count() >= 1
    diff = page.locator("tr.change.changed")
    assert "0531-88880000" in diff.locator("del").all_inner_texts()
    assert "0531-86660000" in diff.locator("ins").all_inner_texts()
    assert "撤销" in page.locator("tr.change.retired").inner_text()
    shot(page, "console-change-set-moved-retired")
    assert_offline_and_clean(recorder, console_server)
