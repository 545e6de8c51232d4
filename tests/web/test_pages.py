"""The public pages and the agent helper, through the app (TestClient, rolled-back session)."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import web.pages
from geo.coords import wgs84_to_gcj02
from geo.models import Site, SiteStatus
from geo.settings import PROJECT_ROOT
from tests.web.conftest import XSS_ADDRESS, XSS_IMG, XSS_SCRIPT, add_hostile_sites
from web.app import content_security_policy

XINJIEKOU = (118.7787, 32.0426)
QUANCHENG_SQUARE = (117.0009, 36.6758)


def nanjing_site(session: Session, near: tuple[float, float] = XINJIEKOU) -> Site:
    origin = func.ST_SetSRID(func.ST_MakePoint(*near), 4326)
    site = session.scalars(
        select(Site)
        .where(Site.region_code.startswith("3201"), Site.status == SiteStatus.published)
        .where(Site.kind == "hall")
        .order_by(func.ST_Distance(Site.geom, origin))
        .limit(1)
    ).first()
    assert site is not None
    return site


def jinan_site(session: Session) -> Site:
    site = session.scalars(
        select(Site).where(Site.region_code.startswith("3701"), Site.kind == "hall").limit(1)
    ).first()
    assert site is not None
    return site


def site_head(html: str) -> str:
    match = re.search(r'<header class="site-head">(.*?)</header>', html, re.S)
    assert match, "the site page has a head"
    return match.group(1)


# ---- headers, assets, the planner -----------------------------------------------------


def test_pages_send_a_strict_content_security_policy(client: TestClient, session: Session) -> None:
    site = nanjing_site(session)
    for path in ("/", f"/sites/{site.id}", "/sites/999999", "/api/sites?limit=1"):
        answer = client.get(path, headers={"Accept": "text/html"})
        csp = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["style-src"] == "'self'", path
        assert directives["connect-src"] == "'self'" and directives["object-src"] == "'none'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    # Swagger UI loads its scripts from a CDN: no policy there, rather than a broken page
    assert "content-security-policy" not in client.get("/docs").headers


def test_an_online_tile_layer_is_allowed_for_images_only() -> None:
    csp = content_security_policy("https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}")
    assert "img-src 'self' https://*.tianditu.gov.cn;" in csp
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp
    osm = content_security_policy("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    assert "img-src 'self' https://tile.openstreetmap.org;" in osm
    assert "img-src 'self';" in content_security_policy("javascript:alert(1)")


def scripts_of(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)


def test_the_planner_has_no_inline_script_and_only_local_assets(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    assert "办什么事" in html and "出发点" in html and "步行" in html and "驾车" in html
    for tag in scripts_of(html):
        assert 'src="http://testserver/static/' in tag or 'type="application/json"' in tag, tag
    for href in re.findall(r'<link [^>]*href="([^"]+)"', html):
        assert href.startswith("http://testserver/static/"), href
    assert "style=" not in html, "inline styles are blocked by the policy"
    assert "OpenStreetMap contributors (ODbL)" in html and "DataV.GeoAtlas" in html


def test_the_planner_config_lists_cities_and_network_extents(client: TestClient) -> None:
    html = client.get("/?city=320100&from=118.7787,32.0426&mode=walk").text
    match = re.search(r'<script type="application/json" id="daofu-config">(.*?)</script>', html)
    assert match
    import json

    config = json.loads(match.group(1))
    codes = {c["code"]: c for c in config["cities"]}
    assert "370100000000" in codes and "320100000000" in codes
    assert config["default_city"] == "370100000000"
    assert config["page"] == {
        "city": "320100000000",
        "from": "118.7787,32.0426",
        "item": None,
        "mode": "walk",
    }
    assert config["tile"] is None  # offline base map only, unless the settings name tiles
    assert "OpenStreetMap" in config["attribution"]


def test_a_planner_link_that_does_not_parse_is_ignored(client: TestClient) -> None:
    html = client.get("/?city=abc&mode=fly").text
    assert '"city": null' in html and '"mode": null' in html


def test_leaflet_is_served_by_the_app_with_its_licence(client: TestClient) -> None:
    for path in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/leaflet/images/layers.png",
        "/static/js/coords.js",
        "/static/js/common.js",
        "/static/js/planner.js",
        "/static/js/site.js",
        "/static/css/app.css",
    ):
        assert client.get(path).status_code == 200, path
    licence = (PROJECT_ROOT / "web" / "static" / "vendor" / "leaflet" / "LICENSE").read_text()
    assert "BSD 2-Clause" in licence and "Agafonkin" in licence
    assert "1.9.4" in client.get("/static/vendor/leaflet/leaflet.js").text[:200]


# ---- the site page ----------------------------------------------------------------------


def test_a_site_page_shows_what_a_citizen_needs(client: TestClient, session: Session) -> None:
    site = nanjing_site(session)
    html = client.get(f"/sites/{site.id}").text
    assert f'<h1 id="site-name">{site.name}</h1>' in html
    assert site.address and site.address in html
    assert site.phone and f'href="tel:{site.phone}"' in html
    assert "今天" in html and "营业时间" in html and "近期节假日安排" in html
    assert "可办事项" in html and "周边便民设施" in html
    for category in (
        "医疗卫生",
        "便民商业",
        "文体旅游",
        "停车设施",
        "教育机构",
        "应急避难",
        "养老服务",
    ):
        assert category in html
    assert "南京市" in html  # the division chain


def test_demo_sites_carry_a_visible_mark(client: TestClient, session: Session) -> None:
    site = nanjing_site(session)
    assert site.demo
    assert re.search(
        r'class="badge demo"[^>]*>示例数据</span>', site_head(client.get(f"/sites/{site.id}").text)
    )
    site.demo = False
    session.flush()
    assert "示例数据" not in site_head(client.get(f"/sites/{site.id}").text)


def decode_segno_svg(svg: str) -> list[list[int]]:
    """The dark modules of a segno SVG path (``M x y`` then ``h n`` runs and ``m dx dy``)."""
    match = re.search(r'<path transform="scale\((\d+)\)"[^>]* d="([^"]+)"', svg)
    assert match, svg[:200]
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:\s(-?[\d.]+))?", match.group(2)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(y - 0.5), int(x) + i) for i in range(int(float(a))))
            x += float(a)
    border = 4
    size = max(c for _, c in dark) - border + 1
    return [[int((r + border, c + border) in dark) for c in range(size)] for r in range(size)]


def test_the_qr_code_opens_this_page(client: TestClient, session: Session) -> None:
    site = nanjing_site(session)
    html = client.get(f"/sites/{site.id}").text
    url = f"http://testserver/sites/{site.id}"
    assert f'data-qr-text="{url}"' in html
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg and "<script" not in svg.group(0) and "style=" not in svg.group(0)
    expected = segno.make(url, error="m")
    assert decode_segno_svg(svg.group(0)) == [list(row) for row in expected.matrix]
    assert expected.designator  # a real symbol, decodable by any phone


def test_the_print_view_has_a_print_stylesheet(client: TestClient) -> None:
    css = client.get("/static/css/app.css").text
    assert "@media print" in css and ".no-print" in css


def test_holidays_ahead_are_listed_with_this_sites_hours(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.pages, "today_in_china", lambda: date(2025, 9, 25))
    site = nanjing_site(session)
    site.opening_hours = "Mo-Fr 09:00-17:00; PH off"
    session.flush()
    html = client.get(f"/sites/{site.id}").text
    changes = re.search(r'<ul class="changes" id="holiday-changes">(.*?)</ul>', html, re.S)
    assert changes, "the National Day break is within 90 days"
    text = re.sub(r"\s+", " ", changes.group(1))
    assert "9月28日 周日" in text and "调休上班" in text and "09:00–17:00" in text
    assert "10月1日 周三 至" in text and "国庆" in text and "放假" in text and "休息" in text


def test_a_look_ahead_into_an_uncovered_year_says_so_instead_of_no_holidays(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Late November: next year's 元旦 and 春节 are not in the calendar yet (until an admin
    adds them), so the page must not claim there are no holidays ahead."""
    monkeypatch.setattr(web.pages, "today_in_china", lambda: date(2026, 11, 23))
    site = nanjing_site(session)
    html = client.get(f"/sites/{site.id}").text
    assert 'id="calendar-uncovered"' in html and "2027年的节假日安排尚未录入" in html
    assert "没有节假日或调休" not in html

    monkeypatch.setattr(web.pages, "today_in_china", lambda: date(2026, 3, 2))
    html = client.get(f"/sites/{site.id}").text
    assert 'id="calendar-uncovered"' not in html


