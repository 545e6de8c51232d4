"""Spatial queries of the store, checked against independent brute force on the real data.

Expectations are computed without the service: rows are read with plain SQL and
distances come from pyproj's geodesic (WGS-84 ellipsoid), never from PostGIS.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from geo import service
from geo.errors import InvalidInput
from geo.models import (
    Facility,
    FacilityCategory,
    RegionLevel,
    Site,
    SiteKind,
    SiteLevel,
    SiteStatus,
)

GEOD = Geod(ellps="WGS84")
EVERYTHING = 10_000  # a page larger than any table, so one call returns every match

QUANCHENG_SQUARE = (117.0189, 36.6618)  # central Jinan, 历下区
JINAN_RURAL = (117.55, 36.45)  # 章丘 / 莱芜 hills, sparse sites
XINJIEKOU = (118.7789, 32.0415)  # central Nanjing
BEIJING = (116.3975, 39.9087)  # outside every loaded division: nearest sites are far away


@dataclass(frozen=True)
class Row:
    """A site, or a facility (whose category is then in ``level``)."""

    id: int
    name: str
    level: str
    kind: str
    status: str
    demo: bool
    region_code: str | None
    lon: float
    lat: float


def site_rows(session: Session) -> list[Row]:
    """Every site, read with plain SQL (not through the service)."""
    result = session.execute(
        text(
            "SELECT id, name, level::text, kind::text, status::text, demo, region_code, "
            "ST_X(geom), ST_Y(geom) FROM sites"
        )
    )
    return [Row(*r) for r in result]


def published(session: Session) -> list[Row]:
    return [r for r in site_rows(session) if r.status == "published"]


def facility_rows(session: Session) -> list[Row]:
    result = session.execute(
        text(
            "SELECT id, name, category::text, coalesce(subcategory, ''), 'published', demo, "
            "region_code, ST_X(geom), ST_Y(geom) FROM facilities"
        )
    )
    return [Row(*r) for r in result]


def geodesic_m(origin: tuple[float, float], rows: list[Row]) -> dict[int, float]:
    """Ellipsoidal distance from ``origin`` to every row, by pyproj (GeographicLib)."""
    lons = np.array([r.lon for r in rows])
    lats = np.array([r.lat for r in rows])
    _, _, dist = GEOD.inv(np.full_like(lons, origin[0]), np.full_like(lats, origin[1]), lons, lats)
    return {r.id: float(d) for r, d in zip(rows, dist, strict=True)}


def add_site(
    session: Session,
    lon: float,
    lat: float,
    *,
    name: str = "测试场所",
    status: SiteStatus | None = SiteStatus.published,
    demo: bool = False,
    level: SiteLevel = SiteLevel.street,
    kind: SiteKind = SiteKind.hall,
    region_code: str = "370102001000",
) -> Site:
    site = Site(
        name=name,
        level=level,
        kind=kind,
        region_code=region_code,
        demo=demo,
        geom=from_shape(Point(lon, lat), srid=4326),
        source="tests",
    )
    if status is not None:
        site.status = status
    session.add(site)
    session.flush()
    return site


def ids(rows: list[tuple[Any, Any]]) -> list[int]:
    return [obj.id for obj, _ in rows]


# --- the division chain of a point -------------------------------------------------


def test_a_point_in_every_district_resolves_to_that_district(session: Session) -> None:
    districts = session.execute(
        text(
            "SELECT d.code, d.name, d.parent_code, c.parent_code, ST_X(d.p), ST_Y(d.p) FROM "
            " (SELECT code, name, parent_code, ST_PointOnSurface(boundary) AS p FROM regions "
            "  WHERE level = 'district' AND boundary IS NOT NULL) d "
            "JOIN regions c ON c.code = d.parent_code"
        )
    ).all()
    assert sum(code.startswith("37") for code, *_ in districts) == 136
    assert sum(code.startswith("3201") for code, *_ in districts) == 11

    wrong = []
    for code, name, city, province, lon, lat in districts:
        found = service.region_at(session, (lon, lat))
        chain = service.region_chain_at(session, (lon, lat))
        got = [(r.code, r.level) for r in chain]
        expected = [
            (province, RegionLevel.province),
            (city, RegionLevel.city),
            (code, RegionLevel.district),
        ]
        if found is None or found.code != code or got != expected:
            wrong.append((code, name, (lon, lat), found and found.code, got))
    assert wrong == []


@pytest.mark.parametrize(
    "point",
    [(123.5, 35.0), (121.5, 38.6), (2.3522, 48.8566), (0.0, 0.0), BEIJING],
    ids=["yellow-sea", "bohai-strait", "paris", "null-island", "beijing-not-loaded"],
)
def test_a_point_outside_every_boundary_has_an_empty_chain(
    session: Session, point: tuple[float, float]
) -> None:
    assert service.region_at(session, point) is None
    assert service.region_chain_at(session, point) == []


def test_a_point_in_nanjing_chains_up_to_jiangsu(session: Session) -> None:
    chain = service.region_chain_at(session, XINJIEKOU)
    assert [r.level for r in chain] == [
        RegionLevel.province,
        RegionLevel.city,
        RegionLevel.district,
    ]
    assert [r.name for r in chain[:2]] == ["江苏省", "南京市"]


# --- sites by bbox, radius, region, level, kind, status, demo, name -----------------


@pytest.mark.parametrize(
    "bbox",
    [
        (116.95, 36.62, 117.10, 36.70),  # central Jinan
        (118.70, 32.00, 118.85, 32.10),  # central Nanjing
        (117.3, 36.2, 117.9, 36.9),  # eastern Jinan counties
        (-180.0, -90.0, 180.0, 90.0),  # the world
        (10.0, 10.0, 11.0, 11.0),  # nowhere
    ],
)
def test_sites_in_a_bbox_are_exactly_those_inside_it(
    session: Session, bbox: tuple[float, float, float, float]
) -> None:
    minx, miny, maxx, maxy = bbox
    expected = {r.id for r in published(session) if minx <= r.lon <= maxx and miny <= r.lat <= maxy}
    rows, total = service.find_sites(session, service.SiteQuery(bbox=bbox, limit=EVERYTHING))
    assert set(ids(rows)) == expected
    assert total == len(expected) == len(rows)
    if bbox[0] == -180.0:
        assert len(expected) == len(published(session)) > 900


@pytest.mark.parametrize(
    ("origin", "radius_m"),
    [
        (QUANCHENG_SQUARE, 1_500.0),
        (QUANCHENG_SQUARE, 5_000.0),
        (QUANCHENG_SQUARE, 25_000.0),
        (JINAN_RURAL, 15_000.0),
        (XINJIEKOU, 2_000.0),
        (BEIJING, 200_000.0),
    ],
)
def test_sites_within_a_radius_match_brute_force_geodesic_distance(
    session: Session, origin: tuple[float, float], radius_m: float
) -> None:
    rows_all = published(session)
    dist = geodesic_m(origin, rows_all)
    expected = {i for i, d in dist.items() if d <= radius_m}
    near_boundary = {i for i, d in dist.items() if abs(d - radius_m) < 1.0}

    q = service.SiteQuery(near=origin, radius_m=radius_m, limit=EVERYTHING)
    rows, total = service.find_sites(session, q)
    got = set(ids(rows))
    assert got ^ expected <= near_boundary
    assert total == len(rows)
    if origin != BEIJING:
        assert len(expected) >= 3, "the case should exercise real matches"
    else:
        assert expected == got == set()
    for site, d in rows:  # the reported distance is the geodesic one
        assert d == pytest.approx(dist[site.id], abs=0.5)


def test_region_subtree_includes_its_streets_and_communities_only(session: Session) -> None:
    code = service.region_filter(session, "370102", "region")
    assert code == "370102000000"
    rows, total = service.find_sites(session, service.SiteQuery(region=code, limit=EVERYTHING))
    expected = {r.id for r in published(session) if (r.region_code or "").startswith("370102")}
    assert set(ids(rows)) == expected and total == len(expected)
    levels = {s.level for s, _ in rows}
    assert {SiteLevel.district, SiteLevel.street, SiteLevel.community} <= levels
    # sites registered on 历下区 itself, on its streets (9 digits) and on its communities
    codes = {s.region_code for s, _ in rows}
    assert "370102000000" in codes
    assert any(c[6:9] != "000" and c[9:] == "000" for c in codes)
    assert any(c[9:] != "000" for c in codes)
    # a neighbouring district's prefix-sharing codes (370103…) are not included
    assert all(c.startswith("370102") for c in codes)


def test_region_filter_partitions_cities_and_accepts_every_code_length(session: Session) -> None:
    def matched(code: str) -> set[int]:
        full = service.region_filter(session, code, "region")
        rows, _ = service.find_sites(session, service.SiteQuery(region=full, limit=EVERYTHING))
        return set(ids(rows))

    jinan, nanjing = matched("3701"), matched("320100")
    assert jinan and nanjing and not jinan & nanjing
    assert jinan | nanjing == {r.id for r in published(session)}
    assert matched("37") == jinan == matched("370100000000")
    street = matched("370102001")
    assert street and street < matched("370102")


@pytest.mark.parametrize(
    ("code", "message"), [("379999", "不存在"), ("12345", "无效"), ("", "无效")]
)
def test_region_filter_rejects_unknown_and_malformed_codes_naming_the_field(
    session: Session, code: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        service.region_filter(session, code, "region")
    assert err.value.field == "region"
    assert message in err.value.message


def test_level_and_kind_filters_match_brute_force(session: Session) -> None:
    rows_all = published(session)
    for level in SiteLevel:
        rows, total = service.find_sites(
            session, service.SiteQuery(levels=[level], limit=EVERYTHING)
        )
        assert set(ids(rows)) == {r.id for r in rows_all if r.level == level.value}
        assert total == len(rows)
    for kind in SiteKind:
        rows, _ = service.find_sites(session, service.SiteQuery(kinds=[kind], limit=EVERYTHING))
        assert set(ids(rows)) == {r.id for r in rows_all if r.kind == kind.value}
    levels, kinds = [SiteLevel.street, SiteLevel.district], [SiteKind.bank_outlet, SiteKind.hall]
    rows, _ = service.find_sites(
        session, service.SiteQuery(levels=levels, kinds=kinds, limit=EVERYTHING)
    )
    expected = {
        r.id
        for r in rows_all
        if r.level in ("street", "district") and r.kind in ("bank_outlet", "hall")
    }
    assert set(ids(rows)) == expected
    assert {s.kind for s, _ in rows} == set(kinds) and {s.level for s, _ in rows} == set(levels)


def test_drafts_and_retired_sites_are_hidden_unless_asked_for(session: Session) -> None:
    lon, lat = QUANCHENG_SQUARE
    draft = add_site(session, lon, lat, name="未发布的草稿", status=None)  # the model's default
    assert draft.status is SiteStatus.draft
    retired = add_site(session, lon + 0.0001, lat, name="已撤销", status=SiteStatus.retired)
    live = {r.id for r in published(session)}

    def found(**kw: Any) -> set[int]:
        q = service.SiteQuery(near=(lon, lat), radius_m=500, limit=EVERYTHING, **kw)
        return set(ids(service.find_sites(session, q)[0]))

    assert draft.id not in found() and retired.id not in found()
    assert found(statuses=[SiteStatus.draft]) == {draft.id}
    assert found(statuses=[SiteStatus.retired]) == {retired.id}
    assert found(statuses=list(SiteStatus)) == found() | {draft.id, retired.id}
    assert found() <= live
    # the draft stands exactly on the origin, yet the nearest published site is returned
    nearest = service.nearest_sites(session, (lon, lat), 1)
    assert nearest[0][0].status is SiteStatus.published and nearest[0][0].id != draft.id
    by_name, _ = service.find_sites(session, service.SiteQuery(name="未发布"))
    assert by_name == []


def test_demo_flag_filter(session: Session) -> None:
    real = add_site(session, *QUANCHENG_SQUARE, name="真实场所", demo=False)
    everyone = {r.id for r in published(session)}
    demo_ids = {r.id for r in published(session) if r.demo}
    assert len(demo_ids) > 900  # every generated site is flagged demo

    def found(demo: bool | None) -> set[int]:
        rows, total = service.find_sites(session, service.SiteQuery(demo=demo, limit=EVERYTHING))
        assert total == len(rows)
        return set(ids(rows))

    assert found(False) == {real.id}
    assert found(True) == demo_ids == everyone - {real.id}
    assert found(None) == everyone


@pytest.mark.parametrize(
    "needle", ["历下", "便民服务中心", "政银合作", "玫红驿站", "社区", "无此名称"]
)
def test_name_substring_matches_brute_force(session: Session, needle: str) -> None:
    rows, total = service.find_sites(session, service.SiteQuery(name=needle, limit=EVERYTHING))
    expected = {r.id for r in published(session) if needle in r.name}
    assert set(ids(rows)) == expected and total == len(expected)
    if needle != "无此名称":
        assert expected


@pytest.mark.parametrize("needle", ["%", "_", "/", "%_", "100%"])
def test_like_wildcards_in_a_name_are_literal(session: Session, needle: str) -> None:
    odd = add_site(session, *QUANCHENG_SQUARE, name="测试/站 100%_满意")
    rows, _ = service.find_sites(session, service.SiteQuery(name=needle, limit=EVERYTHING))
    assert ids(rows) == [odd.id]


@pytest.mark.parametrize("near", [None, QUANCHENG_SQUARE])
def test_paging_is_consistent_with_one_big_page(
    session: Session, near: tuple[float, float] | None
) -> None:
    base = {"levels": [SiteLevel.community], "near": near}
    everything, total = service.find_sites(session, service.SiteQuery(limit=EVERYTHING, **base))
    assert total == len(everything) > 300
    pages: list[int] = []
    for offset in range(0, total, 70):
        rows, page_total = service.find_sites(
            session, service.SiteQuery(limit=70, offset=offset, **base)
        )
        assert page_total == total
        assert len(rows) == min(70, total - offset)
        pages += ids(rows)
    assert pages == ids(everything)
    assert len(set(pages)) == total
    beyond, beyond_total = service.find_sites(
        session, service.SiteQuery(limit=70, offset=total, **base)
    )
    assert beyond == [] and beyond_total == total
    if near is None:
        assert pages == sorted(pages)  # stable order without a point: by id


# --- nearest sites --------------------------------------------------------------------


def brute_force_mismatches(
    result: list[tuple[Site, float]], candidates: list[Row], origin: tuple[float, float], k: int
) -> list[str]:
    """How ``result`` differs from the k nearest ``candidates`` by geodesic distance."""
    dist = geodesic_m(origin, candidates)
    ranked = sorted(dist, key=lambda i: (dist[i], i))[: min(k, len(dist))]
    problems = []
    if len(result) != len(ranked):
        problems.append(f"{origin} k={k}: {len(result)} rows, expected {len(ranked)}")
    for rank, ((site, reported), want) in enumerate(zip(result, ranked, strict=False)):
        tie = abs(dist[site.id] - dist[want]) < 1e-3  # equal distances may come in any order
        if site.id != want and not tie:
            problems.append(
                f"{origin} k={k} rank {rank}: site {site.id} at {dist[site.id]:.1f} m, "
                f"but site {want} is at {dist[want]:.1f} m"
            )
        if abs(reported - dist[site.id]) > 0.5:
            problems.append(f"{origin}: site {site.id} reported {reported}, is {dist[site.id]}")
    return problems


def test_nearest_sites_are_the_brute_force_nearest_in_order(session: Session) -> None:
    candidates = published(session)
    problems = []
    for origin in (QUANCHENG_SQUARE, JINAN_RURAL, XINJIEKOU, BEIJING):
        for k in (1, 7, 40):
            result = service.nearest_sites(session, origin, k)
            problems += brute_force_mismatches(result, candidates, origin, k)
    assert problems == []


def test_results_near_a_point_are_ordered_by_their_reported_distance(session: Session) -> None:
    """What a user reads: distance_m never goes down the list."""
    problems = []
    for origin in (QUANCHENG_SQUARE, JINAN_RURAL, XINJIEKOU):
        answers: dict[str, list[tuple[Any, float | None]]] = {
            "nearest_sites": list(service.nearest_sites(session, origin, 100)),
            "find_sites": service.find_sites(session, service.SiteQuery(near=origin, limit=300))[0],
            "find_facilities": service.find_facilities(
                session, service.FacilityQuery(near=origin, limit=300)
            )[0],
        }
        for name, rows in answers.items():
            for (a, da), (b, db) in itertools.pairwise(rows):
                if db is None or da is None or db < da:
                    problems.append(f"{name} {origin}: {a.id} at {da} m before {b.id} at {db} m")
    assert problems == [], f"{len(problems)} inversions, e.g. {problems[:5]}"


@pytest.mark.parametrize(
    ("levels", "kinds"),
    [
        ([SiteLevel.district], []),
        ([SiteLevel.street], [SiteKind.hall]),
        ([], [SiteKind.self_service_zone_24h]),
        ([SiteLevel.community, SiteLevel.city], [SiteKind.hall]),
    ],
)
def test_nearest_sites_with_level_and_kind_filters(
    session: Session, levels: list[SiteLevel], kinds: list[SiteKind]
) -> None:
    k = 6
    candidates = [
        r
        for r in published(session)
        if (not levels or r.level in levels) and (not kinds or r.kind in kinds)
    ]
    for origin in (QUANCHENG_SQUARE, XINJIEKOU):
        result = service.nearest_sites(
            session, origin, k, service.SiteQuery(levels=levels, kinds=kinds)
        )
        assert brute_force_mismatches(result, candidates, origin, k) == []
        assert all(not levels or s.level in levels for s, _ in result)


def test_nearest_sites_respects_a_region(session: Session) -> None:
    q = service.SiteQuery(region=service.region_filter(session, "3201", "region"))
    result = service.nearest_sites(session, QUANCHENG_SQUARE, 3, q)
    candidates = [r for r in published(session) if (r.region_code or "").startswith("3201")]
    assert brute_force_mismatches(result, candidates, QUANCHENG_SQUARE, 3) == []
    assert all(d > 500_000 for _, d in result)  # Nanjing is ~540 km from Jinan


# --- facilities -----------------------------------------------------------------------


def add_facility(session: Session, lon: float, lat: float, category: FacilityCategory) -> Facility:
    facility = Facility(
        name=f"测试{category.value}",
        category=category,
        geom=from_shape(Point(lon, lat), srid=4326),
        source="tests",
        region_code="370102000000",
    )
    session.add(facility)
    session.flush()
    return facility


def test_facilities_by_category(session: Session) -> None:
    loaded = facility_rows(session)
    parking = {r.id for r in loaded if r.level == "parking"}
    assert len(parking) > 900  # the Jinan EV charging stations
    clinic = add_facility(session, *QUANCHENG_SQUARE, FacilityCategory.medical)
    shelter = add_facility(session, *XINJIEKOU, FacilityCategory.emergency_shelter)

    def found(*categories: FacilityCategory) -> set[int]:
        q = service.FacilityQuery(categories=categories, limit=EVERYTHING)
        rows, total = service.find_facilities(session, q)
        assert total == len(rows)
        return set(ids(rows))

    assert found(FacilityCategory.parking) == parking
    assert found(FacilityCategory.medical) == {clinic.id}
    assert found(FacilityCategory.medical, FacilityCategory.emergency_shelter) == {
        clinic.id,
        shelter.id,
    }
    assert found(FacilityCategory.education) == set()
    assert found() == parking | {clinic.id, shelter.id}


@pytest.mark.parametrize(
    ("origin", "radius_m"),
    [(QUANCHENG_SQUARE, 2_000.0), (QUANCHENG_SQUARE, 8_000.0), (JINAN_RURAL, 30_000.0)],
)
def test_facilities_within_a_radius_match_brute_force(
    session: Session, origin: tuple[float, float], radius_m: float
) -> None:
    dist = geodesic_m(origin, facility_rows(session))
    expected = {i for i, d in dist.items() if d <= radius_m}
    near_boundary = {i for i, d in dist.items() if abs(d - radius_m) < 1.0}
    q = service.FacilityQuery(near=origin, radius_m=radius_m, limit=EVERYTHING)
    rows, total = service.find_facilities(session, q)
    assert set(ids(rows)) ^ expected <= near_boundary
    assert len(expected) >= 3 and total == len(rows)
    assert all(d == pytest.approx(dist[f.id], abs=0.5) for f, d in rows)
    in_category, _ = service.find_facilities(
        session,
        service.FacilityQuery(
            near=origin, radius_m=radius_m, categories=[FacilityCategory.medical], limit=EVERYTHING
        ),
    )
    assert in_category == []


# --- index use ------------------------------------------------------------------------


@contextmanager
def captured_selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements (with their parameters) the service sends, as sent."""
    statements: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan(session: Session, statement: str, parameters: Any) -> str:
    """EXPLAIN of the statement with real statistics and sequential scans ruled out.

    The tables are small, so a seq scan could win on cost; with it disabled the
    planner still has every other path (btree bitmap scans, sorts), so the GiST
    index shows up only if the query's shape matches the index expression.
    ANALYZE runs inside the test transaction and is rolled back with it.
    """
    session.execute(text("ANALYZE sites, facilities, regions"))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
    return "\n".join(r[0] for r in rows)


