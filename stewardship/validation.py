"""Validating an uploaded table row by row: good rows for a change set, a report of the rest.

:func:`load_context` reads once what the checks need (division codes, city and district
boundaries, the published records of the entity); :func:`validate` turns a
:class:`~stewardship.reading.RawTable` into an :class:`~stewardship.report.UploadReport`.
Nothing is written.

Columns are recognised by their header, Chinese or English, case-insensitive, after
NFKC, trimming, and dropping a ``*`` (required mark) or a parenthesised unit suffix
(``经度(GCJ-02)`` is 经度); such a suffix naming another coordinate system than the
declared one is warned about. Headers that fit no field are ignored, with a warning.
A file needs a 名称 column and coordinates (经度 + 纬度, or 经纬度, or the geometry of a
GeoJSON/GeoPackage/Shapefile), unless it has an 编号 (id) column: a file of changes
may carry only the columns it changes.

What a row asks for (操作 column): 新增 add, 修改 change, 撤销 retire. Without that
column a row with an id (编号) is a change, one without is an addition.

- **add**: needs a name and a location; a site also a region code, unless it is a
  city- or district-level site, whose city/district is then taken from its point. The
  level may be left out when the region code's level says it.
- **change**: the id must be a published record of this entity, within the uploader's
  scope. **A blank cell keeps the record's current value**: only the cells filled in
  change it (a new location needs both coordinates). The merged record is checked like
  an addition and :attr:`CleanRow.values` holds the full merged record.
- **retire**: only the id counts; other cells are ignored. ``values``: the record as it is.

Duplicates (same normalised name within 50 m) are looked for among the earlier rows and
the published records; a record that the file changes or retires is represented by its
row instead, so replacing a record (retire one, add another) is no duplicate.

Each problem names the row as the maintainer sees it, the column as written in the file
(the canonical field name when the file has no such column; ``geometry`` for a
feature's geometry), a stable code (the keys of :data:`MESSAGES`) and a message in
Chinese then English. A row with an error is left out of ``good``; warnings
(``formula_text``, ``district_mismatch``) do not stop it. Coordinates are read in the
declared system (CGCS2000 counts as WGS-84; a projected file was made geographic by the
reader) and stored as WGS-84.

Speed: the per-row work is dictionary look-ups; range and swap checks, conversion to
WGS-84 and city/district containment (STR-trees over prepared boundaries) run vectorised
over the whole file, and the 50 m duplicate check looks only in neighbouring cells of a
grid keyed by normalised name.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from accounts.scope import Scope
from catalogue.errors import InvalidOpeningHours
from catalogue.hours import validate_hours
from geo.coords import CRS, in_china, to_wgs84
from geo.divisions import full_code
from geo.errors import InvalidInput
from geo.features import FACILITY_CATEGORY_NAMES, SITE_KIND_NAMES, SITE_LEVEL_NAMES
from geo.models import (
    Facility,
    FacilityCategory,
    Region,
    RegionLevel,
    Site,
    SiteKind,
    SiteLevel,
    SiteStatus,
)
from stewardship.cells import FULL_WIDTH, clean_cell, formula_like, parse_degrees, suggest_osm_hours
from stewardship.headers import (
    FIELD_OF,
    header_field,
    lookup_key,
    lookup_table,
)
from stewardship.reading import EXTRA_CELLS, GEOMETRY_ERROR, RawRow, RawTable
from stewardship.report import Action, CleanRow, Entity, Problem, Severity, UploadReport

PROGRESS_EVERY = 1000
TOLERANCE_M = 500.0
"""A point this close outside its city's (district's) boundary still counts as inside:
the boundaries are simplified, and a hall on a border street may fall either side."""
DUPLICATE_RADIUS_M = 50.0

_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = math.pi * _EARTH_RADIUS_M / 180.0
# grid cells at least DUPLICATE_RADIUS_M wide everywhere in China (latitude < 56°)
_CELL_LAT = DUPLICATE_RADIUS_M / _M_PER_DEG
_CELL_LON = DUPLICATE_RADIUS_M / (_M_PER_DEG * math.cos(math.radians(56.0)))

MESSAGES: dict[str, tuple[str, str]] = {
    # file level
    "missing_column": ("缺少 {column} 列", "the {column} column is missing"),
    "duplicate_column": (
        "列 {headers} 都表示 {field}，请只保留一列",
        "the columns {headers} all mean {field}: keep only one",
    ),
    "unknown_column": (
        "以下列不认识，已忽略: {headers}",
        "these columns are not fields of {entity} and were ignored: {headers}",
    ),
    "crs_conflict": (
        "文件使用投影坐标系 {file_crs}，不可能是 {crs} 坐标，请把坐标系选为 wgs84 或 cgcs2000",
        "the file is in the projected CRS {file_crs}, so its coordinates cannot be {crs}: "
        "declare wgs84 or cgcs2000",
    ),
    "crs_hint_mismatch": (
        "列名 {header} 写的是 {named}，但上传时选择的坐标系是 {crs}，请确认",
        "the header {header} says {named} but the upload was declared {crs}: check which",
    ),
    # rows
    "missing_field": ("缺少{what_zh}", "{what_en} is missing"),
    "extra_cells": (
        "该行比列名多 {count} 个单元格，内容可能错位 (含逗号的文字要加引号)",
        "this row has {count} more cells than there are columns, so its cells may be "
        "shifted (quote text holding commas)",
    ),
    "bad_action": (
        "无法识别的操作 '{value}'，可填: 新增、修改、撤销",
        "unknown action '{value}': use 新增 add, 修改 change or 撤销 retire",
    ),
    "bad_id": ("编号 '{value}' 应为正整数", "the id '{value}' must be a positive whole number"),
    "id_with_add": (
        "新增行不应填写编号; 要修改已有记录请把操作改为 修改",
        "a row to add must not carry an id: to change that record, set the action to 修改",
    ),
    "unknown_id": (
        "编号 {value} 不是已发布的{noun}",
        "id {value} is not a published {entity_one}",
    ),
    "duplicate_id": (
        "编号 {value} 已在第 {first} 行出现，每条记录只能出现一次",
        "id {value} already appears in row {first}: one row per record",
    ),
    "bad_coordinate": ("坐标 '{value}' {why_zh}", "the coordinate '{value}' {why_en}"),
    "bad_geometry": (
        "要素的几何是 {value}，只接受点 (Point)",
        "the feature's geometry is {value}: only Point features are accepted",
    ),
    "swapped_coordinates": (
        "经纬度填反了: ({value}) 交换后才在中国境内，应为 经度 {lon}, 纬度 {lat}",
        "longitude and latitude are swapped: ({value}) lies in China only when swapped; "
        "use lon {lon}, lat {lat}",
    ),
    "outside_city": (
        "坐标 ({lon:.6f}, {lat:.6f}) 不在 {where} 范围内 (WGS-84)，请检查坐标及坐标系",
        "the point ({lon:.6f}, {lat:.6f}, WGS-84) lies outside {where}: check the "
        "coordinates and the declared coordinate system",
    ),
    "district_mismatch": (
        "坐标位于 {there}，而区划代码属于 {district} {district_name}",
        "the point lies in {there} but the region code belongs to {district} {district_name}",
    ),
    "bad_region_code": ("区划代码 '{value}' {why_zh}", "the region code '{value}' {why_en}"),
    "unknown_region": (
        "区划代码 {value} 不在统计用区划代码表中",
        "the region code {value} is not in the table of division codes",
    ),
    "level_mismatch": (
        "层级 {level} 与区划代码 {value} ({name}, {region_level}) 不符: 市级对市、区县级对区县、"
        "街道级对街道/镇、社区级对社区/村",
        "the level {level} does not fit the region code {value} ({name}, a {region_level}): "
        "city needs a city code, district a district, street a street/town, community a "
        "community/village code",
    ),
    "bad_level": (
        "无法识别的层级 '{value}'，可填: {accepted}",
        "unknown level '{value}': use one of {accepted} (or {english})",
    ),
    "bad_kind": (
        "无法识别的类型 '{value}'，可填: {accepted}",
        "unknown kind '{value}': use one of {accepted} (or {english})",
    ),
    "bad_category": (
        "无法识别的类别 '{value}'，可填: {accepted}",
        "unknown category '{value}': use one of {accepted} (or {english})",
    ),
    "outside_scope": (
        "{whose_zh}{what_zh} {value} 不在您的权限范围内 ({scope})",
        "{whose_en}{what_en} {value} is outside your scope ({scope})",
    ),
    "invalid_opening_hours": (
        "营业时间无法解析，需 OSM opening_hours 格式 (如 Mo-Fr 09:00-17:00; PH off){hint_zh}",
        "cannot parse the opening hours: {parser}{hint_en}",
    ),
    "duplicate_in_file": (
        "与第 {first} 行同名且相距 {gap:.0f} 米，疑似重复",
        "same name as row {first}, {gap:.0f} m away: a duplicate?",
    ),
    "duplicate_existing": (
        "与已发布的记录 {id} ({name}) 同名且相距 {gap:.0f} 米，疑似重复; 如要修改它，"
        "请在 {id_column} 列填写 {id}",
        "same name as the published record {id}, {gap:.0f} m away: to change it, put {id} "
        "in the {id_column} column",
    ),
    "formula_text": (
        "内容以 = + - @ 开头，按文本原样保存，导出时会加以处理",
        "the cell starts with = + - or @: it is stored as text as written, and exports "
        "neutralise it so that spreadsheets do not run it as a formula",
    ),
}
"""Every problem code: (Chinese, English) message templates."""
_WARNINGS = {"unknown_column", "crs_hint_mismatch", "district_mismatch", "formula_text"}
_LOCATION_CODES = {"bad_coordinate", "bad_geometry", "swapped_coordinates"}


def _message(code: str, **details: Any) -> str:
    zh, en = MESSAGES[code]
    return f"{zh.format(**details)}; {en.format(**details)}"


# ---------------------------------------------------------------- vocabulary

_SITE_FIELDS = (
    "name", "level", "kind", "region_code", "department", "address", "phone", "opening_hours",
    "lon", "lat",
)  # fmt: skip
_FACILITY_FIELDS = (
    "name", "category", "subcategory", "region_code", "address", "opening_hours", "lon", "lat",
)  # fmt: skip
_TEXT_FIELDS = ("name", "address", "phone", "opening_hours", "department", "subcategory")
_CODED = ("level", "kind", "category", "region_code")  # read by their own parsers

_ENTITY_FIELDS = {
    Entity.sites: {"id", "action", "lonlat", *_SITE_FIELDS},
    Entity.facilities: {"id", "action", "lonlat", *_FACILITY_FIELDS},
}
_ACTIONS = {
    Action.add: "add new create 新增 添加 增加 新建",
    Action.change: "change update modify edit 修改 更新 变更",
    Action.retire: "retire delete remove 撤销 停用 删除 注销",
}
_LEVELS = {
    SiteLevel.city: "city 市级 市",
    SiteLevel.district: "district county 区县级 区级 县级 区县 区 县",
    SiteLevel.street: "street town township 街道级 街道 镇 乡镇 乡 街道(镇) 街道(镇)级 乡镇级 镇级",
    SiteLevel.community: "community village 社区级 社区 村 村级 社区(村) 社区(村)级",
}
_KINDS = {
    SiteKind.hall: "hall 政务服务中心 便民服务中心 便民服务站 服务大厅 政务服务大厅 大厅",
    SiteKind.sub_centre: "sub_centre sub_center 分中心",
    SiteKind.self_service_terminal: "self_service_terminal 自助终端 自助服务终端 自助机",
    SiteKind.self_service_zone_24h: "self_service_zone_24h 24小时自助服务区 24小时自助区",
    SiteKind.bank_outlet: "bank_outlet 政银合作网点 银行网点 政银网点",
    SiteKind.post_outlet: "post_outlet 政邮合作网点 邮政网点 政邮网点",
    SiteKind.park_station: "park_station 园区服务站",
}
_CATEGORIES = {
    FacilityCategory.medical: "medical 医疗卫生 医疗 卫生",
    FacilityCategory.commerce: "commerce 便民商业 商业",
    FacilityCategory.culture_tourism: "culture_tourism 文体旅游 文体 旅游",
    FacilityCategory.parking: "parking 停车设施 停车 停车场",
    FacilityCategory.education: "education 教育机构 教育 学校",
    FacilityCategory.emergency_shelter: "emergency_shelter 应急避难 应急避难场所 避难场所",
    FacilityCategory.elderly_care: "elderly_care 养老服务 养老",
}
_CRS_HINTS = (
    (CRS.gcj02, ("gcj", "高德", "火星", "腾讯", "amap")),
    (CRS.bd09, ("bd09", "bd-09", "百度", "baidu")),
    (CRS.wgs84, ("wgs", "gps", "cgcs", "2000", "天地图", "4326", "4490")),
)


_ACTION_OF: dict[str, Action] = lookup_table(_ACTIONS)
_LEVEL_OF: dict[str, SiteLevel] = lookup_table(_LEVELS)
_KIND_OF: dict[str, SiteKind] = lookup_table(_KINDS)
_CATEGORY_OF: dict[str, FacilityCategory] = lookup_table(_CATEGORIES)


def _truncated_field(header: str) -> str | None:
    """A Shapefile field name cut to 10 bytes ('区划代码' in UTF-8 is 12): the field whose
    Chinese header alone starts with it."""
    if len(header) < 3 or not all("\u4e00" <= c <= "\u9fff" for c in header):
        return None
    fields = {field for word, field in FIELD_OF.items() if word.startswith(header)}
    return fields.pop() if len(fields) == 1 else None


def normalise_name(name: str) -> str:
    """Names compared for duplicates: NFKC, case-folded, without spaces or punctuation."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", name).casefold())


