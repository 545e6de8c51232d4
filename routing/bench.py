"""``daofu bench routing``: the engine against networkx and pgRouting on the same queries.

Two graphs: the real Nanjing extract, and a ~1M-node graph made by tiling it
(copies side by side, neighbours joined by two-way links between their
border nodes; deterministic). Both are written to a database of their own
(``daofu_bench``) so loading and pgRouting are measured on PostGIS too.
Queries use the drive profile; points are seeded random positions snapped to
the network; sites are 500 seeded random positions.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alembic.command
import alembic.config
import networkx as nx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from geo.cluster import create_database, load_config
from geo.db import vacuum_analyze
from geo.settings import PROJECT_ROOT, get_settings
from routing import kernels
from routing.engine import Engine, Snap, Snaps
from routing.errors import Unreachable
from routing.network import INF_MS
from routing.osm import RoadGraph, read_osm
from routing.profiles import Mode, WayAccess, way_access
from routing.service import store_graph
from routing.store import read_network

NANJING = PROJECT_ROOT / "data" / "roads" / "nanjing_xinjiekou_highways.osm.pbf"
BENCH_DB = "daofu_bench"
MODE = Mode.drive
LINKS_PER_SIDE = 8


def rss_mb() -> float:
    """Resident memory, after returning freed heap to the system (so growth is what is kept)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tile(graph: RoadGraph, target_nodes: int) -> RoadGraph:
    """Copies of ``graph`` on a grid, each joined to its east and north neighbour."""
    side = max(1, int(np.ceil(np.sqrt(target_nodes / graph.node_count))))
    west, east = graph.node_lon.min(), graph.node_lon.max()
    south, north = graph.node_lat.min(), graph.node_lat.max()
    dx, dy = (east - west) * 1.02, (north - south) * 1.02
    n, v = graph.node_count, len(graph.coords)
    tiles = side * side
    ti = np.arange(tiles)
    ox, oy = (ti % side) * dx, (ti // side) * dy
    lon = (graph.node_lon[None, :] + ox[:, None]).ravel()
    lat = (graph.node_lat[None, :] + oy[:, None]).ravel()
    coords = np.tile(graph.coords, (tiles, 1))
    coords[:, 0] += np.repeat(ox, v)
    coords[:, 1] += np.repeat(oy, v)
    u = (graph.piece_u[None, :] + (ti * n)[:, None]).ravel()
    w = (graph.piece_v[None, :] + (ti * n)[:, None]).ravel()
    offsets = (graph.piece_offsets[None, :-1] + (ti * v)[:, None]).ravel()
    # border nodes that cars can use, by position
    drive_nodes = np.unique(
        np.concatenate(
            [
                graph.piece_u[[a.drive_forward for a in graph.piece_access]],
                graph.piece_v[[a.drive_forward for a in graph.piece_access]],
            ]
        )
    )
    east_nodes = drive_nodes[np.argsort(-graph.node_lon[drive_nodes])[:LINKS_PER_SIDE]]
    west_nodes = drive_nodes[np.argsort(graph.node_lon[drive_nodes])[:LINKS_PER_SIDE]]
    north_nodes = drive_nodes[np.argsort(-graph.node_lat[drive_nodes])[:LINKS_PER_SIDE]]
    south_nodes = drive_nodes[np.argsort(graph.node_lat[drive_nodes])[:LINKS_PER_SIDE]]
    east_nodes = east_nodes[np.argsort(graph.node_lat[east_nodes])]
    west_nodes = west_nodes[np.argsort(graph.node_lat[west_nodes])]
    north_nodes = north_nodes[np.argsort(graph.node_lon[north_nodes])]
    south_nodes = south_nodes[np.argsort(graph.node_lon[south_nodes])]
    link_u, link_v = [], []
    for t in range(tiles):
        col, row = t % side, t // side
        if col + 1 < side:
            link_u += (east_nodes + t * n).tolist()
            link_v += (west_nodes + (t + 1) * n).tolist()
        if row + 1 < side:
            link_u += (north_nodes + t * n).tolist()
            link_v += (south_nodes + (t + side) * n).tolist()
    lu, lv = np.asarray(link_u), np.asarray(link_v)
    link_coords = np.empty((2 * len(lu), 2))
    link_coords[0::2] = np.column_stack([lon[lu], lat[lu]])
    link_coords[1::2] = np.column_stack([lon[lv], lat[lv]])
    all_coords = np.vstack([coords, link_coords])
    all_offsets = np.concatenate([offsets, tiles * v + 2 * np.arange(len(lu) + 1)])
    seg_len = _lengths(all_coords, all_offsets)
    link_access = way_access({"highway": "tertiary", "name": "连接线"})
    assert isinstance(link_access, WayAccess)
    return RoadGraph(
        node_osm_id=np.arange(tiles * n, dtype=np.int64),
        node_lon=lon,
        node_lat=lat,
        piece_u=np.concatenate([u, lu]).astype(np.int32),
        piece_v=np.concatenate([w, lv]).astype(np.int32),
        piece_way_id=np.concatenate(
            [np.tile(graph.piece_way_id, tiles), np.zeros(len(lu), np.int64)]
        ),
        piece_highway=graph.piece_highway * tiles + ["tertiary"] * len(lu),
        piece_name=graph.piece_name * tiles + ["连接线"] * len(lu),
        piece_access=graph.piece_access * tiles + [link_access] * len(lu),
        piece_length_m=seg_len,
        piece_offsets=all_offsets.astype(np.int64),
        coords=all_coords,
        ways_read=graph.ways_read * tiles,
    )


def _lengths(coords: np.ndarray[Any, Any], offsets: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    from routing.osm import haversine_m

    seg = haversine_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    return np.asarray(cumulative[offsets[1:] - 1] - cumulative[offsets[:-1]])


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def p50_p95(samples: list[float]) -> tuple[float, float]:
    if not samples:
        return float("nan"), float("nan")
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


@dataclass
class Row:
    graph: str
    what: str
    engine: tuple[float, float]
    networkx: tuple[float, float] | None
    pgrouting: tuple[float, float] | None


def _bench_db() -> str:
    config = load_config(get_settings())
    assert config is not None, "run `daofu db up` first"
    create_database(config.url("postgres"), BENCH_DB, drop_first=True)
    url = config.url(BENCH_DB)
    cfg = alembic.config.Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    alembic.command.upgrade(cfg, "head")
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
    return url


def _store(session: Session, graph: RoadGraph, city: str) -> int:
    version = store_graph(session, graph, city, "bench", "0" * 64, clipped=False)  # as imports do
    version.active = True
    session.commit()
    return version.id


def _points(engine: Engine, count: int, seed: int) -> list[Snap]:
    rng = np.random.default_rng(seed)
    west, south, east, north = engine.network.extent
    snaps: list[Snap] = []
    while len(snaps) < count:
        lon = rng.uniform(west, east, count)
        lat = rng.uniform(south, north, count)
        found = engine.snap_points(lon, lat, MODE)
        snaps += [s for i in np.flatnonzero(found.piece >= 0) if (s := found[int(i)]) is not None]
    return snaps[:count]


def bench_graph(
    console: Console, session: Session, label: str, version_id: int, queries: int, baselines: int
) -> tuple[list[Row], dict[str, float]]:
    facts: dict[str, float] = {}
    before = rss_mb()
    start = time.perf_counter()
    network = read_network(session, version_id, label)
    facts["load from PostGIS (s)"] = time.perf_counter() - start
    engine = Engine(network)
    facts["engine build (s)"] = engine.build_s
    facts["of which hierarchies (s; 0 when stored)"] = engine.hierarchy_s
    facts["hierarchies stored with the version (1 = yes)"] = float(engine.hierarchy_loaded)
    facts["load + build (s)"] = time.perf_counter() - start
    facts["engine memory, RSS growth (MB)"] = rss_mb() - before
    facts["engine arrays (MB)"] = engine.nbytes() / 2**20
    facts["of which network (MB)"] = engine.network.nbytes() / 2**20
    facts["of which snapping grid (MB)"] = engine.grid_nbytes() / 2**20
    for mode, h in engine.hierarchies.items():
        facts[f"of which {mode.value} hierarchy (MB)"] = h.nbytes() / 2**20
        facts[f"{mode.value} hierarchy arcs"] = h.arc_count
    facts["nodes"] = network.node_count
    facts["directed edges"] = network.arc_count
    console.print(
        f"[bold]{label}[/bold]: {network.node_count:,} nodes, "
        f"loaded and built in {facts['load + build (s)']:.1f} s"
    )
    pairs = list(zip(_points(engine, queries, 1), _points(engine, queries, 2), strict=True))
    sites = Snaps.of(list(_points(engine, 500, 3)))
    origins = _points(engine, queries, 4)
    limit = 15 * 60_000
    rows: list[Row] = []
    it = iter(pairs)

    def route() -> None:
        a, b = next(it)
        with contextlib.suppress(Unreachable):  # an unreachable pair is timed all the same
            engine.route(a, b, MODE)

    engine.route(*pairs[0], MODE)  # warm-up: numba and the search scratch
    p2p = timed(route, queries)
    node_pairs = [(int(network.piece_u[a.piece]), int(network.piece_v[b.piece])) for a, b in pairs]
    np_it = iter(node_pairs)
    node_p2p = timed(lambda: engine.node_to_node_ms(*next(np_it), MODE), queries)
    o_it = iter(origins)
    nearest = timed(lambda: engine.nearest(next(o_it), sites, MODE, 5, 3_600_000), queries)
    o_it = iter(origins)
    iso_nodes = timed(lambda: engine.bounded_search(next(o_it), MODE, limit), queries)
    o_it = iter(origins)

    def iso_polygon() -> None:
        reach, _ = engine.bounded_search(next(o_it), MODE, limit)
        engine.isochrone_polygons(reach, MODE, [limit])

    iso_poly = timed(iso_polygon, min(queries, 50))
    rng = np.random.default_rng(5)
    west, south, east, north = network.extent
    pts = list(
        zip(rng.uniform(west, east, queries), rng.uniform(south, north, queries), strict=True)
    )
    p_it = iter(pts)

    def snap() -> None:
        lon, lat = next(p_it)
        engine.snap_points(np.array([lon]), np.array([lat]), MODE)

    snaps = timed(snap, queries)
    # baselines on the same graph and queries
    ms = network.arc_ms(MODE)
    start, before = time.perf_counter(), rss_mb()
    graph = nx.DiGraph()
    ok = ms < INF_MS
    graph.add_weighted_edges_from(
        zip(
            network.arc_source[ok].tolist(),
            network.arc_target[ok].tolist(),
            ms[ok].tolist(),
            strict=True,
        ),
        weight="ms",
    )
    facts["networkx build (s)"] = time.perf_counter() - start
    facts["networkx memory, RSS growth (MB)"] = rss_mb() - before
    nb = node_pairs[:baselines]
    nb_it = iter(nb)

    def nx_p2p() -> None:
        s, t = next(nb_it)
        with contextlib.suppress(nx.NetworkXNoPath, nx.NodeNotFound):
            nx.dijkstra_path_length(graph, s, t, weight="ms")

    nx_route = timed(nx_p2p, len(nb))
    origin_nodes = [int(network.piece_v[o.piece]) for o in origins[:baselines]]
    site_nodes = set(network.piece_u[sites.piece].tolist())
    on_it = iter(origin_nodes)

    def nx_nearest() -> None:
        # the fair networkx way: one search that stops once 5 site nodes are settled
        found = 0
        for node, _ in _nx_settle(graph, next(on_it)):
            found += node in site_nodes
            if found >= 5:
                break

    nx_near = timed(nx_nearest, len(origin_nodes))
    on_it = iter(origin_nodes)
    nx_iso = timed(
        lambda: nx.single_source_dijkstra_path_length(
            graph, next(on_it), cutoff=limit, weight="ms"
        ),
        len(origin_nodes),
    )
    graph.clear()  # free its memory before pgRouting runs
    conn = session.connection()
    # only integers and the mode's fixed column names go into this SQL
    edges_sql = (
        f"SELECT id, source, target, {MODE.value}_ms::float8 AS cost FROM road_edges "  # noqa: S608
        f"WHERE version_id = {version_id} AND {MODE.value}"
    )
    pb_it = iter(nb)
    pg_route = timed(
        lambda: conn.execute(
            text("SELECT max(agg_cost) FROM pgr_dijkstra(:sql, :s, :t, true)"),
            dict(zip(("s", "t"), next(pb_it), strict=True), sql=edges_sql),
        ).scalar(),
        len(nb),
    )
    po_it = iter(origin_nodes)
    pg_iso = timed(
        lambda: conn.execute(
            text("SELECT count(*) FROM pgr_drivingDistance(:sql, :s, :limit, true)"),
            {"sql": edges_sql, "s": next(po_it), "limit": float(limit)},
        ).scalar(),
        len(origin_nodes),
    )
    rows += [
        Row(
            label,
            "route A→B (snap, CH, geometry, steps)",
            p50_p95(p2p),
            p50_p95(nx_route),
            p50_p95(pg_route),
        ),
        Row(label, "node→node time (CH)", p50_p95(node_p2p), p50_p95(nx_route), p50_p95(pg_route)),
        Row(label, "5 nearest of 500 sites", p50_p95(nearest), p50_p95(nx_near), None),
        Row(
            label,
            "15-min isochrone, node set",
            p50_p95(iso_nodes),
            p50_p95(nx_iso),
            p50_p95(pg_iso),
        ),
        Row(label, "15-min isochrone with polygon", p50_p95(iso_poly), None, None),
        Row(label, "snap a point", p50_p95(snaps), None, None),
    ]
    return rows, facts


def _nx_settle(graph: nx.DiGraph, source: int) -> Any:
    """Nodes in the order networkx's Dijkstra settles them (a generator that can stop early)."""
    import heapq

    dist = {source: 0}
    heap = [(0, source)]
    done = set()
    while heap:
        d, x = heapq.heappop(heap)
        if x in done:
            continue
        done.add(x)
        yield x, d
        for y, data in graph[x].items():
            nd = d + data["ms"]
            if nd < dist.get(y, kernels.UNSET):
                dist[y] = nd
                heapq.heappush(heap, (nd, y))


def _fmt(value: tuple[float, float] | None) -> str:
    return "–" if value is None else f"{value[0]:.3f} / {value[1]:.3f}"


def _ratio(engine: tuple[float, float], other: tuple[float, float] | None) -> str:
    return "–" if other is None or engine[0] <= 0 else f"×{other[0] / engine[0]:,.0f}"


def run(console: Console, target_nodes: int, queries: int, baseline_queries: int) -> str:
    url = _bench_db()
    nanjing = read_osm(NANJING)
    tiled = tile(nanjing, target_nodes)
    sql_engine = create_engine(url)
    rows: list[Row] = []
    facts: dict[str, dict[str, float]] = {}
    with Session(sql_engine) as session:
        start = time.perf_counter()
        nanjing_id = _store(session, nanjing, "320100000000")
        tiled_id = _store(session, tiled, "999999000000")
        console.print(f"written to {BENCH_DB} in {time.perf_counter() - start:.1f} s")
    # settled before timing pgRouting on the new rows (else autovacuum runs beside it)
    vacuum_analyze(sql_engine)
    with Session(sql_engine) as session:
        for label, vid in (
            ("Nanjing 新街口 (real)", nanjing_id),
            (f"tiled ×{tiled.node_count // nanjing.node_count}", tiled_id),
        ):
            r, f = bench_graph(console, session, label, vid, queries, baseline_queries)
            rows += r
            facts[label] = f
    sql_engine.dispose()
    table = Table(
        title=f"daofu bench routing (drive; ms p50 / p95; engine {queries} queries, "
        f"baselines {baseline_queries})"
    )
    for col in ("graph", "query", "engine", "networkx", "pgRouting", "nx ÷ engine", "pgr ÷ engine"):
        table.add_column(col)
    lines = [
        "| graph | query | engine p50 / p95 ms | networkx p50 / p95 ms | pgRouting p50 / p95 ms "
        "| networkx ÷ engine | pgRouting ÷ engine |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.graph,
            row.what,
            _fmt(row.engine),
            _fmt(row.networkx),
            _fmt(row.pgrouting),
            _ratio(row.engine, row.networkx),
            _ratio(row.engine, row.pgrouting),
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    facts_table = Table("graph", "fact", "value", title="build, load and memory")
    lines += ["", "| graph | fact | value |", "|---|---|---|"]
    for label, values in facts.items():
        for key, value in values.items():
            shown = f"{value:,.0f}" if key.endswith(("nodes", "edges", "arcs")) else f"{value:.2f}"
            facts_table.add_row(label, key, shown)
            lines.append(f"| {label} | {key} | {shown} |")
    console.print(facts_table)
    return "\n".join(lines) + "\n"
