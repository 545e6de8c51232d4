"""``daofu data load``: the real public data shipped in ``data/``, loaded idempotently.

Each dataset records the checksum of its files (and of its loader's version) in
``dataset_loads``; a second run skips datasets whose inputs did not change. A
dataset that is reloaded makes every later one reload too, since they build on
it (demo sites are placed inside boundaries, facilities get their district).
The caller owns the transaction: a failure leaves the store as it was.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo import demo
from geo.coords import CRS, geometry_to_wgs84
from geo.divisions import level_of, parent_code
from geo.errors import DataFileError
from geo.models import DatasetLoad, Facility, FacilityCategory, Region, Site

Report = Callable[[str, int, int], None]
"""Progress callback: (step, done, total)."""

DIVISIONS_SOURCE = "国家统计局 统计用区划代码 2023 (via modood/Administrative-divisions-of-China)"
BOUNDARY_SOURCE = "DataV.GeoAtlas (AMap), GCJ-02 converted to WGS-84"
EV_SOURCE = "foreverIove/jnnyscreen2 Jinan EV charging stations (GCJ-02 converted to WGS-84)"

PROVINCES = {"37": "山东省", "32": "江苏省"}
JINAN = "370100000000"


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[str, ...]
    load: Callable[[Session, Path, Report], int]
    version: int = 1


@dataclass(frozen=True)
class LoadResult:
    name: str
    rows: int
    skipped: bool


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from enumerate(csv.DictReader(f), start=2)


def _division_rows(data_dir: Path, files: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"code": prefix.ljust(12, "0"), "name": name, "parent_code": None}
        for prefix, name in PROVINCES.items()
    ]
    for file in files:
        path = data_dir / file
        for number, row in _read_csv(path):
            code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
            if not code.isdigit() or len(code) not in (4, 6, 9, 12):
                raise DataFileError(
                    file, f"division code '{code}' is not 4/6/9/12 digits", number, "code"
                )
            if not name:
                raise DataFileError(file, "name is empty", number, "name")
            full = code.ljust(12, "0")
            rows.append({"code": full, "name": name, "parent_code": parent_code(full)})
    return rows


def load_divisions(session: Session, data_dir: Path, report: Report) -> int:
    rows = _division_rows(data_dir, DIVISIONS.files)
    known = {r["code"] for r in rows}
    for r in rows:
        if r["parent_code"] is not None and r["parent_code"] not in known:
            raise DataFileError(
                "divisions", f"{r['code']} {r['name']}: parent {r['parent_code']} missing"
            )
        r["level"] = level_of(r["code"])
        r["source"] = DIVISIONS_SOURCE
    rows.sort(key=lambda r: r["code"].rstrip("0").__len__())
    batch = 5000
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        stmt = insert(Region).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Region.code],
            set_={
                "name": stmt.excluded.name,
                "level": stmt.excluded.level,
                "parent_code": stmt.excluded.parent_code,
                "source": stmt.excluded.source,
            },
        )
        session.execute(stmt)
        report("divisions", min(start + batch, len(rows)), len(rows))
    return len(rows)


def _multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """DataV polygons may self-touch: make them valid and keep only their polygon parts."""
    valid = shapely.make_valid(geom)
    polygons = [
        g for g in getattr(valid, "geoms", [valid]) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    parts = [p for g in polygons for p in getattr(g, "geoms", [g])]
    return MultiPolygon(parts)


def load_boundaries(session: Session, data_dir: Path, report: Report) -> int:
    features: list[tuple[str, int, dict[str, Any]]] = []
    for file in BOUNDARIES.files:
        collection = json.loads((data_dir / file).read_text(encoding="utf-8"))
        features += [(file, i, f) for i, f in enumerate(collection.get("features", []))]
    existing = set(session.scalars(select(Region.code)))
    for done, (file, index, feature) in enumerate(features, start=1):
        props = feature.get("properties") or {}
        code = str(props.get("adcode", "")).ljust(12, "0")
        if code not in existing:
            raise DataFileError(
                file, f"adcode {props.get('adcode')} is not a loaded division", index, "adcode"
            )
        try:
            boundary = _multipolygon(geometry_to_wgs84(shape(feature["geometry"]), CRS.gcj02))
        except (KeyError, ValueError, TypeError, shapely.errors.GEOSException) as exc:
            raise DataFileError(file, f"bad geometry: {exc}", index, "geometry") from exc
        centre = props.get("center")
        centre_point = geometry_to_wgs84(Point(centre), CRS.gcj02) if centre else boundary.centroid
        session.execute(
            update(Region)
            .where(Region.code == code)
            .values(
                boundary=from_shape(boundary, srid=4326),
                centre=from_shape(centre_point, srid=4326),
                boundary_source=f"{BOUNDARY_SOURCE}: {file}",
            )
        )
        report("boundaries", done, len(features))
    # Nanjing's city outline is not shipped as a file: it is the union of its districts.
    session.execute(
        text(
            "UPDATE regions c SET boundary = u.geom, centre = ST_PointOnSurface(u.geom), "
            "boundary_source = 'union of district boundaries' "
            "FROM (SELECT left(code, 4) AS city, ST_Multi(ST_Union(boundary)) AS geom FROM regions "
            "      WHERE level = 'district' AND boundary IS NOT NULL GROUP BY left(code, 4)) u "
            "WHERE c.level = 'city' AND left(c.code, 4) = u.city AND c.boundary IS NULL"
        )
    )
    return len(features)


def load_ev_charging(session: Session, data_dir: Path, report: Report) -> int:
    (file,) = EV_CHARGING.files
    collection = json.loads((data_dir / file).read_text(encoding="utf-8"))
    session.execute(delete(Facility).where(Facility.source == EV_SOURCE))
    jinan = session.get(Region, JINAN)
    if jinan is None or jinan.boundary is None:
        raise DataFileError(file, "needs Jinan's boundary: load divisions and boundaries first")
    # A few upstream points sit on a placeholder position (117.0, 36.0) in Tai'an: keep
    # only stations within 2 km of the city they are listed for.
    jinan_area = to_shape(jinan.boundary).buffer(0.02)
    shapely.prepare(jinan_area)
    rows = []
    for index, feature in enumerate(collection.get("features", [])):
        props = feature.get("properties") or {}
        try:
            point = geometry_to_wgs84(shape(feature["geometry"]), CRS.gcj02)
        except (KeyError, ValueError, TypeError) as exc:
            raise DataFileError(file, f"bad geometry: {exc}", index, "geometry") from exc
        name = str(props.get("name") or "").strip()
        if not name:
            raise DataFileError(file, "name is empty", index, "name")
        if not jinan_area.contains(point):
            continue
        restricted = any(w in name for w in ("内部专用", "不对外开放"))
        rows.append(
            {
                "name": name,
                "category": FacilityCategory.parking,
                "subcategory": "电动汽车充电站",
                "geom": from_shape(point, srid=4326),
                "attributes": {"ev_charging": True, "public": not restricted},
                "source": EV_SOURCE,
                "demo": False,
            }
        )
    session.execute(insert(Facility), rows)
    report("ev_charging", len(rows), len(rows))
    assign_districts(session, "facilities")
    return len(rows)


def assign_districts(session: Session, table: str) -> None:
    """Set ``region_code`` of rows without one to the district whose boundary holds them."""
    if table not in ("facilities", "sites"):
        raise ValueError(table)
    session.execute(
        text(
            f"UPDATE {table} t SET region_code = r.code FROM regions r "  # noqa: S608 - fixed names
            "WHERE t.region_code IS NULL AND r.level = 'district' "
            "AND ST_Contains(r.boundary, t.geom)"
        )
    )


def load_demo_sites(session: Session, data_dir: Path, report: Report) -> int:
    session.execute(delete(Site).where(Site.demo.is_(True), Site.source == demo.DEMO_SOURCE))
    rows = demo.generate_sites(session, data_dir / DEMO_SITES.files[0])
    for start in range(0, len(rows), 500):
        session.execute(insert(Site), rows[start : start + 500])
        report("demo_sites", min(start + 500, len(rows)), len(rows))
    return len(rows)


DIVISIONS = Dataset(
    "divisions",
    (
        "divisions/shandong_cities.csv",
        "divisions/shandong_districts.csv",
        "divisions/shandong_towns_streets.csv",
        "divisions/shandong_villages_communities.csv",
        "divisions/nanjing_city.csv",
        "divisions/nanjing_districts.csv",
        "divisions/nanjing_towns_streets.csv",
        "divisions/nanjing_villages_communities.csv",
    ),
    load_divisions,
)
BOUNDARIES = Dataset(
    "boundaries",
    (
        "boundaries/shandong_cities_datav_370000_full.json",
        "boundaries/shandong_districts_datav_full.json",
        "boundaries/nanjing_districts_datav_320100_full.json",
    ),
    load_boundaries,
)
EV_CHARGING = Dataset(
    "ev_charging", ("poi/jinan_ev_charging_stations_gcj02.geojson",), load_ev_charging, version=2
)
DEMO_SITES = Dataset(
    "demo_sites", ("roads/nanjing_xinjiekou_highways.osm",), load_demo_sites, version=demo.VERSION
)
DATASETS = (DIVISIONS, BOUNDARIES, EV_CHARGING, DEMO_SITES)


def _checksum(data_dir: Path, dataset: Dataset) -> str:
    digest = hashlib.sha256(f"{dataset.name}:v{dataset.version}".encode())
    for file in dataset.files:
        path = data_dir / file
        if not path.exists():
            raise DataFileError(file, f"missing: expected under {data_dir}")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_all(
    session: Session,
    data_dir: Path,
    report: Report,
    *,
    datasets: Sequence[Dataset] = DATASETS,
    force: bool = False,
) -> list[LoadResult]:
    """Load every dataset whose inputs changed (all of them with ``force``).

    ``datasets`` run in order; packages above ``geo`` append their own (``web``
    composes the full list), so a reloaded store dataset reloads theirs too.
    """
    results = []
    reload_rest = force
    for dataset in datasets:
        checksum = _checksum(data_dir, dataset)
        done = session.get(DatasetLoad, dataset.name)
        if not reload_rest and done is not None and done.sha256 == checksum:
            results.append(LoadResult(dataset.name, done.rows, skipped=True))
            continue
        reload_rest = True
        rows = dataset.load(session, data_dir, report)
        session.merge(DatasetLoad(name=dataset.name, sha256=checksum, rows=rows))
        session.flush()
        results.append(LoadResult(dataset.name, rows, skipped=False))
    if reload_rest:
        session.execute(text("ANALYZE regions, sites, facilities"))  # fresh planner statistics
    return results
