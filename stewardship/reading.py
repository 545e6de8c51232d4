"""Reading a maintainer's upload into a plain table of text cells, whatever the format.

Accepted: GeoJSON (``.geojson``/``.json``), CSV or tab/semicolon-separated text
(``.csv``/``.txt``), Excel (``.xlsx``), GeoPackage (``.gpkg``) and a zipped Shapefile
(``.zip`` holding one ``.shp`` with its ``.shx`` and ``.dbf``; ``.prj`` and ``.cpg`` when
present). The format comes from the extension, corrected by the content where the two
disagree (an Excel file renamed ``.csv`` is still read as Excel).

What comes out is text, as the maintainer sees it in a spreadsheet: numbers rendered
without a spurious ``.0`` (a division code stored as a number reads ``370102000000``),
empty cells as ``None`` or ``''``. Row numbers are the ones the maintainer sees: the
spreadsheet row for CSV/XLSX (header = 1), the 1-based feature number for GeoJSON,
GeoPackage and Shapefile. Geometry, where the format has it, comes out as a point in
geographic degrees: a projected file CRS (e.g. CGCS2000 3-degree Gauss-Krüger,
EPSG:4548) is transformed to its geographic CRS with pyproj. Nothing here interprets
the cells; :mod:`stewardship.validation` does.

Markers the validator reports per row (never headers of the file):
``__geometry_error__`` (the feature's geometry is not a point) and ``__extra_cells__``
(a CSV/XLSX row has more non-empty cells than the header has columns).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import math
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyproj

from stewardship.errors import UploadTooLarge, UploadUnreadable
from stewardship.headers import looks_like_header

GEOMETRY_ERROR = "__geometry_error__"
EXTRA_CELLS = "__extra_cells__"
MARKERS = (GEOMETRY_ERROR, EXTRA_CELLS)

ACCEPTED = (
    "可接受 accepted: GeoJSON (.geojson/.json), CSV (.csv/.txt), Excel (.xlsx), "
    "GeoPackage (.gpkg), 压缩的 Shapefile zipped Shapefile (.zip 含 .shp/.shx/.dbf)"
)
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
"""A zip (Shapefile or XLSX) that would expand beyond this is refused (zip bomb)."""

_ZIP_MAGIC = b"PK\x03\x04"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls / .doc
_DELIMITERS = (",", "\t", ";")


@dataclass(slots=True)
class RawRow:
    row: int
    """The number the maintainer sees: spreadsheet row (header = 1) or 1-based feature."""
    values: dict[str, str | None]
    """Header as written in the file → cell text (None or '' for empty)."""
    geometry: tuple[float, float] | None = None
    """The feature's point (x, y) in geographic degrees, when the format has geometry."""


@dataclass
class RawTable:
    file_name: str
    format: str
    """'geojson' | 'csv' | 'xlsx' | 'gpkg' | 'shp'."""
    encoding: str | None
    """The text encoding detected (CSV) or used (Shapefile .dbf); None where fixed."""
    headers: list[str]
    rows: list[RawRow]
    file_crs: str | None = None
    """The CRS the file declares ('EPSG:4326', 'EPSG:4548' …); None if it states none."""
    projected: bool = False
    """The file's coordinates were projected metres (so cannot be GCJ-02 or BD-09)."""
    has_geometry: bool = field(init=False)

    def __post_init__(self) -> None:
        self.has_geometry = self.format in ("geojson", "gpkg", "shp")


