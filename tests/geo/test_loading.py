"""The real data as loaded by ``daofu data load``: counts, links, boundaries, demo sites."""

import shutil
from pathlib import Path

import opening_hours
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo import demo, loading
from geo.errors import DataFileError
from geo.models import Facility, FacilityCategory, Region, RegionLevel, Site, SiteLevel
from geo.settings import get_settings
from web.datasets import ALL_DATASETS

DATA = get_settings().data_dir


def count_level(session: Session, prefix: str, level: RegionLevel) -> int:
    stmt = select(func.count()).where(Region.code.startswith(prefix), Region.level == level)
    return int(session.scalar(stmt) or 0)


@pytest.mark.parametrize(
    ("prefix", "cities", "districts", "streets", "communities"),
    [
        ("3701", 1, 13, 164, 5758),  # 济南
        ("37", 16, 151, 1853, 62074),  # 山东
        ("3201", 1, 11, 140, 1322),  # 南京
    ],
)
def test_every_level_is_loaded(
    session: Session, prefix: str, cities: int, districts: int, streets: int, communities: int
) -> None:
    assert count_level(session, prefix, RegionLevel.city) == cities
    assert count_level(session, prefix, RegionLevel.district) == districts
    assert count_level(session, prefix, RegionLevel.street) == streets
    assert count_level(session, prefix, RegionLevel.community) == communities


def test_counts_match_the_source_files(session: Session) -> None:
    rows_in_files = sum(
        sum(1 for _ in (DATA / f).open(encoding="utf-8")) - 1 for f in loading.DIVISIONS.files
    )
    provinces = count_level(session, "", RegionLevel.province)
    assert provinces == 2
    assert session.scalar(select(func.count()).select_from(Region)) == rows_in_files + provinces


def test_parent_links_follow_the_code_tree(session: Session) -> None:
    jinan_street = session.get(Region, "370102001000")
    assert jinan_street is not None and jinan_street.name == "解放路街道"
    assert jinan_street.parent_code == "370102000000"
    community = session.get(Region, "370102001002")
    assert community is not None and community.parent_code == "370102001000"
    # every region except the provinces has a parent one level up
    orphans = session.scalar(
        text(
            "SELECT count(*) FROM regions c LEFT JOIN regions p ON p.code = c.parent_code "
            "WHERE c.level <> 'province' AND (p.code IS NULL OR p.level >= c.level)"
        )
    )
    assert orphans == 0


def test_boundaries_are_converted_valid_and_cover_their_districts(session: Session) -> None:
    with_boundary = session.scalar(
        select(func.count()).where(
            Region.boundary.is_not(None), Region.level == RegionLevel.district
        )
    )
    assert with_boundary == 136 + 11
    invalid = session.scalar(
        select(func.count()).where(Region.boundary.is_not(None), ~func.ST_IsValid(Region.boundary))
    )
    assert invalid == 0
    # 历下区 holds 泉城广场 (WGS-84 117.0185, 36.6628); the raw GCJ-02 polygon would be ~500 m off
    inside = session.scalar(
        select(
            func.ST_Contains(
                Region.boundary, func.ST_SetSRID(func.ST_MakePoint(117.0185, 36.6628), 4326)
            )
        ).where(Region.code == "370102000000")
    )
    assert inside is True
    # the Jinan city outline is (up to simplification) the union of its districts
    overlap = session.scalar(
        text(
            "SELECT ST_Area(ST_Intersection(c.boundary, u.g)) / ST_Area(c.boundary) "
            "FROM regions c, (SELECT ST_Union(boundary) g FROM regions "
            "                 WHERE level = 'district' AND code LIKE '3701%') u "
            "WHERE c.code = '370100000000'"
        )
    )
    assert overlap > 0.99
    nanjing = session.get(Region, "320100000000")
    assert nanjing is not None and nanjing.boundary is not None  # union of its 11 districts


def test_ev_charging_stations_are_jinan_parking_facilities(session: Session) -> None:
    # 939 in the file, of which 4 sit on a placeholder point in Tai'an and are left out
    assert session.scalar(select(func.count()).select_from(Facility)) == 935
    categories = set(session.scalars(select(Facility.category).distinct()))
    assert categories == {FacilityCategory.parking}
    outside_jinan = session.scalar(
        text(
            "SELECT count(*) FROM facilities f, regions c WHERE c.code = '370100000000' "
            "AND NOT ST_DWithin(c.boundary::geography, f.geom::geography, 2000)"
        )
    )
    assert outside_jinan == 0
    with_district = session.scalar(select(func.count()).where(Facility.region_code.is_not(None)))
    assert with_district is not None and with_district > 900
    internal = select(func.count()).where(Facility.attributes["public"].astext == "false")
    assert (session.scalar(internal) or 0) > 0  # 【内部专用】 stations are marked, not hidden


