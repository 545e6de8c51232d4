"""Compiled inner loops (numba): bounded Dijkstra, the snapping grid, isochrone rasters.

Each search keeps its scratch arrays (``dist`` filled with ``UNSET``) between
queries and resets only the entries it touched, so a query costs what it
explores, not the size of the graph. Times are int64 milliseconds.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

UNSET = np.int64(2**62)
_CACHE = True


@numba.njit(cache=_CACHE, inline="always")
def _push(
    keys: NDArray[np.int64], vals: NDArray[np.int32], size: int, key: np.int64, val: int
) -> int:
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@numba.njit(cache=_CACHE, inline="always")
def _pop(keys: NDArray[np.int64], vals: NDArray[np.int32], size: int) -> int:
    """Remove the root (read it before calling); returns the new size."""
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            child = left + 1
        if keys[i] <= keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        vals[child], vals[i] = vals[i], vals[child]
        i = child
    return size


@numba.njit(cache=_CACHE)
def bounded_dijkstra(
    out_start: NDArray[np.int32],
    arc_target: NDArray[np.int32],
    arc_ms: NDArray[np.int32],
    source_nodes: NDArray[np.int32],
    source_ms: NDArray[np.int64],
    limit_ms: np.int64,
    entry_node: NDArray[np.int32],
    entry_extra_ms: NDArray[np.int64],
    entry_target: NDArray[np.int32],
    target_count: int,
    k: int,
    dist: NDArray[np.int64],
    node_entry: NDArray[np.int32],
    touched: NDArray[np.int32],
) -> tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.int64]]:
    """Dijkstra from several (node, initial ms) sources, stopping past ``limit_ms``.

    Targets are reached through entries (node, extra ms); the search also stops
    once ``k`` targets are final (a target is final when its best time is not
    above the key just settled). Returns the settled nodes, their times, and the
    final time of each target (``UNSET`` if none within the limit).
    ``dist`` (all ``UNSET``) and ``node_entry`` (all -1) are scratch, restored on return.
    """
    entry_next = np.full(len(entry_node), -1, dtype=np.int32)
    for e in range(len(entry_node)):
        entry_next[e] = node_entry[entry_node[e]]
        node_entry[entry_node[e]] = e
    best = np.full(target_count, UNSET, dtype=np.int64)
    final = np.zeros(target_count, dtype=np.bool_)
    tkeys = np.empty(len(entry_node) + 1, dtype=np.int64)
    tvals = np.empty(len(entry_node) + 1, dtype=np.int32)
    tsize = 0
    finals = 0
    keys = np.empty(1024, dtype=np.int64)
    vals = np.empty(1024, dtype=np.int32)
    size = 0
    n_touched = 0
    for i in range(len(source_nodes)):
        s = source_nodes[i]
        if source_ms[i] < dist[s]:
            if dist[s] == UNSET:
                touched[n_touched] = s
                n_touched += 1
            dist[s] = source_ms[i]
            if size == len(keys):
                keys = np.concatenate((keys, np.empty(len(keys), dtype=np.int64)))
                vals = np.concatenate((vals, np.empty(len(vals), dtype=np.int32)))
            size = _push(keys, vals, size, source_ms[i], s)
    settled = np.empty(n_touched + 1024, dtype=np.int32)
    n_settled = 0
    while size > 0:
        d = keys[0]
        x = vals[0]
        size = _pop(keys, vals, size)
        if d != dist[x]:
            continue
        if d > limit_ms:
            break
        # targets whose best time cannot improve any more are final
        while tsize > 0 and tkeys[0] <= d:
            t = tvals[0]
            tk = tkeys[0]
            tsize = _pop(tkeys, tvals, tsize)
            if not final[t] and tk == best[t]:
                final[t] = True
                finals += 1
        if k > 0 and finals >= k:
            break
        if n_settled == len(settled):
            settled = np.concatenate((settled, np.empty(len(settled), dtype=np.int32)))
        settled[n_settled] = x
        n_settled += 1
        e = node_entry[x]
        while e != -1:
            t = entry_target[e]
            cand = d + entry_extra_ms[e]
            if cand < best[t] and cand <= limit_ms and not final[t]:
                best[t] = cand
                tsize = _push(tkeys, tvals, tsize, cand, t)
            e = entry_next[e]
        for a in range(out_start[x], out_start[x + 1]):
            w = arc_ms[a]
            if w >= 2147483647:
                continue
            y = arc_target[a]
            nd = d + w
            if nd < dist[y]:
                if dist[y] == UNSET:
                    touched[n_touched] = y
                    n_touched += 1
                dist[y] = nd
                if size == len(keys):
                    keys = np.concatenate((keys, np.empty(len(keys), dtype=np.int64)))
                    vals = np.concatenate((vals, np.empty(len(vals), dtype=np.int32)))
                size = _push(keys, vals, size, nd, y)
    while tsize > 0 and (k <= 0 or finals < k):
        t = tvals[0]
        tk = tkeys[0]
        tsize = _pop(tkeys, tvals, tsize)
        if not final[t] and tk == best[t]:
            final[t] = True
            finals += 1
    for t in range(target_count):
        if not final[t]:
            best[t] = UNSET
    nodes = settled[:n_settled].copy()
    times = np.empty(n_settled, dtype=np.int64)
    for i in range(n_settled):
        times[i] = dist[nodes[i]]
    for i in range(n_touched):
        dist[touched[i]] = UNSET
    for e in range(len(entry_node)):
        node_entry[entry_node[e]] = -1
    return nodes, times, best


@numba.njit(cache=_CACHE, inline="always")
def _local(e7: int, origin: int, scale: float) -> float:
    """Metres from the network's centre along one axis (1e-7° integers → local metres)."""
    return float(e7 - origin) * scale