def test_nearest_sites_query_is_a_knn_index_scan(session: Session, engine: Engine) -> None:
    with captured_selects(engine) as statements:
        service.nearest_sites(session, QUANCHENG_SQUARE, 5)
    (knn,) = [(s, p) for s, p in statements if "<->" in s]
    explained = plan(session, *knn)
    assert "ix_sites_geog" in explained, explained
    assert "Order By" in explained, explained  # the index yields rows nearest first


def test_radius_query_uses_the_geography_index(session: Session, engine: Engine) -> None:
    with captured_selects(engine) as statements:
        service.find_sites(session, service.SiteQuery(near=QUANCHENG_SQUARE, radius_m=3000))
    (count,) = [(s, p) for s, p in statements if "ST_DWithin" in s and "count(" in s]
    explained = plan(session, *count)
    assert "ix_sites_geog" in explained and "&&" in explained, explained


def test_facility_radius_query_uses_the_geography_index(session: Session, engine: Engine) -> None:
    with captured_selects(engine) as statements:
        service.find_facilities(
            session, service.FacilityQuery(near=QUANCHENG_SQUARE, radius_m=3000)
        )
    (count,) = [(s, p) for s, p in statements if "ST_DWithin" in s and "count(" in s]
    explained = plan(session, *count)
    assert "ix_facilities_geog" in explained, explained


def test_point_in_district_query_uses_the_boundary_index(session: Session, engine: Engine) -> None:
    with captured_selects(engine) as statements:
        service.region_at(session, QUANCHENG_SQUARE)
    (statement,) = statements
    explained = plan(session, *statement)
    assert "idx_regions_boundary" in explained, explained


def test_bbox_query_uses_the_geometry_index(session: Session, engine: Engine) -> None:
    with captured_selects(engine) as statements:
        service.find_sites(session, service.SiteQuery(bbox=(116.95, 36.62, 117.10, 36.70)))
    (count,) = [(s, p) for s, p in statements if "count(" in s]
    explained = plan(session, *count)
    assert "idx_sites_geom" in explained, explained