def read_upload(
    file_name: str, data: bytes, *, max_rows: int, max_bytes: int | None = None
) -> RawTable:
    """Read an uploaded file into a :class:`RawTable`.

    Raises :class:`UploadUnreadable` (422) for a format that is not accepted, a broken
    or undecodable file, or one without a header row or data rows, and
    :class:`UploadTooLarge` (413) for more than ``max_rows`` data rows (or more than
    ``max_bytes`` bytes when given).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise UploadTooLarge(
            f"文件 {len(data):,} 字节，超过上限 {max_bytes:,} 字节 "
            f"file is {len(data):,} bytes, above the limit of {max_bytes:,} "
            "(setting DAOFU_UPLOAD_MAX_BYTES)"
        )
    if not data.strip():
        raise UploadUnreadable(file_name, "文件为空 the file is empty")
    kind = sniff_format(file_name, data)
    if kind == "csv":
        return _read_csv(file_name, data, max_rows)
    if kind == "xlsx":
        return _read_xlsx(file_name, data, max_rows)
    if kind == "geojson":
        return _read_geojson(file_name, data, max_rows)
    if kind == "gpkg":
        return _read_gpkg(file_name, data, max_rows)
    return _read_zipped_shapefile(file_name, data, max_rows)


def sniff_format(file_name: str, data: bytes) -> str:
    """'csv' | 'xlsx' | 'geojson' | 'gpkg' | 'shp' from the extension and the content."""
    suffix = PurePosixPath(file_name.replace("\\", "/")).suffix.lower()
    if data.startswith(_OLE2_MAGIC) or suffix == ".xls":
        raise UploadUnreadable(
            file_name,
            "旧版 Excel (.xls) 不支持，请另存为 .xlsx 后上传 "
            "legacy Excel (.xls) is not supported: save it as .xlsx and upload again",
        )
    if data.startswith(_SQLITE_MAGIC):
        return "gpkg"
    if data.startswith(_ZIP_MAGIC):
        return _zip_kind(file_name, data)
    if suffix == ".shp":
        raise UploadUnreadable(
            file_name,
            "Shapefile 需把 .shp、.shx、.dbf (及 .prj、.cpg) 一起压缩成一个 .zip 上传 "
            "a Shapefile must be uploaded as one .zip holding its .shp, .shx, .dbf "
            "(and .prj, .cpg)",
        )
    if suffix in (".geojson", ".json"):
        return "geojson"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if suffix in (".xlsx", ".gpkg", ".zip"):
        raise UploadUnreadable(
            file_name, f"文件内容不是有效的 {suffix} the content is not a valid {suffix} file"
        )
    if data.lstrip()[:1] == b"{":
        return "geojson"
    raise UploadUnreadable(file_name, f"不支持的文件格式 unsupported format '{suffix}'. {ACCEPTED}")


def _zip_kind(file_name: str, data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not _junk(n)]
    except (zipfile.BadZipFile, ValueError) as error:
        raise UploadUnreadable(file_name, f"压缩文件已损坏 broken zip: {error}") from error
    if "xl/workbook.xml" in names:
        return "xlsx"
    if any(n.lower().endswith(".shp") for n in names):
        return "shp"
    raise UploadUnreadable(
        file_name,
        "压缩包里没有 Shapefile (.shp) 或 Excel 工作簿 the zip holds no Shapefile (.shp) "
        f"and is not an Excel workbook. {ACCEPTED}",
    )


def _junk(name: str) -> bool:
    return name.startswith("__MACOSX/") or name.endswith("/") or "/." in f"/{name}"


# ---------------------------------------------------------------- cells as text


def cell_text(value: Any) -> str | None:
    """A cell as the maintainer sees it: integer-valued numbers without '.0'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        if number.is_integer() and abs(number) < 1e17:
            return str(int(number))
        return repr(number)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _unique_headers(cells: list[str | None]) -> list[str]:
    """Headers as written; an empty one becomes '(列N)', a repeat gets ' (2)' (so both
    stay visible and the validator reports the clash)."""
    headers: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = (cell or "").strip() or f"(列{index} column {index})"
        candidate, n = name, 1
        while candidate in headers:
            n += 1
            candidate = f"{name} ({n})"
        headers.append(candidate)
    return headers


def _looks_numeric(text: str) -> bool:
    try:
        float(text.strip().replace(",", ""))
    except ValueError:
        return False
    return True


def _check_header(file_name: str, cells: list[str | None]) -> None:
    filled = [c for c in cells if c is not None and c.strip()]
    if filled and sum(_looks_numeric(c) for c in filled) * 2 >= len(filled):
        raise UploadUnreadable(
            file_name,
            "第一行应为列名 (如 名称、经度、纬度)，但看起来是数据 the first row must hold the "
            "column names (e.g. 名称, 经度, 纬度) but it looks like data",
        )


def _too_many(count: int, max_rows: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"文件有 {count:,} 行数据，超过上限 {max_rows:,} 行，请拆分后分批上传 "
        f"the file has {count:,} data rows, more than the limit of {max_rows:,} "
        "(setting DAOFU_UPLOAD_MAX_ROWS): split it and upload the parts",
        rows=count,
        max_rows=max_rows,
    )


def _no_rows(file_name: str, what: str) -> UploadUnreadable:
    return UploadUnreadable(file_name, f"文件没有数据行 the file has no data rows ({what})")


TITLE_ROWS_MAX = 10
"""Rows above the header (a sheet's title, a date line) that are looked past."""


