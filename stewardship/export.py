"""Published sites and facilities as GeoJSON, CSV or XLSX, in the coordinate system asked.

The CSV and XLSX columns are the upload's own Chinese headers, so an export can be
edited and uploaded again as changes (the 编号 column says which record a row is).
Text that a spreadsheet would run as a formula (starting with = + - @) never is: CSV
cells get a leading apostrophe (OWASP's advice), XLSX cells are typed as text.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from dataclasses import dataclass
from typing import Any

from geoalchemy2.shape import to_shape
from openpyxl import Workbook
from openpyxl.styles import Alignment
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo import divisions
from geo.coords import CRS, from_wgs84
from geo.models import Facility, Site, SiteStatus
from stewardship.report import Entity

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(enum.StrEnum):
    geojson = "geojson"
    csv = "csv"
    xlsx = "xlsx"


MEDIA_TYPES = {
    ExportFormat.geojson: "application/geo+json",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

COLUMNS: dict[Entity, tuple[tuple[str, str], ...]] = {
    Entity.sites: (
        ("id", "编号"),
        ("name", "名称"),
        ("level", "层级"),
        ("kind", "类型"),
        ("region_code", "区划代码"),
        ("department", "部门"),
        ("address", "地址"),
        ("phone", "电话"),
        ("opening_hours", "办公时间"),
        ("lon", "经度"),
        ("lat", "纬度"),
        ("demo", "示例数据"),
    ),
    Entity.facilities: (
        ("id", "编号"),
        ("name", "名称"),
        ("category", "类别"),
        ("subcategory", "子类"),
        ("region_code", "区划代码"),
        ("address", "地址"),
        ("opening_hours", "营业时间"),
        ("lon", "经度"),
        ("lat", "纬度"),
        ("demo", "示例数据"),
    ),
}


@dataclass
class Export:
    content: bytes
    media_type: str
    file_name: str
    rows: int


def export_records(
    session: Session,
    entity: Entity,
    fmt: ExportFormat,
    crs: CRS = CRS.wgs84,
    region: str | None = None,
) -> Export:
    """The published records of ``entity`` (in ``region``'s subtree if given)."""
    rows = _rows(session, entity, crs, region)
    name = f"daofu-{entity.value}-{crs.value}.{fmt.value}"
    if fmt == ExportFormat.geojson:
        content = _geojson(rows, crs)
    elif fmt == ExportFormat.csv:
        content = _csv(rows, entity)
    else:
        content = _xlsx(rows, entity)
    return Export(content, MEDIA_TYPES[fmt], name, len(rows))


def _rows(session: Session, entity: Entity, crs: CRS, region: str | None) -> list[dict[str, Any]]:
    model: type[Site] | type[Facility] = Site if entity == Entity.sites else Facility
    where = [model.status == SiteStatus.published]
    if region:
        prefix = divisions.subtree_prefix(divisions.full_code(region, "region"))
        where.append(model.region_code.startswith(prefix, autoescape=True))
    records: list[Site | Facility] = list(
        session.scalars(select(model).where(*where).order_by(model.id))
    )
    rows = []
    for record in records:
        point = to_shape(record.geom)
        lon, lat = from_wgs84(float(point.x), float(point.y), crs)
        row: dict[str, Any] = {}
        for key, _ in COLUMNS[entity]:
            value = getattr(record, key, None)
            row[key] = value.value if isinstance(value, enum.Enum) else value
        row["lon"], row["lat"] = round(float(lon), 7), round(float(lat), 7)
        rows.append(row)
    return rows


def _geojson(rows: list[dict[str, Any]], crs: CRS) -> bytes:
    features = [
        {
            "type": "Feature",
            "id": row["id"],
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": {k: v for k, v in row.items() if k not in ("id", "lon", "lat")},
        }
        for row in rows
    ]
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs != CRS.wgs84:
        collection["crs_note"] = f"coordinates are {crs.value}, not WGS-84 (RFC 7946)"
    return json.dumps(collection, ensure_ascii=False).encode()


def neutralise(value: Any) -> Any:
    """A cell's value as safe spreadsheet text: no leading formula character."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(rows: list[dict[str, Any]], entity: Entity) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _, header in COLUMNS[entity]])
    for row in rows:
        writer.writerow([_cell(neutralise(row[key])) for key, _ in COLUMNS[entity]])
    return ("\ufeff" + out.getvalue()).encode()  # the BOM makes Excel read UTF-8


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else ""
    return "" if value is None else value


def _xlsx(rows: list[dict[str, Any]], entity: Entity) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "场所" if entity == Entity.sites else "设施"
    sheet.append([header for _, header in COLUMNS[entity]])
    for number, row in enumerate(rows, start=2):
        for column, (key, _) in enumerate(COLUMNS[entity], start=1):
            value = _cell(row[key])
            cell = sheet.cell(row=number, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula, whatever it starts with
                if value.startswith(FORMULA_START):
                    cell.alignment = Alignment(horizontal="left")
                    cell.quotePrefix = True
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
