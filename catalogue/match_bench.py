"""``daofu bench match``: /api/match over HTTP, 20 concurrent clients, 20,000 sites.

Builds a scratch database on the configured server (the demo database is left
alone), loads the real data and the real Nanjing network, adds generated demo
sites beside its roads up to ``sites``, links them to items by the usual rules,
serves the app with uvicorn and measures the latency that concurrent clients
see. In the same run it times, in process, the matching search against the
baseline of one route per candidate site, and prints the ratio.

The load generator is ``wrk`` (C; a Lua script cycles through the pre-generated
request paths), so the clients take almost none of the cores the server runs on.
Each client is a keep-alive connection that sends its next request when the answer
arrives. The app is served twice: by ``workers`` uvicorn processes with ``workers``
wrk threads, each pinned to one process (what a load balancer in front of them does),
and by one ``uvicorn --workers`` (one shared socket: the kernel hands each connection
to whichever worker accepts first, so the split of the clients is left to chance and
is printed). Without ``wrk`` the bench falls back to a Python client (httpx), which
takes a good share of the same cores, and says so.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
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
from geo.cluster import create_database, scratch_database
from geo.db import database_url, vacuum_analyze
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
WARM_UP_REQUESTS = 1_500
"""Per serving setup, before the measured run: other seeded queries of the same kind, so
each worker has loaded the network, the sites and links, and met every item and mode."""


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

    def path(self) -> str:
        return "/api/match?" + urlencode(self.params())


def prepare(console: Console, sites: int, reuse: bool = False) -> str:
    """A scratch database with the real data, the Nanjing network and ``sites`` Nanjing sites.

    ``reuse``: keep the scratch database of an earlier run if it has that many sites.
    """
    server = database_url()
    name = f"{make_url(server).database}_bench_match"
    if reuse:
        url = _existing(server, name, sites)
        if url is not None:
            console.print(f"reusing the scratch database {name}")
            return url
    url = scratch_database(server, name)
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
    vacuum_analyze(engine)
    engine.dispose()
    return url


def _existing(server: str, name: str, sites: int) -> str | None:
    base = make_url(server)
    create_database(base.set(database="postgres").render_as_string(hide_password=False), name)
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.scalar(
                text("SELECT count(*) FROM sites WHERE region_code LIKE '3201%'")
            )
            links = connection.scalar(text("SELECT count(*) FROM site_items"))
    except Exception:  # empty or half-built: build it again
        return None
    finally:
        engine.dispose()
    return url if (count or 0) >= sites and links else None


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


def _server_parts() -> str:
    """What uvicorn picks by itself (``--http auto``, ``--loop auto``) when installed."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http}, {loop}"