def _tabulate(
    file_name: str, records: Iterable[tuple[int, list[str | None]]], max_rows: int
) -> tuple[list[str], list[RawRow]]:
    """Header = the first of the leading non-empty records that names known fields (a
    title row such as '历下区便民服务中心名录' above it is skipped), else the first
    non-empty record; data rows after it, fully empty ones skipped."""
    iterator = iter(records)
    leading: list[tuple[int, list[str | None]]] = []
    for number, cells in iterator:
        if any(c is not None and str(c).strip() for c in cells):
            leading.append((number, cells))
            if looks_like_header(cells) or len(leading) == TITLE_ROWS_MAX + 1:
                break
    found = next((i for i, (_, cells) in enumerate(leading) if looks_like_header(cells)), 0)
    header_cells = leading[found][1] if leading else None
    iterator = itertools.chain(leading[found + 1 :], iterator)
    if header_cells is None:
        raise UploadUnreadable(
            file_name, "文件中没有列名行 no header row: the file has no non-empty row"
        )
    _check_header(file_name, header_cells)
    headers = _unique_headers(header_cells)
    width = len(headers)
    rows: list[RawRow] = []
    count = 0
    for number, cells in iterator:
        if not any(c is not None and c.strip() for c in cells):
            continue
        count += 1
        if count > max_rows:
            continue  # keep counting for the message, stop storing
        values: dict[str, str | None] = dict(zip(headers, cells, strict=False))
        extra = [c for c in cells[width:] if c is not None and c.strip()]
        if extra:
            values[EXTRA_CELLS] = str(len(extra))
        rows.append(RawRow(number, values))
    if count > max_rows:
        raise _too_many(count, max_rows)
    if not rows:
        raise _no_rows(file_name, "只有列名行 only the header row")
    # columns with neither a name nor any data (trailing separators) are not columns
    unnamed = [h for h in headers if h.startswith("(列")]
    empty = {h for h in unnamed if not any((r.values.get(h) or "").strip() for r in rows)}
    if empty:
        headers = [h for h in headers if h not in empty]
        for raw in rows:
            for h in empty:
                raw.values.pop(h, None)
    return headers, rows


# ---------------------------------------------------------------- CSV


