"""End to end in Debian's chromium (Playwright) against a live server on a committed database.

Every page is checked for what it loads: nothing from any host but the app (so the
pages work offline, with Leaflet and the base map served by us), no console error
and no Content-Security-Policy violation. Screenshots go to ``.daofu/screenshots/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from tests.web.conftest import ID_CARD, XSS_IMG, XSS_SCRIPT
from tests.web.live import (
    CHROMIUM,
    SCREENSHOTS,
    LiveServer,
    assert_offline_and_clean,
    record,
    running_server,
)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")

START = (118.7745, 32.0455)
"""A street corner west of 新街口, inside the Nanjing extract."""
PHONE = {"viewport": {"width": 390, "height": 844}}
TIMEOUT_MS = 15_000


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def click_map_at(page: Any, lonlat: tuple[float, float], zoom: int = 16) -> None:
    """Centre the map on a point and click it, as a citizen sets the start."""
    page.evaluate(
        """([lon, lat, zoom]) => {
            const ctx = (Daofu.planner || Daofu.sitePage).ctx;
            ctx.map.setView(ctx.toLatLng([lon, lat]), zoom, {animate: false});
        }""",
        [lonlat[0], lonlat[1], zoom],
    )
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def find_id_card(page: Any) -> None:
    page.locator("#item-input").fill("身份证")
    page.locator("#item-suggestions li.suggestion", has_text=ID_CARD).first.click()
    page.wait_for_function(
        "() => document.getElementById('item-note').textContent.includes('居民身份证办理')"
    )


def test_a_citizen_finds_where_to_get_an_id_card_and_sees_the_route(
    page_on: Any, live_server: LiveServer
) -> None:
    page, recorder = page_on(**PHONE)
    page.goto("/?city=320100")
    page.wait_for_function("() => window.Daofu && Daofu.planner")
    find_id_card(page)
    click_map_at(page, START)
    assert page.locator("#start-text").inner_text().startswith("出发点：地图上选定的位置")
    page.locator("#plan").click()

    first = page.locator("#results li.result").first
    first.wait_for(timeout=TIMEOUT_MS)
    page.locator("#map path.daofu-route").first.wait_for(timeout=TIMEOUT_MS)
    steps = page.locator("#steps li")
    assert steps.count() >= 2 and steps.last.inner_text() == "到达目的地"
    assert page.locator("#results-title").inner_text().startswith("可办理“居民身份证办理")
    card = first.inner_text()
    assert "步行约" in card and "到达" in card and ("营业" in card or "开门" in card)
    assert "示例数据" in card  # the demo sites say so wherever they are shown
    summary = page.locator("#route-summary").inner_text()
    assert summary.startswith("到") and "步行约" in summary
    # the page shows what the API answers: the same sites, in the same order
    shown = [
        int(i)
        for i in page.locator("#results li.result").evaluate_all(
            "items => items.map(li => li.dataset.siteId)"
        )
    ]
    at = page.locator("#depart").input_value()
    start = page.evaluate("Daofu.planner.state.start.join(',')")
    expected = httpx.get(
        f"{live_server.url}/api/match",
        params={"item": ID_CARD, "from": start, "mode": "walk", "at": at},
    ).json()
    assert shown == [r["site"]["id"] for r in expected["results"]]
    shot(page, "planner-id-card-phone")
    # a result's marker opens its card
    page.locator(".number-marker").first.click()
    page.locator(".leaflet-popup-content .site-card").wait_for(timeout=TIMEOUT_MS)
    shot(page, "planner-marker-card-phone")
    assert_offline_and_clean(recorder, live_server)


def test_a_bundle_from_the_browsers_location_shows_its_itinerary(
    page_on: Any, live_server: LiveServer
) -> None:
    page, recorder = page_on(
        geolocation={"longitude": START[0], "latitude": START[1]}, permissions=["geolocation"]
    )
    page.goto("/?city=320100")
    page.wait_for_function("() => window.Daofu && Daofu.planner")
    page.locator("#locate").click()
    page.wait_for_function(
        "() => document.getElementById('start-text').textContent === '出发点：我的位置'"
    )
    assert page.evaluate("Daofu.planner.state.start") == pytest.approx(list(START), abs=1e-9)
    page.locator("#bundle").select_option(label="出生一件事（示例内容）")
    page.locator("#depart").fill("2026-11-24T09:30")  # a Tuesday
    page.locator("#plan").click()
    page.locator("#results li.result").first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#results-title").inner_text() == "一件事：出生一件事"
    legs = page.locator("#results li.result")
    plan = httpx.get(
        f"{live_server.url}/api/bundles/{page.locator('#bundle').input_value()}/itinerary",
        params={"from": f"{START[0]},{START[1]}", "at": "2026-11-24T09:30", "mode": "walk"},
        timeout=60,
    ).json()
    assert legs.count() == len(plan["legs"]) > 1
    assert plan["legs"][0]["item"]["name"] in legs.first.inner_text()
    assert "全部办完" in page.locator("#messages").inner_text()
    shot(page, "planner-bundle")
    assert_offline_and_clean(recorder, live_server)


def test_the_site_page_gives_directions_from_a_chosen_street(
    page_on: Any, live_server: LiveServer
) -> None:
    sites = httpx.get(
        f"{live_server.url}/api/sites",
        params={"near": f"{START[0]},{START[1]}", "level": "district", "kind": "hall", "limit": 1},
    ).json()
    site = sites["features"][0]
    page, recorder = page_on(viewport={"width": 1280, "height": 900})
    response = page.goto(f"/sites/{site['id']}")
    assert response.status == 200
    assert page.locator("h1").inner_text() == site["properties"]["name"]
    assert page.locator(".site-head .badge.demo").inner_text() == "示例数据"
    assert page.locator("figure.qr svg").is_visible()
    page.wait_for_function("() => window.Daofu && Daofu.sitePage")
    # the start from the regions API: district, then street
    page.locator("#district").select_option(label="玄武区")
    page.wait_for_function("() => document.getElementById('street').options.length > 1")
    street = page.locator("#street option").nth(1).inner_text()
    page.locator("#street").select_option(label=street)
    page.wait_for_function(
        "street => document.getElementById('start-text').textContent.includes(street)", arg=street
    )
    page.locator("#go").click()
    text = page.locator("#directions-text")
    text.wait_for(timeout=TIMEOUT_MS)
    assert text.inner_text().startswith("从出发点步行约")
    assert text.inner_text().endswith(f"详情：{live_server.url}/sites/{site['id']}")
    page.locator("#map path.daofu-route").first.wait_for(timeout=TIMEOUT_MS)
    shot(page, "site-directions")
    page.emulate_media(media="print")
    assert not page.locator("#map").is_visible() and page.locator("figure.qr svg").is_visible()
    shot(page, "site-print")
    assert_offline_and_clean(recorder, live_server)


def test_unknown_sites_get_the_friendly_page(page_on: Any, live_server: LiveServer) -> None:
    page, recorder = page_on(**PHONE)
    response = page.goto("/sites/987654")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "找不到这个页面"
    page.get_by_text("回到办事地图").click()
    page.wait_for_url(f"{live_server.url}/")
    assert_offline_and_clean(recorder, live_server, expected_failures=1)


NO_INJECTED_NODES = """() => ({
    xss: window.__xss === undefined ? null : window.__xss,
    images: document.querySelectorAll('img[src="x"], svg[onload]').length,
    inlineScripts: [...document.scripts].filter(
        s => !s.src && s.type !== 'application/json').length,
})"""


def test_hostile_site_names_are_only_ever_text(
    page_on: Any, live_server: LiveServer, hostile_site_ids: list[int]
) -> None:
    page, recorder = page_on(viewport={"width": 1280, "height": 900})
    page.goto("/?city=320100")
    page.wait_for_function("() => window.Daofu && Daofu.planner")
    find_id_card(page)
    click_map_at(page, (118.77880, 32.04250), zoom=17)
    page.locator("#plan").click()
    page.locator("#results li.result").first.wait_for(timeout=TIMEOUT_MS)
    results = page.locator("#results").inner_text()
    assert XSS_IMG in results and XSS_SCRIPT in results, results
    # the markers' cards, and the popups of sites picked on the map
    page.get_by_title(XSS_IMG, exact=True).click()
    popup = page.locator(".leaflet-popup-content .site-name")
    popup.wait_for(timeout=TIMEOUT_MS)
    assert popup.inner_text() == XSS_IMG
    assert page.evaluate(NO_INJECTED_NODES) == {"xss": None, "images": 0, "inlineScripts": 0}
    shot(page, "planner-hostile-names")
    for site_id in hostile_site_ids:
        page.goto(f"/sites/{site_id}")
        assert page.locator("h1").inner_text() in (XSS_IMG, XSS_SCRIPT)
        assert page.title().startswith("<")  # the name, as text
        assert page.evaluate(NO_INJECTED_NODES) == {"xss": None, "images": 0, "inlineScripts": 0}
    shot(page, "site-hostile-name")
    assert_offline_and_clean(recorder, live_server)


def test_the_policy_stops_inline_script_in_the_browser(page_on: Any) -> None:
    page, _ = page_on()
    page.goto("/")
    blocked = page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener('securitypolicyviolation',
                e => resolve({directive: e.effectiveDirective, ran: window.__inline === 1}));
            const s = document.createElement('script');
            s.textContent = 'window.__inline = 1';
            document.body.appendChild(s);
        })"""
    )
    assert blocked == {"directive": "script-src-elem", "ran": False}


