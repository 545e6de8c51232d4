"""The road network in compact numpy arrays: what the engine searches, built once per version.

A *piece* is a stretch of road between two junctions with its geometry (from
``piece_u`` to ``piece_v``); an *arc* is a piece in one direction, with a
travel time per mode in whole milliseconds (``INF_MS`` where the mode may not
use it). Arcs leaving a node are listed in CSR form (``out_start``/``out_arcs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from routing import kernels
from routing.hierarchy import Hierarchy
from routing.osm import RoadGraph, haversine_m
from routing.profiles import Mode, duration_ms

INF_MS = 2**31 - 1
"""The infinite weight (int32's largest): an arc a mode may not use."""


@dataclass
class ArcTable:
    """Directed arcs of a :class:`RoadGraph`, in the order they are stored (forward first)."""

    piece: NDArray[np.int32]
    source: NDArray[np.int32]
    target: NDArray[np.int32]
    reversed: NDArray[np.bool_]
    walk: NDArray[np.bool_]
    drive: NDArray[np.bool_]
    walk_ms: NDArray[np.int64]
    drive_ms: NDArray[np.int64]


def arcs_of(graph: RoadGraph) -> ArcTable:
    """One arc per usable direction of each piece; a piece's forward arc comes first."""
    piece, reverse, walk, drive, walk_ms, drive_ms = [], [], [], [], [], []
    for p, access in enumerate(graph.piece_access):
        length = float(graph.piece_length_m[p])
        for backward in (False, True):
            can_walk = access.walk_backward if backward else access.walk_forward
            can_drive = access.drive_backward if backward else access.drive_forward
            if not (can_walk or can_drive):
                continue
            piece.append(p)
            reverse.append(backward)
            walk.append(can_walk)
            drive.append(can_drive)
            walk_ms.append(duration_ms(length, access.walk_speed_kph) if can_walk else INF_MS)
            drive_ms.append(duration_ms(length, access.drive_speed_kph) if can_drive else INF_MS)
    piece_a = np.asarray(piece, dtype=np.int32)
    reverse_a = np.asarray(reverse, dtype=np.bool_)
    u, v = graph.piece_u[piece_a], graph.piece_v[piece_a]
    return ArcTable(
        piece=piece_a,
        source=np.where(reverse_a, v, u).astype(np.int32),
        target=np.where(reverse_a, u, v).astype(np.int32),
        reversed=reverse_a,
        walk=np.asarray(walk, dtype=np.bool_),
        drive=np.asarray(drive, dtype=np.bool_),
        walk_ms=np.asarray(walk_ms, dtype=np.int64),
        drive_ms=np.asarray(drive_ms, dtype=np.int64),
    )


ARC_PAIRS_KEPT = 4096
E7 = 1e-7
"""Coordinates are kept as int32 multiples of 1e-7° (OpenStreetMap's own precision, ~1 cm)."""


def from_e7(values: NDArray[np.int32]) -> NDArray[np.float64]:
    return np.asarray(values * E7, dtype=np.float64)


def to_e7(values: NDArray[np.float64]) -> NDArray[np.int32]:
    return np.round(np.asarray(values, dtype=np.float64) / E7).astype(np.int32)


@dataclass
class RoadNetwork:
    """Everything a query needs, as compact arrays; no database, no networkx.

    Arcs are sorted by their tail node, so the arcs leaving node ``x`` are
    ``out_start[x]:out_start[x + 1]`` (no separate adjacency list).
    """

    version_id: int
    city_code: str
    node_e7: NDArray[np.int32]
    """(n, 2) lon, lat in 1e-7°."""
    arc_target: NDArray[np.int32]
    arc_piece: NDArray[np.int32]
    arc_reversed: NDArray[np.bool_]
    arc_walk_ms: NDArray[np.int32]
    arc_drive_ms: NDArray[np.int32]
    out_start: NDArray[np.int32]
    piece_u: NDArray[np.int32]
    piece_v: NDArray[np.int32]
    piece_offsets: NDArray[np.int32]
    """Vertex numbers: piece i has vertices ``piece_offsets[i]:piece_offsets[i + 1]``."""
    inner_e7: NDArray[np.int32]
    """(vertices − 2 × pieces, 2) lon, lat in 1e-7° of the vertices between a piece's two
    nodes: a piece's end vertices are its nodes, kept once in ``node_e7`` (see
    :meth:`vertex_e7`)."""
    piece_length_m: NDArray[np.float32]
    piece_name: NDArray[np.signedinteger[Any]]
    """Index into ``names`` (-1: unnamed); int16 while a city has fewer than 32,768 names."""
    piece_highway: NDArray[np.uint8]
    piece_roundabout: NDArray[np.bool_]
    names: list[str]
    highways: list[str]
    extent: tuple[float, float, float, float]
    hierarchies: dict[Mode, Hierarchy] | None = None
    """The contraction hierarchies stored with the version (the engine takes them over)."""
    _arc_pairs: dict[int, tuple[int, int]] = field(default_factory=dict, repr=False)
    """:meth:`piece_arc_pair` of recently asked pieces (a route asks for each end's ~6 times)."""

    @property
    def node_count(self) -> int:
        return len(self.node_e7)

    @property
    def arc_count(self) -> int:
        return len(self.arc_target)

    @property
    def piece_count(self) -> int:
        return len(self.piece_u)

    @property
    def node_lon(self) -> NDArray[np.float64]:
        return from_e7(self.node_e7[:, 0])

    @property
    def node_lat(self) -> NDArray[np.float64]:
        return from_e7(self.node_e7[:, 1])

    @property
    def arc_source(self) -> NDArray[np.int32]:
        """Tail of every arc (computed: arcs are stored by tail)."""
        return np.repeat(np.arange(self.node_count, dtype=np.int32), np.diff(self.out_start))

    def arc_ms(self, mode: Mode) -> NDArray[np.int32]:
        return self.arc_walk_ms if mode is Mode.walk else self.arc_drive_ms

    def geometry(self) -> kernels.Geometry:
        """What compiled code needs to read any vertex (see :func:`kernels.vertex`)."""
        return (self.node_e7, self.piece_u, self.piece_v, self.piece_offsets, self.inner_e7)

    def vertex_e7(
        self, vertices: NDArray[np.int64], pieces: NDArray[np.int32]
    ) -> NDArray[np.int32]:
        """(n, 2) 1e-7° coordinates of vertex numbers, each of the piece given beside it."""
        vertices = np.asarray(vertices, dtype=np.int64)
        pieces = np.asarray(pieces, dtype=np.int64)
        first = vertices == self.piece_offsets[pieces]
        last = vertices == self.piece_offsets[pieces + 1] - 1
        inner = np.clip(vertices - 2 * pieces - 1, 0, max(len(self.inner_e7) - 1, 0))
        out = self.inner_e7[inner] if len(self.inner_e7) else np.zeros((len(vertices), 2), np.int32)
        out = np.array(out, dtype=np.int32)
        out[first] = self.node_e7[self.piece_u[pieces[first]]]
        out[last] = self.node_e7[self.piece_v[pieces[last]]]
        return out

    def piece_arcs(self, pieces: NDArray[np.int32]) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """The forward and backward arc of each piece (-1: that way is no arc)."""
        return kernels.piece_arcs(
            np.asarray(pieces, dtype=np.int32),
            self.piece_u,
            self.piece_v,
            self.out_start,
            self.arc_piece,
            self.arc_reversed,
        )

    def piece_arc_pair(self, piece: int) -> tuple[int, int]:
        pair = self._arc_pairs.get(piece)
        if pair is None:
            if len(self._arc_pairs) >= ARC_PAIRS_KEPT:
                self._arc_pairs.clear()
            forward, backward = self.piece_arcs(np.array([piece], dtype=np.int32))
            pair = self._arc_pairs[piece] = (int(forward[0]), int(backward[0]))
        return pair

    def name_of_piece(self, piece: int) -> str | None:
        index = int(self.piece_name[piece])
        return self.names[index] if index >= 0 else None

    def piece_coords(self, piece: int) -> NDArray[np.float64]:
        lo, hi = int(self.piece_offsets[piece]), int(self.piece_offsets[piece + 1])
        vertices = np.arange(lo, hi, dtype=np.int64)
        return from_e7(self.vertex_e7(vertices, np.full(hi - lo, piece, dtype=np.int32)))

    def nbytes(self) -> int:
        """Bytes held in the arrays (the hierarchies are counted by the engine)."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))


def _intern(values: list[str | None]) -> tuple[NDArray[np.int32], list[str]]:
    table: dict[str, int] = {}
    ids = np.fromiter(
        (-1 if v is None else table.setdefault(v, len(table)) for v in values),
        dtype=np.int32,
        count=len(values),
    )
    return ids, list(table)


def assemble(
    *,
    version_id: int,
    city_code: str,
    node_lon: NDArray[np.float64],
    node_lat: NDArray[np.float64],
    arc_piece: NDArray[np.int32],
    arc_source: NDArray[np.int32],
    arc_target: NDArray[np.int32],
    arc_walk_ms: NDArray[np.int64],
    arc_drive_ms: NDArray[np.int64],
    piece_offsets: NDArray[np.int64],
    coords: NDArray[np.float64],
    piece_name: list[str | None],
    piece_highway: list[str],
    piece_roundabout: NDArray[np.bool_] | None = None,
    hierarchies: dict[Mode, Hierarchy] | None = None,
) -> RoadNetwork:
    """Build the arrays from arcs and piece geometries (pieces numbered 0..p-1, in arc order)."""
    n = len(node_lon)
    pieces = len(piece_offsets) - 1
    node_e7 = np.empty((n, 2), dtype=np.int32)
    node_e7[:, 0] = to_e7(node_lon)
    node_e7[:, 1] = to_e7(node_lat)
    # a piece's orientation is its geometry's: u is its first vertex's node
    first_arc = np.full(pieces, -1, dtype=np.int64)
    order = np.arange(len(arc_piece))[::-1]
    first_arc[arc_piece[order]] = order
    piece_u = arc_source[first_arc].astype(np.int32)
    piece_v = arc_target[first_arc].astype(np.int32)
    del first_arc, order
    # a piece's end vertices are its nodes (kept once, in node_e7)
    coords_e7 = np.empty((len(coords), 2), dtype=np.int32)
    coords_e7[:, 0] = to_e7(coords[:, 0])
    coords_e7[:, 1] = to_e7(coords[:, 1])
    firsts, lasts = piece_offsets[:-1], piece_offsets[1:] - 1
    coords_e7[firsts] = node_e7[piece_u]
    coords_e7[lasts] = node_e7[piece_v]
    lon, lat = from_e7(coords_e7[:, 0]), from_e7(coords_e7[:, 1])
    seg = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]) if len(coords) > 1 else np.zeros(0)
    del lon, lat
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    del seg
    piece_length = (cumulative[lasts] - cumulative[firsts]).astype(np.float32)
    del cumulative
    inner = np.ones(len(coords_e7), dtype=np.bool_)
    inner[firsts] = False
    inner[lasts] = False
    inner_e7 = coords_e7[inner]
    del coords_e7, inner
    # arcs sorted by tail: the adjacency of a node is a slice
    by_tail = np.argsort(arc_source, kind="stable")
    arc_source = arc_source[by_tail]
    arc_piece = np.asarray(arc_piece[by_tail], dtype=np.int32)
    arc_reversed = arc_source != piece_u[arc_piece]
    out_start = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(arc_source, minlength=n), out=out_start[1:])
    name_ids, names = _intern(piece_name)
    highway_ids, highways = _intern(list(piece_highway))
    return RoadNetwork(
        version_id=version_id,
        city_code=city_code,
        node_e7=node_e7,
        arc_target=np.asarray(arc_target[by_tail], dtype=np.int32),
        arc_piece=arc_piece,
        arc_reversed=arc_reversed,
        arc_walk_ms=np.minimum(arc_walk_ms[by_tail], INF_MS).astype(np.int32),
        arc_drive_ms=np.minimum(arc_drive_ms[by_tail], INF_MS).astype(np.int32),
        out_start=out_start,
        piece_u=piece_u,
        piece_v=piece_v,
        piece_offsets=piece_offsets.astype(np.int32),
        inner_e7=inner_e7,
        piece_length_m=piece_length,
        piece_name=name_ids.astype(np.int16) if len(names) < 2**15 else name_ids,
        piece_highway=highway_ids.astype(np.uint8),
        piece_roundabout=(
            np.zeros(pieces, dtype=np.bool_)
            if piece_roundabout is None
            else np.asarray(piece_roundabout, dtype=np.bool_)
        ),
        names=names,
        highways=highways,
        extent=(
            float(node_lon.min()),
            float(node_lat.min()),
            float(node_lon.max()),
            float(node_lat.max()),
        )
        if n
        else (0.0, 0.0, 0.0, 0.0),
        hierarchies=hierarchies,
    )


def network_from_graph(graph: RoadGraph, version_id: int = 0, city_code: str = "") -> RoadNetwork:
    """The engine's arrays straight from a parsed file (tests and the benchmark's tiling)."""
    arcs = arcs_of(graph)
    return assemble(
        version_id=version_id,
        city_code=city_code,
        node_lon=graph.node_lon,
        node_lat=graph.node_lat,
        arc_piece=arcs.piece,
        arc_source=arcs.source,
        arc_target=arcs.target,
        arc_walk_ms=arcs.walk_ms,
        arc_drive_ms=arcs.drive_ms,
        piece_offsets=graph.piece_offsets,
        coords=graph.coords,
        piece_name=graph.piece_name,
        piece_highway=graph.piece_highway,
        piece_roundabout=np.array([a.roundabout for a in graph.piece_access], dtype=np.bool_),
    )