Geometry = tuple[
    NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]
]
"""(node_e7, piece_u, piece_v, piece_offsets, inner_e7): see ``RoadNetwork.geometry``."""
EARTH_RADIUS_M = 6_371_008.8


@numba.njit(cache=_CACHE, inline="always")
def vertex(geom: Geometry, p: int, i: int) -> tuple[int, int]:
    """Vertex number ``i`` (of piece ``p``) in 1e-7°: a node at the piece's ends, else an
    inner vertex (``2p + 1`` end vertices of earlier pieces and this one come before it)."""
    node_e7, piece_u, piece_v, piece_offsets, inner_e7 = geom
    if i == piece_offsets[p]:
        n = piece_u[p]
        return node_e7[n, 0], node_e7[n, 1]
    if i == piece_offsets[p + 1] - 1:
        n = piece_v[p]
        return node_e7[n, 0], node_e7[n, 1]
    j = i - 2 * p - 1
    return inner_e7[j, 0], inner_e7[j, 1]


@numba.njit(cache=_CACHE, inline="always")
def segment_m(ax: int, ay: int, bx: int, by: int) -> float:
    """Great-circle metres between two 1e-7° points (as ``osm.haversine_m``)."""
    p1 = math.radians(ay * 1e-7)
    p2 = math.radians(by * 1e-7)
    dp = p2 - p1
    dl = math.radians(bx * 1e-7 - ax * 1e-7)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@numba.njit(cache=_CACHE)
