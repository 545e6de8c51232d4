"""The routing engine: snapping, routes, nearest targets, matrices, isochrones on a loaded network.

Point-to-point routes and matrices use a contraction hierarchy per mode
(:mod:`routing.hierarchy`, built at import and stored with the version).
Searches that must stop early (the k nearest sites, isochrones) run a bounded
Dijkstra compiled with numba. Snapping projects a point onto the nearest
segment of a road the mode may use, found through a uniform grid.
Nothing here touches the database or networkx.

Travel times are integer milliseconds throughout; answers give seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from routing import hierarchy, kernels
from routing.errors import OutsideNetwork, Unreachable
from routing.hierarchy import Hierarchy, build_hierarchy
from routing.network import E7, INF_MS, RoadNetwork, from_e7
from routing.profiles import Mode
from routing.steps import Legs, Step, bearings_deg, build_steps, end_bearings

S = TypeVar("S")

EARTH_M_PER_DEG = 6_371_008.8 * math.pi / 180.0
SNAP_RADIUS_M = 500.0
GRID_CELL_M = 200.0
BIG_COMPONENT_NODES = 1000
"""Components at least this large (or half the largest) take snapped points."""
ISOCHRONE_CELL_M = {Mode.walk: 40.0, Mode.drive: 100.0}
MODE_BIT = {Mode.walk: 1, Mode.drive: 2}
"""Bits of ``Engine.piece_mask``: a point may snap to the piece in that mode."""


@dataclass(frozen=True)
class Snap:
    """A point projected onto a road piece: ``along_m`` from the piece's first vertex."""

    piece: int
    along_m: float
    lon: float
    lat: float
    distance_m: float


@dataclass
class Snaps:
    """Many snapped points as arrays (``piece`` -1 where a point found no road)."""

    piece: NDArray[np.int32]
    along_m: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.piece)

    def __getitem__(self, i: int) -> Snap | None:
        if self.piece[i] < 0:
            return None
        return Snap(
            int(self.piece[i]),
            float(self.along_m[i]),
            float(self.lon[i]),
            float(self.lat[i]),
            float(self.distance_m[i]),
        )

    def take(self, positions: NDArray[np.int64]) -> Snaps:
        """The snaps at ``positions``, as a new :class:`Snaps`."""
        return Snaps(self.piece[positions], self.along_m[positions], self.distance_m[positions],
                     self.lon[positions], self.lat[positions])  # fmt: skip

    @classmethod
    def of(cls, snaps: list[Snap | None]) -> Snaps:
        """From single snaps (None: a point that found no road)."""
        missing = Snap(-1, 0.0, 0.0, 0.0, float("inf"))
        full = [missing if s is None else s for s in snaps]
        return cls(
            np.array([s.piece for s in full], dtype=np.int32),
            np.array([s.along_m for s in full], dtype=np.float64),
            np.array([s.distance_m for s in full], dtype=np.float64),
            np.array([s.lon for s in full], dtype=np.float64),
            np.array([s.lat for s in full], dtype=np.float64),
        )


@dataclass
class Route:
    duration_s: float
    distance_m: float
    coords: NDArray[np.float64]
    steps: list[Step]
    origin: Snap
    destination: Snap


@dataclass
class Reach:
    """Nodes settled by a bounded search, with their times (ms), and the search's snap."""

    nodes: NDArray[np.int32]
    times_ms: NDArray[np.int64]
    origin: Snap


@dataclass
class _Scratch:
    """Per-search working memory, borrowed from the engine's pool (one per concurrent search)."""

    dist: NDArray[np.int64]
    node_entry: NDArray[np.int32]
    touched: NDArray[np.int32]


