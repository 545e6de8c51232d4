"""The road network in compact numpy arrays: what the engine searches, built once per version.

A *piece* is a stretch of road between two junctions with its geometry (from
``piece_u`` to ``piece_v``); an *arc* is a piece in one direction, with a
travel time per mode in whole milliseconds (``INF_MS`` where the mode may not
use it). Arcs leaving a node are listed in CSR form (``out_start``/``out_arcs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from routing.osm import RoadGraph, haversine_m
from routing.profiles import Mode, duration_ms

INF_MS = 2**31 - 1
"""RoutingKit's infinite weight: an arc a mode may not use."""


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


@dataclass
class RoadNetwork:
    """Everything a query needs, as arrays; no database, no networkx."""

    version_id: int
    city_code: str
    node_lon: NDArray[np.float64]
    node_lat: NDArray[np.float64]
    arc_source: NDArray[np.int32]
    arc_target: NDArray[np.int32]
    arc_piece: NDArray[np.int32]
    arc_reversed: NDArray[np.bool_]
    arc_walk_ms: NDArray[np.int32]
    arc_drive_ms: NDArray[np.int32]
    piece_u: NDArray[np.int32]
    piece_v: NDArray[np.int32]
    piece_offsets: NDArray[np.int64]
    coords: NDArray[np.float64]
    vertex_m: NDArray[np.float64]
    """Distance of each vertex from the start of its piece, metres."""
    piece_length_m: NDArray[np.float64]
    piece_forward_arc: NDArray[np.int32]
    piece_backward_arc: NDArray[np.int32]
    piece_name: NDArray[np.int32]
    piece_highway: NDArray[np.int16]
    names: list[str]
    highways: list[str]
    out_start: NDArray[np.int64]
    out_arcs: NDArray[np.int32]

    @property
    def node_count(self) -> int:
        return len(self.node_lon)

    @property
    def arc_count(self) -> int:
        return len(self.arc_source)

    @property
    def piece_count(self) -> int:
        return len(self.piece_u)

    def arc_ms(self, mode: Mode) -> NDArray[np.int32]:
        return self.arc_walk_ms if mode is Mode.walk else self.arc_drive_ms

    def name_of_piece(self, piece: int) -> str | None:
        index = int(self.piece_name[piece])
        return self.names[index] if index >= 0 else None

    def piece_coords(self, piece: int) -> NDArray[np.float64]:
        return self.coords[self.piece_offsets[piece] : self.piece_offsets[piece + 1]]

    def nbytes(self) -> int:
        """Bytes held in the arrays (the CCH index is counted by the engine)."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return (
            float(self.node_lon.min()),
            float(self.node_lat.min()),
            float(self.node_lon.max()),
            float(self.node_lat.max()),
        )


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
) -> RoadNetwork:
    """Build the arrays from arcs and piece geometries (pieces numbered 0..p-1, in arc order)."""
    n = len(node_lon)
    pieces = len(piece_offsets) - 1
    seg = (
        haversine_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
        if len(coords) > 1
        else np.zeros(0)
    )
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    starts = np.repeat(piece_offsets[:-1], np.diff(piece_offsets))
    vertex_m = cumulative - cumulative[starts]
    last = piece_offsets[1:] - 1
    piece_length = vertex_m[last]
    # a piece's orientation is its geometry's: u is its first vertex's node
    first_arc = np.full(pieces, -1, dtype=np.int64)
    order = np.arange(len(arc_piece))[::-1]
    first_arc[arc_piece[order]] = order
    piece_u = arc_source[first_arc].astype(np.int32)
    piece_v = arc_target[first_arc].astype(np.int32)
    arc_reversed = arc_source != piece_u[arc_piece]
    fwd = np.full(pieces, -1, dtype=np.int32)
    bwd = np.full(pieces, -1, dtype=np.int32)
    arc_ids = np.arange(len(arc_piece), dtype=np.int32)
    fwd[arc_piece[~arc_reversed]] = arc_ids[~arc_reversed]
    bwd[arc_piece[arc_reversed]] = arc_ids[arc_reversed]
    out_arcs = np.argsort(arc_source, kind="stable").astype(np.int32)
    out_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(arc_source, minlength=n), out=out_start[1:])
    name_ids, names = _intern(piece_name)
    highway_ids, highways = _intern(list(piece_highway))
    return RoadNetwork(
        version_id=version_id,
        city_code=city_code,
        node_lon=np.ascontiguousarray(node_lon, dtype=np.float64),
        node_lat=np.ascontiguousarray(node_lat, dtype=np.float64),
        arc_source=arc_source.astype(np.int32),
        arc_target=arc_target.astype(np.int32),
        arc_piece=arc_piece.astype(np.int32),
        arc_reversed=arc_reversed,
        arc_walk_ms=np.minimum(arc_walk_ms, INF_MS).astype(np.int32),
        arc_drive_ms=np.minimum(arc_drive_ms, INF_MS).astype(np.int32),
        piece_u=piece_u,
        piece_v=piece_v,
        piece_offsets=piece_offsets.astype(np.int64),
        coords=np.ascontiguousarray(coords, dtype=np.float64),
        vertex_m=vertex_m,
        piece_length_m=piece_length,
        piece_forward_arc=fwd,
        piece_backward_arc=bwd,
        piece_name=name_ids,
        piece_highway=highway_ids.astype(np.int16),
        names=names,
        highways=highways,
        out_start=out_start,
        out_arcs=out_arcs,
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
    )
