"""The HTTP API: GeoJSON shapes, filters, paging, coordinate systems and errors.

Expectations come from plain SQL on the real data and from pyproj, not from the
service; the client serves requests from the test's own (rolled-back) session.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from geoalchemy2.shape import from_shape, to_shape
from pyproj import Geod
from shapely.geometry import Point, shape
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.models import Region, Site, SiteKind, SiteLevel, SiteStatus

PROBLEM = "application/problem+json"
GEOD = Geod(ellps="WGS84")
QUANCHENG_SQUARE = (117.0189, 36.6618)
XINJIEKOU = (118.7789, 32.0415)
LEVEL_NAMES = {
    "city": "市级",
    "district": "区县级",
    "street": "街道(镇)级",
    "community": "社区(村)级",
}
SITE_PROPERTIES = {
    "name",
    "level",
    "level_name",
    "kind",
    "region_code",
    "region_name",
    "opening_hours",
    "demo",
    "demo_label",
    "status",
    "address",
    "phone",
}


def sites_by_sql(session: Session, where: str = "true", **params: Any) -> dict[int, dict[str, Any]]:
    """Published sites as plain SQL sees them, keyed by id."""
    rows = session.execute(
        text(
            "SELECT s.id, s.name, s.level::text AS level, s.kind::text AS kind, s.region_code, "
            "s.demo, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, r.name AS region_name "
            "FROM sites s JOIN regions r ON r.code = s.region_code "
            f"WHERE s.status = 'published' AND ({where})"
        ),
        params,
    ).mappings()
    return {row["id"]: dict(row) for row in rows}


def geodesic_m(origin: tuple[float, float], lon: float, lat: float) -> float:
    return float(GEOD.inv(origin[0], origin[1], lon, lat)[2])


def point_on_surface(session: Session, code: str) -> tuple[float, float]:
    lon, lat = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM regions "
            "WHERE code = :code) s"
        ),
        {"code": code},
    ).one()
    return float(lon), float(lat)


def add_site(session: Session, lon: float, lat: float, *, demo: bool = False) -> Site:
    site = Site(
        name="测试真实场所",
        level=SiteLevel.street,
        kind=SiteKind.hall,
        region_code="370102001000",
        geom=from_shape(Point(lon, lat), srid=4326),
        source="tests",
        status=SiteStatus.published,
        demo=demo,
        opening_hours="Mo-Fr 09:00-17:00",
    )
    session.add(site)
    session.flush()
    return site


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:daofu:problem:")
    assert body["title"] and body["detail"] and body["code"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def feature_ids(body: dict[str, Any]) -> list[int]:
    return [f["id"] for f in body["features"]]


# --- /api/sites: shape, paging, filters ------------------------------------------------


def test_sites_are_an_rfc7946_feature_collection(client: TestClient, session: Session) -> None:
    response = client.get("/api/sites", params={"region": "3701", "limit": 60})
    assert response.status_code == 200
    body = response.json()
    expected = sites_by_sql(session, "s.region_code LIKE '3701%'")
    assert body["type"] == "FeatureCollection"
    assert "crs" not in body  # RFC 7946 dropped it: coordinates are WGS-84
    assert body["numberMatched"] == len(expected) > 900
    assert body["numberReturned"] == len(body["features"]) == 60
    boundary = session.scalar(select(Region.boundary).where(Region.code == "370100000000"))
    jinan = to_shape(boundary).buffer(0.01)  # ~1 km of slack where the two boundary files differ
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["id"], int)
        row = expected[feature["id"]]
        geometry = feature["geometry"]
        assert geometry["type"] == "Point" and len(geometry["coordinates"]) == 2
        lon, lat = geometry["coordinates"]  # [lon, lat], inside Jinan
        assert jinan.contains(Point(lon, lat))
        assert (lon, lat) == pytest.approx((row["lon"], row["lat"]), abs=1e-9)
        props = feature["properties"]
        assert set(props) >= SITE_PROPERTIES
        assert props["name"] == row["name"]
        assert props["level"] == row["level"] and props["level_name"] == LEVEL_NAMES[row["level"]]
        assert props["kind"] == row["kind"] in {k.value for k in SiteKind}
        assert props["region_code"] == row["region_code"]
        assert props["region_name"] == row["region_name"]
        assert isinstance(props["opening_hours"], str) and props["opening_hours"]
        assert props["demo"] is True and props["demo_label"] == "示例数据"
        assert props["status"] == "published"


def test_a_real_site_carries_no_demo_label(client: TestClient, session: Session) -> None:
    site = add_site(session, *QUANCHENG_SQUARE, demo=False)
    feature = client.get(f"/api/sites/{site.id}").json()
    assert feature["properties"]["demo"] is False
    assert feature["properties"]["demo_label"] is None
    listed = client.get("/api/sites", params={"demo": "false"}).json()
    assert feature_ids(listed) == [site.id]


def test_next_links_walk_every_page_once(client: TestClient, session: Session) -> None:
    expected = sites_by_sql(
        session, "s.region_code LIKE '3701%' AND s.level IN ('street', 'community')"
    )
    url: str | None = "/api/sites?region=3701&level=street&level=community&limit=90"
    pages: list[list[int]] = []
    while url is not None:
        body = client.get(url).json()
        assert body["numberMatched"] == len(expected)
        assert {f["properties"]["level"] for f in body["features"]} <= {"street", "community"}
        pages.append(feature_ids(body))
        following = [link for link in body["links"] if link["rel"] == "next"]
        assert all(link["type"] == "application/geo+json" for link in following)
        url = following[0]["href"] if following else None
    assert len(pages) == math.ceil(len(expected) / 90) > 2
    assert not set(pages[0]) & set(pages[1])  # the second page is a different page
    seen = [i for page in pages for i in page]
    assert len(seen) == len(set(seen)) and set(seen) == set(expected)


def test_the_last_page_has_no_next_link(client: TestClient, session: Session) -> None:
    total = len(sites_by_sql(session, "s.level = 'district'"))
    exact = client.get("/api/sites", params={"level": "district", "limit": total}).json()
    assert exact["numberReturned"] == total and exact["links"] == []
    beyond = client.get("/api/sites", params={"level": "district", "offset": total + 5}).json()
    assert beyond["features"] == [] and beyond["numberMatched"] == total


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"level": "district"}, "s.level = 'district'"),
        ({"kind": "self_service_zone_24h"}, "s.kind = 'self_service_zone_24h'"),
        (
            {"level": ["street"], "kind": ["bank_outlet", "post_outlet"]},
            "s.level = 'street' AND s.kind IN ('bank_outlet', 'post_outlet')",
        ),
        ({"region": "370103"}, "s.region_code LIKE '370103%'"),
        ({"region": "320100000000"}, "s.region_code LIKE '3201%'"),
        (
            {"bbox": "116.95,36.62,117.10,36.70"},
            "ST_X(s.geom) BETWEEN 116.95 AND 117.10 AND ST_Y(s.geom) BETWEEN 36.62 AND 36.70",
        ),
        ({"q": "便民服务站"}, "strpos(s.name, '便民服务站') > 0"),
        ({"q": "支行", "level": "street"}, "strpos(s.name, '支行') > 0 AND s.level = 'street'"),
    ],
)
def test_site_filters_match_plain_sql(
    client: TestClient, session: Session, params: dict[str, Any], where: str
) -> None:
    expected = sites_by_sql(session, where)
    body = client.get("/api/sites", params={**params, "limit": 1000}).json()
    assert set(feature_ids(body)) == set(expected)
    assert body["numberMatched"] == len(expected) > 0


@pytest.mark.parametrize(("origin", "radius_m"), [(QUANCHENG_SQUARE, 3000), (XINJIEKOU, 1500)])
def test_near_and_radius_filter_matches_geodesic_brute_force(
    client: TestClient, session: Session, origin: tuple[float, float], radius_m: float
) -> None:
    everything = sites_by_sql(session)
    dist = {i: geodesic_m(origin, r["lon"], r["lat"]) for i, r in everything.items()}
    expected = {i for i, d in dist.items() if d <= radius_m}
    near_boundary = {i for i, d in dist.items() if abs(d - radius_m) < 1.0}
    params = {"near": f"{origin[0]},{origin[1]}", "radius_m": radius_m, "limit": 1000}
    body = client.get("/api/sites", params=params).json()
    got = set(feature_ids(body))
    assert len(expected) >= 3 and got ^ expected <= near_boundary
    for feature in body["features"]:
        assert feature["properties"]["distance_m"] == pytest.approx(dist[feature["id"]], abs=0.6)


# --- coordinate systems ---------------------------------------------------------------


@pytest.mark.parametrize(("crs", "convert"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_answers_in_gcj02_and_bd09_are_the_converted_wgs84_answers(
    client: TestClient, crs: str, convert: Any
) -> None:
    # the same request in another system: same rows, coordinates converted on the way out
    for path, params in [
        ("/api/sites", {"region": "370102", "limit": 30}),
        ("/api/facilities", {"region": "370102", "limit": 30}),
    ]:
        wgs = client.get(path, params=params).json()
        shifted = client.get(path, params={**params, "crs": crs}).json()
        assert feature_ids(wgs) == feature_ids(shifted) and wgs["features"]
        for a, b in zip(wgs["features"], shifted["features"], strict=True):
            lon, lat = a["geometry"]["coordinates"]
            want = convert(lon, lat)
            assert tuple(b["geometry"]["coordinates"]) == pytest.approx(want, abs=1e-9)
            assert abs(want[0] - lon) + abs(want[1] - lat) > 1e-3  # a real shift, not a no-op
    site_id = feature_ids(client.get("/api/sites", params={"limit": 1}).json())[0]
    one_wgs = client.get(f"/api/sites/{site_id}").json()["geometry"]["coordinates"]
    one = client.get(f"/api/sites/{site_id}", params={"crs": crs}).json()["geometry"]["coordinates"]
    assert tuple(one) == pytest.approx(convert(*one_wgs), abs=1e-9)
    region_wgs = client.get("/api/regions/370102").json()["centre"]["coordinates"]
    region = client.get("/api/regions/370102", params={"crs": crs}).json()["centre"]["coordinates"]
    assert tuple(region) == pytest.approx(convert(*region_wgs), abs=1e-9)


@pytest.mark.parametrize(("crs", "convert"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_points_given_in_gcj02_or_bd09_mean_the_same_place(
    client: TestClient, session: Session, crs: str, convert: Any
) -> None:
    for origin in (QUANCHENG_SQUARE, XINJIEKOU):
        lon, lat = convert(*origin)
        wgs = client.get("/api/sites/nearest", params={"at": f"{origin[0]},{origin[1]}", "k": 3})
        local = client.get("/api/sites/nearest", params={"at": f"{lon},{lat}", "k": 3, "crs": crs})
        assert feature_ids(wgs.json()) == feature_ids(local.json())
        # same distances too: had the shift been ignored they would differ by hundreds of metres
        for a, b in zip(wgs.json()["features"], local.json()["features"], strict=True):
            assert b["properties"]["distance_m"] == pytest.approx(
                a["properties"]["distance_m"], abs=0.15
            )
        radius = {"radius_m": 2500, "limit": 1000}
        in_wgs = client.get("/api/sites", params={"near": f"{origin[0]},{origin[1]}", **radius})
        in_crs = client.get("/api/sites", params={"near": f"{lon},{lat}", "crs": crs, **radius})
        assert set(feature_ids(in_wgs.json())) == set(feature_ids(in_crs.json()))
    lixia = point_on_surface(session, "370102000000")
    at = convert(*lixia)
    chain = client.get("/api/regions/at", params={"at": f"{at[0]},{at[1]}", "crs": crs}).json()
    assert [r["code"] for r in chain["chain"]][-1] == "370102000000"


# --- nearest, one site ----------------------------------------------------------------


@pytest.mark.parametrize("origin", [(117.0009, 36.6758), (117.55, 36.45), XINJIEKOU])
def test_nearest_sites_come_nearest_first(
    client: TestClient, session: Session, origin: tuple[float, float]
) -> None:
    k = 25
    body = client.get("/api/sites/nearest", params={"at": f"{origin[0]},{origin[1]}", "k": k})
    assert body.status_code == 200
    features = body.json()["features"]
    assert len(features) == body.json()["numberReturned"] == k
    distances = [f["properties"]["distance_m"] for f in features]
    assert distances == sorted(distances)
    everything = sites_by_sql(session)
    dist = {i: geodesic_m(origin, r["lon"], r["lat"]) for i, r in everything.items()}
    kth = sorted(dist.values())[k - 1]
    for feature in features:  # each is among the k nearest and reports its geodesic distance
        assert dist[feature["id"]] <= kth + 1.0
        assert feature["properties"]["distance_m"] == pytest.approx(dist[feature["id"]], abs=0.6)


def test_nearest_sites_with_a_level_filter(client: TestClient, session: Session) -> None:
    body = client.get(
        "/api/sites/nearest", params={"at": "117.0189,36.6618", "k": 4, "level": "district"}
    ).json()
    districts = sites_by_sql(session, "s.level = 'district'")
    ranked = sorted(
        districts,
        key=lambda i: geodesic_m(QUANCHENG_SQUARE, districts[i]["lon"], districts[i]["lat"]),
    )
    assert feature_ids(body) == ranked[:4]


def test_one_site_by_id(client: TestClient, session: Session) -> None:
    listed = client.get("/api/sites", params={"region": "370102", "limit": 5}).json()["features"]
    for feature in listed:
        response = client.get(f"/api/sites/{feature['id']}")
        assert response.status_code == 200
        assert response.json() == feature


def test_unknown_and_malformed_site_ids(client: TestClient, session: Session) -> None:
    missing = session.execute(text("SELECT max(id) + 1 FROM sites")).scalar_one()
    body = assert_problem(client.get(f"/api/sites/{missing}"), 404)
    assert body["code"] == "site_not_found" and body["instance"] == f"/api/sites/{missing}"
    assert_problem(client.get("/api/sites/abc"), 422, "site_id")
    assert assert_problem(client.get("/api/sites/99999999999"), 404)["code"] == "site_not_found"
    facility = assert_problem(client.get("/api/facilities/99999999"), 404)
    assert facility["code"] == "facility_not_found"
    assert_problem(client.get("/api/facilities/x1"), 422, "facility_id")


# --- regions --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["370100", "370100000000", "3701"])
def test_jinan_with_its_children_and_chain(client: TestClient, session: Session, code: str) -> None:
    response = client.get(f"/api/regions/{code}")
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["adcode"], body["name"], body["level"]) == (
        "370100000000",
        "370100",
        "济南市",
        "city",
    )
    children = session.execute(
        text("SELECT code, name FROM regions WHERE parent_code = '370100000000' ORDER BY code")
    ).all()
    assert len(children) == 13
    assert [(c["code"], c["name"]) for c in body["children"]] == [tuple(c) for c in children]
    assert {c["level"] for c in body["children"]} == {"district"}
    assert [r["name"] for r in body["chain"]] == ["山东省", "济南市"]
    assert body["parent"]["code"] == "370000000000"
    assert body["has_boundary"] is True and body["boundary"] is None


def test_region_geometry_is_its_multipolygon(client: TestClient, session: Session) -> None:
    body = client.get("/api/regions/370100", params={"geometry": "true"}).json()
    assert body["boundary"]["type"] == "MultiPolygon"
    boundary = shape(body["boundary"])
    area = session.execute(
        text("SELECT ST_Area(boundary) FROM regions WHERE code = '370100000000'")
    ).scalar_one()
    assert boundary.area == pytest.approx(area, rel=1e-9)
    for child in body["children"]:
        has = session.execute(
            text("SELECT boundary IS NOT NULL FROM regions WHERE code = :c"), {"c": child["code"]}
        ).scalar_one()
        if has:  # every district's inner point lies in the city's boundary
            assert boundary.buffer(1e-6).contains(Point(point_on_surface(session, child["code"])))


def test_regions_list_streets_of_a_district(client: TestClient, session: Session) -> None:
    body = client.get("/api/regions", params={"parent": "370102", "level": "street"}).json()
    streets = session.execute(
        text(
            "SELECT code, name FROM regions WHERE code LIKE '370102%' AND level = 'street' "
            "ORDER BY code"
        )
    ).all()
    assert body["numberMatched"] == len(streets) >= 10
    assert [(r["code"], r["name"]) for r in body["regions"]] == [tuple(s) for s in streets]
    assert all(r["adcode"] is None for r in body["regions"])  # GB/T 2260 stops at districts


def test_regions_at_a_point_in_lixia(client: TestClient, session: Session) -> None:
    lon, lat = point_on_surface(session, "370102000000")
    body = client.get("/api/regions/at", params={"at": f"{lon},{lat}"}).json()
    assert [r["code"] for r in body["chain"]] == ["370000000000", "370100000000", "370102000000"]
    assert [r["name"] for r in body["chain"]] == ["山东省", "济南市", "历下区"]
    assert body["deepest_level_known"] == "district"
    sea = client.get("/api/regions/at", params={"at": "123.5,35.0"}).json()
    assert sea["chain"] == [] and sea["deepest_level_known"] is None


def test_unknown_and_malformed_region_codes(client: TestClient) -> None:
    for code in ("379999", "370199", "999999999999"):
        body = assert_problem(client.get(f"/api/regions/{code}"), 404)
        assert body["code"] == "region_not_found"
    for code in ("12345", "abc", "3701000"):
        assert_problem(client.get(f"/api/regions/{code}"), 422, "code")


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/sites?level=mayor", "level"),
        ("/api/sites?level=street&level=City", "level"),
        ("/api/sites?kind=castle", "kind"),
        ("/api/sites?status=secret", "status"),
        ("/api/facilities?category=zoo", "category"),
        ("/api/sites?near=abc", "near"),
        ("/api/sites?near=200,100", "near"),
        ("/api/sites?near=36.6,117.0,5", "near"),
        ("/api/sites?near=nan,nan", "near"),
        ("/api/sites?near=inf,36", "near"),
        ("/api/sites?bbox=1,2,3", "bbox"),
        ("/api/sites?bbox=118,36,117,37", "bbox"),
        ("/api/sites?bbox=117,37,118,36", "bbox"),
        ("/api/sites?bbox=117,36,181,37", "bbox"),
        ("/api/sites?radius_m=100", "radius_m"),
        ("/api/sites?near=&radius_m=100", "radius_m"),
        ("/api/sites?near=117,36&radius_m=-5", "radius_m"),
        ("/api/sites?near=117,36&radius_m=0", "radius_m"),
        ("/api/sites?near=117,36&radius_m=nan", "radius_m"),
        ("/api/facilities?radius_m=100", "radius_m"),
        ("/api/sites?limit=0", "limit"),
        ("/api/sites?limit=5000", "limit"),
        ("/api/sites?offset=-1", "offset"),
        ("/api/sites?region=379999", "region"),
        ("/api/sites?region=12345", "region"),
        ("/api/facilities?region=379999", "region"),
        ("/api/sites/nearest?at=117,36&region=12345", "region"),
        ("/api/sites?crs=foo", "crs"),
        ("/api/sites?demo=maybe", "demo"),
        ("/api/sites?q=%00", "q"),
        ("/api/sites/nearest", "at"),
        ("/api/sites/nearest?at=abc", "at"),
        ("/api/sites/nearest?at=117,36&k=0", "k"),
        ("/api/sites/nearest?at=117,36&k=101", "k"),
        ("/api/regions/at?at=1", "at"),
        ("/api/regions/at?at=117,36&crs=wgs", "crs"),
        ("/api/regions?parent=12345", "parent"),
        ("/api/regions?level=planet", "level"),
    ],
)
def test_bad_parameters_give_422_problem_naming_the_field(
    client: TestClient, url: str, field: str
) -> None:
    body = assert_problem(client.get(url), 422, field)
    assert body["code"] == "invalid_input"
    assert body["instance"] == url.split("?")[0]


HOSTILE = [
    "/api/sites?q=' OR 1=1 --",
    "/api/sites?q=%25",
    "/api/sites?q=_",
    "/api/sites?q=%5C%5C",
    "/api/sites?q=%00",
    "/api/sites?q=%FF%FE",
    "/api/sites?q=" + "长" * 101,
    "/api/sites?q=" + "a" * 5000,
    "/api/sites?q=&near=&bbox=&region=&radius_m=",
    "/api/sites?level=",
    "/api/sites?near=117,36&near=abc",
    "/api/sites?limit=1&limit=2&offset=3&offset=4",
    "/api/sites?offset=99999999999999999999",
    "/api/sites?near=1e308,1e308",
    "/api/sites?near=-0,-0&radius_m=1e-300",
    "/api/sites?near=117,36&radius_m=inf",
    "/api/sites?near=117;36",
    "/api/sites?near=%EF%BC%91%EF%BC%91%EF%BC%97,36",
    "/api/sites?bbox=-180,-90,180,90&limit=1000",
    "/api/sites?bbox=1,1,1,1",
    "/api/sites?region=37);DROP TABLE sites;--",
    "/api/sites?region=%EF%BC%93%EF%BC%97%EF%BC%90%EF%BC%91",
    "/api/sites?region=999999999999",
    "/api/sites?region=37%0A",
    "/api/sites?crs=GCJ02",
    "/api/sites?status=draft&status=retired&status=published",
    "/api/sites/nearest?at=%E2%80%AE117,36",
    "/api/sites/nearest?at=117,36&k=100&region=3201&level=community",
    "/api/sites/nearest?at=117,36&k=99999999999999999999",
    "/api/sites/1e3",
    "/api/sites/-0",
    "/api/sites/99999999999999999999",
    "/api/sites/%20",
    "/api/facilities?category=parking&category=PARKING",
    "/api/facilities?q=%00",
    "/api/facilities/2147483648",
    "/api/regions?q=' OR ''='",
    "/api/regions?q=%00",
    "/api/regions?parent=%00",
    "/api/regions?parent=999999&level=community",
    "/api/regions/%00",
    "/api/regions/37%2F01",
    "/api/regions/%EF%BC%93%EF%BC%97%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%90",
    "/api/regions/111111111111",
    "/api/regions/at?at=nan,nan",
    "/api/regions/at?at=",
    "/api/regions/at?at=117,36&crs=bd09",
]


def test_no_user_input_gives_a_server_error(client: TestClient, session: Session) -> None:
    failures = []
    for url in HOSTILE:
        savepoint = session.begin_nested()  # one bad request must not poison the next
        try:
            response = client.get(url)
        finally:
            savepoint.rollback()
        kind = response.headers.get("content-type", "")
        if response.status_code >= 500:
            failures.append((url, response.status_code))
        elif response.status_code >= 400 and not kind.startswith(PROBLEM):
            failures.append((url, kind))
    assert failures == []


# --- documentation --------------------------------------------------------------------


def test_openapi_lists_the_store_routes_and_docs_render(client: TestClient) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/sites",
        "/api/sites/nearest",
        "/api/sites/{site_id}",
        "/api/facilities",
        "/api/facilities/{facility_id}",
        "/api/regions",
        "/api/regions/at",
        "/api/regions/{code}",
    ):
        assert "get" in paths[path], path
    names = {p["name"] for p in paths["/api/sites"]["get"]["parameters"]}
    assert {"bbox", "near", "radius_m", "region", "level", "kind", "q", "crs", "limit"} <= names
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_drafts_are_not_public(client: TestClient, session: Session) -> None:
    draft = add_site(session, 117.03, 36.66)
    draft.status = SiteStatus.draft
    session.flush()
    assert_problem(client.get(f"/api/sites/{draft.id}"), 404)
    assert_problem(client.get("/api/sites", params={"status": "draft"}), 422, "status")
    listed = client.get("/api/sites", params={"near": "117.03,36.66", "limit": 5}).json()
    assert draft.id not in [f["id"] for f in listed["features"]]
    draft.status = SiteStatus.published
    session.flush()
    assert client.get(f"/api/sites/{draft.id}").status_code == 200


def test_unknown_parent_region_is_named(client: TestClient) -> None:
    assert_problem(client.get("/api/regions", params={"parent": "379999"}), 422, "parent")


def test_regions_at_echoes_the_point_in_the_callers_system(client: TestClient) -> None:
    gcj = wgs84_to_gcj02(117.0185, 36.6628)
    body = client.get("/api/regions/at", params={"at": f"{gcj[0]},{gcj[1]}", "crs": "gcj02"}).json()
    assert (body["lon"], body["lat"]) == pytest.approx(gcj)
    assert body["chain"][-1]["name"] == "历下区"