class Engine:
    """Answers routing questions on one :class:`RoadNetwork`; safe to share between threads.

    Memory: the network's compact arrays, one snapping grid shared by both modes
    (pieces, not segments, per 200 m cell; a bit mask says which mode may snap to
    a piece) and one contraction hierarchy per mode. Search scratch lives in pools
    that hold one set per *concurrent* search, not per thread.
    """

    def __init__(
        self,
        network: RoadNetwork,
        snap_radius_m: float = SNAP_RADIUS_M,
        snap_islands: bool = False,
    ) -> None:
        """``snap_islands``: also snap to small strongly connected fragments (then a point
        next to one may have no route: the caller gets :class:`Unreachable`)."""
        started = time.perf_counter()
        self.network = network
        self.snap_radius_m = snap_radius_m
        net = network
        centre = net.node_e7.mean(axis=0) if net.node_count else np.zeros(2)
        self.ox, self.oy = round(float(centre[0])), round(float(centre[1]))
        self.lon0, self.lat0 = self.ox * E7, self.oy * E7
        self.kx = EARTH_M_PER_DEG * math.cos(math.radians(self.lat0))
        self.ky = EARTH_M_PER_DEG
        self.sx, self.sy = self.kx * E7, self.ky * E7
        vertices = (net.node_e7, net.inner_e7)  # every vertex is a node or an inner one
        lo_e7 = np.min([v.min(axis=0, initial=2**31 - 1) for v in vertices], axis=0)
        hi_e7 = np.max([v.max(axis=0, initial=-(2**31)) for v in vertices], axis=0)
        self.x0 = (int(lo_e7[0]) - self.ox) * self.sx - GRID_CELL_M
        self.y0 = (int(lo_e7[1]) - self.oy) * self.sy - GRID_CELL_M
        self.grid_nx = int(((int(hi_e7[0]) - self.ox) * self.sx - self.x0) // GRID_CELL_M) + 2
        self.grid_ny = int(((int(hi_e7[1]) - self.oy) * self.sy - self.y0) // GRID_CELL_M) + 2
        tail = net.arc_source
        self.piece_mask = np.zeros(net.piece_count, dtype=np.uint8)
        for mode in Mode:
            usable = self._mode_pieces(mode, tail, snap_islands)
            self.piece_mask[usable] |= MODE_BIT[mode]
        self.grid_start, self.grid_items = kernels.build_grid(
            net.geometry(),
            self.piece_mask > 0,
            self.ox,
            self.oy,
            self.sx,
            self.sy,
            self.x0,
            self.y0,
            GRID_CELL_M,
            self.grid_nx,
            self.grid_ny,
        )
        hierarchy_started = time.perf_counter()
        stored = net.hierarchies or {}
        self.hierarchy_loaded = all(mode in stored for mode in Mode)
        self.hierarchies: dict[Mode, Hierarchy] = {
            mode: stored.get(mode)
            or build_hierarchy(tail, net.arc_target, net.arc_ms(mode), net.node_count)
            for mode in Mode
        }
        net.hierarchies = None  # the engine holds them now
        del tail
        self.hierarchy_s = time.perf_counter() - hierarchy_started
        self._free: list[_Scratch] = []
        self._free_ch: list[hierarchy.Scratch] = []
        self._pool_lock = threading.Lock()
        self.build_s = time.perf_counter() - started

    # -- geometry -------------------------------------------------------------------------
    def to_local(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Equirectangular metres around the network's centre (for snapping and rasters)."""
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def to_lonlat(
        self, x: NDArray[np.floating[Any]], y: NDArray[np.floating[Any]]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / self.ky + self.lat0

    def _mode_pieces(
        self, mode: Mode, tail: NDArray[np.int32], snap_islands: bool
    ) -> NDArray[np.bool_]:
        """Pieces a point may snap to: usable in ``mode`` and part of a large strongly
        connected component (as OSRM does, so a point next to a cut-off footway
        fragment at the extract's edge snaps to the network it can leave)."""
        net = self.network
        ok = net.arc_ms(mode) < INF_MS
        usable = np.zeros(net.piece_count, dtype=np.bool_)
        if snap_islands:
            usable[net.arc_piece[ok]] = True
            return usable
        n = net.node_count
        graph = scipy.sparse.csr_matrix(
            (np.ones(int(ok.sum()), dtype=np.int8), (tail[ok], net.arc_target[ok])),
            shape=(n, n),
        )
        _, labels = scipy.sparse.csgraph.connected_components(
            graph, directed=True, connection="strong"
        )
        del graph
        sizes = np.bincount(labels)
        big = sizes >= min(BIG_COMPONENT_NODES, 0.5 * sizes.max())
        arc_ok = ok & big[labels[tail]] & big[labels[net.arc_target]]
        usable[net.arc_piece[arc_ok]] = True
        return usable

    def nbytes(self) -> int:
        """Bytes of this engine's arrays, hierarchies included (not the search scratch)."""
        return self.network.nbytes() + self.grid_nbytes() + self.hierarchy_nbytes()

    def grid_nbytes(self) -> int:
        return self.grid_start.nbytes + self.grid_items.nbytes + self.piece_mask.nbytes

    def hierarchy_nbytes(self) -> int:
        return sum(h.nbytes() for h in self.hierarchies.values())

    # -- snapping -------------------------------------------------------------------------
    def _nearest(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], mode: Mode, radius_m: float
    ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64], NDArray[np.float64]]:
        px, py = self.to_local(
            np.atleast_1d(np.asarray(lon, dtype=np.float64)),
            np.atleast_1d(np.asarray(lat, dtype=np.float64)),
        )
        net = self.network
        return kernels.nearest_segment(
            px,
            py,
            net.geometry(),
            self.piece_mask,
            MODE_BIT[mode],
            self.grid_start,
            self.grid_items,
            self.ox,
            self.oy,
            self.sx,
            self.sy,
            self.x0,
            self.y0,
            GRID_CELL_M,
            self.grid_nx,
            self.grid_ny,
            radius_m,
        )

    def snap_points(self, lon: NDArray[np.float64], lat: NDArray[np.float64], mode: Mode) -> Snaps:
        """Snap many points at once (``piece`` -1 beyond the radius)."""
        pieces, seg, frac, dist = self._nearest(lon, lat, mode, self.snap_radius_m)
        along, slon, slat = kernels.snap_along(pieces, seg, frac, self.network.geometry())
        return Snaps(pieces, along, dist, slon, slat)

    def snap(self, lon: float, lat: float, mode: Mode, field: str = "point") -> Snap:
        """Project a point onto the nearest road usable in ``mode``; refuse it beyond the radius."""
        snap = self.snap_points(np.array([lon]), np.array([lat]), mode)[0]
        if snap is None:
            raise OutsideNetwork(field, self._nearest_any_m(lon, lat, mode), self.snap_radius_m)
        return snap

    def _nearest_any_m(self, lon: float, lat: float, mode: Mode) -> float | None:
        """How far the nearest usable road is, searched up to 20 km (for the error message)."""
        pieces, _, _, dist = self._nearest(np.array([lon]), np.array([lat]), mode, 20_000.0)
        return float(dist[0]) if pieces[0] >= 0 else None

    # -- entries of a snapped point into the graph ----------------------------------------------
    def _arc_w(self, arc: int, mode: Mode) -> int:
        if arc < 0:
            return INF_MS
        return int(self.network.arc_ms(mode)[arc])

    def _fraction(self, snap: Snap) -> float:
        length = float(self.network.piece_length_m[snap.piece])
        return min(1.0, max(0.0, snap.along_m / length)) if length > 0 else 0.0

    def source_entries(self, snap: Snap, mode: Mode) -> list[tuple[int, int]]:
        """(node, ms) to leave a snapped point: along the forward arc, back along the backward."""
        net, f = self.network, self._fraction(snap)
        out = []
        forward, backward = net.piece_arc_pair(snap.piece)
        wf, wb = self._arc_w(forward, mode), self._arc_w(backward, mode)
        if wf < INF_MS:
            out.append((int(net.piece_v[snap.piece]), round((1 - f) * wf)))
        if wb < INF_MS:
            out.append((int(net.piece_u[snap.piece]), round(f * wb)))
        return out

    def target_entries(self, snap: Snap, mode: Mode) -> list[tuple[int, int]]:
        """(node, ms) from which a snapped point is reached."""
        net, f = self.network, self._fraction(snap)
        out = []
        forward, backward = net.piece_arc_pair(snap.piece)
        wf, wb = self._arc_w(forward, mode), self._arc_w(backward, mode)
        if wf < INF_MS:
            out.append((int(net.piece_u[snap.piece]), round(f * wf)))
        if wb < INF_MS:
            out.append((int(net.piece_v[snap.piece]), round((1 - f) * wb)))
        return out

    def target_entry_arrays(
        self, targets: Snaps, mode: Mode
    ) -> tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.int32]]:
        """:meth:`target_entries` of many targets at once: (node, extra ms, target index)."""
        net = self.network
        index = np.flatnonzero(targets.piece >= 0).astype(np.int32)
        piece = targets.piece[index]
        along = targets.along_m[index]
        length = net.piece_length_m[piece].astype(np.float64)
        f = np.clip(np.divide(along, length, out=np.zeros_like(along), where=length > 0), 0.0, 1.0)
        ms = net.arc_ms(mode)
        fwd, bwd = net.piece_arcs(piece)
        wf = np.where(fwd >= 0, ms[np.maximum(fwd, 0)], INF_MS).astype(np.int64)
        wb = np.where(bwd >= 0, ms[np.maximum(bwd, 0)], INF_MS).astype(np.int64)
        ok_f, ok_b = wf < INF_MS, wb < INF_MS
        nodes = np.concatenate([net.piece_u[piece][ok_f], net.piece_v[piece][ok_b]]).astype(
            np.int32
        )
        extra = np.concatenate([np.round(f * wf)[ok_f], np.round((1 - f) * wb)[ok_b]]).astype(
            np.int64
        )
        which = np.concatenate([index[ok_f], index[ok_b]]).astype(np.int32)
        return nodes, extra, which

    def _direct_ms(self, a: Snap, b: Snap, mode: Mode) -> int | None:
        """Time along the shared piece when both points lie on it and it may be driven that way."""
        if a.piece != b.piece:
            return None
        net = self.network
        fa, fb = self._fraction(a), self._fraction(b)
        forward, backward = net.piece_arc_pair(a.piece)
        wf, wb = self._arc_w(forward, mode), self._arc_w(backward, mode)
        options = []
        if wf < INF_MS and fb >= fa:
            options.append(round((fb - fa) * wf))
        if wb < INF_MS and fb <= fa:
            options.append(round((fa - fb) * wb))
        return min(options) if options else None

    def _direct_ms_along(
        self, a: Snap, along_m: NDArray[np.float64], mode: Mode
    ) -> NDArray[np.int64]:
        """:meth:`_direct_ms` from ``a`` to many points on its piece (``INF_MS``: none)."""
        net = self.network
        length = float(net.piece_length_m[a.piece])
        fa = self._fraction(a)
        if length > 0:
            fb = np.minimum(1.0, np.maximum(0.0, along_m / length))
        else:
            fb = np.zeros(len(along_m))
        forward, backward = net.piece_arc_pair(a.piece)
        wf, wb = self._arc_w(forward, mode), self._arc_w(backward, mode)
        out = np.full(len(along_m), INF_MS, dtype=np.int64)
        if wf < INF_MS:
            ahead = fb >= fa
            out[ahead] = np.round((fb[ahead] - fa) * wf)
        if wb < INF_MS:
            behind = fb <= fa
            out[behind] = np.minimum(out[behind], np.round((fa - fb[behind]) * wb))
        return out

    # -- pooled working memory ----------------------------------------------------------------
    @contextmanager
    def _pooled(self, free: list[S], make: Callable[[], S]) -> Iterator[S]:
        """A scratch set from ``free`` (made if none is free), put back when done."""
        with self._pool_lock:
            scratch = free.pop() if free else None
        if scratch is None:
            scratch = make()
        try:
            yield scratch
        finally:
            with self._pool_lock:
                free.append(scratch)

    def _new_scratch(self) -> _Scratch:
        n = self.network.node_count
        return _Scratch(
            dist=np.full(n, kernels.UNSET, dtype=np.int64),
            node_entry=np.full(n, -1, dtype=np.int32),
            touched=np.empty(n, dtype=np.int32),
        )

    def _borrow(self) -> AbstractContextManager[_Scratch]:
        return self._pooled(self._free, self._new_scratch)

    def _borrow_ch(self) -> AbstractContextManager[hierarchy.Scratch]:
        return self._pooled(self._free_ch, lambda: hierarchy.Scratch(self.network.node_count))

    # -- point to point -----------------------------------------------------------------------
    def node_to_node_ms(self, source: int, target: int, mode: Mode) -> int | None:
        """Shortest time between two graph nodes (the contraction hierarchy's answer)."""
        with self._borrow_ch() as scratch:
            found = hierarchy.shortest_path(
                self.hierarchies[mode], scratch, [(source, 0)], [(target, 0)]
            )
        return None if found is None else found[0]

    def route(self, origin: Snap, destination: Snap, mode: Mode) -> Route:
        """Fastest route between two snapped points; :class:`Unreachable` when there is none."""
        return self.routes(origin, [destination], mode)[0]

    def routes(self, origin: Snap, destinations: list[Snap], mode: Mode) -> list[Route]:
        """:meth:`route` to each destination; :class:`Unreachable` if any of them has none."""
        sources = self.source_entries(origin, mode)
        net, h = self.network, self.hierarchies[mode]
        found: list[tuple[int | None, NDArray[np.int64] | None, int, int]] = []
        with self._borrow_ch() as scratch:
            for destination in destinations:
                path = hierarchy.shortest_path(
                    h, scratch, sources, self.target_entries(destination, mode)
                )
                if path is None:
                    found.append((None, None, -1, -1))
                    continue
                ms, nodes = path
                road = hierarchy.road_arcs(net.out_start, net.arc_target, net.arc_ms(mode), nodes)
                found.append((ms, road, int(nodes[0]), int(nodes[-1])))
        routes = []
        for i, destination in enumerate(destinations):
            best, arcs, first, last = found[i]
            direct = self._direct_ms(origin, destination, mode)
            if direct is not None and (best is None or direct <= best):
                routes.append(self._assemble_direct(origin, destination, mode, direct))
                continue
            if best is None or arcs is None:
                raise Unreachable(
                    f"两点之间没有可{'步行' if mode is Mode.walk else '驾车'}的路线 / "
                    f"no {mode.value} route joins the two points"
                )
            routes.append(self._assemble(origin, destination, mode, best, first, last, arcs))
        return routes

    def _partial(self, piece: int, from_m: float, to_m: float) -> NDArray[np.float64]:
        """Geometry of a piece between two distances along it, in travel order."""
        return kernels.piece_between(self.network.geometry(), piece, from_m, to_m)

    def _is_exit(self, node: int, mode: Mode) -> bool:
        """A road usable in ``mode`` that is not part of the roundabout leaves ``node``."""
        net = self.network
        out = slice(int(net.out_start[node]), int(net.out_start[node + 1]))
        usable = net.arc_ms(mode)[out] < INF_MS
        return bool(np.any(usable & ~net.piece_roundabout[net.arc_piece[out]]))

    def _end_legs(
        self,
        snap: Snap,
        coords: NDArray[np.float64],
        distance: float,
        ms: float,
        end_node: int | None,
        mode: Mode,
    ) -> dict[str, Any]:
        start_b, end_b = end_bearings(coords)
        roundabout = bool(self.network.piece_roundabout[snap.piece])
        return {
            "name": int(self.network.piece_name[snap.piece]),
            "distance_m": distance,
            "duration_ms": float(ms),
            "roundabout": roundabout,
            "exit": roundabout and end_node is not None and self._is_exit(end_node, mode),
            "bearing_start": start_b,
            "bearing_end": end_b,
            "start": coords[0],
        }

    def _assemble_direct(self, a: Snap, b: Snap, mode: Mode, ms: int) -> Route:
        coords = self._partial(a.piece, a.along_m, b.along_m)
        distance = abs(b.along_m - a.along_m)
        only = self._end_legs(a, coords, distance, ms, None, mode)
        legs = Legs(
            name=np.array([only["name"]], dtype=np.int32),
            names=self.network.names,
            distance_m=np.array([distance]),
            duration_ms=np.array([float(ms)]),
            roundabout=np.array([only["roundabout"]]),
            exit=np.array([False]),
            bearing_start=np.array([only["bearing_start"]]),
            bearing_end=np.array([only["bearing_end"]]),
            start=coords[:1],
            end=(float(coords[-1, 0]), float(coords[-1, 1])),
        )
        return Route(ms / 1000.0, distance, coords, build_steps(legs, mode), a, b)

    def _assemble(
        self,
        a: Snap,
        b: Snap,
        mode: Mode,
        ms: int,
        first: int,
        last: int,
        arcs: NDArray[np.int64],
    ) -> Route:
        """Geometry and steps of a route, gathered with array operations (routes can be long)."""
        net = self.network
        length_a = float(net.piece_length_m[a.piece])
        leave_forward = first == int(net.piece_v[a.piece]) and net.piece_arc_pair(a.piece)[0] >= 0
        end_a = length_a if leave_forward else 0.0
        head_ms = next(w for node, w in self.source_entries(a, mode) if node == first)
        head_line = self._partial(a.piece, a.along_m, end_a)
        head = self._end_legs(a, head_line, abs(end_a - a.along_m), head_ms, first, mode)
        enter_forward = last == int(net.piece_u[b.piece]) and net.piece_arc_pair(b.piece)[0] >= 0
        start_b = 0.0 if enter_forward else float(net.piece_length_m[b.piece])
        tail_ms = next(w for node, w in self.target_entries(b, mode) if node == last)
        tail_line = self._partial(b.piece, start_b, b.along_m)
        tail = self._end_legs(b, tail_line, abs(b.along_m - start_b), tail_ms, None, mode)
        # the arcs between: each contributes its vertices after the first, in travel order
        pieces = net.arc_piece[arcs]
        line_e7, ends_e7 = kernels.arcs_line(arcs, net.arc_piece, net.arc_reversed, net.geometry())
        arc_line = from_e7(line_e7)
        ends_deg = from_e7(ends_e7)
        line = np.concatenate([head_line, arc_line, tail_line[1:]])
        keep = np.ones(len(line), dtype=np.bool_)
        keep[1:] = np.any(np.diff(line, axis=0) != 0, axis=1)
        roundabout = net.piece_roundabout[pieces]
        exits = np.zeros(len(arcs), dtype=np.bool_)
        targets = net.arc_target[arcs]
        for i in np.flatnonzero(roundabout).tolist():
            exits[i] = self._is_exit(int(targets[i]), mode)
        ends = [head, tail]
        legs = Legs(
            name=np.concatenate([[head["name"]], net.piece_name[pieces], [tail["name"]]]).astype(
                np.int32
            ),
            names=net.names,
            distance_m=np.concatenate(
                [[head["distance_m"]], net.piece_length_m[pieces], [tail["distance_m"]]]
            ).astype(np.float64),
            duration_ms=np.concatenate([[head_ms], net.arc_ms(mode)[arcs], [tail_ms]]).astype(
                np.float64
            ),
            roundabout=np.concatenate([[head["roundabout"]], roundabout, [tail["roundabout"]]]),
            exit=np.concatenate([[head["exit"]], exits, [False]]),
            bearing_start=np.concatenate(
                [
                    [head["bearing_start"]],
                    bearings_deg(ends_deg[:, 0], ends_deg[:, 1]),
                    [tail["bearing_start"]],
                ]
            ),
            bearing_end=np.concatenate(
                [
                    [head["bearing_end"]],
                    bearings_deg(ends_deg[:, 2], ends_deg[:, 3]),
                    [tail["bearing_end"]],
                ]
            ),
            start=np.concatenate(
                [
                    [e["start"] for e in ends[:1]],
                    ends_deg[:, 0],
                    [tail["start"]],
                ]
            ),
            end=(float(line[-1, 0]), float(line[-1, 1])),
        )
        distance = float(legs.distance_m.sum())
        return Route(ms / 1000.0, distance, line[keep], build_steps(legs, mode), a, b)

    # -- one to many ----------------------------------------------------------------------------
    def bounded_search(
        self,
        origin: Snap,
        mode: Mode,
        limit_ms: int,
        targets: Snaps | list[Snap | None] | None = None,
        k: int | None = None,
        entries: tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.int32]] | None = None,
    ) -> tuple[Reach, NDArray[np.int64]]:
        """Dijkstra from a snapped point up to ``limit_ms``; stops after the k-th target is final.

        Returns the settled nodes and each target's time in ms (``kernels.UNSET`` if not found).
        ``entries``: :meth:`target_entry_arrays` of the targets, if the caller has them already
        (it searches the same targets again).
        """
        sources = self.source_entries(origin, mode)
        if not isinstance(targets, Snaps):
            targets = Snaps.of(targets or [])
        if entries is None:
            entries = self.target_entry_arrays(targets, mode)
        entry_node, entry_extra, entry_target = entries
        count = len(targets)
        with self._borrow() as scratch:
            nodes, times, best = kernels.bounded_dijkstra(
                self.network.out_start,
                self.network.arc_target,
                self.network.arc_ms(mode),
                np.array([s for s, _ in sources], dtype=np.int32),
                np.array([w for _, w in sources], dtype=np.int64),
                np.int64(limit_ms),
                entry_node,
                entry_extra,
                entry_target,
                count,
                count if k is None else k,
                scratch.dist,
                scratch.node_entry,
                scratch.touched,
            )
        same = np.flatnonzero(targets.piece == origin.piece)
        if len(same):
            direct = self._direct_ms_along(origin, targets.along_m[same], mode)
            better = (direct <= limit_ms) & (direct < best[same])
            best[same[better]] = direct[better]
        return Reach(nodes, times, origin), best

    def reach_from_node(
        self, node: int, mode: Mode, limit_ms: int
    ) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """Nodes within ``limit_ms`` of a graph node and their times (the isochrone's node set)."""
        empty_i = np.zeros(0, dtype=np.int32)
        with self._borrow() as scratch:
            nodes, times, _ = kernels.bounded_dijkstra(
                self.network.out_start,
                self.network.arc_target,
                self.network.arc_ms(mode),
                np.array([node], dtype=np.int32),
                np.zeros(1, dtype=np.int64),
                np.int64(limit_ms),
                empty_i,
                np.zeros(0, dtype=np.int64),
                empty_i,
                0,
                0,
                scratch.dist,
                scratch.node_entry,
                scratch.touched,
            )
        return nodes, times

    def nearest(
        self, origin: Snap, targets: Snaps | list[Snap | None], mode: Mode, k: int, limit_ms: int
    ) -> list[tuple[int, int]]:
        """The k targets reached first, as (target index, ms), fastest first, within the limit."""
        _, best = self.bounded_search(origin, mode, limit_ms, targets, k)
        found = np.flatnonzero(best < kernels.UNSET)
        order = found[np.argsort(best[found], kind="stable")][:k]
        return [(int(t), int(best[t])) for t in order]

    def matrix_ms(
        self, sources: list[Snap], targets: list[Snap], mode: Mode
    ) -> NDArray[np.float64]:
        """Travel times in ms from every source to every target (``nan`` where unreachable)."""
        h = self.hierarchies[mode]
        n = self.network.node_count
        out = np.full((len(sources), len(targets)), np.nan)
        # each target's backward upward search, kept as buckets at the nodes it settles
        bucket_node, bucket_ms, bucket_target = [], [], []
        with self._borrow_ch() as scratch:
            for j, target in enumerate(targets):
                entries = self.target_entries(target, mode)
                if entries:
                    nodes, ms = hierarchy.upward_space(h, scratch, entries, forward=False)
                    bucket_node.append(nodes)
                    bucket_ms.append(ms)
                    bucket_target.append(np.full(len(nodes), j, dtype=np.int32))
            if bucket_node:
                b_node = np.concatenate(bucket_node)
                b_ms = np.concatenate(bucket_ms)
                b_target = np.concatenate(bucket_target)
                seen = np.full(n, hierarchy.UNREACHED, dtype=np.int64)
                for i, source in enumerate(sources):
                    starts = self.source_entries(source, mode)
                    if not starts:
                        continue
                    nodes, ms = hierarchy.upward_space(h, scratch, starts, forward=True)
                    seen[nodes] = ms
                    total = seen[b_node] + b_ms
                    best = np.full(len(targets), hierarchy.UNREACHED, dtype=np.int64)
                    np.minimum.at(best, b_target, total)
                    seen[nodes] = hierarchy.UNREACHED
                    reached = best < INF_MS
                    out[i, reached] = best[reached]
        for i, source in enumerate(sources):
            for j, target in enumerate(targets):
                direct = self._direct_ms(source, target, mode)
                if direct is not None and not direct >= out[i, j]:
                    out[i, j] = direct
        return out

    # -- isochrones -------------------------------------------------------------------------------
    def isochrone_polygons(
        self, reach: Reach, mode: Mode, limits_ms: list[int]
    ) -> list[BaseGeometry]:
        """One (multi)polygon per limit: the area within reach along the roads.

        The reachable parts of the arcs are rasterised on a grid (40 m walking,
        100 m driving), grown by one cell, and the cells merged into polygons;
        holes smaller than 16 cells are filled.
        """
        net = self.network
        cell = ISOCHRONE_CELL_M[mode]
        if len(reach.nodes) == 0:
            return [MultiPolygon() for _ in limits_ms]
        node_xy = from_e7(net.node_e7[reach.nodes])
        x, y = self.to_local(
            np.append(node_xy[:, 0], reach.origin.lon), np.append(node_xy[:, 1], reach.origin.lat)
        )
        margin = 3 * cell + 2000.0
        x0, y0 = float(x.min()) - margin, float(y.min()) - margin
        nx = int((float(x.max()) + margin - x0) // cell) + 1
        ny = int((float(y.max()) + margin - y0) // cell) + 1
        grid = kernels.rasterize_reach(
            reach.nodes,
            reach.times_ms,
            net.out_start,
            net.arc_ms(mode),
            net.arc_piece,
            net.arc_reversed,
            net.geometry(),
            net.piece_length_m,
            np.int64(max(limits_ms)),
            self.ox,
            self.oy,
            self.sx,
            self.sy,
            x0,
            y0,
            cell,
            nx,
            ny,
        ).reshape(ny, nx)
        return [self._cells_to_polygon(grid <= limit, x0, y0, cell) for limit in limits_ms]

    def _cells_to_polygon(
        self, mask: NDArray[np.bool_], x0: float, y0: float, cell: float
    ) -> BaseGeometry:
        grown = mask.copy()
        grown[1:, :] |= mask[:-1, :]
        grown[:-1, :] |= mask[1:, :]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        # runs of filled cells per row become rectangles; a coverage union merges them
        padded = np.zeros((grown.shape[0], grown.shape[1] + 2), dtype=np.int8)
        padded[:, 1:-1] = grown
        change = np.diff(padded, axis=1)
        rows_s, cols_s = np.nonzero(change == 1)
        _, cols_e = np.nonzero(change == -1)
        if len(rows_s) == 0:
            return MultiPolygon()
        bx0, bx1 = x0 + cols_s * cell, x0 + cols_e * cell
        by0, by1 = y0 + rows_s * cell, y0 + (rows_s + 1) * cell
        lon0, lat0 = self.to_lonlat(bx0, by0)
        lon1, lat1 = self.to_lonlat(bx1, by1)
        boxes = shapely.box(lon0, lat0, lon1, lat1)
        merged = shapely.coverage_union_all(boxes)
        min_hole = 16 * (cell / self.kx) * (cell / self.ky)
        polygons = [
            Polygon(p.exterior, [r for r in p.interiors if Polygon(r).area >= min_hole])
            for p in getattr(merged, "geoms", [merged])
            if isinstance(p, Polygon)
        ]
        simplified = shapely.simplify(MultiPolygon(polygons), cell * 0.25 / self.ky)
        return simplified
