"""Validating uploads row by row against the real regions table and boundaries: each
kind of mistake reported by row number, column as written and code; good rows come out
canonical with WGS-84 coordinates."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from accounts.scope import Scope
from geo.coords import CRS, bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.models import Region, Site, SiteKind, SiteLevel, SiteStatus
from stewardship.cells import parse_degrees, suggest_osm_hours
from stewardship.reading import RawTable, read_upload
from stewardship.report import Action, Entity, Severity, UploadReport
from stewardship.validation import (
    ValidationContext,
    load_context,
    normalise_name,
    validate,
)

LIXIA, HUAIYIN, JINAN = "370102000000", "370104000000", "370100000000"
JIEFANGLU = "370102001000"  # 解放路街道, 历下区
JIEFANGQIAO = "370102001002"  # 解放桥社区居民委员会, 解放路街道
HUAIYIN_STREET = "370104001000"  # 振兴街街道, 槐荫区
QINGDAO = (120.3826, 36.0671)
HEADER = "名称,经度,纬度,区划代码,层级"


@dataclasses.dataclass(frozen=True)
class Jinan:
    lixia: tuple[float, float]  # a point well inside 历下区
    huaiyin: tuple[float, float]  # a point well inside 槐荫区
    village: str  # a 村 code of Jinan


@pytest.fixture(scope="module")
def jinan(engine: Engine) -> Jinan:
    with Session(engine) as session:

        def inside(code: str) -> tuple[float, float]:
            point = func.ST_PointOnSurface(Region.boundary)
            row = session.execute(
                select(func.ST_X(point), func.ST_Y(point)).where(Region.code == code)
            ).one()
            return float(row[0]), float(row[1])

        village = session.scalar(
            select(Region.code).where(
                Region.code.startswith("3701"), Region.name.endswith("村民委员会")
            )
        )
        assert village is not None
        return Jinan(inside(LIXIA), inside(HUAIYIN), village)


@pytest.fixture(scope="module")
def base_context(engine: Engine) -> Iterator[ValidationContext]:
    """The real regions, boundaries and published sites, read once for the module."""
    with Session(engine) as session:
        yield load_context(session, Entity.sites, CRS.wgs84, Scope.of(JINAN), JINAN)


def context_for(
    base: ValidationContext, *, crs: CRS = CRS.wgs84, scope: Scope | None = None,
    entity: Entity = Entity.sites, existing: ValidationContext | None = None,
) -> ValidationContext:  # fmt: skip
    changes: dict[str, object] = {"crs": crs, "entity": entity}
    if scope is not None:
        changes["scope"] = scope
    if existing is not None:
        changes["existing"] = existing.existing
    elif entity is not base.entity:
        changes["existing"] = {}
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def upload(*rows: str, header: str = HEADER, name: str = "upload.csv") -> RawTable:
    text = "\n".join([header, *rows]) + "\n"
    return read_upload(name, text.encode("utf-8"), max_rows=100_000)


def run(table: RawTable, context: ValidationContext) -> UploadReport:
    return validate(table, context)


def found(report: UploadReport, code: str) -> list[tuple[int | None, str | None]]:
    """(row, column) of every problem with ``code``."""
    return [(p.row, p.field) for p in report.problems if p.code == code]


def the(report: UploadReport, code: str) -> str:
    (problem,) = [p for p in report.problems if p.code == code]
    return problem.message


def at(point: tuple[float, float], dx: float = 0.0, dy: float = 0.0) -> str:
    return f"{point[0] + dx:.7f},{point[1] + dy:.7f}"


# ---------------------------------------------------------------- good rows, columns


def test_good_rows_are_canonical_with_level_and_kind_filled_in(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    header = "name,lon (WGS84),Lat,region_code,level,kind,phone,opening_hours,department"
    table = upload(
        f"历下区政务服务中心,{at(jinan.lixia)},{LIXIA},区县级,政务服务中心,0531-86001234,"
        "Mo-Fr 09:00-17:00; PH off,",
        f"解放路街道便民服务中心,{at(jinan.lixia, 0.002)},{JIEFANGLU},街道,,,,",
        f"解放桥社区便民服务站,{at(jinan.lixia, 0.004)},{JIEFANGQIAO},,自助终端,,,",
        header=header,
    )
    report = run(table, base_context)
    assert report.ok and report.problems == []
    assert report.rows_total == 3 and report.format == "csv" and report.encoding == "utf-8"
    assert report.crs == "wgs84"
    assert report.columns["lon (WGS84)"] == "lon" and report.columns["Lat"] == "lat"
    district, street, community = report.good
    assert (district.row, district.action, district.target_id) == (2, Action.add, None)
    assert district.values == {
        "name": "历下区政务服务中心", "level": "district", "kind": "hall", "region_code": LIXIA,
        "department": None, "address": None, "phone": "0531-86001234",
        "opening_hours": "Mo-Fr 09:00-17:00; PH off",
        "lon": round(jinan.lixia[0], 7), "lat": round(jinan.lixia[1], 7),
    }  # fmt: skip
    assert (street.values["level"], street.values["kind"]) == ("street", "hall")
    # no level given: the community code says it
    assert (community.values["level"], community.values["kind"]) == (
        "community",
        "self_service_terminal",
    )


def test_unknown_columns_are_ignored_with_a_warning(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(f"甲,{at(jinan.lixia)},{LIXIA},区县级,1,好", header=HEADER + ",序号,备注")
    report = run(table, base_context)
    assert report.columns_ignored == ["序号", "备注"]
    assert found(report, "unknown_column") == [(None, None)]
    assert "序号" in the(report, "unknown_column")
    assert report.ok and len(report.good) == 1


def test_two_columns_for_one_field_is_a_file_error(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(f"甲,乙,{at(jinan.lixia)}", header="名称,场所名称,经度,纬度")
    report = run(table, base_context)
    assert found(report, "duplicate_column") == [(None, "场所名称")]
    assert report.good == [] and not report.ok


@pytest.mark.parametrize(
    ("header", "column"),
    [("经度,纬度,区划代码", "name"), ("名称,经度,区划代码", "lat"), ("名称,区划代码", "lon")],
)
def test_missing_required_columns_are_file_errors(
    base_context: ValidationContext, header: str, column: str
) -> None:
    report = run(upload("1,2,3", header=header), base_context)
    assert found(report, "missing_column") == [(None, column)]
    assert report.file_errors and report.good == []


def test_a_coordinate_system_in_the_header_that_contradicts_the_declared_one_warns(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(
        f"甲,{at(jinan.lixia)},{LIXIA}", header="名称,经度(GCJ-02),纬度(GCJ-02),区划代码"
    )
    report = run(table, base_context)
    assert found(report, "crs_hint_mismatch")[0] == (None, "经度(GCJ-02)")
    assert {p.severity for p in report.problems} == {Severity.warning}
    gcj = run(table, context_for(base_context, crs=CRS.gcj02))
    assert found(gcj, "crs_hint_mismatch") == []


# ---------------------------------------------------------------- required fields


def test_missing_name_location_and_region_code(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(
        f",{at(jinan.lixia)},{LIXIA},",  # no name
        f"乙,,,{LIXIA},",  # no location
        f"丙,{at(jinan.lixia)},,街道级",  # a street must give its code
        f"丁,{at(jinan.lixia)},,区县级",  # a district is inferred from the point
        f"戊,{jinan.lixia[0]},,{LIXIA},",  # a longitude without latitude
    )
    report = run(table, base_context)
    assert found(report, "missing_field") == [
        (2, "名称"), (3, "经度"), (4, "区划代码"), (6, "纬度"),
    ]  # fmt: skip
    assert [g.row for g in report.good] == [5]
    assert report.good[0].values["region_code"] == LIXIA
    assert report.good[0].values["level"] == "district"


def test_city_level_site_gets_its_city_from_the_point(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    report = run(upload(f"济南市政务服务中心,{at(jinan.lixia)},,市级"), base_context)
    assert report.ok
    assert (report.good[0].values["region_code"], report.good[0].values["level"]) == (JINAN, "city")


# ---------------------------------------------------------------- coordinates


@pytest.mark.parametrize(
    ("text", "degrees"),
    [
        ("117.0234", 117.0234),
        ("  117.0234 ", 117.0234),
        ("１１７．０２３４", 117.0234),
        ("117°01'30\"", 117.025),
        ("117°1′30″", 117.025),
        ("117度01分30秒", 117.025),
        ("36°40'N", 36 + 40 / 60),
        ("-1.5", -1.5),
    ],
)
def test_coordinate_forms_that_are_read(text: str, degrees: float) -> None:
    assert parse_degrees(text) == pytest.approx(degrees)


@pytest.mark.parametrize("text", ["abc", "117.0.1", "117°75'", "", "nan"])
def test_coordinate_forms_that_are_not(text: str) -> None:
    assert parse_degrees(text) is None


def test_bad_and_impossible_coordinates(base_context: ValidationContext, jinan: Jinan) -> None:
    lon, lat = jinan.lixia
    table = upload(
        f"甲,abc,{lat},{LIXIA},",
        f"乙,{lon},95.5,{LIXIA},",
        f"丙,10.5,50.1,{LIXIA},",  # Europe
        f"丁,39512345.1,4051234.2,{LIXIA},",  # projected metres
        f"戊,117°04'36.84\",{lat},{LIXIA},",  # degrees-minutes-seconds are fine
    )
    report = run(table, base_context)
    assert found(report, "bad_coordinate") == [(2, "经度"), (3, "纬度"), (4, "经度"), (5, "经度")]
    messages = [p.message for p in report.problems]
    assert "outside China" in messages[2] and "projected metres" in messages[3]
    assert [g.row for g in report.good] == [6]
    assert report.good[0].values["lon"] == pytest.approx(117 + 4 / 60 + 36.84 / 3600)


def test_swapped_coordinates_suggest_the_corrected_pair(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    lon, lat = jinan.lixia
    report = run(upload(f"甲,{lat},{lon},{LIXIA},"), base_context)
    assert found(report, "swapped_coordinates") == [(2, "经度")]
    (problem,) = report.problems
    assert problem.suggestion == f"{lon!r}, {lat!r}"
    assert f"lon {lon!r}, lat {lat!r}" in problem.message
    assert report.good == []


@pytest.mark.parametrize(
    ("crs", "forward", "back"),
    [(CRS.gcj02, wgs84_to_gcj02, gcj02_to_wgs84), (CRS.bd09, wgs84_to_bd09, bd09_to_wgs84)],
)
def test_declared_gcj02_and_bd09_are_stored_as_wgs84(
    base_context: ValidationContext, jinan: Jinan, crs: CRS, forward: object, back: object
) -> None:
    shifted = forward(*jinan.lixia)  # type: ignore[operator]
    row = f"甲,{shifted[0]:.7f},{shifted[1]:.7f},{LIXIA},"
    report = run(upload(row), context_for(base_context, crs=crs))
    assert report.ok and report.crs == crs.value
    values = report.good[0].values
    expected = back(round(shifted[0], 7), round(shifted[1], 7))  # type: ignore[operator]
    assert (values["lon"], values["lat"]) == pytest.approx(expected, abs=1e-7)
    assert (values["lon"], values["lat"]) == pytest.approx(jinan.lixia, abs=1e-5)


def geojson(features: list[dict[str, object]], crs: str | None = None) -> bytes:
    document: dict[str, object] = {"type": "FeatureCollection", "features": features}
    if crs:
        document["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(document, ensure_ascii=False).encode()


def test_a_projected_file_cannot_be_declared_gcj02(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    point = gpd.GeoSeries([Point(jinan.lixia)], crs="EPSG:4490").to_crs("EPSG:4548")[0]
    data = geojson(
        [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [point.x, point.y]},
          "properties": {"名称": "甲", "区划代码": LIXIA}}],
        "EPSG:4548",
    )  # fmt: skip
    table = read_upload("sites.geojson", data, max_rows=10)
    report = run(table, context_for(base_context, crs=CRS.gcj02))
    assert found(report, "crs_conflict") == [(None, None)] and report.good == []
    report = run(table, base_context)
    assert report.ok and report.crs == "EPSG:4548"
    assert (report.good[0].values["lon"], report.good[0].values["lat"]) == pytest.approx(
        jinan.lixia, abs=1e-7
    )


def test_a_feature_that_is_not_a_point(base_context: ValidationContext, jinan: Jinan) -> None:
    line = {"type": "LineString", "coordinates": [list(jinan.lixia), list(jinan.huaiyin)]}
    data = geojson([
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(jinan.lixia)},
         "properties": {"名称": "甲", "区划代码": LIXIA}},
        {"type": "Feature", "geometry": line, "properties": {"名称": "乙", "区划代码": LIXIA}},
    ])  # fmt: skip
    report = run(read_upload("sites.geojson", data, max_rows=10), base_context)
    assert found(report, "bad_geometry") == [(2, "geometry")]
    assert "LineString" in the(report, "bad_geometry")
    assert [g.row for g in report.good] == [1]


# ---------------------------------------------------------------- places


def test_outside_the_city_of_its_region_code(base_context: ValidationContext) -> None:
    report = run(upload(f"甲,{at(QINGDAO)},{LIXIA},"), base_context)
    assert found(report, "outside_city") == [(2, "经度")]
    assert "济南市" in the(report, "outside_city")


def test_a_point_in_another_district_is_a_warning(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    report = run(upload(f"甲,{at(jinan.huaiyin)},{JIEFANGLU},"), base_context)
    assert found(report, "district_mismatch") == [(2, "经度")]
    assert "槐荫区" in the(report, "district_mismatch")
    assert report.problems[0].severity is Severity.warning
    assert [g.row for g in report.good] == [2]


def test_a_point_just_across_the_district_line_is_tolerated(
    base_context: ValidationContext,
) -> None:
    lixia = base_context.district_boundaries[LIXIA]
    east = max(shapely.get_coordinates(lixia).tolist())  # the easternmost vertex
    outside = (east[0] + 200 / 89_000, east[1])  # 200 m further east
    assert not lixia.contains(Point(outside))
    report = run(upload(f"甲,{at(outside)},{JIEFANGLU},"), base_context)
    assert found(report, "district_mismatch") == [] and report.ok
    far = (east[0] + 2000 / 89_000, east[1])
    assert found(run(upload(f"甲,{at(far)},{JIEFANGLU},"), base_context), "district_mismatch")


# ---------------------------------------------------------------- scope


def test_region_outside_the_uploaders_scope(base_context: ValidationContext, jinan: Jinan) -> None:
    scope = Scope.of(LIXIA)
    table = upload(f"甲,{at(jinan.huaiyin)},{HUAIYIN},", f"乙,{at(jinan.lixia)},{LIXIA},")
    report = run(table, context_for(base_context, scope=scope))
    assert found(report, "outside_scope") == [(2, "区划代码")]
    assert scope.describe() in the(report, "outside_scope")
    assert [g.row for g in report.good] == [3]


def test_department_outside_the_uploaders_scope(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    scope = Scope.of(JINAN, ["市公安局"])
    table = upload(
        f"甲,{at(jinan.lixia)},{LIXIA},,市民政局",
        f"乙,{at(jinan.lixia, 0.01)},{LIXIA},,市公安局",
        f"丙,{at(jinan.lixia, 0.02)},{LIXIA},,",
        header=HEADER + ",所属部门",
    )
    report = run(table, context_for(base_context, scope=scope))
    assert found(report, "outside_scope") == [(2, "所属部门"), (4, "所属部门")]
    assert [g.row for g in report.good] == [3]
    assert report.good[0].values["department"] == "市公安局"


# ---------------------------------------------------------------- codes and words


def test_region_codes_and_levels(base_context: ValidationContext, jinan: Jinan) -> None:
    point = at(jinan.lixia)
    table = upload(
        f"甲,{point},{LIXIA},街道级",  # a street-level site with a district code
        f"乙,{point},{JIEFANGLU},社区",  # a community with a street code
        f"丙,{point},370102999999,",  # well-formed but not a division
        f"丁,{point},12345,",
        f"戊,{point},3.70102E+11,",  # what a spreadsheet does to a number column
        f"己,{point},370102,区级",  # the 6-digit GB/T 2260 code is fine
    )
    report = run(table, base_context)
    assert found(report, "level_mismatch") == [(2, "层级"), (3, "层级")]
    assert found(report, "unknown_region") == [(4, "区划代码")]
    assert found(report, "bad_region_code") == [(5, "区划代码"), (6, "区划代码")]
    assert "科学计数法" in report.problems[-1].message and "text" in report.problems[-1].message
    assert [(g.row, g.values["region_code"]) for g in report.good] == [(7, LIXIA)]


def test_village_codes_are_community_level(base_context: ValidationContext, jinan: Jinan) -> None:
    table = upload(f"某村便民服务站,{at(jinan.lixia)},{jinan.village},村")
    report = run(table, base_context)
    assert found(report, "level_mismatch") == []
    assert report.good[0].values["level"] == "community"


def test_unknown_level_kind_and_action_words_name_the_accepted_ones(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(
        f"甲,{at(jinan.lixia)},{LIXIA},省级,,",
        f"乙,{at(jinan.lixia)},{LIXIA},,政务超市,",
        f"丙,{at(jinan.lixia)},{LIXIA},,,作废",
        header=HEADER + ",类型,操作",
    )
    report = run(table, base_context)
    assert found(report, "bad_level") == [(2, "层级")]
    assert "区县级" in the(report, "bad_level") and "community" in the(report, "bad_level")
    assert found(report, "bad_kind") == [(3, "类型")]
    assert "政银合作网点" in the(report, "bad_kind")
    assert found(report, "bad_action") == [(4, "操作")]
    assert "撤销" in the(report, "bad_action") and report.good == []


def test_opening_hours_with_the_parsers_message_and_a_suggestion(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(
        f"甲,{at(jinan.lixia)},{LIXIA},周一至周五 9:00-17:00",
        f'乙,{at(jinan.lixia, 0.01)},{LIXIA},"工作日 8:30-12:00, 13:30-17:30"',
        f"丙,{at(jinan.lixia, 0.02)},{LIXIA},随时",
        f"丁,{at(jinan.lixia, 0.03)},{LIXIA},Mo-Fr 09:00-17:00; PH off",
        header="名称,经度,纬度,区划代码,办公时间",
    )
    report = run(table, base_context)
    assert found(report, "invalid_opening_hours") == [
        (2, "办公时间"),
        (3, "办公时间"),
        (4, "办公时间"),
    ]
    first, second, third = (p for p in report.problems if p.code == "invalid_opening_hours")
    assert first.suggestion == "Mo-Fr 09:00-17:00"
    assert second.suggestion == "Mo-Fr 08:30-12:00,13:30-17:30; PH off"
    assert third.suggestion is None
    assert (
        "cannot parse the opening hours" in first.message and "Mo-Fr 09:00-17:00" in first.message
    )
    assert [g.row for g in report.good] == [5]


@pytest.mark.parametrize(
    ("text", "osm"),
    [
        ("周一至周五 9:00-17:00", "Mo-Fr 09:00-17:00"),
        (
            "周一至周五上午9:00-12:00，下午1:30-5:00；周六、周日休息",
            "Mo-Fr 09:00-12:00,13:30-17:00; Sa,Su off",
        ),
        ("星期一到星期六 8:30-17:30", "Mo-Sa 08:30-17:30"),
        ("每天 08：00－20：00", "Mo-Su 08:00-20:00"),
        ("24小时", "24/7"),
        ("工作时间请来电咨询", None),
    ],
)
def test_chinese_hours_suggestions(text: str, osm: str | None) -> None:
    assert suggest_osm_hours(text) == osm


def test_formula_like_text_is_a_warning_and_kept_as_text(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    table = upload(
        f'"=HYPERLINK(""http://x.cn"",""点我"")",{at(jinan.lixia)},{LIXIA},+86 531 8600 1234,-',
        f"@某服务站,{at(jinan.lixia, 0.01)},{LIXIA},-,无",
        f"乙,{at(jinan.lixia, 0.02)},{LIXIA},=1+1,N/A",
        header="名称,经度,纬度,区划代码,电话,地址",
    )
    report = run(table, base_context)
    assert found(report, "formula_text") == [(2, "名称"), (3, "名称"), (4, "电话")]
    assert {p.severity for p in report.problems} == {Severity.warning}
    first, second, third = (g.values for g in report.good)
    assert first["name"] == '=HYPERLINK("http://x.cn","点我")'
    assert first["phone"] == "+86 531 8600 1234"  # a phone number is not a formula
    assert (first["address"], second["address"], second["phone"], third["address"]) == (
        None, None, None, None,
    )  # fmt: skip
    assert third["phone"] == "=1+1"


def test_a_row_with_more_cells_than_columns(base_context: ValidationContext, jinan: Jinan) -> None:
    table = upload(
        f"甲,济南市,历下区,{at(jinan.lixia)},{LIXIA}", header="名称,地址,经度,纬度,区划代码"
    )
    report = run(table, base_context)
    assert found(report, "extra_cells")[0] == (2, None)
    assert report.good == []


# ---------------------------------------------------------------- duplicates


def test_duplicates_within_the_file(base_context: ValidationContext, jinan: Jinan) -> None:
    table = upload(
        f"历下 便民服务站,{at(jinan.lixia)},{LIXIA},",
        f"历下便民服务站,{at(jinan.lixia, 0.0002)},{LIXIA},",  # ~18 m east, same name
        f"历下便民服务站,{at(jinan.lixia, 0.003)},{LIXIA},",  # ~270 m: another one
        f"历下便民服务点,{at(jinan.lixia)},{LIXIA},",  # another name
    )
    report = run(table, base_context)
    assert found(report, "duplicate_in_file") == [(3, "名称")]
    assert "row 2" in the(report, "duplicate_in_file")
    assert [g.row for g in report.good] == [2, 4, 5]
    assert normalise_name("历下 便民服务站") == normalise_name("历下便民服务站")


def add_site(session: Session, point: tuple[float, float], region: str = JIEFANGLU) -> Site:
    site = Site(
        name="测试上传便民服务中心",
        level=SiteLevel.street,
        kind=SiteKind.hall,
        region_code=region,
        department="街道办事处",
        address="测试路1号",
        phone="0531-1111",
        geom=from_shape(Point(point), srid=4326),
        opening_hours="Mo-Fr 09:00-17:00",
        source="tests",
        status=SiteStatus.published,
    )
    session.add(site)
    session.flush()
    return site


def live_context(session: Session, scope: Scope | None = None) -> ValidationContext:
    return load_context(session, Entity.sites, CRS.wgs84, scope or Scope.of(JINAN), JINAN)


def test_duplicate_of_a_published_site_unless_the_row_changes_it(
    session: Session, jinan: Jinan
) -> None:
    site = add_site(session, jinan.lixia)
    context = live_context(session)
    near = at(jinan.lixia, dy=0.0003)  # 33 m north
    report = run(upload(f"测试上传 便民服务中心,{near},{JIEFANGLU},"), context)
    assert found(report, "duplicate_existing") == [(2, "名称")]
    message = the(report, "duplicate_existing")
    assert str(site.id) in message and "编号" in message
    assert report.problems[0].suggestion == f"编号={site.id}" and report.good == []
    # with the id, the same row changes the site instead
    report = run(
        upload(f"测试上传便民服务中心,{near},{JIEFANGLU},,{site.id}", header=HEADER + ",编号"),
        context,
    )
    (change,) = report.good
    assert (change.row, change.action, change.target_id) == (2, Action.change, site.id)
    assert change.values["lat"] == pytest.approx(jinan.lixia[1] + 0.0003, abs=1e-7)
    # and a site retired by the same file leaves room for its replacement
    report = run(
        upload(f"测试上传便民服务中心,{near},{JIEFANGLU},,,", f",,,,,{site.id},撤销",
               header=HEADER + ",编号,操作"),
        context,
    )  # fmt: skip
    assert report.ok and [g.action for g in report.good] == [Action.add, Action.retire]


# ---------------------------------------------------------------- changes and retirements


def test_a_change_row_keeps_what_it_leaves_blank(session: Session, jinan: Jinan) -> None:
    site = add_site(session, jinan.lixia)
    report = run(upload(f"{site.id},0531-2222", header="编号,电话"), live_context(session))
    assert report.ok, report.problems
    (row,) = report.good
    assert (row.action, row.target_id) == (Action.change, site.id)
    assert row.values == {
        "name": "测试上传便民服务中心", "level": "street", "kind": "hall", "region_code": JIEFANGLU,
        "department": "街道办事处", "address": "测试路1号", "phone": "0531-2222",
        "opening_hours": "Mo-Fr 09:00-17:00",
        "lon": pytest.approx(jinan.lixia[0], abs=1e-7),
        "lat": pytest.approx(jinan.lixia[1], abs=1e-7),
    }  # fmt: skip


def test_ids_actions_and_retirements(session: Session, jinan: Jinan) -> None:
    site = add_site(session, jinan.lixia)
    other = add_site(session, jinan.huaiyin, HUAIYIN_STREET)
    table = upload(
        "99999999,修改,",
        "abc,,",
        f"{site.id},撤销,",
        f"{site.id},修改,新名称",
        f"{other.id},新增,",
        ",修改,新名称",
        header="编号,操作,名称",
    )
    report = run(table, live_context(session))
    assert found(report, "unknown_id") == [(2, "编号")]
    assert found(report, "bad_id") == [(3, "编号")]
    assert found(report, "duplicate_id") == [(5, "编号")]
    assert "row 4" in the(report, "duplicate_id")
    assert found(report, "id_with_add") == [(6, "编号")]
    assert found(report, "missing_field") == [(7, "编号")]
    (retire,) = report.good
    assert (retire.row, retire.action, retire.target_id) == (4, Action.retire, site.id)
    assert retire.values["name"] == "测试上传便民服务中心"


def test_changes_must_stay_within_scope_before_and_after(session: Session, jinan: Jinan) -> None:
    inside = add_site(session, jinan.lixia)
    outside, outside_too = (add_site(session, jinan.huaiyin, HUAIYIN_STREET) for _ in range(2))
    context = live_context(session, Scope.of(LIXIA))
    table = upload(
        f"{outside.id},,0531-3333,,,",  # the record is not theirs
        f"{inside.id},,,{at(jinan.huaiyin)},{HUAIYIN_STREET}",  # moving it out of their scope
        f"{outside_too.id},撤销,,,,",
        header="编号,操作,电话,经度,纬度,区划代码",
    )
    report = run(table, context)
    assert found(report, "outside_scope") == [(2, "编号"), (3, "区划代码"), (4, "编号")]
    assert "当前" in report.problems[0].message and report.good == []


# ---------------------------------------------------------------- other formats, facilities


def test_a_gbk_shapefile_in_gauss_kruger_validates_end_to_end(
    base_context: ValidationContext, jinan: Jinan, tmp_path: Path
) -> None:
    frame = gpd.GeoDataFrame(
        {"场所名称": ["解放路街道便民服务中心", "历下区政务服务中心"],
         "区划代码": [float(JIEFANGLU), float(LIXIA)], "层级": ["街道", "区县级"]},
        geometry=[Point(jinan.lixia), Point(jinan.lixia[0] + 0.01, jinan.lixia[1])],
        crs="EPSG:4490",
    ).to_crs("EPSG:4548")  # fmt: skip
    frame.to_file(tmp_path / "sites.shp", encoding="GBK")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            archive.write(tmp_path / f"sites{suffix}", f"sites{suffix}")
    report = run(read_upload("sites.zip", out.getvalue(), max_rows=10), base_context)
    assert report.ok and report.encoding == "gb18030" and report.format == "shp"
    assert [(g.row, g.values["name"], g.values["level"]) for g in report.good] == [
        (1, "解放路街道便民服务中心", "street"), (2, "历下区政务服务中心", "district"),
    ]  # fmt: skip
    assert (report.good[0].values["lon"], report.good[0].values["lat"]) == pytest.approx(
        jinan.lixia, abs=1e-7
    )


def test_shapefile_field_names_cut_to_ten_bytes_are_recognised(
    base_context: ValidationContext, jinan: Jinan, tmp_path: Path
) -> None:
    frame = gpd.GeoDataFrame(
        {"场所名称": ["历下区政务服务中心"], "行政区划代码": [LIXIA], "联系电话": ["0531-1"]},
        geometry=[Point(jinan.lixia)], crs="EPSG:4326",
    )  # fmt: skip
    frame.to_file(tmp_path / "sites.shp", encoding="UTF-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            archive.write(tmp_path / f"sites{suffix}", f"sites{suffix}")
    report = run(read_upload("sites.zip", out.getvalue(), max_rows=10), base_context)
    assert report.columns == {"场所名": "name", "行政区": "region_code", "联系电": "phone"}
    assert report.ok and report.good[0].values["phone"] == "0531-1"


def test_facilities(base_context: ValidationContext, jinan: Jinan) -> None:
    context = context_for(base_context, entity=Entity.facilities)
    table = upload(
        f"历下区人民医院,{at(jinan.lixia)},医疗卫生,,三级医院",
        f"某停车场,{at(jinan.lixia, 0.01)},parking,{JIEFANGQIAO},",
        f"某超市,{at(jinan.lixia, 0.02)},超市,,",
        f"某养老院,{at(jinan.lixia, 0.03)},,,",
        header="设施名称,经度,纬度,类别,区划代码,子类,层级",
    )
    report = run(table, context)
    assert report.columns_ignored == ["层级"]  # not a field of facilities
    assert found(report, "bad_category") == [(4, "类别")]
    assert "养老服务" in the(report, "bad_category")
    assert found(report, "missing_field") == [(5, "类别")]
    hospital, parking = report.good
    assert hospital.values == {
        "name": "历下区人民医院", "category": "medical", "subcategory": "三级医院",
        "region_code": LIXIA,  # inferred from the point
        "address": None, "opening_hours": None,
        "lon": round(jinan.lixia[0], 7), "lat": round(jinan.lixia[1], 7),
    }  # fmt: skip
    assert (parking.values["category"], parking.values["region_code"]) == ("parking", JIEFANGQIAO)


# ---------------------------------------------------------------- scale


def test_progress_and_a_large_file_of_one_name(
    base_context: ValidationContext, jinan: Jinan
) -> None:
    """5,000 sites of the same name 100 m apart: none is a duplicate, and the grid keeps
    it quick; progress is told every 1,000 rows and at the end."""
    lon, lat = jinan.lixia
    rows = [
        f"便民服务站,{lon + (i % 50) * 0.0012:.7f},{lat + (i // 50) * 0.0009 - 0.04:.7f},{LIXIA},"
        for i in range(5000)
    ]
    calls: list[int] = []
    report = validate(upload(*rows), base_context, calls.append)
    assert calls == [1000, 2000, 3000, 4000, 5000]
    assert found(report, "duplicate_in_file") == []
    assert report.rows_total == 5000


def test_the_upload_bench_file_carries_each_kind_of_mistake(session: Session) -> None:
    """``daofu bench upload`` measures a realistic file: mostly good rows, and each kind of
    deliberate mistake found where it was put."""
    from stewardship.bench import MISTAKES, bench_upload

    report = bench_upload(session, rows=2000)
    assert report.rows == 2000 and report.total_s > 0
    expected = {
        "swapped_coordinates", "bad_coordinate", "outside_city", "unknown_region",
        "level_mismatch", "invalid_opening_hours", "duplicate_in_file", "missing_field",
        "outside_scope", "formula_text", "bad_kind",
    }  # fmt: skip
    assert set(report.problems) == expected
    assert report.rows_bad == 2000 // 100 * (len(MISTAKES) - 1)  # the formula is a warning
