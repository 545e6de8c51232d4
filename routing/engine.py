"""The routing engine: snapping, routes, nearest targets, matrices, isochrones on a loaded network.

Point-to-point routes and matrices use RoutingKit's customizable contraction
hierarchy (``routingkit-cch``: one index on the network's topology, one
customized metric per mode). Searches that must stop early (the k nearest
sites, isochrones) run a bounded Dijkstra compiled with numba. Snapping
projects a point onto the nearest segment of a road the mode may use, found
through a uniform grid. Nothing here touches the database or networkx.

Travel times are integer milliseconds throughout; answers give seconds.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import routingkit_cch as rk
import scipy.sparse
import scipy.sparse.csgraph
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from routing import kernels
from routing.errors import OutsideNetwork, Unreachable
from routing.network import INF_MS, RoadNetwork
from routing.profiles import Mode
from routing.steps import Step, Stretch, build_steps

EARTH_M_PER_DEG = 6_371_008.8 * math.pi / 180.0
SNAP_RADIUS_M = 500.0
GRID_CELL_M = 100.0
BIG_COMPONENT_NODES = 1000
"""Components at least this large (or half the largest) take snapped points."""
ISOCHRONE_CELL_M = {Mode.walk: 40.0, Mode.drive: 100.0}


@dataclass(frozen=True)
class Snap:
    """A point projected onto a road piece: ``along_m`` from the piece's first vertex."""

    piece: int
    along_m: float
    lon: float
    lat: float
    distance_m: float


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
class _Grid:
    start: NDArray[np.int64]
    items: NDArray[np.int32]
    nx: int
    ny: int


@dataclass
class _Scratch:
    dist: NDArray[np.int64]
    node_entry: NDArray[np.int32]
    touched: NDArray[np.int32]
    queries: dict[Mode, rk.CCHQuery] = field(default_factory=dict)


