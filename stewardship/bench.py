"""``daofu bench upload``: read + validate a large, realistic upload and time it.

Generates a deterministic CSV of ``rows`` Jinan service sites (100,000 by default) the
way a maintainer's export looks: UTF-8 with BOM, Chinese headers, GCJ-02 coordinates
(AMap), points drawn inside Jinan's real district boundaries with real street and
community division codes from the regions table. About one row in nine is
deliberately wrong, one kind of mistake each (swapped coordinates, unreadable
coordinate, point outside the city, unknown region code, level not fitting the code,
Chinese-style opening hours, a duplicate of the previous row, a missing name, a region
outside the uploader's scope, a formula-like name, an unknown kind word).
Then times :func:`~stewardship.reading.read_upload`,
:func:`~stewardship.validation.load_context` and
:func:`~stewardship.validation.validate` separately. Target of issue 6: ≤ 30 s in all.
Nothing is written to the database.
"""

from __future__ import annotations

import csv
import io
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import shapely
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.scope import Scope
from geo.coords import CRS, from_wgs84
from geo.db import session_scope
from geo.models import Region, RegionLevel
from stewardship.reading import read_upload
from stewardship.report import Entity
from stewardship.validation import load_context, validate

JINAN = "370100000000"
QINGDAO_POINT = (120.3826, 36.0671)  # 青岛市政府, well outside Jinan
SEED = 20261123
TARGET_S = 30.0
HEADERS = ("名称", "层级", "类型", "区划代码", "地址", "联系电话", "办公时间", "经度", "纬度")
KINDS = (
    ("便民服务站", 0.70), ("自助终端", 0.12), ("政银合作网点", 0.08), ("政邮合作网点", 0.05),
    ("24小时自助服务区", 0.05),
)  # fmt: skip
HOURS = (
    "Mo-Fr 09:00-17:00; PH off",
    "Mo-Fr 08:30-12:00,13:30-17:30; PH off",
    "Mo-Fr 09:00-17:00; Sa 09:00-12:00; PH off",
    "24/7",
)
MISTAKES = (
    "swapped", "bad_coordinate", "outside_city", "unknown_region", "level_mismatch",
    "chinese_hours", "duplicate", "missing_name", "outside_scope", "formula", "bad_kind",
)  # fmt: skip
MISTAKE_EVERY = 100
"""Row i carries mistake ``MISTAKES[i % MISTAKE_EVERY]`` when that index exists."""


@dataclass(frozen=True)
class District:
    code: str
    name: str
    boundary: BaseGeometry
    streets: list[tuple[str, str]]
    communities: list[tuple[str, str]]


@dataclass(frozen=True)
class UploadBenchReport:
    rows: int
    size_bytes: int
    read_s: float
    context_s: float
    validate_s: float
    rows_good: int
    rows_bad: int
    problems: dict[str, int]

    @property
    def total_s(self) -> float:
        return self.read_s + self.context_s + self.validate_s

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.total_s if self.total_s else 0.0

    @property
    def meets_target(self) -> bool:
        return self.total_s <= TARGET_S


def jinan_districts(session: Session) -> list[District]:
    """Jinan's districts that have a boundary, with their streets and communities."""
    rows = session.execute(
        select(Region.code, Region.name, func.ST_AsBinary(Region.boundary))
        .where(
            Region.level == RegionLevel.district,
            Region.code.startswith(JINAN[:4]),
            Region.boundary.is_not(None),
        )
        .order_by(Region.code)
    ).all()
    below: dict[str, dict[RegionLevel, list[tuple[str, str]]]] = {}
    for code, name, level in session.execute(
        select(Region.code, Region.name, Region.level)
        .where(
            Region.code.startswith(JINAN[:4]),
            Region.level.in_((RegionLevel.street, RegionLevel.community)),
        )
        .order_by(Region.code)
    ):
        below.setdefault(code[:6], {}).setdefault(level, []).append((code, name))
    districts = []
    for code, name, wkb in rows:
        parts = below.get(code[:6], {})
        streets, communities = parts.get(RegionLevel.street), parts.get(RegionLevel.community)
        if streets and communities:
            boundary = shapely.from_wkb(bytes(wkb))
            districts.append(District(code, name, boundary, streets, communities))
    return districts