def test_unknown_or_unpublished_sites_get_a_friendly_404(
    client: TestClient, session: Session
) -> None:
    for path in ("/sites/999999", "/sites/abc", "/sites/0", "/sites/99999999999999"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "找不到" in answer.text and "回到办事地图" in answer.text
    draft = nanjing_site(session)
    draft.status = SiteStatus.draft
    session.flush()
    assert client.get(f"/sites/{draft.id}").status_code == 404


def test_unknown_pages_are_html_for_browsers_and_problems_for_the_api(client: TestClient) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and "找不到这个页面" in page.text
    api = client.get("/api/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    plain = client.get("/no/such/page")
    assert plain.status_code == 404 and plain.json()["status"] == 404


def test_hostile_names_are_text_on_the_site_page(client: TestClient, session: Session) -> None:
    for site_id in add_hostile_sites(session):
        html = client.get(f"/sites/{site_id}").text
        assert (
            "<img src=x" not in html and "<script>window" not in html and "<svg onload" not in html
        )
        head = site_head(html)
        assert ("&lt;img src=x onerror=" in head) or ("&lt;script&gt;window.__xss=2" in head)
        assert "&#34;&gt;&lt;svg onload=" in html  # the address
        config = re.search(r'id="daofu-config">(.*?)</script>', html, re.S)
        assert config and "<" not in config.group(1)  # tojson escapes < > & '
    assert XSS_IMG and XSS_SCRIPT and XSS_ADDRESS


# ---- /api/directions-text ----------------------------------------------------------------


def test_directions_text_routes_in_nanjing(nanjing_client: TestClient, session: Session) -> None:
    site = nanjing_site(session, (118.7800, 32.0480))
    answer = nanjing_client.get(
        "/api/directions-text",
        params={"site": site.id, "from": "118.7787,32.0426", "mode": "walk"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    url = f"http://testserver/sites/{site.id}"
    assert body["url"] == url and body["text"].endswith(f"详情：{url}")
    assert body["text"].startswith("从出发点步行约") and site.name in body["text"]
    assert body["estimate"] is False and body["duration_s"] > 0 and body["distance_m"] > 0
    minutes = max(1, round(body["duration_s"] / 60))
    assert f"约{minutes}分钟" in body["text"]
    assert body["site"]["id"] == site.id and body["site"]["properties"]["demo_label"] == "示例数据"
    assert body["route"]["geometry"]["type"] == "LineString"
    assert body["route"]["properties"]["steps"][-1]["instruction"] == "到达目的地"
    assert "OpenStreetMap" in body["attribution"]


def test_directions_text_accepts_gcj02_like_the_other_apis(
    nanjing_client: TestClient, session: Session
) -> None:
    site = nanjing_site(session, (118.7800, 32.0480))
    plain = nanjing_client.get(
        "/api/directions-text", params={"site": site.id, "from": "118.7787,32.0426"}
    ).json()
    lon, lat = wgs84_to_gcj02(*XINJIEKOU)
    shifted = nanjing_client.get(
        "/api/directions-text", params={"site": site.id, "from": f"{lon},{lat}", "crs": "gcj02"}
    ).json()
    assert shifted["duration_s"] == pytest.approx(plain["duration_s"], abs=0.5)
    site_lon = shifted["site"]["geometry"]["coordinates"][0]
    assert site_lon != pytest.approx(plain["site"]["geometry"]["coordinates"][0], abs=1e-5)


def test_directions_text_without_roads_is_an_honest_estimate(
    nanjing_client: TestClient, session: Session
) -> None:
    site = jinan_site(session)
    body = nanjing_client.get(
        "/api/directions-text",
        params={"site": site.id, "from": f"{QUANCHENG_SQUARE[0]},{QUANCHENG_SQUARE[1]}"},
    ).json()
    assert body["estimate"] is True and body["duration_s"] is None and body["route"] is None
    assert "直线距离约" in body["text"] and "估算" in body["text"]
    assert "尚未导入路网" in body["note"] and not re.search(r"\d+分钟", body["text"])
    assert body["distance_m"] == body["straight_line_m"] > 0


def test_directions_text_errors_name_what_to_fix(
    nanjing_client: TestClient, session: Session
) -> None:
    site = nanjing_site(session)
    good = {"site": site.id, "from": "118.7787,32.0426", "mode": "walk"}
    cases = [
        ({**good, "mode": "fly"}, 422, "mode"),
        ({**good, "from": "32.0426"}, 422, "from"),
        ({**good, "from": "118.7787,132.0"}, 422, "from"),
        ({**good, "crs": "mars"}, 422, "crs"),
        ({**good, "site": "abc"}, 422, "site"),
        ({"from": good["from"]}, 422, "site"),
        ({**good, "site": 999999}, 404, None),
    ]
    for params, status, field in cases:
        answer = nanjing_client.get("/api/directions-text", params=params)
        assert answer.status_code == status, (params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        if field:
            assert answer.json()["field"] == field, (params, answer.json())


def test_directions_to_a_retired_site_are_a_conflict(
    nanjing_client: TestClient, session: Session
) -> None:
    site = nanjing_site(session)
    site.status = SiteStatus.retired
    session.flush()
    answer = nanjing_client.get(
        "/api/directions-text", params={"site": site.id, "from": "118.7787,32.0426"}
    )
    assert answer.status_code == 409 and answer.json()["code"] == "site_retired"
    assert site.name in answer.json()["detail"]
    page = nanjing_client.get(f"/sites/{site.id}")  # the page still says what happened
    assert page.status_code == 200 and "该场所已停止服务" in page.text


# ---- /api/roads ---------------------------------------------------------------------------


def test_roads_for_the_offline_base_map(nanjing_client: TestClient) -> None:
    near = nanjing_client.get("/api/roads", params={"bbox": "118.77,32.035,118.79,32.05"}).json()
    assert near["numberReturned"] > 50 and near["classes"] is None and not near["truncated"]
    kinds = {f["properties"]["highway"] for f in near["features"]}
    assert {"primary", "residential"} <= kinds
    assert all(f["geometry"]["type"] == "LineString" for f in near["features"])
    ids = [f["id"] for f in near["features"]]
    assert len(ids) == len(set(ids)), "a two-way road is drawn once"
    wide = nanjing_client.get("/api/roads", params={"bbox": "118.5,31.8,119.2,32.3"}).json()
    assert "primary" in wide["classes"] and "residential" not in wide["classes"]
    assert {f["properties"]["highway"] for f in wide["features"]} <= set(wide["classes"])
    assert "OpenStreetMap" in wide["attribution"]


def test_roads_answer_nothing_where_there_is_no_network_and_refuse_huge_views(
    nanjing_client: TestClient,
) -> None:
    jinan = nanjing_client.get("/api/roads", params={"bbox": "116.9,36.6,117.1,36.7"}).json()
    assert jinan["features"] == []
    huge = nanjing_client.get("/api/roads", params={"bbox": "110,30,120,40"})
    assert huge.status_code == 422 and huge.json()["field"] == "bbox"
    bad = nanjing_client.get("/api/roads", params={"bbox": "1,2,3"})
    assert bad.status_code == 422 and bad.json()["field"] == "bbox"


def test_site_links_from_the_page_open_the_planner_with_the_item(
    client: TestClient, session: Session
) -> None:
    site = nanjing_site(session)
    html = client.get(f"/sites/{site.id}").text
    links = re.findall(r'href="http://testserver/\?item=([^"]+)"', html)
    assert links, "items link to the planner"
    assert all(quote(link, safe="%") == link for link in links)