class Engine:
    """Answers routing questions on one :class:`RoadNetwork`; safe to share between threads."""

    def __init__(self, network: RoadNetwork, snap_radius_m: float = SNAP_RADIUS_M) -> None:
        started = time.perf_counter()
        self.network = network
        self.snap_radius_m = snap_radius_m
        net = network
        self.lon0 = float(net.node_lon.mean()) if net.node_count else 0.0
        self.lat0 = float(net.node_lat.mean()) if net.node_count else 0.0
        self.kx = EARTH_M_PER_DEG * math.cos(math.radians(self.lat0))
        self.ky = EARTH_M_PER_DEG
        self.vx, self.vy = self.to_local(net.coords[:, 0], net.coords[:, 1])
        self.x0 = float(self.vx.min()) - GRID_CELL_M
        self.y0 = float(self.vy.min()) - GRID_CELL_M
        self.vertex_piece = np.repeat(
            np.arange(net.piece_count, dtype=np.int32), np.diff(net.piece_offsets)
        )
        self.grids = {mode: self._build_grid(mode) for mode in Mode}
        tail = net.arc_source.tolist()
        head = net.arc_target.tolist()
        order = rk.compute_order_inertial(
            net.node_count, tail, head, net.node_lat.tolist(), net.node_lon.tolist()
        )
        self.cch = rk.CCH(order, tail, head, False)
        self.metrics = {mode: rk.CCHMetric(self.cch, net.arc_ms(mode).tolist()) for mode in Mode}
        self._local = threading.local()
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

    def _mode_pieces(self, mode: Mode) -> NDArray[np.bool_]:
        """Pieces a point may snap to: usable in ``mode`` and part of a large strongly
        connected component (as OSRM does, so a point next to a cut-off footway
        fragment at the extract's edge snaps to the network it can leave)."""
        net = self.network
        ms = net.arc_ms(mode)
        ok = ms < INF_MS
        n = net.node_count
        graph = scipy.sparse.csr_matrix(
            (np.ones(int(ok.sum()), dtype=np.int8), (net.arc_source[ok], net.arc_target[ok])),
            shape=(n, n),
        )
        _, labels = scipy.sparse.csgraph.connected_components(
            graph, directed=True, connection="strong"
        )
        sizes = np.bincount(labels)
        big = sizes >= min(BIG_COMPONENT_NODES, 0.5 * sizes.max())
        usable = np.zeros(net.piece_count, dtype=np.bool_)
        arc_ok = ok & big[labels[net.arc_source]] & big[labels[net.arc_target]]
        usable[net.arc_piece[arc_ok]] = True
        return usable

    def _build_grid(self, mode: Mode) -> _Grid:
        net = self.network
        ok = np.zeros(len(net.coords), dtype=np.bool_)
        ok[:-1] = self._mode_pieces(mode)[self.vertex_piece[:-1]]
        ok[net.piece_offsets[1:] - 1] = False  # the last vertex of a piece starts no segment
        nx = int((self.vx.max() - self.x0) // GRID_CELL_M) + 2
        ny = int((self.vy.max() - self.y0) // GRID_CELL_M) + 2
        start, items = kernels.build_grid(
            self.vx, self.vy, ok, self.x0, self.y0, GRID_CELL_M, nx, ny
        )
        return _Grid(start, items, nx, ny)

    def nbytes(self) -> int:
        """Bytes of this engine's arrays (RoutingKit's index is measured by the benchmark)."""
        grids = sum(g.start.nbytes + g.items.nbytes for g in self.grids.values())
        return (
            self.network.nbytes()
            + grids
            + self.vx.nbytes
            + self.vy.nbytes
            + self.vertex_piece.nbytes
        )

    # -- snapping -------------------------------------------------------------------------
    def snap_many(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], mode: Mode
    ) -> tuple[
        NDArray[np.int32],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
    ]:
        """Pieces (-1 beyond the radius), metres along them, distances, snapped lon, lat."""
        px, py = self.to_local(
            np.atleast_1d(np.asarray(lon, dtype=np.float64)),
            np.atleast_1d(np.asarray(lat, dtype=np.float64)),
        )
        grid = self.grids[mode]
        seg, frac, dist = kernels.nearest_segment(
            px,
            py,
            self.vx,
            self.vy,
            grid.start,
            grid.items,
            self.x0,
            self.y0,
            GRID_CELL_M,
            grid.nx,
            grid.ny,
            self.snap_radius_m,
        )
        found = seg >= 0
        s = np.where(found, seg, 0)
        vm = self.network.vertex_m
        along = vm[s] + frac * (vm[s + 1] - vm[s])
        coords = self.network.coords
        slon = coords[s, 0] + frac * (coords[s + 1, 0] - coords[s, 0])
        slat = coords[s, 1] + frac * (coords[s + 1, 1] - coords[s, 1])
        pieces = np.where(found, self.vertex_piece[s], -1).astype(np.int32)
        return pieces, along, dist, slon, slat

    def snap(self, lon: float, lat: float, mode: Mode, field: str = "point") -> Snap:
        """Project a point onto the nearest road usable in ``mode``; refuse it beyond the radius."""
        pieces, along, dist, slon, slat = self.snap_many(np.array([lon]), np.array([lat]), mode)
        if pieces[0] < 0:
            raise OutsideNetwork(field, self._nearest_any_m(lon, lat, mode), self.snap_radius_m)
        return Snap(int(pieces[0]), float(along[0]), float(slon[0]), float(slat[0]), float(dist[0]))

    def _nearest_any_m(self, lon: float, lat: float, mode: Mode) -> float | None:
        """How far the nearest usable road is, searched up to 20 km (for the error message)."""
        x, y = self.to_local(np.array([lon]), np.array([lat]))
        grid = self.grids[mode]
        seg, _, dist = kernels.nearest_segment(
            x,
            y,
            self.vx,
            self.vy,
            grid.start,
            grid.items,
            self.x0,
            self.y0,
            GRID_CELL_M,
            grid.nx,
            grid.ny,
            20_000.0,
        )
        return float(dist[0]) if seg[0] >= 0 else None

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
        wf = self._arc_w(int(net.piece_forward_arc[snap.piece]), mode)
        wb = self._arc_w(int(net.piece_backward_arc[snap.piece]), mode)
        if wf < INF_MS:
            out.append((int(net.piece_v[snap.piece]), round((1 - f) * wf)))
        if wb < INF_MS:
            out.append((int(net.piece_u[snap.piece]), round(f * wb)))
        return out

    def target_entries(self, snap: Snap, mode: Mode) -> list[tuple[int, int]]:
        """(node, ms) from which a snapped point is reached."""
        net, f = self.network, self._fraction(snap)
        out = []
        wf = self._arc_w(int(net.piece_forward_arc[snap.piece]), mode)
        wb = self._arc_w(int(net.piece_backward_arc[snap.piece]), mode)
        if wf < INF_MS:
            out.append((int(net.piece_u[snap.piece]), round(f * wf)))
        if wb < INF_MS:
            out.append((int(net.piece_v[snap.piece]), round((1 - f) * wb)))
        return out

    def target_entry_arrays(
        self, targets: list[Snap | None], mode: Mode
    ) -> tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.int32]]:
        """:meth:`target_entries` of many targets at once: (node, extra ms, target index)."""
        net = self.network
        index = np.array([i for i, t in enumerate(targets) if t is not None], dtype=np.int32)
        piece = np.array([t.piece for t in targets if t is not None], dtype=np.int64)
        along = np.array([t.along_m for t in targets if t is not None], dtype=np.float64)
        length = net.piece_length_m[piece]
        f = np.clip(np.divide(along, length, out=np.zeros_like(along), where=length > 0), 0.0, 1.0)
        ms = net.arc_ms(mode)
        fwd, bwd = net.piece_forward_arc[piece], net.piece_backward_arc[piece]
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
        wf = self._arc_w(int(net.piece_forward_arc[a.piece]), mode)
        wb = self._arc_w(int(net.piece_backward_arc[a.piece]), mode)
        options = []
        if wf < INF_MS and fb >= fa:
            options.append(round((fb - fa) * wf))
        if wb < INF_MS and fb <= fa:
            options.append(round((fa - fb) * wb))
        return min(options) if options else None

    # -- per-thread state -------------------------------------------------------------------
    def _scratch(self) -> _Scratch:
        scratch: _Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            n = self.network.node_count
            scratch = _Scratch(
                dist=np.full(n, kernels.UNSET, dtype=np.int64),
                node_entry=np.full(n, -1, dtype=np.int32),
                touched=np.empty(n, dtype=np.int32),
            )
            self._local.scratch = scratch
        return scratch

    def _query(self, mode: Mode) -> rk.CCHQuery:
        scratch = self._scratch()
        query = scratch.queries.get(mode)
        if query is None:
            query = scratch.queries[mode] = rk.CCHQuery(self.metrics[mode])
        return query

    # -- point to point -----------------------------------------------------------------------
    def node_to_node_ms(self, source: int, target: int, mode: Mode) -> int | None:
        """Shortest time between two graph nodes (the contraction hierarchy's answer)."""
        result = self._query(mode).run(source, target)
        distance = result.distance
        del result  # RoutingKit needs the result released before the next query
        return None if distance is None or distance >= INF_MS else int(distance)

    def route(self, origin: Snap, destination: Snap, mode: Mode) -> Route:
        """Fastest route between two snapped points; :class:`Unreachable` when there is none."""
        sources = self.source_entries(origin, mode)
        targets = self.target_entries(destination, mode)
        direct = self._direct_ms(origin, destination, mode)
        best: int | None = None
        arcs: list[int] = []
        nodes: list[int] = []
        if sources and targets:
            result = self._query(mode).run_multi(sources, targets)
            if result.distance is not None and result.distance < INF_MS:
                best = int(result.distance)
                arcs = list(result.arc_path)
                nodes = list(result.node_path)
            del result
        if direct is not None and (best is None or direct <= best):
            return self._assemble_direct(origin, destination, mode, direct)
        if best is None:
            raise Unreachable(
                f"两点之间没有可{'步行' if mode is Mode.walk else '驾车'}的路线 / "
                f"no {mode.value} route joins the two points"
            )
        return self._assemble(origin, destination, mode, best, nodes[0], nodes[-1], arcs)

    def _partial(self, piece: int, from_m: float, to_m: float) -> NDArray[np.float64]:
        """Geometry of a piece between two distances along it, in travel order."""
        net = self.network
        lo, hi = net.piece_offsets[piece], net.piece_offsets[piece + 1]
        vm = net.vertex_m[lo:hi]
        coords = net.coords[lo:hi]
        a, b = sorted((from_m, to_m))
        xs = np.interp([a, b], vm, coords[:, 0])
        ys = np.interp([a, b], vm, coords[:, 1])
        inner = (vm > a) & (vm < b)
        line = np.vstack([[xs[0], ys[0]], coords[inner], [xs[1], ys[1]]])
        return line if from_m <= to_m else line[::-1]

    def _assemble_direct(self, a: Snap, b: Snap, mode: Mode, ms: int) -> Route:
        coords = self._partial(a.piece, a.along_m, b.along_m)
        distance = abs(b.along_m - a.along_m)
        stretch = Stretch(self.network.name_of_piece(a.piece), coords, distance, ms)
        return Route(ms / 1000.0, distance, coords, build_steps([stretch], mode), a, b)

    def _assemble(
        self, a: Snap, b: Snap, mode: Mode, ms: int, first: int, last: int, arcs: list[int]
    ) -> Route:
        net = self.network
        ms_arcs = net.arc_ms(mode)
        stretches: list[Stretch] = []
        length_a = float(net.piece_length_m[a.piece])
        leave_forward = first == int(net.piece_v[a.piece]) and net.piece_forward_arc[a.piece] >= 0
        end_a = length_a if leave_forward else 0.0
        head_ms = next(w for node, w in self.source_entries(a, mode) if node == first)
        stretches.append(
            Stretch(
                net.name_of_piece(a.piece),
                self._partial(a.piece, a.along_m, end_a),
                abs(end_a - a.along_m),
                head_ms,
            )
        )
        for arc in arcs:
            piece = int(net.arc_piece[arc])
            coords = net.piece_coords(piece)
            if net.arc_reversed[arc]:
                coords = coords[::-1]
            stretches.append(
                Stretch(
                    net.name_of_piece(piece),
                    coords,
                    float(net.piece_length_m[piece]),
                    float(ms_arcs[arc]),
                )
            )
        enter_forward = last == int(net.piece_u[b.piece]) and net.piece_forward_arc[b.piece] >= 0
        start_b = 0.0 if enter_forward else float(net.piece_length_m[b.piece])
        tail_ms = next(w for node, w in self.target_entries(b, mode) if node == last)
        stretches.append(
            Stretch(
                net.name_of_piece(b.piece),
                self._partial(b.piece, start_b, b.along_m),
                abs(b.along_m - start_b),
                tail_ms,
            )
        )
        line = np.concatenate(
            [s.coords if i == 0 else s.coords[1:] for i, s in enumerate(stretches)]
        )
        keep = np.ones(len(line), dtype=np.bool_)
        keep[1:] = np.any(np.diff(line, axis=0) != 0, axis=1)
        distance = sum(s.distance_m for s in stretches)
        return Route(ms / 1000.0, distance, line[keep], build_steps(stretches, mode), a, b)

    # -- one to many ----------------------------------------------------------------------------
    def bounded_search(
        self,
        origin: Snap,
        mode: Mode,
        limit_ms: int,
        targets: list[Snap | None] | None = None,
        k: int | None = None,
    ) -> tuple[Reach, NDArray[np.int64]]:
        """Dijkstra from a snapped point up to ``limit_ms``; stops after the k-th target is final.

        Returns the settled nodes and each target's time in ms (``kernels.UNSET`` if not found).
        """
        sources = self.source_entries(origin, mode)
        entry_node, entry_extra, entry_target = self.target_entry_arrays(targets or [], mode)
        count = len(targets or [])
        scratch = self._scratch()
        nodes, times, best = kernels.bounded_dijkstra(
            self.network.out_start,
            self.network.out_arcs,
            self.network.arc_target,
            self.network.arc_ms(mode),
            np.array([s for s, _ in sources], dtype=np.int32),
            np.array([w for _, w in sources], dtype=np.int64),
            np.int64(limit_ms),
            np.array(entry_node, dtype=np.int32),
            np.array(entry_extra, dtype=np.int64),
            np.array(entry_target, dtype=np.int32),
            count,
            count if k is None else k,
            scratch.dist,
            scratch.node_entry,
            scratch.touched,
        )
        for t, snap in enumerate(targets or []):
            direct = None if snap is None else self._direct_ms(origin, snap, mode)
            if direct is not None and direct <= limit_ms and direct < best[t]:
                best[t] = direct
        return Reach(nodes, times, origin), best

    def reach_from_node(
        self, node: int, mode: Mode, limit_ms: int
    ) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """Nodes within ``limit_ms`` of a graph node and their times (the isochrone's node set)."""
        scratch = self._scratch()
        empty_i = np.zeros(0, dtype=np.int32)
        nodes, times, _ = kernels.bounded_dijkstra(
            self.network.out_start,
            self.network.out_arcs,
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
        self, origin: Snap, targets: list[Snap | None], mode: Mode, k: int, limit_ms: int
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
        entries = [self.target_entries(t, mode) for t in targets]
        pinned = sorted({node for e in entries for node, _ in e})
        slot = {node: i for i, node in enumerate(pinned)}
        out = np.full((len(sources), len(targets)), np.nan)
        if not pinned:
            return out
        one_to_many = rk.CCHOneToMany(self.metrics[mode], pinned)
        for i, source in enumerate(sources):
            starts = self.source_entries(source, mode)
            if not starts:
                continue
            times = one_to_many.distances_from_multi(starts)
            for j, target in enumerate(targets):
                reached = [
                    int(t) + extra for n, extra in entries[j] if (t := times[slot[n]]) is not None
                ]
                direct = self._direct_ms(source, target, mode)
                if direct is not None:
                    reached.append(direct)
                reached = [r for r in reached if r < INF_MS]
                if reached:
                    out[i, j] = min(reached)
        del one_to_many
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
        node_time = np.full(net.node_count, kernels.UNSET, dtype=np.int64)
        node_time[reach.nodes] = reach.times_ms
        arc_time = node_time[net.arc_source]
        if len(reach.nodes) == 0:
            return [MultiPolygon() for _ in limits_ms]
        lon = net.node_lon[reach.nodes]
        lat = net.node_lat[reach.nodes]
        x, y = self.to_local(np.append(lon, reach.origin.lon), np.append(lat, reach.origin.lat))
        margin = 3 * cell + 2000.0
        x0, y0 = float(x.min()) - margin, float(y.min()) - margin
        nx = int((float(x.max()) + margin - x0) // cell) + 1
        ny = int((float(y.max()) + margin - y0) // cell) + 1
        grid = kernels.rasterize_reach(
            arc_time,
            net.arc_ms(mode),
            net.arc_piece,
            net.arc_reversed,
            net.piece_offsets,
            self.vx,
            self.vy,
            net.vertex_m,
            net.piece_length_m,
            np.asarray(limits_ms, dtype=np.int64),
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
