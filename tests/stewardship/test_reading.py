"""Reading maintainers' upload files: every accepted format and encoding, written by the
real writers (csv, openpyxl, geopandas/pyogrio, zipfile), and the files that must be
refused with a message the maintainer can act on."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
from shapely.geometry import LineString, Point

from stewardship.errors import UploadTooLarge, UploadUnreadable
from stewardship.reading import EXTRA_CELLS, GEOMETRY_ERROR, RawTable, read_upload

HEADER = ["名称", "经度", "纬度", "区划代码", "办公时间"]
ROWS = [
    ["历下区政务服务中心", "117.0769", "36.6665", "370102000000", "Mo-Fr 09:00-17:00"],
    ["解放路街道便民服务中心", "117.0402", "36.6689", "370102001000", ""],
]
# 历下区政务服务中心 and a point in 解放路街道, WGS-84
POINTS = [(117.0769, 36.6665), (117.0402, 36.6689)]


def csv_bytes(rows: list[list[str]], encoding: str, delimiter: str = ",") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def read(name: str, data: bytes, max_rows: int = 1000) -> RawTable:
    return read_upload(name, data, max_rows=max_rows)


def unreadable(name: str, data: bytes, max_rows: int = 1000) -> str:
    with pytest.raises(UploadUnreadable) as caught:
        read(name, data, max_rows)
    assert caught.value.status == 422
    return caught.value.message


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("utf-16", "utf-16")],
)
def test_csv_encodings_give_the_same_table(encoding: str, detected: str) -> None:
    table = read("sites.csv", csv_bytes(ROWS, encoding))
    assert (table.format, table.encoding) == ("csv", detected)
    assert table.headers == HEADER  # no BOM stuck to 名称
    assert [r.row for r in table.rows] == [2, 3]
    assert table.rows[0].values["名称"] == "历下区政务服务中心"
    assert table.rows[1].values["区划代码"] == "370102001000"
    assert table.rows[0].geometry is None and table.file_crs is None and not table.projected


def test_csv_with_characters_only_gb18030_has() -> None:
    name = "𠮷祥社区便民服务站"  # 𠮷 (U+20BB7) is outside GBK
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")
    table = read("sites.csv", csv_bytes([[name, "117.1", "36.6", "", ""]], "gb18030"))
    assert table.encoding == "gb18030"
    assert table.rows[0].values["名称"] == name


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_tab_and_semicolon_separated_text(delimiter: str) -> None:
    rows = [[*ROWS[0][:4], "Mo-Fr 09:00-12:00,13:30-17:00"]]  # a comma inside a cell
    table = read("sites.txt", csv_bytes(rows, "utf-8", delimiter))
    assert table.headers == HEADER
    assert table.rows[0].values["办公时间"] == "Mo-Fr 09:00-12:00,13:30-17:00"


def test_blank_lines_are_skipped_but_row_numbers_stay_true_to_the_sheet() -> None:
    data = "名称,经度,纬度\n甲,117.1,36.6\n,,\n\n乙,117.2,36.7\n".encode()
    table = read("sites.csv", data)
    assert [(r.row, r.values["名称"]) for r in table.rows] == [(2, "甲"), (5, "乙")]


def test_a_row_with_more_cells_than_the_header_is_marked() -> None:
    data = "名称,地址,经度,纬度\n甲,济南市,历下区,117.1,36.6\n乙,济南市,117.1,36.6\n".encode()
    table = read("sites.csv", data)
    assert table.rows[0].values[EXTRA_CELLS] == "1"
    assert EXTRA_CELLS not in table.rows[1].values
    assert EXTRA_CELLS not in table.headers


def test_trailing_separators_do_not_make_columns_but_a_repeated_header_stays_visible() -> None:
    data = "名称,经度,纬度,名称,,\n甲,117.1,36.6,乙,,\n".encode()
    table = read("sites.csv", data)
    assert table.headers == ["名称", "经度", "纬度", "名称 (2)"]
    assert table.rows[0].values["名称 (2)"] == "乙"


def test_undecodable_csv_names_the_line_and_byte_offset() -> None:
    data = "名称,经度\n甲,117.1\n".encode() + b"\x81\xff\xfe,1\n"
    message = unreadable("sites.csv", data)
    assert "line 3" in message and "byte offset" in message and "UTF-8" in message


# ---------------------------------------------------------------- XLSX


def xlsx_bytes(*sheets: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    for index, rows in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet(f"s{index}")
        assert sheet is not None
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_numbers_come_out_as_the_maintainer_typed_them() -> None:
    data = xlsx_bytes(
        [],  # an empty first sheet is passed over
        [
            ["名称", "经度", "纬度", "区划代码", "电话"],
            ["历下区政务服务中心", 117.0769, 36.6665, 370102000000, 53186001234],
            [None, None, None, None, None],
            ["解放路街道便民服务中心", 117.0402, 36.6689, 370102001000.0, "0531-8600"],
        ],
    )
    table = read("sites.xlsx", data)
    assert table.format == "xlsx"
    assert [r.row for r in table.rows] == [2, 4]
    first, second = (r.values for r in table.rows)
    assert first["区划代码"] == "370102000000"  # an integer cell, no '.0'
    assert second["区划代码"] == "370102001000"  # a float cell holding an integer
    assert (first["经度"], first["纬度"]) == ("117.0769", "36.6665")
    assert first["电话"] == "53186001234"


def test_an_excel_file_renamed_csv_is_still_read_as_excel() -> None:
    data = xlsx_bytes([["名称", "经度", "纬度"], ["甲", 117.1, 36.6]])
    assert read("export.csv", data).format == "xlsx"


# ---------------------------------------------------------------- GeoJSON


def feature(geometry: dict[str, object] | None, **properties: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def test_geojson_points_and_properties() -> None:
    document = {
        "type": "FeatureCollection",
        "features": [
            feature(
                {"type": "Point", "coordinates": [117.0769, 36.6665]},
                名称="甲",
                区划代码=370102000000,
            ),
            feature({"type": "LineString", "coordinates": [[117, 36], [118, 37]]}, 名称="乙"),
            feature(
                {"type": "Point", "coordinates": [117.0402, 36.6689, 30.0]}, 名称="丙", 层级=None
            ),
        ],
    }
    table = read("sites.geojson", json.dumps(document, ensure_ascii=False).encode())
    assert table.format == "geojson" and table.headers == ["名称", "区划代码", "层级"]
    assert [r.row for r in table.rows] == [1, 2, 3]  # feature numbers
    assert table.rows[0].geometry == (117.0769, 36.6665)
    assert table.rows[0].values["区划代码"] == "370102000000"
    assert table.rows[1].geometry is None
    assert table.rows[1].values[GEOMETRY_ERROR] == "LineString"
    assert table.rows[2].geometry == (117.0402, 36.6689)  # the height is dropped


def test_geojson_in_a_projected_crs_comes_back_geographic() -> None:
    projected = gpd.GeoSeries([Point(p) for p in POINTS], crs="EPSG:4490").to_crs("EPSG:4548")
    document = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4548"}},
        "features": [
            feature({"type": "Point", "coordinates": [g.x, g.y]}, 名称=str(i))
            for i, g in enumerate(projected)
        ],
    }
    table = read("sites.json", json.dumps(document).encode())
    assert table.projected and table.file_crs == "EPSG:4548"
    for raw, (lon, lat) in zip(table.rows, POINTS, strict=True):
        assert raw.geometry == pytest.approx((lon, lat), abs=1e-7)


def test_broken_geojson_names_line_and_column() -> None:
    message = unreadable("sites.geojson", b'{"type": "FeatureCollection",\n "features": [}')
    assert "line 2" in message


def test_geojson_that_is_not_a_feature_collection_is_refused() -> None:
    message = unreadable("sites.geojson", b'{"type": "Point", "coordinates": [117, 36]}')
    assert "FeatureCollection" in message


# ---------------------------------------------------------------- GeoPackage, Shapefile


def frame(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "名称": ["历下区政务服务中心", "解放路街道便民服务中心"],
            "区划代码": [370102000000.0, 370102001000.0],  # numeric, as GIS tools store them
            "电话": ["0531-86001234", None],
        },
        geometry=[Point(p) for p in POINTS],
        crs=crs,
    )


def test_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "sites.gpkg"
    frame().to_file(path, layer="sites", driver="GPKG")
    table = read("sites.gpkg", path.read_bytes())
    assert table.format == "gpkg" and table.file_crs == "EPSG:4326" and not table.projected
    assert table.headers == ["名称", "区划代码", "电话"]
    assert [r.row for r in table.rows] == [1, 2]
    assert table.rows[0].values == {
        "名称": "历下区政务服务中心", "区划代码": "370102000000", "电话": "0531-86001234",
    }  # fmt: skip
    assert table.rows[1].values["电话"] is None
    assert table.rows[1].geometry == pytest.approx(POINTS[1])


def zipped_shapefile(
    tmp_path: Path, data: gpd.GeoDataFrame, encoding: str, keep: tuple[str, ...]
) -> bytes:
    folder = tmp_path / "shp"
    folder.mkdir()
    data.to_file(folder / "网点.shp", encoding=encoding)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for part in folder.iterdir():
            if part.suffix in keep:
                archive.write(part, f"导出/{part.name}")
    return out.getvalue()


def test_zipped_shapefile_gbk_without_cpg_in_cgcs2000_gauss_kruger(tmp_path: Path) -> None:
    projected = frame("EPSG:4490").to_crs("EPSG:4548")  # CGCS2000 3-degree GK, CM 117°E
    data = zipped_shapefile(tmp_path, projected, "GBK", (".shp", ".shx", ".dbf", ".prj"))
    table = read("网点.zip", data)
    assert table.format == "shp" and table.encoding == "gb18030"
    assert table.file_crs == "EPSG:4548" and table.projected
    assert [r.values["名称"] for r in table.rows] == [
        "历下区政务服务中心",
        "解放路街道便民服务中心",
    ]
    assert table.rows[0].values["区划代码"] == "370102000000"
    for raw, point in zip(table.rows, POINTS, strict=True):
        assert raw.geometry == pytest.approx(point, abs=1e-7)


def test_zipped_shapefile_with_a_cpg(tmp_path: Path) -> None:
    data = zipped_shapefile(tmp_path, frame(), "UTF-8", (".shp", ".shx", ".dbf", ".prj", ".cpg"))
    table = read("sites.zip", data)
    assert table.encoding == "utf-8" and not table.projected
    assert table.rows[1].values["名称"] == "解放路街道便民服务中心"
    # a .dbf field name holds 10 bytes: '区划代码' (12 in UTF-8) was cut mid-character
    assert table.headers == ["名称", "区划代", "电话"]
    assert table.rows[0].values["区划代"] == "370102000000"


def test_zipped_shapefile_without_its_dbf_is_refused(tmp_path: Path) -> None:
    data = zipped_shapefile(tmp_path, frame(), "UTF-8", (".shp", ".shx", ".prj"))
    assert ".dbf" in unreadable("sites.zip", data)


def test_a_shapefile_of_lines_marks_every_row(tmp_path: Path) -> None:
    lines = gpd.GeoDataFrame({"名称": ["甲"]}, geometry=[LineString(POINTS)], crs="EPSG:4326")
    table = read("lines.zip", zipped_shapefile(tmp_path, lines, "UTF-8", (".shp", ".shx", ".dbf")))
    assert table.rows[0].geometry is None
    assert table.rows[0].values[GEOMETRY_ERROR] == "LineString"


# ---------------------------------------------------------------- refused files


def test_an_unknown_format_names_what_is_accepted() -> None:
    message = unreadable("sites.pdf", b"%PDF-1.7 ...")
    assert ".xlsx" in message and ".geojson" in message and ".gpkg" in message


def test_legacy_xls_asks_to_save_as_xlsx() -> None:
    assert ".xlsx" in unreadable("sites.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64)


def test_a_lone_shp_asks_for_a_zip() -> None:
    assert ".zip" in unreadable("sites.shp", b"\x00\x00\x27\x0a" + b"\0" * 96)


def test_broken_and_foreign_zips() -> None:
    assert "zip" in unreadable("sites.zip", b"PK\x03\x04 truncated")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    assert ".shp" in unreadable("sites.zip", out.getvalue())


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        ("名称,经度,纬度\n".encode(), "no data rows"),
        ("117.1,36.6,甲\n117.2,36.7,乙\n".encode(), "column names"),
        (b"\n\n", "empty"),
    ],
)
def test_no_header_or_no_rows(data: bytes, words: str) -> None:
    message = unreadable("sites.csv", data)
    assert words in message
    assert any("\u4e00" <= c <= "\u9fff" for c in message)  # Chinese as well as English


def test_too_many_rows_is_413_naming_limit_count_and_setting() -> None:
    data = csv_bytes([["甲", "117.1", "36.6", "", ""]] * 12, "utf-8")
    with pytest.raises(UploadTooLarge) as caught:
        read("sites.csv", data, max_rows=10)
    assert caught.value.status == 413
    message = caught.value.message
    assert "12" in message and "10" in message and "DAOFU_UPLOAD_MAX_ROWS" in message
    assert len(read("sites.csv", data, max_rows=12).rows) == 12


def test_too_many_features_in_a_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "sites.gpkg"
    frame().to_file(path, driver="GPKG")
    with pytest.raises(UploadTooLarge):
        read("sites.gpkg", path.read_bytes(), max_rows=1)


def test_a_title_row_above_the_header_is_looked_past_and_rows_keep_their_sheet_numbers() -> None:
    """Government spreadsheets often open with a title and a date line above the header."""
    data = xlsx_bytes(
        [
            ["历下区便民服务中心名录（2026年11月）"],
            [],
            ["填报单位：历下区行政审批服务局"],
            ["序号", "名称", "经度", "纬度", "区划代码"],
            [1, "解放路街道便民服务中心", 117.0412, 36.6601, 370102001000],
        ]
    )
    table = read_upload("名录.xlsx", data, max_rows=100)
    assert table.headers == ["序号", "名称", "经度", "纬度", "区划代码"]
    [row] = table.rows
    assert row.row == 5 and row.values["名称"] == "解放路街道便民服务中心"
    assert row.values["区划代码"] == "370102001000"

    csv_data = "表一 场所名录\n名称,经度,纬度\n某中心,117.04,36.66\n".encode("gb18030")
    table = read_upload("名录.csv", csv_data, max_rows=100)
    assert table.headers == ["名称", "经度", "纬度"] and table.rows[0].row == 3