def decode_text(file_name: str, data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 with or without BOM, UTF-16 with BOM, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode(file_name, data, "utf-8-sig"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(file_name, data, "utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError as gb_error:
            raise UploadUnreadable(
                file_name,
                "无法识别文字编码: 既不是 UTF-8 (第 "
                f"{_line_at(data, utf8_error.start)} 行, 字节 {utf8_error.start}) 也不是 "
                f"GBK/GB18030 (第 {_line_at(data, gb_error.start)} 行, 字节 {gb_error.start}) "
                "cannot decode the text: not UTF-8 (line "
                f"{_line_at(data, utf8_error.start)}, byte offset {utf8_error.start}) nor "
                f"GBK/GB18030 (line {_line_at(data, gb_error.start)}, byte offset "
                f"{gb_error.start}); save it as UTF-8 CSV",
            ) from gb_error


def _decode(file_name: str, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UploadUnreadable(
            file_name,
            f"文件声明为 {encoding} 但第 {_line_at(data, error.start)} 行 (字节 {error.start}) "
            f"无法解码 the file starts as {encoding} but cannot be decoded at line "
            f"{_line_at(data, error.start)}, byte offset {error.start}",
        ) from error


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def sniff_delimiter(text: str) -> str:
    """Comma, tab or semicolon: whichever the header line holds most of (outside quotes)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    outside, quoted = [], False
    for char in first:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    counts = {d: outside.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(file_name: str, data: bytes, max_rows: int) -> RawTable:
    text, encoding = decode_text(file_name, data)
    if "\x00" in text:
        raise UploadUnreadable(
            file_name, "文件含二进制内容，不是文本 CSV the file holds binary data, not CSV text"
        )
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def records() -> Iterator[tuple[int, list[str | None]]]:
        try:
            for number, cells in enumerate(reader, start=1):
                yield number, list[str | None](cells)
        except csv.Error as error:
            raise UploadUnreadable(
                file_name,
                f"CSV 格式错误 (第 {reader.line_num} 行) broken CSV at line {reader.line_num}: "
                f"{error}",
            ) from error

    headers, rows = _tabulate(file_name, records(), max_rows)
    return RawTable(file_name, "csv", encoding, headers, rows)


# ---------------------------------------------------------------- XLSX


def _check_zip_size(file_name: str, data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise UploadUnreadable(file_name, f"压缩文件已损坏 broken zip: {error}") from error
    if total > MAX_UNZIPPED_BYTES:
        raise UploadTooLarge(
            f"解压后 {total:,} 字节，超过上限 {MAX_UNZIPPED_BYTES:,} 字节 the file expands "
            f"to {total:,} bytes, above the limit of {MAX_UNZIPPED_BYTES:,}"
        )


def _read_xlsx(file_name: str, data: bytes, max_rows: int) -> RawTable:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _check_zip_size(file_name, data)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise UploadUnreadable(
            file_name, f"Excel 文件无法打开 cannot open the Excel workbook: {error}"
        ) from error
    try:
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # some writers record a wrong used range
            records = _sheet_records(sheet)
            first = next(records, None)
            if first is None:
                continue
            headers, rows = _tabulate(file_name, _chain(first, records), max_rows)
            return RawTable(file_name, "xlsx", None, headers, rows)
    finally:
        workbook.close()
    raise UploadUnreadable(
        file_name, "工作簿中没有数据 no worksheet of the workbook holds any data (no header row)"
    )


def _sheet_records(sheet: Any) -> Iterator[tuple[int, list[str | None]]]:
    """Non-empty rows with their sheet row number (read-only sheets yield the missing
    rows of the XML as empty ones, so counting keeps the numbers true)."""
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        texts = [v if isinstance(v, str) else cell_text(v) for v in values]
        if any(t is not None and t.strip() for t in texts):
            yield number, texts


def _chain(
    first: tuple[int, list[str | None]], rest: Iterator[tuple[int, list[str | None]]]
) -> Iterator[tuple[int, list[str | None]]]:
    yield first
    yield from rest


# ---------------------------------------------------------------- GeoJSON


def _read_geojson(file_name: str, data: bytes, max_rows: int) -> RawTable:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise UploadUnreadable(
            file_name,
            f"GeoJSON 必须是 UTF-8 编码 GeoJSON must be UTF-8 (byte offset {error.start})",
        ) from error
    except json.JSONDecodeError as error:
        raise UploadUnreadable(
            file_name,
            f"JSON 格式错误 (第 {error.lineno} 行第 {error.colno} 列) broken JSON at line "
            f"{error.lineno}, column {error.colno}: {error.msg}",
        ) from error
    if isinstance(document, dict) and document.get("type") == "Feature":
        document = {"type": "FeatureCollection", "features": [document]}
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise UploadUnreadable(
            file_name,
            "GeoJSON 应为点要素的 FeatureCollection GeoJSON must be a FeatureCollection of "
            "Point features",
        )
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise _no_rows(file_name, "FeatureCollection 中没有要素 no features")
    if len(features) > max_rows:
        raise _too_many(len(features), max_rows)
    crs = _geojson_crs(file_name, document.get("crs"))
    headers: dict[str, None] = {}
    rows: list[RawRow] = []
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            raise UploadUnreadable(
                file_name, f"第 {number} 个要素不是对象 feature {number} is not an object"
            )
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            properties = {}
        values: dict[str, str | None] = {}
        for key, value in properties.items():
            name = str(key)
            headers.setdefault(name, None)
            values[name] = cell_text(value)
        point, problem = _geojson_point(feature.get("geometry"))
        if problem:
            values[GEOMETRY_ERROR] = problem
        rows.append(RawRow(number, values, point))
    table = RawTable(file_name, "geojson", "utf-8", list(headers), rows)
    if crs is not None:
        _apply_crs(table, crs)
    return table


def _geojson_crs(file_name: str, member: Any) -> pyproj.CRS | None:
    """The old-style (2008) ``crs`` member, which GIS tools still write."""
    if not isinstance(member, dict):
        return None
    name = (member.get("properties") or {}).get("name")
    if not name:
        return None
    try:
        return pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError as error:
        raise UploadUnreadable(
            file_name, f"无法识别的坐标系 unknown crs '{name}' in the GeoJSON"
        ) from error


def _geojson_point(geometry: Any) -> tuple[tuple[float, float] | None, str | None]:
    if geometry is None:
        return None, None
    if not isinstance(geometry, dict):
        return None, "invalid"
    kind = str(geometry.get("type"))
    coordinates: Any = geometry.get("coordinates")
    if kind == "MultiPoint" and isinstance(coordinates, list) and len(coordinates) == 1:
        kind, coordinates = "Point", coordinates[0]
    if kind != "Point":
        return None, kind
    try:
        x, y = float(coordinates[0]), float(coordinates[1])
    except (TypeError, ValueError, IndexError):
        return None, "invalid"
    if not (math.isfinite(x) and math.isfinite(y)):
        return None, "invalid"
    return (x, y), None


def _apply_crs(table: RawTable, crs: pyproj.CRS) -> None:
    """Record the file's CRS; a projected one is transformed to its geographic CRS."""
    table.file_crs = crs.to_string()
    if not crs.is_projected:
        return
    table.projected = True
    transformer = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    indices = [i for i, r in enumerate(table.rows) if r.geometry is not None]
    if not indices:
        return
    xs = np.array([table.rows[i].geometry[0] for i in indices])  # type: ignore[index]
    ys = np.array([table.rows[i].geometry[1] for i in indices])  # type: ignore[index]
    lons, lats = transformer.transform(xs, ys)
    for i, lon, lat in zip(indices, lons, lats, strict=True):
        ok = math.isfinite(lon) and math.isfinite(lat)
        table.rows[i].geometry = (float(lon), float(lat)) if ok else None
        if not ok:
            table.rows[i].values[GEOMETRY_ERROR] = "invalid"


# ---------------------------------------------------------------- GeoPackage, Shapefile


def _read_gpkg(file_name: str, data: bytes, max_rows: int) -> RawTable:
    with tempfile.TemporaryDirectory(prefix="daofu-upload-") as folder:
        path = Path(folder) / "upload.gpkg"
        path.write_bytes(data)
        layer = _point_layer(file_name, path)
        return _read_ogr(file_name, path, "gpkg", layer, None, max_rows)


def _point_layer(file_name: str, path: Path) -> str | None:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception as error:  # GDAL raises many kinds
        raise UploadUnreadable(
            file_name, f"GeoPackage 无法打开 cannot open the GeoPackage: {error}"
        ) from error
    if len(layers) == 0:
        raise UploadUnreadable(file_name, "GeoPackage 中没有图层 the GeoPackage has no layer")
    for name, geometry_type in layers:
        if geometry_type and "Point" in str(geometry_type):
            return str(name)
    return str(layers[0][0])


def _read_zipped_shapefile(file_name: str, data: bytes, max_rows: int) -> RawTable:
    _check_zip_size(file_name, data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [n for n in archive.namelist() if not _junk(n)]
        shps = [n for n in members if n.lower().endswith(".shp")]
        if len(shps) != 1:
            raise UploadUnreadable(
                file_name,
                f"压缩包应只含一个 .shp，实际有 {len(shps)} 个 the zip must hold exactly one "
                f".shp, it holds {len(shps)}: {', '.join(shps)}",
            )
        stem = shps[0][:-4]
        parts = {n[len(stem) :].lower(): n for n in members if n[: len(stem)] == stem}
        missing = [s for s in (".shx", ".dbf") if s not in parts]
        if missing:
            raise UploadUnreadable(
                file_name,
                f"Shapefile 缺少 {'、'.join(missing)} 文件 the Shapefile lacks its "
                f"{', '.join(missing)} file (zip the .shp, .shx, .dbf, .prj and .cpg together)",
            )
        with tempfile.TemporaryDirectory(prefix="daofu-upload-") as folder:
            for suffix, member in parts.items():
                if suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                    (Path(folder) / f"upload{suffix}").write_bytes(archive.read(member))
            path = Path(folder) / "upload.shp"
            cpg = path.with_suffix(".cpg")
            encoding = _cpg_encoding(cpg.read_bytes()) if cpg.exists() else None
            return _read_ogr(file_name, path, "shp", None, encoding, max_rows)


def _cpg_encoding(content: bytes) -> str | None:
    """The Python codec a .cpg names ('UTF-8', 'GBK', '936', 'ANSI 936' …)."""
    name = content.decode("ascii", "ignore").strip().upper().replace("ANSI ", "")
    known = {"65001": "utf-8", "UTF8": "utf-8", "936": "gbk", "CP936": "gbk", "GB2312": "gbk"}
    name = known.get(name.replace("-", ""), name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _read_ogr(
    file_name: str, path: Path, kind: str, layer: str | None, encoding: str | None, max_rows: int
) -> RawTable:
    """Read a GeoPackage layer or a Shapefile; a Shapefile's .dbf is decoded with the
    .cpg's encoding, else the code page of its header, else UTF-8 and then GBK."""
    import pyogrio

    attempts: list[str | None] = [None]
    dbf = path.with_suffix(".dbf")
    original = dbf.read_bytes() if kind == "shp" else b""
    if kind == "shp":
        first = encoding or ("gb18030" if original[29:30] in _GBK_LDIDS else "utf-8")
        attempts = [first, *(e for e in ("utf-8", "gb18030") if e != first)]
    for attempt in attempts:
        if kind == "shp":
            dbf.write_bytes(_mend_field_names(original, attempt or "utf-8"))
        try:
            info = pyogrio.read_info(path, layer=layer, encoding=attempt)
            count = int(info.get("features") or 0)
            if count > max_rows:
                raise _too_many(count, max_rows)
            if count == 0:
                raise _no_rows(file_name, "图层中没有要素 the layer has no features")
            frame = pyogrio.read_dataframe(path, layer=layer, encoding=attempt)
        except UnicodeDecodeError:
            continue
        except (UploadTooLarge, UploadUnreadable):
            raise
        except Exception as error:  # GDAL raises many kinds
            raise UploadUnreadable(
                file_name, f"无法读取 cannot read the {kind} file: {error}"
            ) from error
        return _frame_table(file_name, kind, frame, attempt)
    raise UploadUnreadable(
        file_name,
        "属性表 (.dbf) 的文字编码无法识别 (试过 UTF-8 与 GBK)，请附上 .cpg 文件 cannot "
        "decode the attribute table (.dbf) as UTF-8 or GBK: add a .cpg file naming its "
        "encoding",
    )


_GBK_LDIDS = (b"\x4d", b"\x7a")  # .dbf language driver ids of code page 936


def _mend_field_names(dbf: bytes, encoding: str) -> bytes:
    """Trim a multi-byte character cut in half at the end of a .dbf field name.

    Field names hold at most 10 bytes, and writers cut '区划代码' (12 bytes in UTF-8)
    to 10, mid-character; the name is kept up to its last whole character.
    """
    mended = bytearray(dbf)
    offset = 32
    while offset + 32 <= len(dbf) and dbf[offset] != 0x0D:
        name = dbf[offset : offset + 11].split(b"\0", 1)[0]
        for cut in range(len(name), max(len(name) - 4, 0), -1):
            try:
                name[:cut].decode(encoding)
            except UnicodeDecodeError as error:
                if error.reason != "unexpected end of data":
                    break
                continue
            mended[offset : offset + 11] = name[:cut].ljust(11, b"\0")
            break
        offset += 32
    return bytes(mended)


def _frame_table(file_name: str, kind: str, frame: Any, encoding: str | None) -> RawTable:
    import shapely

    geometry_name = frame.geometry.name if hasattr(frame, "geometry") else None
    headers = [str(c) for c in frame.columns if c != geometry_name]
    columns = {h: [cell_text(v) for v in frame[h].tolist()] for h in headers}
    rows: list[RawRow] = []
    geometries = frame.geometry.values if geometry_name else [None] * len(frame)
    types = shapely.get_type_id(np.asarray(geometries)) if geometry_name else None
    for index in range(len(frame)):
        values: dict[str, str | None] = {h: columns[h][index] for h in headers}
        point: tuple[float, float] | None = None
        geometry = geometries[index]
        if geometry is not None and not geometry.is_empty and types is not None:
            type_id = int(types[index])
            if type_id == 4 and len(geometry.geoms) == 1:  # MultiPoint of one point
                geometry = geometry.geoms[0]
                type_id = 0
            if type_id == 0:
                point = (float(geometry.x), float(geometry.y))
            else:
                values[GEOMETRY_ERROR] = geometry.geom_type
        rows.append(RawRow(index + 1, values, point))
    table = RawTable(file_name, kind, encoding, headers, rows)
    crs = frame.crs if geometry_name else None
    if crs is not None:
        _apply_crs(table, pyproj.CRS.from_user_input(crs))
    elif kind == "shp" and _not_degrees(rows):
        raise UploadUnreadable(
            file_name,
            "Shapefile 没有 .prj 且坐标不是经纬度 (度)，请附上 .prj 文件 the Shapefile has no "
            ".prj and its coordinates are not degrees: add its .prj file",
        )
    return table


def _not_degrees(rows: list[RawRow]) -> bool:
    return any(
        r.geometry is not None and (abs(r.geometry[0]) > 180 or abs(r.geometry[1]) > 90)
        for r in rows
    )