def _crs_hint(suffix: str) -> CRS | None:
    text = unicodedata.normalize("NFKC", suffix).casefold()
    for crs, words in _CRS_HINTS:
        if any(word in text for word in words):
            return crs
    return None


# ---------------------------------------------------------------- context


@dataclass(frozen=True, slots=True)
class RegionEntry:
    name: str
    level: RegionLevel


@dataclass(frozen=True, slots=True)
class ExistingRecord:
    """A published site (or any facility): its canonical fields, lon/lat in WGS-84."""

    id: int
    values: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.values["name"])

    @property
    def lon(self) -> float:
        return float(self.values["lon"])

    @property
    def lat(self) -> float:
        return float(self.values["lat"])

    @property
    def region_code(self) -> str | None:
        return self.values.get("region_code")

    @property
    def department(self) -> str | None:
        return self.values.get("department")


@dataclass
class ValidationContext:
    """What validating needs, read once by :func:`load_context`; reusable for many files
    of one entity, declared CRS and scope.

    ``regions``: every division code → name and level. ``city_boundaries`` /
    ``district_boundaries``: 12-digit code → prepared WGS-84 (multi)polygon, for the
    regions that have one. ``existing``: the published sites (every facility) by id.
    ``city_code``: the city the upload is for, when known: a point without a usable
    region code must lie in it (else in any loaded city).
    """

    entity: Entity
    crs: CRS
    scope: Scope
    regions: dict[str, RegionEntry]
    city_boundaries: dict[str, BaseGeometry]
    district_boundaries: dict[str, BaseGeometry]
    existing: dict[int, ExistingRecord]
    city_code: str | None = None
    tolerance_m: float = TOLERANCE_M
    duplicate_radius_m: float = DUPLICATE_RADIUS_M
    _trees: dict[str, tuple[shapely.STRtree, list[str]]] = field(init=False, repr=False)
    _existing_grid: dict[tuple[str, int, int], list[int]] = field(init=False, repr=False)
    _existing_names: set[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._trees = {}
        for what, boundaries in (
            ("city", self.city_boundaries),
            ("district", self.district_boundaries),
        ):
            shapely.prepare(list(boundaries.values()))
            self._trees[what] = (shapely.STRtree(list(boundaries.values())), list(boundaries))
        self._existing_grid = {}
        for record in self.existing.values():
            key = _cell(normalise_name(record.name), record.lon, record.lat)
            self._existing_grid.setdefault(key, []).append(record.id)
        self._existing_names = {key[0] for key in self._existing_grid}

    def region_name(self, code: str | None) -> str:
        entry = self.regions.get(code or "")
        return entry.name if entry else "?"

    def locate(self, lon: np.ndarray, lat: np.ndarray, what: str) -> list[str | None]:
        """The code of the city (``what='city'``) or district containing each point."""
        tree, codes = self._trees[what]
        found: list[str | None] = [None] * len(lon)
        if not len(lon) or not codes:
            return found
        points, hits = tree.query(shapely.points(lon, lat), predicate="within")
        for point, index in zip(points.tolist(), hits.tolist(), strict=True):
            if found[point] is None:
                found[point] = codes[index]
        return found

    def near(self, boundary: BaseGeometry | None, lon: float, lat: float) -> bool:
        """Is the point within :attr:`tolerance_m` of ``boundary`` (of any city if None)?"""
        degrees = self.tolerance_m / (_M_PER_DEG * max(math.cos(math.radians(lat)), 0.1))
        point = shapely.Point(lon, lat)
        if boundary is None:
            tree = self._trees["city"][0]
            return bool(len(tree.query(point, predicate="dwithin", distance=degrees)))
        return bool(shapely.dwithin(boundary, point, degrees))

    def existing_near(self, name_key: str, lon: float, lat: float) -> Iterator[ExistingRecord]:
        """Published records whose name normalises to ``name_key``, in nearby grid cells."""
        if name_key not in self._existing_names:
            return
        for key in _neighbour_cells(name_key, lon, lat):
            for record_id in self._existing_grid.get(key, ()):
                yield self.existing[record_id]


def load_context(
    session: Session, entity: Entity, crs: CRS, scope: Scope, city_code: str | None = None
) -> ValidationContext:
    """Read division codes, city and district boundaries and the published records."""
    regions, boundaries = _divisions(session)
    return ValidationContext(
        entity=entity,
        crs=crs,
        scope=scope,
        regions=regions,
        city_boundaries=boundaries[RegionLevel.city],
        district_boundaries=boundaries[RegionLevel.district],
        existing=_load_existing(session, entity),
        city_code=full_code(city_code, "city_code") if city_code else None,
    )


_Divisions = tuple[dict[str, RegionEntry], dict[RegionLevel, dict[str, BaseGeometry]]]
_divisions_cache: dict[str, _Divisions] = {}
_DIVISIONS_FINGERPRINT = sql(
    "SELECT (SELECT count(*) FROM regions) || ':' || coalesce(string_agg(sha256, ':' "
    "ORDER BY name), '') FROM dataset_loads WHERE name IN ('divisions', 'boundaries')"
)


def _divisions(session: Session) -> _Divisions:
    """Division codes and city/district boundaries, read once per process and again only
    when the divisions or boundaries were reloaded (so a single edit checks in milliseconds)."""
    fingerprint = f"{session.get_bind().engine.url}|{session.scalar(_DIVISIONS_FINGERPRINT)}"
    cached = _divisions_cache.get(fingerprint)
    if cached is not None:
        return cached
    regions = {
        code: RegionEntry(name, level)
        for code, name, level in session.execute(select(Region.code, Region.name, Region.level))
    }
    boundaries: dict[RegionLevel, dict[str, BaseGeometry]] = {
        RegionLevel.city: {},
        RegionLevel.district: {},
    }
    rows = session.execute(
        select(Region.code, Region.level, func.ST_AsBinary(Region.boundary)).where(
            Region.level.in_(tuple(boundaries)), Region.boundary.is_not(None)
        )
    ).all()
    geometries = shapely.from_wkb([bytes(row[2]) for row in rows])
    for (code, level, _), geometry in zip(rows, geometries, strict=True):
        boundaries[level][code] = geometry
    _divisions_cache.clear()
    _divisions_cache[fingerprint] = (regions, boundaries)
    return regions, boundaries


def _load_existing(session: Session, entity: Entity) -> dict[int, ExistingRecord]:
    model: type[Site] | type[Facility] = Site if entity is Entity.sites else Facility
    names = _SITE_FIELDS if entity is Entity.sites else _FACILITY_FIELDS
    columns = [getattr(model, name) for name in names[:-2]]
    query = select(model.id, *columns, func.ST_X(model.geom), func.ST_Y(model.geom))
    query = query.where(model.status == SiteStatus.published)
    records: dict[int, ExistingRecord] = {}
    for row in session.execute(query):
        values = {
            name: (
                value.value if isinstance(value, SiteLevel | SiteKind | FacilityCategory) else value
            )
            for name, value in zip(names, row[1:], strict=True)
        }
        records[row[0]] = ExistingRecord(row[0], values)
    return records


def _cell(name_key: str, lon: float, lat: float) -> tuple[str, int, int]:
    return name_key, math.floor(lon / _CELL_LON), math.floor(lat / _CELL_LAT)


def _neighbour_cells(name_key: str, lon: float, lat: float) -> Iterator[tuple[str, int, int]]:
    _, x, y = _cell(name_key, lon, lat)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            yield name_key, x + dx, y + dy


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Ground distance over short spans (equirectangular; < 0.1 % off below 10 km)."""
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2)) * _M_PER_DEG
    return math.hypot(dx, (lat2 - lat1) * _M_PER_DEG)


# ---------------------------------------------------------------- validation


@dataclass(slots=True)
class _Row:
    raw: RawRow
    cells: dict[str, str | None]
    """Canonical field → trimmed cell text (None when blank)."""
    problems: list[Problem] = field(default_factory=list)
    action: Action = Action.add
    settled: bool = False
    """The action is known and, for a change or retirement, so is the record."""
    target: ExistingRecord | None = None
    lon: float = math.nan  # as written (declared CRS), then WGS-84
    lat: float = math.nan
    source: str = ""  # 'file' (declared CRS), 'geometry', 'kept' (the record's, WGS-84)
    failed: bool = False
    bad_location: bool = False

    @property
    def located(self) -> bool:
        return not (math.isnan(self.lon) or math.isnan(self.lat))


def validate(
    table: RawTable,
    context: ValidationContext,
    progress: Callable[[int], None] | None = None,
) -> UploadReport:
    """Check every row of ``table`` (see the module docstring); ``progress`` is called with
    the number of rows done every :data:`PROGRESS_EVERY` rows and at the end."""
    return _Validator(table, context, progress).run()


class _Validator:
    def __init__(
        self, table: RawTable, context: ValidationContext, progress: Callable[[int], None] | None
    ) -> None:
        self.table = table
        self.context = context
        self.entity = context.entity
        self.progress = progress
        self.report = UploadReport(
            file_name=table.file_name,
            entity=context.entity,
            format=table.format,
            crs=table.file_crs if table.projected and table.file_crs else context.crs.value,
            encoding=table.encoding,
            rows_total=len(table.rows),
        )
        self.header_of: dict[str, str] = {}  # canonical field → header as written
        self.seen_ids: dict[int, int] = {}  # record id → first row naming it
        self.in_file: dict[tuple[str, int, int], list[_Row]] = {}  # the duplicate grid
        self.names: set[str] = set()  # every normalised name in the grid
        self.city_at: dict[int, str | None] = {}  # id(_Row) → city containing its point
        self.district_at: dict[int, str | None] = {}

    def run(self) -> UploadReport:
        self._map_headers()
        if self.report.file_errors:
            return self.report
        rows = [self._first_pass(raw) for raw in self.table.rows]
        self._convert(rows)
        self._locate(rows)
        for done, row in enumerate(rows, start=1):
            if row.settled:
                self._second_pass(row)
            self.report.problems.extend(row.problems)
            if self.progress and done % PROGRESS_EVERY == 0:
                self.progress(done)
        if self.progress and len(rows) % PROGRESS_EVERY:
            self.progress(len(rows))
        return self.report

    # -- problems

    def label(self, canonical: str) -> str:
        """The column as written in the file, else the canonical field name."""
        return self.header_of.get(canonical, canonical)

    def file_problem(self, code: str, field_name: str | None = None, **details: Any) -> None:
        severity = Severity.warning if code in _WARNINGS else Severity.error
        problem = Problem(None, field_name, code, _message(code, **details), severity)
        self.report.problems.append(problem)

    def problem(
        self,
        row: _Row,
        canonical: str | None,
        code: str,
        suggestion: str | None = None,
        **details: Any,
    ) -> None:
        """Record one problem of ``row``; ``details`` fill the message (``value`` is also
        the problem's value)."""
        warning = code in _WARNINGS
        value = details.get("value")
        problem = Problem(
            row.raw.row,
            self.label(canonical) if canonical else None,
            code,
            _message(code, **details),
            Severity.warning if warning else Severity.error,
            None if value is None else str(value),
            suggestion,
        )
        row.problems.append(problem)
        row.failed = row.failed or not warning
        row.bad_location = row.bad_location or code in _LOCATION_CODES

    def missing(self, row: _Row, canonical: str, what_zh: str, what_en: str) -> None:
        self.problem(row, canonical, "missing_field", what_zh=what_zh, what_en=what_en)

    # -- the file

    def _map_headers(self) -> None:
        allowed = _ENTITY_FIELDS[self.entity]
        by_field: dict[str, list[str]] = {}
        hints: list[tuple[str, str]] = []
        for header in self.table.headers:
            canonical, suffix = header_field(header)
            if canonical is None and self.table.format == "shp":
                canonical = _truncated_field(header)
            if canonical is None or canonical not in allowed:
                self.report.columns_ignored.append(header)
                continue
            by_field.setdefault(canonical, []).append(header)
            if suffix and canonical in ("lon", "lat", "lonlat"):
                hints.append((header, suffix))
        for canonical, headers in by_field.items():
            if len(headers) > 1:
                shown = "、".join(headers)
                self.file_problem("duplicate_column", headers[1], headers=shown, field=canonical)
            self.header_of[canonical] = headers[0]
            self.report.columns.update(dict.fromkeys(headers, canonical))
        if self.report.columns_ignored:
            shown = "、".join(self.report.columns_ignored)
            self.file_problem("unknown_column", headers=shown, entity=self.entity.value)
        self._check_required()
        self._check_crs(hints)

    def _check_required(self) -> None:
        has = self.header_of.__contains__
        changes_only = has("id")  # a file of changes may carry only what it changes
        if not has("name") and not changes_only:
            self.file_problem("missing_column", "name", column="名称 name")
        if has("lon") != has("lat") and not has("lonlat"):
            column = "纬度 lat" if has("lon") else "经度 lon"
            self.file_problem("missing_column", column.split()[1], column=column)
        elif not (has("lon") or has("lonlat") or self.table.has_geometry or changes_only):
            self.file_problem("missing_column", "lon", column="经度、纬度 lon, lat")

    def _check_crs(self, hints: list[tuple[str, str]]) -> None:
        declared = self.context.crs
        if self.table.projected and declared in (CRS.gcj02, CRS.bd09):
            self.file_problem("crs_conflict", file_crs=self.table.file_crs, crs=declared.value)
        for header, suffix in hints:
            named = _crs_hint(suffix)
            alike = {named, declared} <= {CRS.wgs84, CRS.cgcs2000} or named is declared
            if named is not None and not alike:
                self.file_problem(
                    "crs_hint_mismatch", header, header=header, named=named.value, crs=declared
                )

    # -- pass 1: cells, action and record, coordinates as written

    def _first_pass(self, raw: RawRow) -> _Row:
        row = _Row(raw, {c: clean_cell(raw.values.get(h)) for c, h in self.header_of.items()})
        if raw.values.get(EXTRA_CELLS):
            self.problem(row, None, "extra_cells", count=raw.values[EXTRA_CELLS])
        self._action(row)
        if row.action is not Action.retire:
            for name in _TEXT_FIELDS:
                text = row.cells.get(name)
                if text and formula_like(name, text):
                    self.problem(row, name, "formula_text", value=text)
            self._coordinates(row)
        return row

    def _action(self, row: _Row) -> None:
        action_text, id_text = row.cells.get("action"), row.cells.get("id")
        action = _ACTION_OF.get(lookup_key(action_text)) if action_text else None
        if action_text and action is None:
            self.problem(row, "action", "bad_action", value=action_text)
            return
        record_id = self._record_id(row, id_text)
        row.action = action or (Action.change if id_text else Action.add)
        if row.action is Action.add:
            row.settled = not id_text
            if id_text:
                self.problem(row, "id", "id_with_add", value=id_text)
        elif not id_text:
            what = "编号 (修改、撤销需要编号)"
            self.missing(row, "id", what, f"the id, needed to {row.action.value} a record,")
        elif record_id is not None:
            self._target(row, record_id)

    def _record_id(self, row: _Row, id_text: str | None) -> int | None:
        if not id_text:
            return None
        try:
            number = float(id_text.translate(FULL_WIDTH))
        except ValueError:
            number = math.nan
        if not number.is_integer() or number <= 0:
            self.problem(row, "id", "bad_id", value=id_text)
            return None
        return int(number)

    def _target(self, row: _Row, record_id: int) -> None:
        record = self.context.existing.get(record_id)
        if record is None:
            noun = "场所" if self.entity is Entity.sites else "设施"
            entity_one = "site" if self.entity is Entity.sites else "facility"
            self.problem(row, "id", "unknown_id", value=record_id, noun=noun, entity_one=entity_one)
            return
        first = self.seen_ids.setdefault(record_id, row.raw.row)
        if first != row.raw.row:
            self.problem(row, "id", "duplicate_id", value=record_id, first=first)
            return
        row.target, row.settled = record, True
        self._check_scope(row, "id", record.region_code, record.department, current=True)

    def _coordinates(self, row: _Row) -> None:
        """The point as written: a feature's geometry, else the 经度/纬度 (or 经纬度) cells."""
        cells, raw = row.cells, row.raw
        if raw.geometry is not None:
            (row.lon, row.lat), row.source = raw.geometry, "geometry"
            return
        lon_text, lat_text = cells.get("lon"), cells.get("lat")
        pair = cells.get("lonlat")
        if pair and not (lon_text or lat_text):
            parts = re.split(r"[,，;；\s]+", pair)
            if len(parts) != 2:
                self._bad_coordinate(row, "lonlat", pair, "不是 '经度,纬度'", "is not 'lon,lat'")
                return
            lon_text, lat_text = parts
        if not (lon_text or lat_text):
            if raw.values.get(GEOMETRY_ERROR):
                self.problem(row, "geometry", "bad_geometry", value=raw.values[GEOMETRY_ERROR])
            return  # else: a change keeps its location; an addition is told in pass 2
        if not (lon_text and lat_text):
            name = "lat" if lon_text else "lon"
            self.missing(row, name, "经度或纬度 (需同时填写)", "one of longitude, latitude")
            row.bad_location = True
            return
        lon, lat = parse_degrees(lon_text), parse_degrees(lat_text)
        for name, text, value in (("lon", lon_text, lon), ("lat", lat_text, lat)):
            if value is None:
                self._bad_coordinate(
                    row, name, text,
                    "无法识别，请填写十进制度数 (如 117.0234) 或度分秒 (如 117°01'30\")",
                    "cannot be read: give decimal degrees (e.g. 117.0234) or degrees, "
                    "minutes, seconds (e.g. 117°01'30\")",
                )  # fmt: skip
        if lon is not None and lat is not None:
            row.lon, row.lat, row.source = lon, lat, "file"

    def _bad_coordinate(self, row: _Row, name: str, text: str, why_zh: str, why_en: str) -> None:
        self.problem(row, name, "bad_coordinate", value=text, why_zh=why_zh, why_en=why_en)

    # -- whole file at once: ranges, swaps, conversion, containment

    def _convert(self, rows: list[_Row]) -> None:
        """Check the ranges and swaps of all points at once, then convert to WGS-84."""
        points = [r for r in rows if r.located]
        if not points:
            return
        lon = np.array([r.lon for r in points])
        lat = np.array([r.lat for r in points])
        inside = in_china(lon, lat)
        swapped = in_china(lat, lon)
        for index in np.flatnonzero(~inside).tolist():
            self._impossible(points[index], bool(swapped[index]))
        # a projected file's geometry is geographic CGCS2000 already
        convert = inside & np.array(
            [r.source == "file" or not self.table.projected for r in points]
        )
        if convert.any():
            lon[convert], lat[convert] = to_wgs84(lon[convert], lat[convert], self.context.crs)
        for index, row in enumerate(points):
            row.lon, row.lat = (
                (float(lon[index]), float(lat[index])) if inside[index] else (math.nan, math.nan)
            )

    def _impossible(self, row: _Row, swapped: bool) -> None:
        where = "geometry" if row.source == "geometry" else "lon"
        pair = f"{row.lon!r}, {row.lat!r}"
        if swapped:
            fixed = f"{row.lat!r}, {row.lon!r}"
            self.problem(
                row, where, "swapped_coordinates", suggestion=fixed, value=pair,
                lon=repr(row.lat), lat=repr(row.lon),
            )  # fmt: skip
        elif max(abs(row.lon), abs(row.lat)) > 1000:
            self._bad_coordinate(
                row, where, pair,
                "超出经纬度范围，像是投影坐标 (米): 请换算为经纬度，"
                "或上传带坐标系的 GeoPackage/Shapefile",
                "is out of range and looks like projected metres: give degrees, or upload a "
                "GeoPackage or Shapefile with its coordinate system",
            )  # fmt: skip
        elif abs(row.lon) > 180 or abs(row.lat) > 90:
            if where == "lon" and abs(row.lon) <= 180:
                where = "lat"
            self._bad_coordinate(
                row, where, pair, "超出经纬度范围 (|经度| ≤ 180, |纬度| ≤ 90)",
                "is out of range (|lon| ≤ 180, |lat| ≤ 90)",
            )  # fmt: skip
        else:
            self._bad_coordinate(row, where, pair, "不在中国境内", "lies outside China")

    def _locate(self, rows: list[_Row]) -> None:
        """Give change rows without new coordinates their record's location, then find the
        city and district containing every point."""
        for row in rows:
            if row.target is not None and not row.located and not row.bad_location:
                row.lon, row.lat, row.source = row.target.lon, row.target.lat, "kept"
        located = [r for r in rows if r.located]
        lon = np.array([r.lon for r in located])
        lat = np.array([r.lat for r in located])
        for what, found in (("city", self.city_at), ("district", self.district_at)):
            codes = self.context.locate(lon, lat, what)
            found.update(zip(map(id, located), codes, strict=True))

    # -- pass 2: the merged record

    def _second_pass(self, row: _Row) -> None:
        if row.action is Action.retire:
            if row.target is not None and not row.failed:
                self._accept(row, dict(row.target.values))
            return
        values = self._merge(row)
        if self.entity is Entity.sites:
            self._site_fields(row, values)
        else:
            self._facility_fields(row, values)
        self._check_hours(row)
        if row.located and values["name"]:
            self._check_place(row, values)
            self._check_duplicates(row, values)
        if not row.failed:
            values["lon"], values["lat"] = round(row.lon, 7), round(row.lat, 7)
            self._accept(row, values)

    def _merge(self, row: _Row) -> dict[str, Any]:
        """The row's cells over the record's current values (a blank cell keeps them)."""
        names = _SITE_FIELDS if self.entity is Entity.sites else _FACILITY_FIELDS
        current = row.target.values if row.target else {}
        values: dict[str, Any] = {
            n: current.get(n) if n in _CODED else (row.cells.get(n) or current.get(n))
            for n in names[:-2]
        }
        if not values["name"]:
            self.missing(row, "name", "名称", "the name")
        if not row.located and not row.bad_location:
            self.missing(row, "lon", "位置 (经度、纬度)", "the location (longitude, latitude)")
        return values

    def _word(self, row: _Row, values: dict[str, Any], name: str, words: dict[str, Any],
              names: dict[Any, str]) -> bool:  # fmt: skip
        """Read a level/kind/category cell into ``values``; False if it is not a known word."""
        text = row.cells.get(name)
        if not text:
            return True
        value = words.get(lookup_key(text))
        if value is None:
            accepted, english = "、".join(names.values()), ", ".join(str(v) for v in names)
            self.problem(row, name, f"bad_{name}", value=text, accepted=accepted, english=english)
            return False
        values[name] = value.value
        return True

    def _site_fields(self, row: _Row, values: dict[str, Any]) -> None:
        level_ok = self._word(row, values, "level", _LEVEL_OF, SITE_LEVEL_NAMES)
        self._word(row, values, "kind", _KIND_OF, SITE_KIND_NAMES)
        values["kind"] = values["kind"] or SiteKind.hall.value
        code, stated = self._region_code(row, values)
        if code is None and not stated and level_ok:
            code = self._infer_region(row, values)
        if code is None or not level_ok:
            return
        values["region_code"] = code
        region = self.context.regions[code]
        if not values["level"] and region.level is not RegionLevel.province:
            values["level"] = region.level.value
        elif values["level"] != region.level.value:
            level = row.cells.get("level") or values["level"] or "(空 blank)"
            self.problem(
                row, "level" if row.cells.get("level") else "region_code", "level_mismatch",
                value=code, level=level, name=region.name, region_level=region.level.value,
            )  # fmt: skip
        self._check_scope(row, "region_code", code, values.get("department"))

    def _infer_region(self, row: _Row, values: dict[str, Any]) -> str | None:
        """A city- or district-level site's city or district: the one holding its point."""
        level = values["level"]
        if level not in (SiteLevel.city.value, SiteLevel.district.value):
            self.missing(
                row, "region_code",
                "区划代码 (街道级、社区级必须填写; 市级、区县级填写层级后可按坐标推断)",
                "the region code (street and community levels must give it; for city and "
                "district levels it is inferred from the point when the level is given)",
            )  # fmt: skip
            return None
        if not row.located:
            return None  # the missing location is reported
        found = (self.city_at if level == SiteLevel.city.value else self.district_at).get(id(row))
        if found is None:
            self.missing(
                row, "region_code", "区划代码 (坐标不在任何已知区县内，无法推断)",
                "the region code (cannot be inferred: the point lies in no known district)",
            )  # fmt: skip
        return found

    def _facility_fields(self, row: _Row, values: dict[str, Any]) -> None:
        self._word(row, values, "category", _CATEGORY_OF, FACILITY_CATEGORY_NAMES)
        if not values["category"] and not row.cells.get("category"):
            accepted = "、".join(FACILITY_CATEGORY_NAMES.values())
            self.missing(row, "category", f"类别 ({accepted})", "the category")
        code, stated = self._region_code(row, values)
        if code is None and not stated and row.located:
            code = self.district_at.get(id(row))
            if code is None and self.context.scope.region_code is not None:
                self.missing(
                    row, "region_code", "区划代码 (坐标不在已知区县内，无法判断是否在权限范围内)",
                    "the region code (the point lies in no known district, so it cannot be "
                    "told whether it is within your scope)",
                )  # fmt: skip
        values["region_code"] = code
        if code is not None:
            self._check_scope(row, "region_code", code, None)

    def _region_code(self, row: _Row, values: dict[str, Any]) -> tuple[str | None, bool]:
        """(the 12-digit code, if valid and known; whether one was stated). A blank cell
        gives the record's current code for a change, nothing for an addition."""
        text = row.cells.get("region_code")
        if not text:
            current = values.get("region_code")
            return current, current is not None
        text = re.sub(r"\s+", "", text.translate(FULL_WIDTH))
        if re.fullmatch(r"\d+(\.\d+)?[eE]\+?\d+", text):
            self.problem(
                row, "region_code", "bad_region_code", value=text,
                why_zh="被表格软件写成了科学计数法，位数已丢失: 请把该列设为文本后重填",
                why_en="was turned into scientific notation by the spreadsheet and lost "
                "digits: format the column as text and enter the codes again",
            )  # fmt: skip
            return None, True
        text = re.sub(r"^(\d+)\.0+$", r"\1", text)
        try:
            code = full_code(text, "region_code")
        except InvalidInput:
            self.problem(
                row, "region_code", "bad_region_code", value=text,
                why_zh="格式无效: 应为 6 位 (区县)、9 位 (街道) 或 12 位数字",
                why_en="is not valid: give 6 (district), 9 (street) or 12 digits",
            )  # fmt: skip
            return None, True
        if code not in self.context.regions:
            self.problem(row, "region_code", "unknown_region", value=code)
            return None, True
        return code, True

    def _check_scope(
        self,
        row: _Row,
        canonical: str,
        code: str | None,
        department: str | None,
        current: bool = False,
    ) -> None:
        """The region (and a site's department) must lie in the uploader's scope;
        ``current``: checking the record as it is now, before the change."""
        scope = self.context.scope
        target = row.target
        if not current and target and (code, department) == (target.region_code, target.department):
            return  # unchanged: checked as the record's current place already
        whose = {"whose_zh": "该记录当前的" if current else "", "scope": scope.describe()}
        whose["whose_en"] = "the record's current " if current else "the "
        if not scope.covers_region(code):
            value = f"{code} ({self.context.region_name(code)})"
            self.problem(
                row, canonical, "outside_scope", value=value, what_zh="区划", what_en="region",
                **whose,
            )  # fmt: skip
        if self.entity is Entity.sites and not scope.covers_department(department):
            self.problem(
                row, canonical if current else "department", "outside_scope",
                value=department or "(空 blank)", what_zh="部门", what_en="department", **whose,
            )  # fmt: skip

    def _check_place(self, row: _Row, values: dict[str, Any]) -> None:
        """Inside the city of its region code (else the upload's city, else any city), with
        tolerance; and in the district of its region code, else a warning."""
        context = self.context
        code: str | None = values.get("region_code")
        where = {"geometry": "geometry", "kept": "region_code"}.get(row.source, "lon")
        city = code[:4].ljust(12, "0") if code else context.city_code
        found_city = self.city_at.get(id(row))
        found_district = self.district_at.get(id(row))
        if found_district and not (found_city and found_city[:4] == found_district[:4]):
            found_city = found_district[:4].ljust(12, "0")  # the boundaries disagree a little
        if city is None:
            inside = found_city is not None or context.near(None, row.lon, row.lat)
        elif city in context.city_boundaries:
            boundary = context.city_boundaries[city]
            inside = found_city == city or context.near(boundary, row.lon, row.lat)
        else:
            inside = True  # a city without a boundary cannot be checked
        if not inside:
            name = f"{city} {context.region_name(city)}" if city else "任何已知城市 any known city"
            self.problem(row, where, "outside_city", lon=row.lon, lat=row.lat, where=name)
            return
        if code is None or context.regions[code].level in (RegionLevel.province, RegionLevel.city):
            return
        district = code[:6].ljust(12, "0")
        boundary = context.district_boundaries.get(district)
        found = found_district
        if boundary is None or found == district or context.near(boundary, row.lon, row.lat):
            return
        there = f"{found} {context.region_name(found)}" if found else "未知区县 no known district"
        self.problem(
            row, where, "district_mismatch", there=there, district=district,
            district_name=context.region_name(district),
        )  # fmt: skip

    def _check_hours(self, row: _Row) -> None:
        text = row.cells.get("opening_hours")
        if not text:
            return
        try:
            validate_hours(text)
        except InvalidOpeningHours as error:
            suggestion = suggest_osm_hours(text)
            self.problem(
                row, "opening_hours", "invalid_opening_hours", suggestion=suggestion,
                value=text, parser=error.parser_message,
                hint_zh=f"，可改为 {suggestion}" if suggestion else "",
                hint_en=f"; try {suggestion}" if suggestion else "",
            )  # fmt: skip

    def _check_duplicates(self, row: _Row, values: dict[str, Any]) -> None:
        """Same normalised name within the radius: of an earlier row, or of a published
        record that this file does not change or retire."""
        name_key = normalise_name(str(values["name"]))
        radius = self.context.duplicate_radius_m
        earlier = [
            other
            for key in (
                _neighbour_cells(name_key, row.lon, row.lat) if name_key in self.names else ()
            )
            for other in self.in_file.get(key, ())
        ]
        self.names.add(name_key)
        self.in_file.setdefault(_cell(name_key, row.lon, row.lat), []).append(row)
        for other in sorted(earlier, key=lambda r: r.raw.row):
            gap = distance_m(row.lon, row.lat, other.lon, other.lat)
            if gap <= radius:
                self.problem(
                    row, "name", "duplicate_in_file", value=values["name"], first=other.raw.row,
                    gap=gap,
                )  # fmt: skip
                return
        for record in self.context.existing_near(name_key, row.lon, row.lat):
            gap = distance_m(row.lon, row.lat, record.lon, record.lat)
            if record.id not in self.seen_ids and gap <= radius:
                column = self.header_of.get("id", "编号")
                self.problem(
                    row, "name", "duplicate_existing", suggestion=f"{column}={record.id}",
                    value=values["name"], id=record.id, name=record.name, gap=gap,
                    id_column=column,
                )  # fmt: skip
                return

    def _accept(self, row: _Row, values: dict[str, Any]) -> None:
        target_id = row.target.id if row.target else None
        self.report.good.append(CleanRow(row.raw.row, row.action, target_id, values))


def accepted_words() -> dict[str, list[str]]:
    """The words each coded column accepts (for templates and help pages)."""
    tables: dict[str, dict[Any, str]] = {
        "action": _ACTIONS, "level": _LEVELS, "kind": _KINDS, "category": _CATEGORIES,
    }  # fmt: skip
    return {name: [w for words in t.values() for w in words.split()] for name, t in tables.items()}