def test_the_js_coordinate_port_matches_geo_coords(page_on: Any) -> None:
    page, recorder = page_on()
    page.goto("/")
    page.wait_for_function("() => window.DaofuCoords")
    rng = np.random.default_rng(11)
    lon = np.concatenate([rng.uniform(73.0, 135.0, 300), [116.404, 118.7787, 2.35, -74.0]])
    lat = np.concatenate([rng.uniform(18.0, 54.0, 300), [39.915, 32.0426, 48.85, 40.7]])
    points = np.column_stack([lon, lat]).tolist()
    forward, inverse = page.evaluate(
        """points => [
            points.map(p => DaofuCoords.wgs84ToGcj02(p[0], p[1])),
            points.map(p => DaofuCoords.gcj02ToWgs84(p[0], p[1])),
        ]""",
        points,
    )
    expected_forward = np.column_stack(wgs84_to_gcj02(lon, lat))
    expected_inverse = np.column_stack(gcj02_to_wgs84(lon, lat))
    assert np.abs(np.array(forward) - expected_forward).max() < 1e-9
    assert np.abs(np.array(inverse) - expected_inverse).max() < 1e-9
    assert forward[-4] == pytest.approx([116.41024449916938, 39.91640428150164], abs=1e-9)
    assert forward[-2] == [2.35, 48.85]  # outside China: unchanged
    assert not recorder.errors


