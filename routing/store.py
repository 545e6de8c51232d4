"""Road network versions in PostGIS: write an imported graph, read it back into arrays.

Rows go in with COPY (an import of a province writes millions); the caller's
transaction owns them, so a failed import leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from routing.hierarchy import Hierarchy
from routing.network import INF_MS, ArcTable, RoadNetwork, assemble
from routing.osm import Report, RoadGraph
from routing.profiles import Mode

EDGE_COLUMNS = (
    "version_id",
    "id",
    "piece_id",
    "source",
    "target",
    "osm_way_id",
    "highway",
    "name",
    "oneway",
    "maxspeed_kph",
    "length_m",
    "walk",
    "drive",
    "walk_speed_kph",
    "drive_speed_kph",
    "walk_ms",
    "drive_ms",
    "roundabout",
    "geom",
)
HIERARCHY_METHOD = "daofu ch 1"
"""Stored hierarchies of another method are ignored (and rebuilt when the engine loads)."""


def _driver_connection(session: Session) -> Any:
    """The psycopg connection under the session's transaction (for COPY)."""
    return session.connection().connection.driver_connection


def write_graph(
    session: Session, version_id: int, graph: RoadGraph, arcs: ArcTable, report: Report
) -> None:
    """COPY the nodes and directed edges of ``graph`` as version ``version_id``."""
    conn = _driver_connection(session)
    points = _ewkb(shapely.points(graph.node_lon, graph.node_lat))
    total = graph.node_count + len(arcs.piece)
    with (
        conn.cursor() as cur,
        cur.copy("COPY road_nodes (version_id, id, osm_id, geom) FROM STDIN") as copy,
    ):
        for i, (osm_id, wkb) in enumerate(zip(graph.node_osm_id.tolist(), points, strict=True)):
            copy.write_row((version_id, i, osm_id, wkb))
            if i % 50000 == 0:
                report("write nodes and edges", i, total)
    lines = shapely.linestrings(
        graph.coords, indices=np.repeat(np.arange(graph.piece_count), np.diff(graph.piece_offsets))
    )
    forward = _ewkb(lines)
    backward = _ewkb(shapely.reverse(lines))
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY road_edges ({', '.join(EDGE_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row, done in _edge_rows(version_id, graph, arcs, forward, backward):
            copy.write_row(row)
            if done % 50000 == 0:
                report("write nodes and edges", graph.node_count + done, total)
    report("write nodes and edges", total, total)


def _ewkb(geoms: Any) -> list[str]:
    """Hex EWKB with SRID 4326, as PostGIS reads it in COPY."""
    return list(shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True).tolist())


def _edge_rows(
    version_id: int, graph: RoadGraph, arcs: ArcTable, forward: list[str], backward: list[str]
) -> Iterator[tuple[tuple[object, ...], int]]:
    length = graph.piece_length_m.tolist()
    way_ids = graph.piece_way_id.tolist()
    for i in range(len(arcs.piece)):
        p = int(arcs.piece[i])
        access = graph.piece_access[p]
        walk_ms = int(arcs.walk_ms[i])
        drive_ms = int(arcs.drive_ms[i])
        row = (
            version_id,
            i,
            p,
            int(arcs.source[i]),
            int(arcs.target[i]),
            way_ids[p],
            graph.piece_highway[p],
            graph.piece_name[p],
            access.oneway,
            access.maxspeed_kph,
            length[p],
            bool(arcs.walk[i]),
            bool(arcs.drive[i]),
            access.walk_speed_kph,
            access.drive_speed_kph,
            walk_ms if walk_ms < INF_MS else None,
            drive_ms if drive_ms < INF_MS else None,
            access.roundabout,
            backward[p] if arcs.reversed[i] else forward[p],
        )
        yield row, i


def write_hierarchies(
    session: Session, version_id: int, hierarchies: dict[Mode, Hierarchy]
) -> None:
    """Store a version's contraction hierarchies (built at import: loading must not build)."""
    session.execute(
        text("DELETE FROM road_network_hierarchies WHERE version_id = :v"), {"v": version_id}
    )
    for mode, built in hierarchies.items():
        session.execute(
            text(
                "INSERT INTO road_network_hierarchies (version_id, mode, arcs, data, method) "
                "VALUES (:v, :mode, :arcs, :data, :method)"
            ),
            {
                "v": version_id,
                "mode": mode.value,
                "arcs": built.arc_count,
                "data": built.to_bytes(),
                "method": HIERARCHY_METHOD,
            },
        )


def versions_without_hierarchies(session: Session) -> list[int]:
    """Versions imported before hierarchies were stored (or with another method's)."""
    return list(
        session.scalars(
            text(
                "SELECT id FROM road_network_versions v WHERE (SELECT count(*) "
                "FROM road_network_hierarchies h WHERE h.version_id = v.id AND h.method = :m) "
                "< :modes ORDER BY id"
            ),
            {"m": HIERARCHY_METHOD, "modes": len(Mode)},
        )
    )


def read_hierarchies(
    session: Session, version_id: int, node_count: int
) -> dict[Mode, Hierarchy] | None:
    """The stored hierarchies, or None (versions imported before they were stored)."""
    rows = session.execute(
        text(
            "SELECT mode, data FROM road_network_hierarchies WHERE version_id = :v AND method = :m"
        ),
        {"v": version_id, "m": HIERARCHY_METHOD},
    ).all()
    found = {Mode(mode): Hierarchy.from_bytes(bytes(data)) for mode, data in rows}
    if set(found) != set(Mode) or any(len(h.first) != node_count + 1 for h in found.values()):
        return None
    return found


def read_network(session: Session, version_id: int, city_code: str) -> RoadNetwork:
    """Load a version's nodes and edges into a :class:`RoadNetwork` (one geometry per piece)."""
    conn = _driver_connection(session)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT ST_X(geom), ST_Y(geom) FROM road_nodes WHERE version_id = %s ORDER BY id",
            (version_id,),
        )
        nodes = np.array(cur.fetchall(), dtype=np.float64).reshape(-1, 2)
        cur.execute(
            "SELECT piece_id, source, target, coalesce(walk_ms, %s), coalesce(drive_ms, %s), "
            "highway, name, roundabout, "
            "CASE WHEN lag(piece_id) OVER (ORDER BY id) IS DISTINCT FROM piece_id "
            "THEN ST_AsBinary(geom) END "
            "FROM road_edges WHERE version_id = %s ORDER BY id",
            (INF_MS, INF_MS, version_id),
        )
        rows = cur.fetchall()
    piece = np.fromiter((r[0] for r in rows), dtype=np.int32, count=len(rows))
    source = np.fromiter((r[1] for r in rows), dtype=np.int32, count=len(rows))
    target = np.fromiter((r[2] for r in rows), dtype=np.int32, count=len(rows))
    walk_ms = np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows))
    drive_ms = np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows))
    firsts = [r for r in rows if r[8] is not None]
    geoms = shapely.from_wkb([bytes(r[8]) for r in firsts])
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    offsets = np.zeros(len(firsts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(index, minlength=len(firsts)), out=offsets[1:])
    return assemble(
        version_id=version_id,
        city_code=city_code,
        node_lon=nodes[:, 0],
        node_lat=nodes[:, 1],
        arc_piece=piece,
        arc_source=source,
        arc_target=target,
        arc_walk_ms=walk_ms,
        arc_drive_ms=drive_ms,
        piece_offsets=offsets,
        coords=coords,
        piece_name=[r[6] for r in firsts],
        piece_highway=[r[5] for r in firsts],
        piece_roundabout=np.array([r[7] for r in firsts], dtype=np.bool_),
        hierarchies=read_hierarchies(session, version_id, len(nodes)),
    )