def _points_inside(area: BaseGeometry, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform points inside ``area`` (rejection sampling in its bounding box)."""
    shapely.prepare(area)
    west, south, east, north = area.bounds
    found: list[np.ndarray] = []
    have = 0
    while have < count:
        xy = rng.uniform((west, south), (east, north), size=(max(count, 256) * 2, 2))
        xy = xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]
        found.append(xy)
        have += len(xy)
    return np.concatenate(found)[:count]


def generate_upload_csv(session: Session, rows: int = 100_000, seed: int = SEED) -> bytes:
    """A deterministic, realistic upload of ``rows`` Jinan sites (see the module doc)."""
    districts = jinan_districts(session)
    rng, prng = np.random.default_rng(seed), random.Random(seed)  # noqa: S311 - sample data
    per_district = rng.multinomial(rows, [1 / len(districts)] * len(districts))
    records: list[list[str]] = []
    for district, count in zip(districts, per_district.tolist(), strict=True):
        xy = _points_inside(district.boundary, count, rng)
        lon, lat = from_wgs84(xy[:, 0], xy[:, 1], CRS.gcj02)
        for i in range(count):
            records.append(_record(district, float(lon[i]), float(lat[i]), len(records), prng))
    for index, record in enumerate(records):
        if index % MISTAKE_EVERY < len(MISTAKES):
            _spoil(record, MISTAKES[index % MISTAKE_EVERY], records[index - 1], prng)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(records)
    return out.getvalue().encode("utf-8-sig")


def _record(district: District, lon: float, lat: float, n: int, rng: random.Random) -> list[str]:
    if rng.random() < 0.25:
        code, name = rng.choice(district.streets)
        level, kind = "街道级", "便民服务中心"
    else:
        code, name = rng.choice(district.communities)
        level = "社区级"
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    short = name.removesuffix("居民委员会").removesuffix("村民委员会")
    return [
        f"{district.name}{short}{kind}{n:06d}",
        level,
        kind,
        code,
        f"济南市{district.name}{short}{rng.randint(1, 300)}号",
        f"0531-{rng.randint(80000000, 89999999)}",
        rng.choice(HOURS),
        f"{lon:.6f}",
        f"{lat:.6f}",
    ]


def _spoil(record: list[str], mistake: str, previous: list[str], rng: random.Random) -> None:
    name, level, kind, code, _, _, hours, lon, lat = range(len(HEADERS))
    if mistake == "swapped":
        record[lon], record[lat] = record[lat], record[lon]
    elif mistake == "bad_coordinate":
        record[lon] = "117.0.1"
    elif mistake == "outside_city":
        record[lon], record[lat] = (f"{v:.6f}" for v in QINGDAO_POINT)
    elif mistake == "unknown_region":
        record[code] = record[code][:9] + "999"
    elif mistake == "level_mismatch":
        record[level] = "市级"
    elif mistake == "chinese_hours":
        record[hours] = "周一至周五 9:00-17:00"
    elif mistake == "duplicate":
        record[name], record[lon], record[lat] = previous[name], previous[lon], previous[lat]
    elif mistake == "missing_name":
        record[name] = ""
    elif mistake == "outside_scope":
        record[code] = "370202001000"  # a street of 青岛市市南区: outside a Jinan scope
        record[level] = "街道级"
    elif mistake == "formula":
        record[name] = "=" + record[name]
    elif mistake == "bad_kind":
        record[kind] = rng.choice(("政务超市", "便民点"))


def bench_upload(
    session: Session,
    rows: int = 100_000,
    seed: int = SEED,
    progress: Callable[[int], None] | None = None,
) -> UploadBenchReport:
    """Generate the upload, then time reading, loading the context and validating it."""
    data = generate_upload_csv(session, rows, seed)
    started = time.perf_counter()
    table = read_upload("bench_upload.csv", data, max_rows=max(rows, 1))
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    context = load_context(session, Entity.sites, CRS.gcj02, Scope.of(JINAN), JINAN)
    context_s = time.perf_counter() - started
    started = time.perf_counter()
    report = validate(table, context, progress)
    validate_s = time.perf_counter() - started
    return UploadBenchReport(
        rows=report.rows_total,
        size_bytes=len(data),
        read_s=read_s,
        context_s=context_s,
        validate_s=validate_s,
        rows_good=len(report.good),
        rows_bad=len(report.bad_rows),
        problems=dict(Counter(p.code for p in report.problems).most_common()),
    )


def render_report(report: UploadBenchReport, console: Console) -> None:
    table = Table(title="upload read + validate 上传读取与校验")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("rows", f"{report.rows:,} ({report.size_bytes / 1e6:.1f} MB CSV)")
    table.add_row("read_upload", f"{report.read_s:.2f} s")
    table.add_row("load_context", f"{report.context_s:.2f} s")
    table.add_row("validate", f"{report.validate_s:.2f} s")
    table.add_row("total", f"{report.total_s:.2f} s (target ≤ {TARGET_S:.0f} s)")
    table.add_row("throughput", f"{report.rows_per_s:,.0f} rows/s")
    table.add_row("rows good / bad", f"{report.rows_good:,} / {report.rows_bad:,}")
    for code, count in report.problems.items():
        table.add_row(f"  {code}", f"{count:,}")
    console.print(table)


def bench_upload_command(
    rows: Annotated[int, typer.Option(help="rows in the generated upload")] = 100_000,
    seed: Annotated[int, typer.Option(help="seed of the generated rows")] = SEED,
) -> None:
    """Time reading and validating a generated upload of Jinan sites (nothing is written)."""
    console = Console()
    with session_scope() as session:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("validating 校验中", total=rows)
            report = bench_upload(
                session, rows, seed, lambda done: bar.update(task, completed=done)
            )
        session.rollback()
    render_report(report, console)
    if not report.meets_target:
        raise typer.Exit(code=1)