def snap_along(
    pieces: NDArray[np.int32], seg: NDArray[np.int32], frac: NDArray[np.float64], geom: Geometry
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """For points on segments (vertex ``seg`` to the next, ``frac`` of the way): metres from
    the piece's start, longitude and latitude (zeros where ``pieces`` is -1)."""
    m = len(pieces)
    along = np.zeros(m)
    lon = np.zeros(m)
    lat = np.zeros(m)
    piece_offsets = geom[3]
    for q in range(m):
        p = pieces[q]
        if p < 0:
            continue
        total = 0.0
        for i in range(piece_offsets[p], seg[q]):
            ax, ay = vertex(geom, p, i)
            bx, by = vertex(geom, p, i + 1)
            total += segment_m(ax, ay, bx, by)
        ax, ay = vertex(geom, p, seg[q])
        bx, by = vertex(geom, p, seg[q] + 1)
        along[q] = total + frac[q] * segment_m(ax, ay, bx, by)
        lon[q] = ax * 1e-7 + frac[q] * (bx * 1e-7 - ax * 1e-7)
        lat[q] = ay * 1e-7 + frac[q] * (by * 1e-7 - ay * 1e-7)
    return along, lon, lat


@numba.njit(cache=_CACHE)
def build_grid(
    geom: Geometry,
    piece_ok: NDArray[np.bool_],
    ox: int,
    oy: int,
    sx: float,
    sy: float,
    x0: float,
    y0: float,
    cell_m: float,
    nx: int,
    ny: int,
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Bucket pieces (where ``piece_ok``) into the cells their segments meet, once per cell."""
    piece_offsets = geom[3]
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    last = np.full(nx * ny, -1, dtype=np.int32)
    start = np.zeros(nx * ny + 1, dtype=np.int32)
    items = np.empty(0, dtype=np.int32)
    fill = np.zeros(0, dtype=np.int64)
    for pass_ in range(2):
        if pass_ == 1:
            total = 0
            for c in range(nx * ny):
                start[c] = total
                total += counts[c]
            start[nx * ny] = total
            fill = start[:-1].astype(np.int64)
            items = np.empty(total, dtype=np.int32)
            last[:] = -1
        for p in range(len(piece_ok)):
            if not piece_ok[p]:
                continue
            for i in range(piece_offsets[p], piece_offsets[p + 1] - 1):
                ax_e7, ay_e7 = vertex(geom, p, i)
                bx_e7, by_e7 = vertex(geom, p, i + 1)
                ax = _local(ax_e7, ox, sx)
                bx = _local(bx_e7, ox, sx)
                ay = _local(ay_e7, oy, sy)
                by = _local(by_e7, oy, sy)
                cx0 = int((min(ax, bx) - x0) // cell_m)
                cx1 = int((max(ax, bx) - x0) // cell_m)
                cy0 = int((min(ay, by) - y0) // cell_m)
                cy1 = int((max(ay, by) - y0) // cell_m)
                for cy in range(max(cy0, 0), min(cy1, ny - 1) + 1):
                    for cx in range(max(cx0, 0), min(cx1, nx - 1) + 1):
                        c = cy * nx + cx
                        if last[c] == p:
                            continue
                        last[c] = p
                        if pass_ == 0:
                            counts[c] += 1
                        else:
                            items[fill[c]] = p
                            fill[c] += 1
    return start, items


@numba.njit(cache=_CACHE, inline="always")
def ring_cells(cx: int, cy: int, ring: int, nx: int, ny: int, out: NDArray[np.int64]) -> int:
    """The cells of an ``nx`` × ``ny`` grid at Chebyshev distance ``ring`` of cell (cx, cy),
    which may lie outside the grid, written to ``out`` (room for ``8 ring + 1``); their count."""
    k = 0
    for gy in range(max(cy - ring, 0), min(cy + ring, ny - 1) + 1):
        whole_row = ring == 0 or gy == cy - ring or gy == cy + ring
        for gx in range(cx - ring, cx + ring + 1, 1 if whole_row else 2 * ring):
            if 0 <= gx < nx:
                out[k] = gy * nx + gx
                k += 1
    return k


@numba.njit(cache=_CACHE)
def nearest_segment(
    px: NDArray[np.float64],
    py: NDArray[np.float64],
    geom: Geometry,
    piece_mask: NDArray[np.uint8],
    mode_bit: int,
    start: NDArray[np.int32],
    items: NDArray[np.int32],
    ox: int,
    oy: int,
    sx: float,
    sy: float,
    x0: float,
    y0: float,
    cell_m: float,
    nx: int,
    ny: int,
    radius_m: float,
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64], NDArray[np.float64]]:
    """For each point (local metres), the nearest segment of a piece usable in the mode.

    Rings of cells are searched outwards until no closer segment can exist.
    Returns (piece or -1, segment's first vertex, fraction along it, distance in metres).
    """
    m = len(px)
    piece_offsets = geom[3]
    piece = np.full(m, -1, dtype=np.int32)
    seg = np.full(m, -1, dtype=np.int32)
    frac = np.zeros(m)
    dist = np.full(m, np.inf)
    max_ring = int(radius_m // cell_m) + 1
    cells = np.empty(8 * max_ring + 1, dtype=np.int64)
    for q in range(m):
        qx, qy = px[q], py[q]
        cx = int((qx - x0) // cell_m)
        cy = int((qy - y0) // cell_m)
        best = radius_m * radius_m
        found = -1
        found_piece = -1
        best_t = 0.0
        for ring in range(max_ring + 1):
            if found >= 0 and (ring - 1) * cell_m > np.sqrt(best):
                break
            for k in range(ring_cells(cx, cy, ring, nx, ny, cells)):
                c = cells[k]
                for j in range(start[c], start[c + 1]):
                    p = items[j]
                    if not (piece_mask[p] & mode_bit):
                        continue
                    for i in range(piece_offsets[p], piece_offsets[p + 1] - 1):
                        ax_e7, ay_e7 = vertex(geom, p, i)
                        bx_e7, by_e7 = vertex(geom, p, i + 1)
                        ax = _local(ax_e7, ox, sx)
                        ay = _local(ay_e7, oy, sy)
                        dx = _local(bx_e7, ox, sx) - ax
                        dy = _local(by_e7, oy, sy) - ay
                        ll = dx * dx + dy * dy
                        t = 0.0
                        if ll > 0:
                            t = ((qx - ax) * dx + (qy - ay) * dy) / ll
                            t = min(1.0, max(0.0, t))
                        ex, ey = ax + t * dx - qx, ay + t * dy - qy
                        d2 = ex * ex + ey * ey
                        if d2 < best or (d2 == best and found >= 0 and i < found):
                            best = d2
                            found = i
                            found_piece = p
                            best_t = t
        if found >= 0:
            piece[q] = found_piece
            seg[q] = found
            frac[q] = best_t
            dist[q] = np.sqrt(best)
    return piece, seg, frac, dist


@numba.njit(cache=_CACHE)
def rasterize_reach(
    nodes: NDArray[np.int32],
    times: NDArray[np.int64],
    out_start: NDArray[np.int32],
    arc_ms: NDArray[np.int32],
    arc_piece: NDArray[np.int32],
    arc_reversed: NDArray[np.bool_],
    geom: Geometry,
    piece_length_m: NDArray[np.float32],
    limit: np.int64,
    ox: int,
    oy: int,
    sx: float,
    sy: float,
    x0: float,
    y0: float,
    cell_m: float,
    nx: int,
    ny: int,
) -> NDArray[np.int64]:
    """The earliest time each grid cell is reached along the arcs (``UNSET`` where never).

    Only the arcs leaving the settled ``nodes`` (reached at ``times``) are drawn;
    the reachable part of an arc is sampled every half cell.
    """
    grid = np.full(nx * ny, UNSET, dtype=np.int64)
    piece_offsets = geom[3]
    for k_node in range(len(nodes)):
        x = nodes[k_node]
        t0 = times[k_node]
        if t0 > limit:
            continue
        for a in range(out_start[x], out_start[x + 1]):
            w = arc_ms[a]
            if w >= 2147483647:
                continue
            p = arc_piece[a]
            length = float(piece_length_m[p])
            reach_m = length if t0 + w <= limit else length * (limit - t0) / w
            lo, hi = piece_offsets[p], piece_offsets[p + 1]
            s1 = 0.0
            for i in range(lo, hi - 1):
                ax_e7, ay_e7 = vertex(geom, p, i)
                bx_e7, by_e7 = vertex(geom, p, i + 1)
                s0 = s1
                seg = segment_m(ax_e7, ay_e7, bx_e7, by_e7)
                s1 = s0 + seg
                ax = _local(ax_e7, ox, sx)
                ay = _local(ay_e7, oy, sy)
                bx = _local(bx_e7, ox, sx)
                by = _local(by_e7, oy, sy)
                steps = int(seg / (cell_m * 0.5)) + 1
                for k in range(steps + 1):
                    s = s0 + seg * k / steps
                    along = length - s if arc_reversed[a] else s
                    if along > reach_m:
                        continue
                    t = t0 + (w * along / length if length > 0 else 0.0)
                    fx = ax + (bx - ax) * k / steps
                    fy = ay + (by - ay) * k / steps
                    gx = int((fx - x0) // cell_m)
                    gy = int((fy - y0) // cell_m)
                    if 0 <= gx < nx and 0 <= gy < ny:
                        c = gy * nx + gx
                        ti = np.int64(t)
                        if ti < grid[c]:
                            grid[c] = ti
    return grid


@numba.njit(cache=_CACHE)
def piece_arcs(
    pieces: NDArray[np.int32],
    piece_u: NDArray[np.int32],
    piece_v: NDArray[np.int32],
    out_start: NDArray[np.int32],
    arc_piece: NDArray[np.int32],
    arc_reversed: NDArray[np.bool_],
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Each piece's forward arc (leaving its first node) and backward arc, -1 where none."""
    forward = np.full(len(pieces), -1, dtype=np.int32)
    backward = np.full(len(pieces), -1, dtype=np.int32)
    for i in range(len(pieces)):
        p = pieces[i]
        u = piece_u[p]
        for a in range(out_start[u], out_start[u + 1]):
            if arc_piece[a] == p and not arc_reversed[a]:
                forward[i] = a
        v = piece_v[p]
        for a in range(out_start[v], out_start[v + 1]):
            if arc_piece[a] == p and arc_reversed[a]:
                backward[i] = a
    return forward, backward


@numba.njit(cache=_CACHE, inline="always")
def _be32(buf: NDArray[np.uint8], at: int) -> int:
    return (
        (int(buf[at]) << 24) | (int(buf[at + 1]) << 16) | (int(buf[at + 2]) << 8) | int(buf[at + 3])
    )


@numba.njit(cache=_CACHE, inline="always")
def _le32(buf: NDArray[np.uint8], at: int) -> int:
    return (
        (int(buf[at + 3]) << 24) | (int(buf[at + 2]) << 16) | (int(buf[at + 1]) << 8) | int(buf[at])
    )


@numba.njit(cache=_CACHE)
def parse_piece_rows(
    body: NDArray[np.uint8],
) -> tuple[
    NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_], NDArray[np.int64], NDArray[np.uint8]
]:
    """Binary COPY rows of (int4 name, int4 highway, bool roundabout, bytea little-endian WKB
    LineString): the three columns, each piece's vertex offsets and its coordinates as the
    bytes of (vertices, 2) little-endian float64 (viewed as such by the caller)."""
    rows = 0
    points = 0
    at = 0
    while at < len(body):
        length = _be32(body, at + 2 + 8 + 8 + 5)
        points += _le32(body, at + 2 + 8 + 8 + 5 + 4 + 5)
        at += 2 + 8 + 8 + 5 + 4 + length
        rows += 1
    name = np.empty(rows, dtype=np.int32)
    highway = np.empty(rows, dtype=np.int32)
    roundabout = np.empty(rows, dtype=np.bool_)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    coords = np.empty(points * 16, dtype=np.uint8)
    at = 0
    out = 0
    for r in range(rows):
        name[r] = np.int32(np.uint32(_be32(body, at + 6)))
        highway[r] = np.int32(np.uint32(_be32(body, at + 14)))
        roundabout[r] = body[at + 22] != 0
        length = _be32(body, at + 23)
        wkb = at + 27
        n = _le32(body, wkb + 5)
        coords[out : out + 16 * n] = body[wkb + 9 : wkb + 9 + 16 * n]
        out += 16 * n
        offsets[r + 1] = offsets[r] + n
        at = wkb + length
    return name, highway, roundabout, offsets, coords


@numba.njit(cache=_CACHE)
def arcs_line(
    arcs: NDArray[np.int64],
    arc_piece: NDArray[np.int32],
    arc_reversed: NDArray[np.bool_],
    geom: Geometry,
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """The vertices of consecutive arcs in travel order, each arc's first vertex left out
    (it ends the arc before), and per arc its first, second, last but one and last vertex
    (for bearings): ``(line (n, 2), ends (arcs, 4, 2))``, in 1e-7°."""
    piece_offsets = geom[3]
    total = 0
    for k in range(len(arcs)):
        p = arc_piece[arcs[k]]
        total += piece_offsets[p + 1] - piece_offsets[p] - 1
    line = np.empty((total, 2), dtype=np.int32)
    ends = np.empty((len(arcs), 4, 2), dtype=np.int32)
    at = 0
    for k in range(len(arcs)):
        p = arc_piece[arcs[k]]
        lo, hi = piece_offsets[p], piece_offsets[p + 1]
        n = hi - lo
        for j in range(n):
            i = hi - 1 - j if arc_reversed[arcs[k]] else lo + j
            x, y = vertex(geom, p, i)
            if j > 0:
                line[at, 0] = x
                line[at, 1] = y
                at += 1
            for slot, position in ((0, 0), (1, 1), (2, n - 2), (3, n - 1)):
                if j == position:
                    ends[k, slot, 0] = x
                    ends[k, slot, 1] = y
    return line, ends


@numba.njit(cache=_CACHE)
def piece_between(geom: Geometry, p: int, from_m: float, to_m: float) -> NDArray[np.float64]:
    """A piece's line between two distances along it, in travel order (lon, lat degrees)."""
    piece_offsets = geom[3]
    lo, hi = piece_offsets[p], piece_offsets[p + 1]
    a, b = min(from_m, to_m), max(from_m, to_m)
    out = np.empty((hi - lo + 2, 2))
    n = 0
    walked = 0.0
    px, py = vertex(geom, p, lo)
    done = False
    for i in range(lo, hi - 1):
        qx, qy = vertex(geom, p, i + 1)
        seg = segment_m(px, py, qx, qy)
        ax, ay, bx, by = px * 1e-7, py * 1e-7, qx * 1e-7, qy * 1e-7
        if n == 0 and walked + seg >= a:
            t = min(1.0, max(0.0, (a - walked) / seg)) if seg > 0 else 0.0
            out[n, 0] = ax + t * (bx - ax)
            out[n, 1] = ay + t * (by - ay)
            n += 1
        if n > 0 and walked + seg >= b:
            t = min(1.0, max(0.0, (b - walked) / seg)) if seg > 0 else 0.0
            out[n, 0] = ax + t * (bx - ax)
            out[n, 1] = ay + t * (by - ay)
            n += 1
            done = True
            break
        if n > 0 and a < walked + seg < b and i + 1 < hi - 1:
            out[n, 0] = bx
            out[n, 1] = by
            n += 1
        walked += seg
        px, py = qx, qy
    if not done:  # past the end (rounding): close at the last vertex
        if n == 0:
            out[n, 0] = px * 1e-7
            out[n, 1] = py * 1e-7
            n += 1
        out[n, 0] = px * 1e-7
        out[n, 1] = py * 1e-7
        n += 1
    line = out[:n].copy()
    if from_m > to_m:
        line = line[::-1].copy()
    return line