def serve(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """The app under uvicorn with ``workers`` processes (more than one share one socket)."""
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
    try:
        _wait_until_up(base)
    except RuntimeError:
        server.terminate()
        raise
    return server, base


def _wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/regions/{NANJING}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the app did not start within 90 s")


def _stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(timeout=30)


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers_of(server: subprocess.Popen[bytes]) -> list[int]:
    """The pids serving: the process itself, and its children (uvicorn's workers)."""
    try:
        command = ["pgrep", "-P", str(server.pid)]
        found = subprocess.run(  # noqa: S603 - a fixed command with our own pid
            command, capture_output=True, text=True, check=False
        ).stdout.split()
    except OSError:
        found = []
    return [server.pid, *(int(p) for p in found)]


WRK_SCRIPT = r"""
-- daofu bench match: each wrk thread cycles through the request paths (one per line of
-- DAOFU_WRK_PATHS), thread k taking paths k, k+n, k+2n, ... and stopping after its share
-- of DAOFU_WRK_QUOTA answers; with DAOFU_WRK_PORTS thread k talks to port k (mod their count).
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  local ports = os.getenv("DAOFU_WRK_PORTS")
  if ports and ports ~= "" then
    local list = {}
    for p in string.gmatch(ports, "[^,]+") do list[#list + 1] = p end
    thread.addr = wrk.lookup("127.0.0.1", list[((counter - 1) % #list) + 1])[1]
  end
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("DAOFU_WRK_PATHS")) do paths[#paths + 1] = line end
  step = tonumber(os.getenv("DAOFU_WRK_THREADS"))
  share = math.ceil(tonumber(os.getenv("DAOFU_WRK_QUOTA")) / step)
  next_path = id
  seen = 0
end

function request()
  local path = paths[((next_path - 1) % #paths) + 1]
  next_path = next_path + step
  return wrk.format("GET", path)
end

function response(status, headers, body)
  seen = seen + 1
  if seen == share then
    io.write("thread done\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class LoadResult:
    latencies_ms: tuple[float, float, float]
    requests: int
    seconds: float
    errors: int
    server_cpu_ms: float | None = None
    """Server CPU per request (all its processes), where ``/proc`` tells."""
    split: str = ""


def _wrk(
    base: str, paths: Path, quota: int, clients: int, threads: int, ports: list[int] | None
) -> LoadResult:
    """``quota`` requests from ``clients`` keep-alive connections over ``threads`` threads."""
    script = paths.parent / "match.lua"
    script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "DAOFU_WRK_PATHS": str(paths),
        "DAOFU_WRK_QUOTA": str(quota),
        "DAOFU_WRK_THREADS": str(threads),
        "DAOFU_WRK_PORTS": ",".join(map(str, ports or [])),
    }
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", "600s", "--timeout", "30s",
               "-s", str(script), base]  # fmt: skip
    wrk = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    lines = []
    stopped = 0
    # at 10 requests a second it is hopeless anyway: stop it then (it prints what it has)
    watchdog = threading.Timer(max(60.0, quota / 10), wrk.send_signal, (signal.SIGINT,))
    watchdog.start()
    assert wrk.stdout is not None
    for line in wrk.stdout:  # wrk runs for its -d; once every thread has its share, stop it
        lines.append(line)
        stopped += line.startswith("thread done")
        if stopped == threads and wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)
    wrk.wait()
    watchdog.cancel()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    if not found:
        raise RuntimeError(f"wrk gave no summary: {''.join(lines)[-500:]}")
    summary = found[-1]
    return LoadResult(
        (summary["p50_us"] / 1000, summary["p95_us"] / 1000, summary["p99_us"] / 1000),
        summary["requests"],
        summary["duration_us"] / 1e6,
        summary["errors"],
    )


def _connections(ports: list[int], pids: list[int]) -> str:
    """How the established client connections are spread over the serving processes."""
    spread: Counter[int] = Counter()
    for port in ports:
        with suppress(OSError):
            listing = subprocess.run(  # noqa: S603
                ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],  # noqa: S607
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            spread.update(int(p) for p in re.findall(r"pid=(\d+)", listing))
    counts = [spread[p] for p in pids if spread[p]]
    return "/".join(map(str, sorted(counts, reverse=True)))


def _measured(
    servers: list[subprocess.Popen[bytes]],
    ports: list[int],
    run: Callable[[], LoadResult],
) -> LoadResult:
    """``run`` with the servers' CPU time and, midway, the spread of the connections."""
    pids = [pid for server in servers for pid in _workers_of(server)]
    cpu = sum(_process_cpu_s(pid) for pid in pids)
    spread: list[str] = []
    peek = threading.Timer(1.0, lambda: spread.append(_connections(ports, pids)))
    peek.start()
    result = run()
    peek.cancel()
    used = sum(_process_cpu_s(pid) for pid in pids) - cpu
    result.server_cpu_ms = 1000 * used / max(1, result.requests) if used > 0 else None
    result.split = spread[0] if spread else ""
    return result


def load_with_wrk(
    url: str, batch: list[Query], warm: list[Query], clients: int, workers: int, pinned: bool
) -> LoadResult:
    """Serve the app (``workers`` processes) and measure it with ``clients`` wrk connections.

    ``pinned``: one uvicorn process per worker, wrk thread k talking to process k only;
    otherwise ``uvicorn --workers`` on one shared socket.
    """
    threads = workers if pinned else min(2, clients)
    clients -= clients % threads  # wrk gives each thread clients // threads connections
    servers: list[subprocess.Popen[bytes]] = []
    try:
        bases = []
        for _ in range(workers if pinned else 1):
            server, base = serve(url, 1 if pinned else workers)
            servers.append(server)
            bases.append(base)
        ports = [int(b.rsplit(":", 1)[1]) for b in bases]
        with tempfile.TemporaryDirectory(prefix="daofu-wrk-") as scratch:
            paths, warm_paths = Path(scratch) / "paths.txt", Path(scratch) / "warm.txt"
            paths.write_text("".join(q.path() + "\n" for q in batch))
            warm_paths.write_text("".join(q.path() + "\n" for q in warm))
            pin = ports if pinned else None
            _wrk(base, warm_paths, len(warm), clients, threads, pin)
            return _measured(
                servers, ports, lambda: _wrk(base, paths, len(batch), clients, threads, pin)
            )
    finally:
        _stop(servers)


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


def in_process(url: str, batch: list[Query], warm: list[Query]) -> tuple[list[float], list[float]]:
    """Matching (one bounded one-to-many search) against one CH route per candidate site.

    ``warm``: matched first, untimed, as the servers are warmed up (the network, sites and
    links loaded, each item's targets met).
    """
    engine = create_engine(url)
    holder = EngineHolder(check_interval_s=3600)
    ours: list[float] = []
    baseline: list[float] = []
    with Session(engine) as session:
        calendar = load_calendar(session)
        for query in warm:
            match_item(session, holder, calendar, *_asked(session, query))
        for query in batch:
            item, request = _asked(session, query)
            start = time.perf_counter()
            match_item(session, holder, calendar, item, request)
            ours.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            _route_each(session, holder, item, request)
            baseline.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return ours, baseline


def _asked(session: Session, query: Query) -> tuple[Item, MatchRequest]:
    item = session.get(Item, query.item)
    assert item is not None
    return item, MatchRequest(query.origin, query.at, query.mode)


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


def load_with_httpx(
    url: str, batch: list[Query], warm: list[Query], clients: int, workers: int
) -> LoadResult:
    """The fallback without wrk: ``clients`` httpx tasks in this process (on the same cores)."""
    server, base = serve(url, workers)
    try:
        asyncio.run(_load(base, warm, clients))  # warm up every worker
        start = time.perf_counter()
        latencies, errors = asyncio.run(_load(base, batch, clients))
        elapsed = time.perf_counter() - start
    finally:
        _stop([server])
    return LoadResult(_percentiles(latencies), len(latencies), elapsed, errors)


def run(
    console: Console, sites: int, requests: int, clients: int, workers: int, reuse: bool = False
) -> str:
    url = prepare(console, sites, reuse)
    engine = create_engine(url)
    with Session(engine) as session:
        batch = queries(session, requests)
        warm = queries(session, WARM_UP_REQUESTS, seed=8)
        counts = session.execute(
            text("SELECT (SELECT count(*) FROM sites), (SELECT count(*) FROM site_items)")
        ).one()
    engine.dispose()
    rows: list[tuple[str, LoadResult]] = []
    if shutil.which("wrk"):
        for pinned in (True, False):
            with console.status(
                f"{len(batch):,} requests over HTTP ({'pinned' if pinned else 'shared socket'}) …"
            ):
                result = load_with_wrk(url, batch, warm, clients, workers, pinned)
            setup = (
                f"{workers} uvicorn processes, {clients // workers} clients each"
                if pinned
                else f"uvicorn --workers {workers}, clients split {result.split or '?'}"
            )
            rows.append((f"HTTP (wrk), {clients} clients: {setup}", result))
    else:
        console.print(
            "[yellow]wrk not found (scripts/ensure-system-packages.sh installs it): the load "
            "comes from httpx in this process, which takes a good share of the same cores, "
            "so these latencies are not comparable with wrk's.[/yellow]"
        )
        result = load_with_httpx(url, batch, warm, clients, workers)
        rows.append((f"HTTP (httpx), {clients} clients, uvicorn --workers {workers}", result))
    ours, baseline = in_process(url, batch[:BASELINE_QUERIES], warm)
    table = Table(
        title=f"/api/match — {counts[0]:,} sites, {counts[1]:,} site↔item links, Nanjing roads; "
        f"uvicorn with {_server_parts()}"
    )
    for column in ("measure", "p50 ms", "p95 ms", "p99 ms", "note"):
        table.add_column(column)
    for measure, result in rows:
        note = (
            f"{result.requests:,} requests, {result.requests / result.seconds:.0f} req/s, "
            f"{result.errors} errors"
        )
        if result.server_cpu_ms is not None:
            note += f", server CPU {result.server_cpu_ms:.2f} ms/request"
        table.add_row(measure, *(f"{v:.1f}" for v in result.latencies_ms), note)
    own, base_p = _percentiles(ours), _percentiles(baseline)
    table.add_row("in process: matching (one-to-many search)", *(f"{v:.1f}" for v in own), "")
    table.add_row(
        "in process: baseline, one CH route per site",
        *(f"{v:.1f}" for v in base_p),
        f"baseline ÷ matching: ×{base_p[0] / own[0]:.1f} at p50, ×{base_p[1] / own[1]:.0f} at p95",
    )
    console.print(table)
    headline = rows[0][1]
    target = "met" if headline.latencies_ms[1] <= 50 and not headline.errors else "NOT met"
    console.print(
        f"target p95 ≤ 50 ms over HTTP ({rows[0][0]}): {target} "
        f"({headline.latencies_ms[1]:.1f} ms, {headline.errors} errors)"
    )
    return target


def bench_match_command(
    sites: int = typer.Option(20_000, help="sites in central Nanjing (generated demo sites)"),
    requests: int = typer.Option(2_000, help="requests over HTTP"),
    clients: int = typer.Option(20, help="concurrent clients"),
    workers: int = typer.Option(2, help="uvicorn worker processes"),
    reuse_database: bool = typer.Option(
        False, help="keep the scratch database of an earlier run if it has the sites"
    ),
) -> None:
    """/api/match latency over HTTP under concurrent clients, and matching vs per-site routes."""
    console = Console()
    if run(console, sites, requests, clients, workers, reuse_database) != "met":
        raise typer.Exit(1)
