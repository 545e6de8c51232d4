"""Road network versions in PostGIS: write an imported graph, read it back into arrays.

Rows go in with COPY (an import of a province writes millions); the caller's
transaction owns them, so a failed import leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import shapely
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from routing import kernels
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
HIERARCHY_METHOD = "daofu ch 4"
HIERARCHY_PART_BYTES = 4 * 2**20
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
        blob = built.to_bytes()
        parts = range(0, max(len(blob), 1), HIERARCHY_PART_BYTES)
        session.execute(
            text(
                "INSERT INTO road_network_hierarchies (version_id, mode, part, arcs, data, method) "
                "VALUES (:v, :mode, :part, :arcs, :data, :method)"
            ),
            [
                {
                    "v": version_id,
                    "mode": mode.value,
                    "part": i,
                    "arcs": built.arc_count,
                    "data": blob[start : start + HIERARCHY_PART_BYTES],
                    "method": HIERARCHY_METHOD,
                }
                for i, start in enumerate(parts)
            ],
        )


def versions_without_hierarchies(session: Session) -> list[int]:
    """Versions imported before hierarchies were stored (or with another method's)."""
    return list(
        session.scalars(
            text(
                "SELECT id FROM road_network_versions v WHERE (SELECT count(DISTINCT mode) "
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
    found: dict[Mode, Hierarchy] = {}
    with _driver_connection(session).cursor() as cur:
        for mode in Mode:
            body = _copy_body(
                cur,
                sql.SQL(
                    "SELECT data FROM road_network_hierarchies WHERE version_id = %(v)s "
                    "AND mode = %(mode)s AND method = %(m)s ORDER BY part"
                ),
                {"v": version_id, "mode": mode.value, "m": HIERARCHY_METHOD},
            )
            if body:
                found[mode] = Hierarchy.from_bytes(_join_parts(body))
            del body
    if set(found) != set(Mode) or any(len(h.first) != node_count + 1 for h in found.values()):
        return None
    return found


def _join_parts(body: bytearray) -> bytearray:
    """The bytea of COPY rows of one column (int16 field count, int32 length, bytes), joined."""
    joined = bytearray()
    at = 0
    while at < len(body):
        length = int.from_bytes(body[at + 2 : at + 6], "big")
        joined += body[at + 6 : at + 6 + length]
        at += 6 + length
    return joined


def _copy_body(cur: Any, query: sql.Composable, params: Mapping[str, object]) -> bytearray:
    """The tuples of a binary COPY of ``query`` (header and trailer cut off).

    A network has millions of rows and hierarchies of tens of MB: read as COPY
    chunks, they make no Python object per row and no huge text result in libpq,
    whose freed memory the allocator would keep (tens of MB of resident memory).
    """
    chunks = bytearray()
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query)
    with cur.copy(statement, params) as copy:
        for data in copy:
            chunks += data
    # header: 11-byte signature, int32 flags, int32 extension length; trailer: int16 -1
    extension = int.from_bytes(chunks[15:19], "big")
    return chunks[19 + extension : len(chunks) - 2]  # writable, for numpy views


def _copy_out(
    cur: Any, query: sql.Composable, params: Mapping[str, object], fields: list[str]
) -> Any:
    """Rows of fixed-width, never-null columns as a numpy record array (binary COPY).

    ``fields`` are big-endian numpy types, one per column (``>i4``, ``>f8``, ``?``).
    """
    body = _copy_body(cur, query, params)
    dtype = [("count", ">i2")]
    for i, field in enumerate(fields):
        dtype += [(f"len{i}", ">i4"), (f"f{i}", field)]
    return np.frombuffer(body, dtype=np.dtype(dtype))


FIRST_ARCS = sql.SQL(
    "SELECT * FROM (SELECT *, lag(piece_id) OVER (ORDER BY id) IS DISTINCT FROM piece_id "
    "AS first_of_piece FROM road_edges WHERE version_id = %(v)s) e WHERE first_of_piece"
)
"""The first arc of each piece (its geometry runs the piece's way)."""


def _dictionary(cur: Any, column: str, version_id: int) -> list[str]:
    """The distinct values of a text column of the version's edges, in a fixed order."""
    cur.execute(
        sql.SQL(
            "SELECT DISTINCT {c} FROM road_edges WHERE version_id = %s AND {c} IS NOT NULL "
            "ORDER BY {c}"
        ).format(c=sql.Identifier(column)),
        (version_id,),
    )
    return [row[0] for row in cur.fetchall()]


def read_network(session: Session, version_id: int, city_code: str) -> RoadNetwork:
    """Load a version's nodes and edges into a :class:`RoadNetwork` (one geometry per piece)."""
    conn = _driver_connection(session)
    v = {"v": version_id, "inf": INF_MS}
    with conn.cursor() as cur:
        nodes = _copy_out(
            cur,
            sql.SQL(
                "SELECT ST_X(geom), ST_Y(geom) FROM road_nodes WHERE version_id = %(v)s ORDER BY id"
            ),
            v,
            [">f8", ">f8"],
        )
        arcs = _copy_out(
            cur,
            sql.SQL(
                "SELECT piece_id, source, target, coalesce(walk_ms, %(inf)s), "
                "coalesce(drive_ms, %(inf)s) FROM road_edges WHERE version_id = %(v)s ORDER BY id"
            ),
            v,
            [">i4"] * 5,
        )
        names = _dictionary(cur, "name", version_id)
        highways = _dictionary(cur, "highway", version_id)
        # each piece's first arc runs its geometry's way: one row per piece
        name_ids, highway_ids, roundabout, offsets, coords_bytes = kernels.parse_piece_rows(
            np.frombuffer(
                _copy_body(
                    cur,
                    sql.SQL(
                        "SELECT coalesce(n.i, 0)::int4 - 1, h.i::int4 - 1, roundabout, "
                        "ST_AsBinary(geom, 'NDR') FROM ({}) f "
                        "LEFT JOIN unnest(%(names)s::text[]) WITH ORDINALITY n(name, i) "
                        "USING (name) JOIN unnest(%(highways)s::text[]) WITH ORDINALITY "
                        "h(highway, i) USING (highway) ORDER BY id"
                    ).format(FIRST_ARCS),
                    {**v, "names": names, "highways": highways},
                ),
                dtype=np.uint8,
            )
        )
    coords = coords_bytes.view("<f8").reshape(-1, 2).astype(np.float64)
    del coords_bytes
    name_of = [*names, None]  # index -1: no name
    return assemble(
        version_id=version_id,
        city_code=city_code,
        node_lon=nodes["f0"].astype(np.float64),
        node_lat=nodes["f1"].astype(np.float64),
        arc_piece=arcs["f0"].astype(np.int32),
        arc_source=arcs["f1"].astype(np.int32),
        arc_target=arcs["f2"].astype(np.int32),
        arc_walk_ms=arcs["f3"].astype(np.int64),
        arc_drive_ms=arcs["f4"].astype(np.int64),
        piece_offsets=offsets,
        coords=coords,
        piece_name=[name_of[i] for i in name_ids.tolist()],
        piece_highway=[highways[i] for i in highway_ids.tolist()],
        piece_roundabout=roundabout,
        hierarchies=read_hierarchies(session, version_id, len(nodes)),
    )
