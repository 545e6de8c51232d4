"""Fixtures of the web tests.

Fast tests: TestClient and the rolled-back ``session``, ``nanjing``, ``holder`` and
``nanjing_client`` of tests/conftest.py.

Browser tests (Playwright driving Debian's chromium) need a server in another process,
which cannot see a rolled-back transaction:

- ``live_server`` (session): ``uvicorn web.app:app`` on a free port (a
  :class:`tests.web.live.LiveServer`, ``.url`` without a trailing slash), serving a
  committed scratch database with every dataset, the Nanjing network and the sites of
  :func:`add_hostile_sites` (the database is dropped at the end); ``hostile_site_ids``;
- ``browser`` (session): chromium launched with the flags the sandbox needs;
- ``page_on``: a fresh context and page that records every request and console
  error, for ``tests.web.live.assert_offline_and_clean``.

To build another server (other settings, other rows), use the helpers of
``tests/web/live.py``: ``committed_database(suffix, prepare)`` and ``running_server(url, env)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from catalogue.models import Item, SiteItem
from geo.models import Region, RegionLevel, Site, SiteKind, SiteLevel, SiteStatus
from tests.conftest import drop_database, scratch_database
from tests.web.live import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    Recorder,
    fill_database,
    record,
    running_server,
)

ID_CARD = "居民身份证办理（包括临时）"
XSS_IMG = '<img src=x onerror="window.__xss=1">政务服务中心'
XSS_SCRIPT = "<script>window.__xss=2</script>便民服务站"
XSS_ADDRESS = '"><svg onload="window.__xss=3">路1号'
HOSTILE_SOURCE = "tests/web: hostile names"
XSS_SITE_POINTS = ((118.77930, 32.04300), (118.77830, 32.04190))
"""Beside the roads of 新街口, a minute's walk from each other."""


def add_hostile_sites(session: Session) -> list[int]:
    """Two published demo sites in 新街口 whose name and address are XSS payloads.

    Open around the clock and handling the ID-card item, so the planner lists them.
    """
    street = session.scalars(
        select(Region.code)
        .where(Region.code.startswith("320102"), Region.level == RegionLevel.street)
        .order_by(Region.code)
        .limit(1)
    ).one()
    item = session.scalars(select(Item.code).where(Item.name == ID_CARD)).one()
    ids = []
    for name, (lon, lat) in zip((XSS_IMG, XSS_SCRIPT), XSS_SITE_POINTS, strict=True):
        site = Site(
            name=name,
            level=SiteLevel.street,
            kind=SiteKind.hall,
            region_code=street,
            address=XSS_ADDRESS,
            phone="025-00000000",
            geom=from_shape(Point(lon, lat), srid=4326),
            opening_hours="24/7",
            status=SiteStatus.published,
            source=HOSTILE_SOURCE,
            demo=True,
        )
        session.add(site)
        session.flush()
        session.add(SiteItem(site_id=site.id, item_code=item, window="综合窗口", source="tests"))
        ids.append(site.id)
    session.flush()
    return ids


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """The app on a committed scratch database, which is dropped at the end of the session."""
    url = scratch_database("live")
    try:
        with running_server(url, wait=False) as server:  # the app imports meanwhile
            fill_database(url, add_hostile_sites)
            server.wait_until_ready()
            yield server
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def hostile_site_ids(live_server: LiveServer) -> list[int]:
    engine = create_engine(live_server.database_url)
    try:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(Site.id).where(Site.source == HOSTILE_SOURCE).order_by(Site.id)
                )
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_on(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., tuple[Any, Recorder]]]:
    """``page_on(**context_options)`` → (page, recorder); contexts closed after the test."""
    contexts: list[Any] = []

    def open_page(**options: Any) -> tuple[Any, Recorder]:
        context = browser.new_context(
            base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai", **options
        )
        contexts.append(context)
        page = context.new_page()
        recorder = record(page)
        return page, recorder

    yield open_page
    for context in contexts:
        context.close()
