"""Exports of the published map: formats, coordinate systems, no formula ever exported."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.coords import CRS, wgs84_to_bd09, wgs84_to_gcj02
from geo.models import Site, SiteStatus
from stewardship import service
from stewardship.export import ExportFormat, export_records
from stewardship.report import Entity
from tests.stewardship.conftest import LIXIA_POINT, People, new_site, site_csv

FORMULA = '=HYPERLINK("http://evil.example","点我")'


def _publish_formula_site(session: Session, people: People) -> None:
    report, change_set = service.upload(
        session,
        people.maintainer,
        file_name="f.csv",
        data=site_csv([new_site(FORMULA, 地址="@SUM(1+1)")]),
        entity=Entity.sites,
        crs=CRS.wgs84,
    )
    assert change_set is not None
    assert {p.code for p in report.problems} >= {"formula_text"}  # warned, stored as text
    service.approve(session, change_set.id, people.reviewer)


def test_csv_export_neutralises_formulas_and_converts_coordinates(
    session: Session, people: People
) -> None:
    _publish_formula_site(session, people)
    result = export_records(session, Entity.sites, ExportFormat.csv, CRS.gcj02, "370102")
    rows = list(csv.DictReader(io.StringIO(result.content.decode("utf-8-sig"))))
    published = session.scalar(
        select(func.count()).where(
            Site.region_code.like("370102%"), Site.status == SiteStatus.published
        )
    )
    assert len(rows) == result.rows == published
    [row] = [r for r in rows if "HYPERLINK" in r["名称"]]
    assert row["名称"] == "'" + FORMULA and row["地址"] == "'@SUM(1+1)"
    gx, gy = wgs84_to_gcj02(*LIXIA_POINT)
    assert abs(float(row["经度"]) - gx) < 1e-6 and abs(float(row["纬度"]) - gy) < 1e-6
    assert all(not value.startswith(("=", "+", "-", "@")) for r in rows for value in r.values())


def test_xlsx_export_has_text_cells_only_never_formulas(session: Session, people: People) -> None:
    _publish_formula_site(session, people)
    result = export_records(session, Entity.sites, ExportFormat.xlsx, CRS.bd09, "370102")
    sheet_xml = zipfile.ZipFile(io.BytesIO(result.content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    sheet = load_workbook(io.BytesIO(result.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["编号", "名称", "层级"]
    names = [row[1] for row in sheet.iter_rows(min_row=2)]
    [cell] = [c for c in names if c.value == FORMULA]
    assert cell.data_type == "s"  # the exact text, typed as text
    bx, _ = wgs84_to_bd09(*LIXIA_POINT)
    lon = next(row[9].value for row in sheet.iter_rows(min_row=2) if row[1].value == FORMULA)
    assert abs(float(lon) - bx) < 1e-6


def test_geojson_export_over_http(client: TestClient, session: Session) -> None:
    answer = client.get("/api/export/sites", params={"format": "geojson", "region": "370102"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    assert "attachment" in answer.headers["content-disposition"]
    collection = json.loads(answer.content)
    assert collection["type"] == "FeatureCollection" and collection["features"]
    feature = collection["features"][0]
    site = session.get(Site, feature["id"])
    assert site is not None and site.region_code.startswith("370102")
    assert feature["properties"]["name"] == site.name
    bad = client.get("/api/export/sites", params={"format": "pdf"})
    assert bad.status_code == 422 and bad.json()["field"] == "format"


def test_an_exported_csv_uploads_again_as_no_change(session: Session, people: People) -> None:
    """What maintainers do: export, edit a cell, upload — only the edited row changes."""
    service_rows = export_records(session, Entity.sites, ExportFormat.csv, CRS.gcj02, "370102001")
    rows = list(csv.DictReader(io.StringIO(service_rows.content.decode("utf-8-sig"))))
    assert rows, "解放路街道 has demo sites"
    rows[0]["电话"] = "0531-66668888"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    report, change_set = service.upload(
        session,
        people.admin,
        file_name="edited.csv",
        data=out.getvalue().encode("utf-8-sig"),
        entity=Entity.sites,
        crs=CRS.gcj02,
    )
    assert report.ok, report.to_json()["problems"]
    assert change_set is not None
    [change] = service.changes_of(session, change_set)
    assert change.target_id == int(rows[0]["编号"])
    assert service.changed_fields(change.before, change.after) == ["phone"]