def test_a_gcj02_tile_layer_gets_shifted_overlays(browser: Any, live_server: LiveServer) -> None:
    """With a GCJ-02 tile layer set, our WGS-84 data is drawn shifted and clicks come back."""
    tiles = "/static/vendor/leaflet/images/layers.png?z={z}&x={x}&y={y}"
    env = {"DAOFU_TILE_URL": tiles, "DAOFU_TILE_CRS": "gcj02", "DAOFU_TILE_ATTRIBUTION": "测试瓦片"}
    with running_server(live_server.database_url, env=env) as server:
        context = browser.new_context(base_url=server.url, viewport={"width": 1000, "height": 700})
        page = context.new_page()
        recorder = record(page)
        page.goto("/?city=320100")
        page.wait_for_function("() => window.Daofu && Daofu.planner")
        assert page.evaluate("Daofu.planner.ctx.display") == "gcj02"
        click_map_at(page, START)
        state: dict[str, Any] = page.evaluate(
            """() => {
                const ctx = Daofu.planner.ctx;
                const shown = ctx.toLatLng([118.7745, 32.0455]);
                return {start: Daofu.planner.state.start, shown: [shown.lng, shown.lat]};
            }"""
        )
        # the click comes back in WGS-84 (to the pixel), not 500 m off by the GCJ-02 shift
        assert state["start"] == pytest.approx(list(START), abs=5e-5)
        shifted = wgs84_to_gcj02(*START)
        assert state["shown"] == pytest.approx(list(shifted), abs=1e-9)
        assert abs(shifted[0] - START[0]) > 0.003
        # the online layer is an option; choosing it loads tiles (here from the app itself)
        page.locator(".leaflet-control-layers").hover()
        page.get_by_text("在线地图").click()
        page.wait_for_function("() => document.querySelectorAll('img.leaflet-tile').length > 0")
        assert "测试瓦片" in page.locator(".leaflet-control-attribution").inner_text()
        shot(page, "planner-gcj02-tiles")
        context.close()
    assert_offline_and_clean(recorder, server)
    assert any("layers.png?z=" in u for u in recorder.requests)


def test_live_server_answers_like_the_api_docs_say(live_server: LiveServer) -> None:
    """The committed database behind the browser tests has what they rely on."""
    answer = httpx.get(f"{live_server.url}/api/roads", params={"bbox": "118.77,32.04,118.78,32.05"})
    assert answer.status_code == 200 and answer.json()["numberReturned"] > 0
    config = httpx.get(f"{live_server.url}/?city=320100").text
    start = config.index('id="daofu-config">') + len('id="daofu-config">')
    data = json.loads(config[start : config.index("</script>", start)])
    nanjing = next(c for c in data["cities"] if c["code"] == "320100000000")
    assert nanjing["network"] is not None