def test_demo_sites_cover_every_level_and_are_flagged(session: Session) -> None:
    sites = list(session.scalars(select(Site)))
    assert sites and all(s.demo and s.source == demo.DEMO_SOURCE for s in sites)
    jinan = [s for s in sites if s.region_code.startswith("3701")]
    assert sum(s.level == SiteLevel.city and s.kind == "hall" for s in jinan) == 1
    district_halls = {
        s.region_code for s in jinan if s.level == SiteLevel.district and s.kind == "hall"
    }
    assert len(district_halls) == 13
    street_halls = [
        s.region_code for s in jinan if s.level == SiteLevel.street and s.kind == "hall"
    ]
    assert len(street_halls) == len(set(street_halls)) == 164
    communities = [s for s in jinan if s.level == SiteLevel.community]
    assert 500 < len(communities) < 5758
    assert all(s.region_code.startswith(s.region_code[:9]) for s in communities)
    nanjing = [s for s in sites if s.region_code.startswith("3201")]
    assert len(nanjing) >= 30


def test_demo_sites_lie_in_their_district(session: Session) -> None:
    misplaced = session.scalar(
        text(
            "SELECT count(*) FROM sites s "
            "JOIN regions d ON d.code = left(s.region_code, 6) || '000000' "
            "WHERE d.boundary IS NOT NULL AND NOT ST_Contains(d.boundary, s.geom)"
        )
    )
    assert misplaced == 0


def test_nanjing_demo_sites_lie_within_the_shipped_road_extract(session: Session) -> None:
    # bounds of data/roads/nanjing_xinjiekou_highways.osm
    outside = session.scalar(
        text(
            "SELECT count(*) FROM sites WHERE region_code LIKE '3201%' AND NOT "
            "ST_Within(geom, ST_MakeEnvelope(118.7558, 32.0289, 118.8001, 32.0592, 4326))"
        )
    )
    assert outside == 0


def test_every_site_has_parsable_opening_hours(session: Session) -> None:
    for name, hours in session.execute(select(Site.name, Site.opening_hours)):
        assert hours, name
        opening_hours.OpeningHours(hours)  # raises ParserError on bad syntax


def test_demo_generation_is_deterministic(session: Session) -> None:
    path = DATA / loading.DEMO_SITES.files[0]
    first = demo.generate_sites(session, path)
    second = demo.generate_sites(session, path)
    assert [(r["name"], str(r["geom"])) for r in first] == [
        (r["name"], str(r["geom"])) for r in second
    ]


def test_second_load_skips_unchanged_data(session: Session) -> None:
    results = loading.load_all(session, DATA, lambda *_: None, datasets=ALL_DATASETS)
    assert [r.skipped for r in results] == [True] * len(ALL_DATASETS)
    assert {r.name: r.rows for r in results}["divisions"] == 65570


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def test_a_bad_division_row_names_file_row_and_field_and_writes_nothing(
    session: Session, data_copy: Path
) -> None:
    path = data_copy / "divisions/nanjing_districts.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("3201", "32O1", 1)  # letter O instead of a zero
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = session.scalar(select(func.count()).select_from(Region))
    with pytest.raises(DataFileError) as error, session.begin_nested():
        loading.load_all(session, data_copy, lambda *_: None, force=True)
    message = str(error.value)
    assert "divisions/nanjing_districts.csv" in message and "row 4" in message and "code" in message
    assert session.scalar(select(func.count()).select_from(Region)) == before


def test_a_boundary_of_an_unknown_division_is_rejected(session: Session, data_copy: Path) -> None:
    path = data_copy / "boundaries/nanjing_districts_datav_320100_full.json"
    path.write_text(
        path.read_text(encoding="utf-8").replace("320104", "329999", 1), encoding="utf-8"
    )
    with pytest.raises(DataFileError, match="329999"), session.begin_nested():
        loading.load_boundaries(session, data_copy, lambda *_: None)


def test_a_missing_file_is_named(session: Session, data_copy: Path) -> None:
    (data_copy / "poi/jinan_ev_charging_stations_gcj02.geojson").unlink()
    with pytest.raises(DataFileError, match=r"jinan_ev_charging_stations_gcj02\.geojson"):
        loading.load_all(session, data_copy, lambda *_: None)
