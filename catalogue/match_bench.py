"""``daofu bench match``: /api/match over HTTP, 20 concurrent clients, 20,000 sites.

Builds a scratch database on the configured server (the demo database is left
alone), loads the real data and the real Nanjing network, adds generated demo
sites beside its roads up to ``sites``, links them to items by the usual rules,
serves the app with uvicorn and measures the latency that concurrent clients
see. In the same run it times, in process, the matching search against the
baseline of one route per candidate site, and prints the ratio.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from catalogue import loading as catalogue_loading
from catalogue.calendar import load_calendar
from catalogue.matching import MatchRequest, match_item
from catalogue.models import Item, SiteItem
from geo import demo
from geo import loading as store_loading
from geo.cluster import scratch_database
from geo.db import database_url
from geo.migrate import upgrade_to_head
from geo.models import Site
from geo.settings import get_settings
from routing.errors import Unreachable
from routing.holder import EngineHolder
from routing.profiles import Mode
from routing.service import import_network

CHINA = ZoneInfo("Asia/Shanghai")
NANJING = "320100"
ROADS = "roads/nanjing_xinjiekou_highways.osm.pbf"
ROADS_XML = "roads/nanjing_xinjiekou_highways.osm"
BASELINE_QUERIES = 30  # one route per site costs seconds a query at 20,000 sites


@dataclass(frozen=True)
class Query:
    item: str
    origin: tuple[float, float]
    at: datetime
    mode: Mode

    def params(self) -> dict[str, str]:
        return {
            "item": self.item,
            "from": f"{self.origin[0]:.6f},{self.origin[1]:.6f}",
            "at": self.at.isoformat(),
            "mode": self.mode.value,
        }


def prepare(console: Console, sites: int) -> str:
    """A scratch database with the real data, the Nanjing network and ``sites`` Nanjing sites."""
    server = database_url()
    url = scratch_database(server, f"{make_url(server).database}_bench_match")
    upgrade_to_head(url)
    data_dir = get_settings().data_dir
    engine = create_engine(url)
    datasets = (*store_loading.DATASETS, *catalogue_loading.DATASETS)
    with Session(engine) as session:
        with console.status("loading the real data …"):
            store_loading.load_all(session, data_dir, lambda *_: None, datasets=datasets)
            import_network(session, data_dir / ROADS, NANJING)
        have = session.scalar(select(func.count()).where(Site.region_code.startswith("3201"))) or 0
        with console.status(f"generating {sites - have:,} demo sites and their item links …"):
            rows = demo.bulk_sites(session, data_dir / ROADS_XML, max(0, sites - have))
            for start in range(0, len(rows), 2000):
                session.execute(insert(Site), rows[start : start + 2000])
            catalogue_loading.load_site_items(session, data_dir, lambda *_: None)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return url


def queries(session: Session, count: int, seed: int = 7) -> list[Query]:
    """Seeded citizen queries: a popular item, a start beside a road, a weekday time."""
    rng = random.Random(seed)  # noqa: S311 - seeded, repeatable queries
    popular = list(
        session.scalars(
            select(Item.code)
            .where(Item.popularity_rank <= 150, Item.code.in_(select(SiteItem.item_code)))
            .order_by(Item.popularity_rank)
        )
    )
    points = [p for _, p in demo.road_points(get_settings().data_dir / ROADS_XML)]
    monday = datetime(2026, 11, 23, tzinfo=CHINA)
    out = []
    for _ in range(count):
        point = rng.choice(points)
        at = monday + timedelta(days=rng.randrange(7), minutes=rng.randrange(7 * 60, 19 * 60))
        mode = rng.choice((Mode.walk, Mode.drive))
        jitter = (rng.uniform(-2e-4, 2e-4), rng.uniform(-2e-4, 2e-4))
        origin = (point.x + jitter[0], point.y + jitter[1])
        out.append(Query(rng.choice(popular), origin, at, mode))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "DAOFU_DATABASE_URL": url}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "web.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and app
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/regions/{NANJING}", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError("the app did not start within 90 s")


async def _load(base: str, batch: list[Query], clients: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    pending = iter(batch)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for query in pending:
            start = time.perf_counter()
            response = await http.get("/api/match", params=query.params())
            latencies.append((time.perf_counter() - start) * 1000)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies, errors


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered), pick(0.95), pick(0.99)


def in_process(url: str, batch: list[Query]) -> tuple[list[float], list[float]]:
    """Matching (one bounded one-to-many search) against one CH route per candidate site."""
    engine = create_engine(url)
    holder = EngineHolder(check_interval_s=3600)
    ours: list[float] = []
    baseline: list[float] = []
    with Session(engine) as session:
        calendar = load_calendar(session)
        for query in batch:
            item = session.get(Item, query.item)
            assert item is not None
            request = MatchRequest(query.origin, query.at, query.mode)
            start = time.perf_counter()
            match_item(session, holder, calendar, item, request)
            ours.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            _route_each(session, holder, item, request)
            baseline.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return ours, baseline


def _route_each(session: Session, holder: EngineHolder, item: Item, request: MatchRequest) -> None:
    """The baseline: snap every handling site and route to it on its own (CH queries)."""
    road = holder.engine_at(session, *request.origin)
    origin = road.snap(*request.origin, request.mode)
    ids = select(SiteItem.site_id).where(SiteItem.item_code == item.code)
    points = session.execute(
        select(func.ST_X(Site.geom), func.ST_Y(Site.geom)).where(Site.id.in_(ids))
    )
    coords = np.array(points.all(), dtype=np.float64)
    if not len(coords):
        return
    snaps = road.snap_points(coords[:, 0], coords[:, 1], request.mode)
    for target in (snaps[i] for i in range(len(snaps))):
        if target is not None:
            with suppress(Unreachable):
                road.route(origin, target, request.mode)


def run(console: Console, sites: int, requests: int, clients: int, workers: int) -> str:
    url = prepare(console, sites)
    engine = create_engine(url)
    with Session(engine) as session:
        batch = queries(session, requests)
        counts = session.execute(
            text("SELECT (SELECT count(*) FROM sites), (SELECT count(*) FROM site_items)")
        ).one()
    engine.dispose()
    server, base = serve(url, workers)
    try:
        asyncio.run(_load(base, batch[: clients * 4], clients))  # warm up every worker
        start = time.perf_counter()
        latencies, errors = asyncio.run(_load(base, batch, clients))
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    console.print(f"HTTP done: {len(latencies):,} requests in {elapsed:.1f} s")
    ours, baseline = in_process(url, batch[:BASELINE_QUERIES])
    http = _percentiles(latencies)
    table = Table(
        title=f"/api/match — {counts[0]:,} sites, {counts[1]:,} site↔item links, Nanjing roads"
    )
    for column in ("measure", "p50 ms", "p95 ms", "p99 ms", "note"):
        table.add_column(column)
    load = f"{len(latencies):,} requests, {len(latencies) / elapsed:.0f} req/s, {errors} errors"
    over_http = f"HTTP, {clients} concurrent clients, {workers} workers"
    table.add_row(over_http, *(f"{v:.1f}" for v in http), load)
    own, base_p = _percentiles(ours), _percentiles(baseline)
    table.add_row("in process: matching (one-to-many search)", *(f"{v:.1f}" for v in own), "")
    table.add_row(
        "in process: baseline, one CH route per site",
        *(f"{v:.1f}" for v in base_p),
        f"baseline ÷ matching at p50: ×{base_p[0] / own[0]:.1f}",
    )
    console.print(table)
    target = "met" if http[1] <= 50 else "NOT met"
    console.print(f"target p95 ≤ 50 ms over HTTP: {target} ({http[1]:.1f} ms)")
    return target


def bench_match_command(
    sites: int = typer.Option(20_000, help="sites in central Nanjing (generated demo sites)"),
    requests: int = typer.Option(2_000, help="requests over HTTP"),
    clients: int = typer.Option(20, help="concurrent clients"),
    workers: int = typer.Option(2, help="uvicorn worker processes"),
) -> None:
    """/api/match latency over HTTP under concurrent clients, and matching vs per-site routes."""
    console = Console()
    if run(console, sites, requests, clients, workers) != "met":
        raise typer.Exit(1)
