"""Read the highway ways of an OSM file (``.osm.pbf`` or ``.osm`` XML) into a road graph.

pyosmium (libosmium) reads both formats. Ways are split at every node shared
with another way (and at their ends) into *pieces*; a piece keeps the way's
geometry between two graph nodes, its tags and its access in each direction.
Graph nodes are the junctions and dead ends, as in OSRM or osmnx's simplified
graphs: intermediate vertices stay in the geometry, not in the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import osmium
import osmium.filter
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from routing.errors import OsmFileError
from routing.profiles import WayAccess, way_access

Report = Callable[[str, int, int], None]
EARTH_RADIUS_M = 6_371_008.8
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".xml")


@dataclass
class RoadGraph:
    """Junction nodes and road pieces between them, each piece with its geometry."""

    node_osm_id: NDArray[np.int64]
    node_lon: NDArray[np.float64]
    node_lat: NDArray[np.float64]
    piece_u: NDArray[np.int32]
    piece_v: NDArray[np.int32]
    piece_way_id: NDArray[np.int64]
    piece_highway: list[str]
    piece_name: list[str | None]
    piece_access: list[WayAccess]
    piece_length_m: NDArray[np.float64]
    piece_offsets: NDArray[np.int64]
    """Vertices of piece i are ``coords[piece_offsets[i]:piece_offsets[i + 1]]``, from u to v."""
    coords: NDArray[np.float64]
    ways_read: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def node_count(self) -> int:
        return len(self.node_osm_id)

    @property
    def piece_count(self) -> int:
        return len(self.piece_u)


def haversine_m(
    lon1: NDArray[np.float64],
    lat1: NDArray[np.float64],
    lon2: NDArray[np.float64],
    lat2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Great-circle distance in metres between arrays of points (degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)), dtype=np.float64)


@dataclass
class _Way:
    osm_id: int
    refs: list[int]
    lons: list[float]
    lats: list[float]
    highway: str
    name: str | None
    access: WayAccess


def _read_ways(path: Path, report: Report) -> list[_Way]:
    ways: list[_Way] = []
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    try:
        for way in processor:
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = {tag.k: tag.v for tag in way.tags}
            access = way_access(tags)
            if access is None:
                continue
            refs, lons, lats = [], [], []
            for node in way.nodes:
                if not node.location.valid():
                    refs.append(-1)  # node missing from the extract: the way is cut there
                    lons.append(0.0)
                    lats.append(0.0)
                    continue
                refs.append(node.ref)
                lons.append(node.location.lon)
                lats.append(node.location.lat)
            name = tags.get("name:zh") or tags.get("name") or tags.get("ref")
            ways.append(_Way(way.id, refs, lons, lats, tags["highway"], name, access))
            if len(ways) % 5000 == 0:
                report("read highway ways", len(ways), 0)
    except RuntimeError as exc:
        raise OsmFileError(str(path), str(exc)) from exc
    report("read highway ways", len(ways), len(ways))
    return ways


def _cut(way: _Way, inside: dict[int, bool] | None) -> list[list[int]]:
    """Index runs of the way to keep: cut at missing nodes, outside nodes, repeated refs."""
    runs: list[list[int]] = []
    run: list[int] = []
    for i, ref in enumerate(way.refs):
        keep = ref != -1 and (inside is None or inside[ref])
        if not keep:
            if len(run) >= 2:
                runs.append(run)
            run = []
            continue
        if run and way.refs[run[-1]] == ref:
            continue  # a duplicated consecutive node
        run.append(i)
    if len(run) >= 2:
        runs.append(run)
    return runs


def read_osm(
    path: Path, clip: BaseGeometry | None = None, report: Report | None = None
) -> RoadGraph:
    """Read a file's highway ways into a :class:`RoadGraph`, clipped to ``clip`` (WGS-84) if given.

    Raises :class:`OsmFileError` when the file is missing, unreadable or holds no usable road.
    """
    report = report or (lambda step, done, total: None)
    if not path.is_file():
        raise OsmFileError(str(path), "no such file")
    if not path.name.lower().endswith(OSM_SUFFIXES):
        raise OsmFileError(str(path), "expected an OpenStreetMap .osm.pbf or .osm (XML) file")
    ways = _read_ways(path, report)
    inside: dict[int, bool] | None = None
    if clip is not None:
        inside = _inside(ways, clip)
    runs = [(w, r) for w in ways for r in _cut(w, inside)]
    graph = _split(runs, report)
    graph.ways_read = len(ways)
    if graph.piece_count == 0:
        raise OsmFileError(
            str(path),
            "no usable highway way (inside the clip area)" if clip else "no usable highway way",
        )
    return graph


def _inside(ways: list[_Way], clip: BaseGeometry) -> dict[int, bool]:
    refs = {
        ref: (lon, lat)
        for w in ways
        for ref, lon, lat in zip(w.refs, w.lons, w.lats, strict=True)
        if ref != -1
    }
    ids = np.fromiter(refs, dtype=np.int64, count=len(refs))
    xy = np.array(list(refs.values()), dtype=np.float64).reshape(-1, 2)
    shapely.prepare(clip)
    mask = shapely.contains_xy(clip, xy[:, 0], xy[:, 1])
    return dict(zip(ids.tolist(), mask.tolist(), strict=True))


def _split(runs: list[tuple[_Way, list[int]]], report: Report) -> RoadGraph:
    """Split runs at junctions (nodes used more than once, run ends) into pieces."""
    uses: dict[int, int] = {}
    for way, run in runs:
        for k, i in enumerate(run):
            ref = way.refs[i]
            uses[ref] = uses.get(ref, 0) + (2 if k in (0, len(run) - 1) else 1)
    node_index: dict[int, int] = {}
    node_lon: list[float] = []
    node_lat: list[float] = []

    def node(ref: int, lon: float, lat: float) -> int:
        index = node_index.get(ref)
        if index is None:
            index = node_index[ref] = len(node_lon)
            node_lon.append(lon)
            node_lat.append(lat)
        return index

    pieces: list[tuple[_Way, list[int]]] = []
    for way, run in runs:
        start = 0
        for k in range(1, len(run)):
            if uses[way.refs[run[k]]] >= 2 or k == len(run) - 1:
                pieces.extend(_no_loops(way, run[start : k + 1]))
                start = k
    u, v, way_ids, highways, names, accesses, offsets = [], [], [], [], [], [], [0]
    lons: list[float] = []
    lats: list[float] = []
    for done, (way, idx) in enumerate(pieces, start=1):
        first, last = idx[0], idx[-1]
        u.append(node(way.refs[first], way.lons[first], way.lats[first]))
        v.append(node(way.refs[last], way.lons[last], way.lats[last]))
        way_ids.append(way.osm_id)
        highways.append(way.highway)
        names.append(way.name)
        accesses.append(way.access)
        lons.extend(way.lons[i] for i in idx)
        lats.extend(way.lats[i] for i in idx)
        offsets.append(len(lons))
        if done % 20000 == 0:
            report("split into road pieces", done, len(pieces))
    report("split into road pieces", len(pieces), len(pieces))
    coords = np.column_stack(
        [np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)]
    )
    offsets_a = np.asarray(offsets, dtype=np.int64)
    seg = (
        haversine_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
        if len(coords) > 1
        else np.zeros(0)
    )
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    length = cumulative[offsets_a[1:] - 1] - cumulative[offsets_a[:-1]]
    return RoadGraph(
        node_osm_id=np.fromiter(node_index, dtype=np.int64, count=len(node_index)),
        node_lon=np.asarray(node_lon, dtype=np.float64),
        node_lat=np.asarray(node_lat, dtype=np.float64),
        piece_u=np.asarray(u, dtype=np.int32),
        piece_v=np.asarray(v, dtype=np.int32),
        piece_way_id=np.asarray(way_ids, dtype=np.int64),
        piece_highway=highways,
        piece_name=names,
        piece_access=accesses,
        piece_length_m=np.asarray(length, dtype=np.float64),
        piece_offsets=offsets_a,
        coords=coords,
    )


def _no_loops(way: _Way, idx: list[int]) -> list[tuple[_Way, list[int]]]:
    """A piece that closes on itself is split at its middle vertex: an edge needs two ends."""
    if way.refs[idx[0]] != way.refs[idx[-1]]:
        return [(way, idx)]
    if len(idx) < 4:
        return []  # a degenerate loop (a→b→a) adds nothing a router could use
    middle = len(idx) // 2
    return [(way, idx[: middle + 1]), (way, idx[middle:])]
