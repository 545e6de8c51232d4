"""Contraction hierarchies of our own: one per mode, 32-bit weights, lean enough for a province.

Nodes are contracted least important first (edge difference, contracted
neighbours and depth, re-evaluated lazily when a node comes up). Contracting a
node adds a shortcut between two of its remaining neighbours only when a
bounded witness search finds no path as short that avoids it, so the hierarchy
holds about one shortcut per road arc (a CCH keeps every fill-in arc).

Each node keeps its *upward* arcs (to neighbours contracted later), sorted by
head, as CSR arrays: ``head``, the weight up (node → head) and down
(head → node), and for shortcuts the node they bypass (``-1``: a road arc).
A query is a bidirectional Dijkstra that only climbs; a shortcut unpacks into
its two halves, found among the bypassed node's upward arcs.

Weights are int32 milliseconds, ``INF`` (2³¹ − 1) for "no arc this way";
searches add in int64. Built at import (``daofu roads import``) and stored with
the network version, so loading a network does not contract it again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import ClassVar

import numba
import numpy as np
from numpy.typing import NDArray

from routing.kernels import UNSET, _pop, _push
from routing.profiles import Mode

INF = np.int64(2**31 - 1)
UNREACHED = UNSET
"""A distance no search has set (the kernels' ``UNSET``)."""
NBR, UP, DOWN, MUP, MDOWN = 0, 1, 2, 3, 4
"""Rows of the contraction's working pool of (neighbour, weight up, weight down, middles)."""
WITNESS_SETTLE_LIMIT = 400
"""Nodes a witness search may settle before it gives up (and the shortcut is kept)."""
SPARSE_DOWN_SHARE = 0.05
"""Below this share of arcs weighing differently down than up, only those keep a down weight."""
SIMULATE_SETTLE_LIMIT = 60
"""The same while only weighing which node to contract next."""
_CACHE = True


@numba.njit(cache=_CACHE, inline="always")
def _grow_heap(
    keys: NDArray[np.int64], vals: NDArray[np.int32], size: int
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    if size < len(keys):
        return keys, vals
    bigger_k = np.empty(2 * len(keys), dtype=np.int64)
    bigger_v = np.empty(2 * len(keys), dtype=np.int32)
    bigger_k[:size] = keys[:size]
    bigger_v[:size] = vals[:size]
    return bigger_k, bigger_v


@numba.njit(cache=_CACHE)
def _find(pool: NDArray[np.int32], lo: int, hi: int, x: int) -> int:
    for e in range(lo, hi):
        if pool[NBR, e] == x:
            return e
    return -1


@numba.njit(cache=_CACHE)
def _entry(
    pool: NDArray[np.int32],
    start: NDArray[np.int64],
    count: NDArray[np.int64],
    cap: NDArray[np.int64],
    top: int,
    owner: int,
    other: int,
) -> tuple[int, NDArray[np.int32], int]:
    """The entry of ``other`` in ``owner``'s list, added (INF both ways) if missing."""
    e = _find(pool, start[owner], start[owner] + count[owner], other)
    if e >= 0:
        return e, pool, top
    if count[owner] == cap[owner]:
        cap[owner] *= 2
        if top + cap[owner] > pool.shape[1]:
            grown = np.empty((pool.shape[0], max(2 * pool.shape[1], top + cap[owner])), np.int32)
            grown[:, :top] = pool[:, :top]
            pool = grown
        lo = start[owner]
        c = count[owner]
        pool[:, top : top + c] = pool[:, lo : lo + c]
        start[owner] = top
        top += cap[owner]
    e = start[owner] + count[owner]
    count[owner] += 1
    pool[NBR, e] = other
    pool[UP, e] = INF
    pool[DOWN, e] = INF
    pool[MUP, e] = -1
    pool[MDOWN, e] = -1
    return e, pool, top


@numba.njit(cache=_CACHE)
def _pass(
    v: int,
    add: bool,
    settle_limit: int,
    pool: NDArray[np.int32],
    start: NDArray[np.int64],
    count: NDArray[np.int64],
    cap: NDArray[np.int64],
    top: int,
    contracted: NDArray[np.bool_],
    dist: NDArray[np.int64],
    touched: NDArray[np.int32],
    hk: NDArray[np.int64],
    hv: NDArray[np.int32],
    live: NDArray[np.int32],
    live_up: NDArray[np.int64],
    live_down: NDArray[np.int64],
) -> tuple[int, int, NDArray[np.int32], int, NDArray[np.int64], NDArray[np.int32]]:
    """The shortcuts contracting ``v`` needs (added when ``add``): (shortcuts, live entries,
    pool, top, heap keys, heap values). ``live*`` hold v's live neighbours on return."""
    k = 0
    for e in range(start[v], start[v] + count[v]):
        x = pool[NBR, e]
        if contracted[x]:
            continue
        live[k] = x
        live_up[k] = pool[UP, e]
        live_down[k] = pool[DOWN, e]
        k += 1
    was = contracted[v]
    contracted[v] = True
    shortcuts = 0
    for a in range(k):
        if live_down[a] >= INF:
            continue
        source = live[a]
        bound = np.int64(-1)
        for b in range(k):
            if b != a and live_up[b] < INF:
                bound = max(bound, live_down[a] + live_up[b])
        if bound < 0:
            continue
        t = 1
        dist[source] = 0
        touched[0] = source
        hs = _push(hk, hv, 0, np.int64(0), source)
        settled = 0
        while hs > 0 and settled < settle_limit:
            d = hk[0]
            u = hv[0]
            hs = _pop(hk, hv, hs)
            if d > dist[u]:
                continue
            if d > bound:
                break
            settled += 1
            for e in range(start[u], start[u] + count[u]):
                x = pool[NBR, e]
                w = pool[UP, e]
                if w >= INF or contracted[x]:
                    continue
                nd = d + w
                if nd < dist[x] and nd <= bound:
                    if dist[x] == UNREACHED:
                        touched[t] = x
                        t += 1
                    dist[x] = nd
                    hk, hv = _grow_heap(hk, hv, hs)
                    hs = _push(hk, hv, hs, nd, x)
        for b in range(k):
            if b == a or live_up[b] >= INF:
                continue
            via = live_down[a] + live_up[b]
            target = live[b]
            if via >= INF or dist[target] <= via:
                continue
            shortcuts += 1
            if not add:
                continue
            e, pool, top = _entry(pool, start, count, cap, top, source, target)
            if via < pool[UP, e]:
                pool[UP, e] = via
                pool[MUP, e] = v
            e, pool, top = _entry(pool, start, count, cap, top, target, source)
            if via < pool[DOWN, e]:
                pool[DOWN, e] = via
                pool[MDOWN, e] = v
        for j in range(t):
            dist[touched[j]] = UNREACHED
    contracted[v] = was
    return shortcuts, k, pool, top, hk, hv


@numba.njit(cache=_CACHE, nogil=True)
def _contract(
    n: int,
    tail: NDArray[np.int32],
    head: NDArray[np.int32],
    weight: NDArray[np.int32],
    settle_limit: int,
    simulate_limit: int,
    progress: NDArray[np.int64],
) -> NDArray[np.int32]:
    """Contract every node, least important first (edge difference, contracted neighbours,
    depth; lazily re-evaluated). Returns the upward arcs as rows of (owner, head, up, down,
    middle up, middle down). ``progress[0]`` counts the work done, to ``2 n``: each node
    weighed first, then contracted (read by another thread: the GIL is released)."""
    m = len(tail)
    degree = np.zeros(n, dtype=np.int64)
    for a in range(m):
        if weight[a] < INF and tail[a] != head[a]:
            degree[tail[a]] += 1
            degree[head[a]] += 1
    cap = degree + 2
    start = np.zeros(n, dtype=np.int64)
    total = 0
    for v in range(n):
        start[v] = total
        total += cap[v]
    pool = np.empty((5, 2 * total + 16), dtype=np.int32)
    count = np.zeros(n, dtype=np.int64)
    top = total
    for a in range(m):
        w = weight[a]
        if w >= INF or tail[a] == head[a]:
            continue
        e, pool, top = _entry(pool, start, count, cap, top, tail[a], head[a])
        pool[UP, e] = min(pool[UP, e], w)
        e, pool, top = _entry(pool, start, count, cap, top, head[a], tail[a])
        pool[DOWN, e] = min(pool[DOWN, e], w)

    contracted = np.zeros(n, dtype=np.bool_)
    dist = np.full(n, UNREACHED, dtype=np.int64)
    touched = np.empty(n, dtype=np.int32)
    hk = np.empty(1024, dtype=np.int64)
    hv = np.empty(1024, dtype=np.int32)
    live = np.empty(n, dtype=np.int32)
    live_up = np.empty(n, dtype=np.int64)
    live_down = np.empty(n, dtype=np.int64)
    deleted = np.zeros(n, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    # the queue of nodes by priority (lazy: a popped node is re-evaluated first)
    qk = np.empty(n + 16, dtype=np.int64)
    qv = np.empty(n + 16, dtype=np.int32)
    qs = 0
    for v in range(n):
        s, k, pool, top, hk, hv = _pass(v, False, simulate_limit, pool, start, count, cap, top,
                                        contracted, dist, touched, hk, hv, live, live_up,
                                        live_down)  # fmt: skip
        qk, qv = _grow_heap(qk, qv, qs)
        qs = _push(qk, qv, qs, np.int64(4 * (s - k)), v)
        progress[0] = v + 1
    out = np.empty((6, m + 16), dtype=np.int32)
    o = 0
    while qs > 0:
        v = qv[0]
        qs = _pop(qk, qv, qs)
        if contracted[v]:
            continue
        s, k, pool, top, hk, hv = _pass(v, False, simulate_limit, pool, start, count, cap, top,
                                        contracted, dist, touched, hk, hv, live, live_up,
                                        live_down)  # fmt: skip
        priority = np.int64(4 * (s - k) + 2 * deleted[v] + depth[v])
        if qs > 0 and priority > qk[0]:
            qk, qv = _grow_heap(qk, qv, qs)
            qs = _push(qk, qv, qs, priority, v)
            continue
        s, k, pool, top, hk, hv = _pass(v, True, settle_limit, pool, start, count, cap, top,
                                        contracted, dist, touched, hk, hv, live, live_up,
                                        live_down)  # fmt: skip
        contracted[v] = True
        progress[0] += 1
        # v's upward arcs: its entries to live nodes (re-read: the pass may have moved nothing
        # of v's own list, but the weights are final only now)
        for e in range(start[v], start[v] + count[v]):
            x = pool[NBR, e]
            if contracted[x]:
                continue
            if o == out.shape[1]:
                grown = np.empty((6, 2 * out.shape[1]), dtype=np.int32)
                grown[:, :o] = out[:, :o]
                out = grown
            out[0, o] = v
            out[1, o] = x
            out[2, o] = pool[UP, e]
            out[3, o] = pool[DOWN, e]
            out[4, o] = pool[MUP, e]
            out[5, o] = pool[MDOWN, e]
            o += 1
            deleted[x] += 1
            depth[x] = max(depth[x], depth[v] + 1)
    return out[:, :o].copy()


Weights = tuple[NDArray[np.int32], NDArray[np.uint8], NDArray[np.int32], NDArray[np.int32]]
"""An arc weight per arc, with exceptions: see :func:`_weight`."""
Middles = tuple[
    NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]
]
"""(shortcut_words, shortcut_rank, middle, odd_arc, odd_middle) of a :class:`Hierarchy`."""


@dataclass
class Hierarchy:
    """One mode's contraction hierarchy: the upward arcs of every node, CSR by node.

    A shortcut's upward direction bypasses a node: the arcs that are shortcuts are the
    set bits of ``shortcut_words`` (bit ``a % 32`` of word ``a // 32``), and their
    bypassed nodes are listed in ``middle`` in arc order, ``shortcut_rank[w]`` of them
    before word ``w`` (road arcs, about half, take no room there).
    The downward direction bypasses the same node except for the arcs listed in
    ``odd_arc`` (sorted), whose downward middle is ``odd_middle`` (walking arcs
    almost never differ, so one array serves both directions). Likewise, when few
    arcs weigh differently down than up (walking), ``down`` is empty and only those
    arcs are kept, in ``asym_arc`` (sorted) and ``asym_down``.
    """

    first: NDArray[np.int32]
    head: NDArray[np.int32]
    up: NDArray[np.int32]
    down: NDArray[np.int32]
    shortcut_words: NDArray[np.int32]
    shortcut_rank: NDArray[np.int32]
    middle: NDArray[np.int32]
    odd_arc: NDArray[np.int32]
    odd_middle: NDArray[np.int32]
    asym_arc: NDArray[np.int32]
    asym_down: NDArray[np.int32]

    ARRAYS: ClassVar[tuple[str, ...]] = (
        "first", "head", "up", "down", "shortcut_words", "shortcut_rank", "middle",
        "odd_arc", "odd_middle", "asym_arc", "asym_down",
    )  # fmt: skip

    def __post_init__(self) -> None:
        self._asym_bits = np.zeros(0, dtype=np.uint8)
        if len(self.down) == 0 and len(self.head):
            bits = np.zeros(len(self.head), dtype=np.bool_)
            bits[self.asym_arc] = True
            self._asym_bits = np.packbits(bits, bitorder="little")

    def middles(self) -> Middles:
        """What unpacking reads (see :func:`_middle_up` and :func:`_middle_down`)."""
        return self.shortcut_words, self.shortcut_rank, self.middle, self.odd_arc, self.odd_middle

    def upward(self) -> Weights:
        """What a search reads for the arcs' upward weights (no exceptions)."""
        return self.up, NO_BITS, NO_ARCS, NO_ARCS

    def downward(self) -> Weights:
        """What a search reads for the downward weights: weights, and the exceptions' bits,
        arcs and weights."""
        if len(self.down) or not len(self.head):
            return self.down, NO_BITS, NO_ARCS, NO_ARCS
        return self.up, self._asym_bits, self.asym_arc, self.asym_down

    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self.ARRAYS) + self._asym_bits.nbytes

    @property
    def arc_count(self) -> int:
        return len(self.head)

    def to_bytes(self) -> bytes:
        """The arrays as stored with the network version: their lengths (int64), then the
        arrays (int32, little-endian), in the order of ``ARRAYS``."""
        arrays = [np.ascontiguousarray(getattr(self, name), dtype="<i4") for name in self.ARRAYS]
        lengths = np.array([len(a) for a in arrays], dtype="<i8")
        return lengths.tobytes() + b"".join(a.tobytes() for a in arrays)

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> Hierarchy:
        """The arrays of :meth:`to_bytes`, as views on ``blob`` (no copy; writable if it is:
        the compiled searches then serve stored and freshly built hierarchies alike)."""
        lengths = np.frombuffer(blob, dtype="<i8", count=len(cls.ARRAYS))
        offset = lengths.nbytes
        arrays = {}
        for name, length in zip(cls.ARRAYS, lengths.tolist(), strict=True):
            arrays[name] = np.frombuffer(blob, dtype="<i4", count=length, offset=offset)
            offset += 4 * length
        return cls(**arrays)


def build_hierarchies(
    tail: NDArray[np.int32],
    head: NDArray[np.int32],
    walk_ms: NDArray[np.int32] | NDArray[np.int64],
    drive_ms: NDArray[np.int32] | NDArray[np.int64],
    node_count: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[Mode, Hierarchy]:
    """One hierarchy per mode (what an import stores), contracted side by side (the
    contraction releases the GIL); ``progress(done, total)`` hears how far every few tenths
    of a second."""
    weights = {Mode.walk: walk_ms, Mode.drive: drive_ms}
    counters = {mode: np.zeros(1, dtype=np.int64) for mode in weights}
    total = 2 * node_count * len(weights)
    with ThreadPoolExecutor(max_workers=len(weights)) as pool:
        building = {
            pool.submit(build_hierarchy, tail, head, w, node_count, progress=counters[mode]): mode
            for mode, w in weights.items()
        }
        pending = set(building)
        while pending:
            _, pending = wait(pending, timeout=0.25)
            if progress is not None:
                progress(sum(int(c[0]) for c in counters.values()), total)
        return {building[f]: f.result() for f in building}


def build_hierarchy(
    tail: NDArray[np.int32],
    head: NDArray[np.int32],
    weight: NDArray[np.int32] | NDArray[np.int64],
    node_count: int,
    settle_limit: int = WITNESS_SETTLE_LIMIT,
    progress: NDArray[np.int64] | None = None,
) -> Hierarchy:
    """Contract the graph (``weight`` ``INF``: the mode may not use the arc)."""
    rows = _contract(
        node_count,
        np.ascontiguousarray(tail, dtype=np.int32),
        np.ascontiguousarray(head, dtype=np.int32),
        np.ascontiguousarray(np.minimum(weight, INF), dtype=np.int32),
        settle_limit,
        SIMULATE_SETTLE_LIMIT,
        np.zeros(1, dtype=np.int64) if progress is None else progress,
    )
    owner, up_head = rows[0], rows[1]
    by_owner = np.lexsort((up_head, owner))
    rows = rows[:, by_owner]
    del by_owner
    first = np.zeros(node_count + 1, dtype=np.int32)
    np.cumsum(np.bincount(owner, minlength=node_count), out=first[1:])
    middle_up, middle_down = rows[4], rows[5]
    odd = np.flatnonzero(middle_up != middle_down).astype(np.int32)
    shortcut = middle_up >= 0
    padded = np.zeros(-(-len(shortcut) // 32) * 32, dtype=np.bool_)
    padded[: len(shortcut)] = shortcut
    words = np.packbits(padded, bitorder="little").view("<i4")
    per_word = np.add.reduceat(padded.astype(np.int32), np.arange(0, len(padded), 32))
    rank = np.zeros(len(words), dtype=np.int32)
    np.cumsum(per_word[:-1], out=rank[1:])
    asym = np.flatnonzero(rows[2] != rows[3]).astype(np.int32)
    sparse = len(asym) < SPARSE_DOWN_SHARE * rows.shape[1]
    return Hierarchy(
        first=first,
        head=rows[1].copy(),
        up=rows[2].copy(),
        down=NO_ARCS.copy() if sparse else rows[3].copy(),
        shortcut_words=words.astype(np.int32),
        shortcut_rank=rank,
        middle=middle_up[shortcut].copy(),
        odd_arc=odd,
        odd_middle=middle_down[odd].copy(),
        asym_arc=asym if sparse else NO_ARCS.copy(),
        asym_down=rows[3][asym].copy() if sparse else NO_ARCS.copy(),
    )


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _weight(
    weights: Weights,
    a: int,
) -> np.int64:
    """An arc's weight: ``weights[0][a]``, unless ``a`` is flagged in ``weights[1]`` (then the
    weight listed for it in ``weights[3]``, by its place in ``weights[2]``)."""
    dense, bits, arcs, listed = weights
    if len(bits) and bits[a >> 3] & (1 << (a & 7)):
        return np.int64(listed[np.searchsorted(arcs, a)])
    return np.int64(dense[a])


@numba.njit(cache=_CACHE, nogil=True)
def _climb(
    first: NDArray[np.int32],
    head: NDArray[np.int32],
    relax: Weights,
    stall: Weights,
    hk: NDArray[np.int64],
    hv: NDArray[np.int32],
    hs: int,
    dist: NDArray[np.int64],
    parent: NDArray[np.int32],
    touched: NDArray[np.int32],
    t: int,
    other: NDArray[np.int64],
    best: np.int64,
    meet: int,
) -> tuple[NDArray[np.int64], NDArray[np.int32], int, int, np.int64, int]:
    """Settle the smallest key of one side's heap and relax its upward arcs (``relax``: this
    side's weights). Stall on demand: a node that a higher node already reached reaches
    sooner through its arc back down (``stall``: the other way's weights) relaxes nothing,
    as no shortest path climbs through it."""
    d = hk[0]
    u = hv[0]
    hs = _pop(hk, hv, hs)
    if d > dist[u]:
        return hk, hv, hs, t, best, meet
    for a in range(first[u], first[u + 1]):
        x = head[a]
        if dist[x] < d:
            back = _weight(stall, a)
            if back < INF and dist[x] + back < d:
                return hk, hv, hs, t, best, meet
    if other[u] < UNREACHED and d + other[u] < best:
        best = d + other[u]
        meet = u
    for a in range(first[u], first[u + 1]):
        w = _weight(relax, a)
        if w >= INF:
            continue
        x = head[a]
        nd = d + w
        if nd < dist[x]:
            if dist[x] >= UNREACHED:
                touched[t] = x
                t += 1
            dist[x] = nd
            parent[x] = a
            hk, hv = _grow_heap(hk, hv, hs)
            hs = _push(hk, hv, hs, nd, x)
    return hk, hv, hs, t, best, meet


NO_BITS = np.zeros(0, dtype=np.uint8)
NO_ARCS = np.zeros(0, dtype=np.int32)


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _seed(
    nodes: NDArray[np.int32],
    ms: NDArray[np.int64],
    dist: NDArray[np.int64],
    parent: NDArray[np.int32],
    touched: NDArray[np.int32],
    t: int,
    hk: NDArray[np.int64],
    hv: NDArray[np.int32],
    hs: int,
) -> tuple[NDArray[np.int64], NDArray[np.int32], int, int]:
    """Start one side of a search at (node, ms) entries: (heap keys, values, size, touched)."""
    for i in range(len(nodes)):
        s = nodes[i]
        if ms[i] < dist[s]:
            if dist[s] >= UNREACHED:
                touched[t] = s
                t += 1
            dist[s] = ms[i]
            parent[s] = -1
            hk, hv = _grow_heap(hk, hv, hs)
            hs = _push(hk, hv, hs, ms[i], s)
    return hk, hv, hs, t


@numba.njit(cache=_CACHE, nogil=True)
def _query(
    first: NDArray[np.int32],
    head: NDArray[np.int32],
    upward: Weights,
    downward: Weights,
    source_nodes: NDArray[np.int32],
    source_ms: NDArray[np.int64],
    target_nodes: NDArray[np.int32],
    target_ms: NDArray[np.int64],
    dist_f: NDArray[np.int64],
    dist_b: NDArray[np.int64],
    parent_f: NDArray[np.int32],
    parent_b: NDArray[np.int32],
    touched_f: NDArray[np.int32],
    touched_b: NDArray[np.int32],
) -> tuple[np.int64, int, NDArray[np.int32], NDArray[np.int32]]:
    """Shortest time from any source to any target (entries with initial ms).

    Returns (time or ``UNREACHED``, the meeting node, the upward arcs of the
    forward half from the source up, and of the backward half from the meeting
    node down). The scratch arrays are restored before returning.
    """
    hkf = np.empty(256, dtype=np.int64)
    hvf = np.empty(256, dtype=np.int32)
    hkb = np.empty(256, dtype=np.int64)
    hvb = np.empty(256, dtype=np.int32)
    hkf, hvf, hsf, tf = _seed(source_nodes, source_ms, dist_f, parent_f, touched_f, 0, hkf, hvf, 0)
    hkb, hvb, hsb, tb = _seed(target_nodes, target_ms, dist_b, parent_b, touched_b, 0, hkb, hvb, 0)
    best = UNREACHED
    meet = -1
    # a node reached by both sides at once (a source that is also a target)
    for j in range(tf):
        s = touched_f[j]
        if dist_b[s] < UNREACHED and dist_f[s] + dist_b[s] < best:
            best = dist_f[s] + dist_b[s]
            meet = s
    while True:
        kf = hkf[0] if hsf > 0 else UNREACHED
        kb = hkb[0] if hsb > 0 else UNREACHED
        if min(kf, kb) >= best or (hsf == 0 and hsb == 0):
            break
        if kf <= kb:
            hkf, hvf, hsf, tf, best, meet = _climb(
                first, head, upward, downward,
                hkf, hvf, hsf, dist_f, parent_f, touched_f, tf, dist_b, best, meet,
            )  # fmt: skip
        else:
            hkb, hvb, hsb, tb, best, meet = _climb(
                first, head, downward, upward,
                hkb, hvb, hsb, dist_b, parent_b, touched_b, tb, dist_f, best, meet,
            )  # fmt: skip
    up_arcs = np.empty(0, dtype=np.int32)
    down_arcs = np.empty(0, dtype=np.int32)
    if meet >= 0:
        up_arcs = _chain(parent_f, first, meet)[::-1].copy()
        down_arcs = _chain(parent_b, first, meet)
    for j in range(tf):
        dist_f[touched_f[j]] = UNREACHED
    for j in range(tb):
        dist_b[touched_b[j]] = UNREACHED
    return best, meet, up_arcs, down_arcs


@numba.njit(cache=_CACHE, nogil=True)
def _owner(first: NDArray[np.int32], arc: int) -> int:
    """The node whose upward arc ``arc`` is (binary search in ``first``)."""
    lo, hi = 0, len(first) - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if first[mid] <= arc:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(cache=_CACHE, nogil=True)
def _chain(parent: NDArray[np.int32], first: NDArray[np.int32], node: int) -> NDArray[np.int32]:
    """The upward arcs that reached ``node``, from ``node`` back to where the search began."""
    arcs = []
    while parent[node] >= 0:
        a = parent[node]
        arcs.append(a)
        node = _owner(first, a)
    out = np.empty(len(arcs), dtype=np.int32)
    for i in range(len(arcs)):
        out[i] = arcs[i]
    return out


@numba.njit(cache=_CACHE, nogil=True)
def _arc_between(first: NDArray[np.int32], head: NDArray[np.int32], low: int, high: int) -> int:
    """The upward arc of ``low`` to ``high`` (heads are sorted)."""
    lo, hi = first[low], first[low + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if head[mid] < high:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _middle_up(middles: Middles, a: int) -> int:
    """The node arc ``a`` bypasses going up (-1: a road arc)."""
    words, rank, middle = middles[0], middles[1], middles[2]
    word = np.uint32(words[a >> 5])
    bit = a & 31
    if not (word >> bit) & 1:
        return -1
    below = word & np.uint32((1 << bit) - 1)
    count = 0
    while below:
        below &= below - np.uint32(1)
        count += 1
    return int(middle[rank[a >> 5] + count])


@numba.njit(cache=_CACHE, nogil=True)
def _middle_down(middles: Middles, a: int) -> int:
    """The node arc ``a`` bypasses going down: as going up but for the listed odd arcs."""
    odd_arc, odd_middle = middles[3], middles[4]
    i = np.searchsorted(odd_arc, a)
    if i < len(odd_arc) and odd_arc[i] == a:
        return int(odd_middle[i])
    return _middle_up(middles, a)


@numba.njit(cache=_CACHE, nogil=True)
def _unpack(
    first: NDArray[np.int32],
    head: NDArray[np.int32],
    middles: Middles,
    up_arcs: NDArray[np.int32],
    down_arcs: NDArray[np.int32],
    start: int,
) -> NDArray[np.int32]:
    """The road nodes of a hierarchy path: up the forward arcs from ``start``, then down."""
    nodes = [np.int32(start)]
    # stack of (from, to, middle) still to expand, last on top
    stack_from = []
    stack_to = []
    stack_mid = []
    hops_from = []
    hops_to = []
    hops_mid = []
    current = start
    for a in up_arcs:
        x = head[a]
        hops_from.append(current)
        hops_to.append(x)
        hops_mid.append(_middle_up(middles, a))
        current = x
    for a in down_arcs:
        low = _owner(first, a)
        hops_from.append(current)
        hops_to.append(low)
        hops_mid.append(_middle_down(middles, a))
        current = low
    for h in range(len(hops_from)):
        stack_from.append(hops_from[h])
        stack_to.append(hops_to[h])
        stack_mid.append(hops_mid[h])
        while len(stack_from) > 0:
            f = stack_from.pop()
            t = stack_to.pop()
            m = stack_mid.pop()
            if m < 0:
                nodes.append(np.int32(t))
                continue
            # f → m is the downward arc of m's upward arc to f; m → t its upward arc to t
            a_fm = _arc_between(first, head, m, f)
            a_mt = _arc_between(first, head, m, t)
            stack_from.append(m)
            stack_to.append(t)
            stack_mid.append(_middle_up(middles, a_mt))
            stack_from.append(f)
            stack_to.append(m)
            stack_mid.append(_middle_down(middles, a_fm))
    out = np.empty(len(nodes), dtype=np.int32)
    for i in range(len(nodes)):
        out[i] = nodes[i]
    return out


@numba.njit(cache=_CACHE, nogil=True)
def _road_arcs(
    out_start: NDArray[np.int32],
    arc_target: NDArray[np.int32],
    arc_ms: NDArray[np.int32],
    nodes: NDArray[np.int32],
) -> NDArray[np.int64]:
    """The fastest road arc between each two consecutive nodes of a path."""
    arcs = np.empty(max(len(nodes) - 1, 0), dtype=np.int64)
    for i in range(len(nodes) - 1):
        a, b = nodes[i], nodes[i + 1]
        best = -1
        for arc in range(out_start[a], out_start[a + 1]):
            if arc_target[arc] == b and (best < 0 or arc_ms[arc] < arc_ms[best]):
                best = arc
        arcs[i] = best
    return arcs


@numba.njit(cache=_CACHE, nogil=True)
def _space(
    first: NDArray[np.int32],
    head: NDArray[np.int32],
    relax: Weights,
    stall: Weights,
    nodes: NDArray[np.int32],
    ms: NDArray[np.int64],
    dist: NDArray[np.int64],
    parent: NDArray[np.int32],
    touched: NDArray[np.int32],
) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """Every node the upward search from (node, ms) entries reaches, with its time."""
    hk = np.empty(256, dtype=np.int64)
    hv = np.empty(256, dtype=np.int32)
    hk, hv, hs, t = _seed(nodes, ms, dist, parent, touched, 0, hk, hv, 0)
    best = np.int64(-1)  # nothing to meet: ``other`` is never below -1
    while hs > 0:
        hk, hv, hs, t, best, _ = _climb(
            first, head, relax, stall, hk, hv, hs, dist, parent, touched, t, dist, best, -1
        )
    out_nodes = touched[:t].copy()
    out_ms = np.empty(t, dtype=np.int64)
    for j in range(t):
        out_ms[j] = dist[out_nodes[j]]
        dist[out_nodes[j]] = UNREACHED
    return out_nodes, out_ms


class Scratch:
    """Working memory of one query at a time (both directions), restored after each."""

    def __init__(self, node_count: int) -> None:
        self.dist_f = np.full(node_count, UNREACHED, dtype=np.int64)
        self.dist_b = np.full(node_count, UNREACHED, dtype=np.int64)
        self.parent_f = np.full(node_count, -1, dtype=np.int32)
        self.parent_b = np.full(node_count, -1, dtype=np.int32)
        self.touched_f = np.empty(node_count, dtype=np.int32)
        self.touched_b = np.empty(node_count, dtype=np.int32)


def shortest_path(
    h: Hierarchy,
    scratch: Scratch,
    sources: list[tuple[int, int]],
    targets: list[tuple[int, int]],
) -> tuple[int, NDArray[np.int32]] | None:
    """The fastest way from any (node, ms) source entry to any target entry: its time in ms
    (entries included) and its road nodes, or None when no target can be reached."""
    if not sources or not targets:
        return None
    best, meet, up_arcs, down_arcs = _query(
        h.first,
        h.head,
        h.upward(),
        h.downward(),
        np.array([s for s, _ in sources], dtype=np.int32),
        np.array([w for _, w in sources], dtype=np.int64),
        np.array([t for t, _ in targets], dtype=np.int32),
        np.array([w for _, w in targets], dtype=np.int64),
        scratch.dist_f,
        scratch.dist_b,
        scratch.parent_f,
        scratch.parent_b,
        scratch.touched_f,
        scratch.touched_b,
    )
    if meet < 0 or best >= INF:
        return None
    start = _owner(h.first, int(up_arcs[0])) if len(up_arcs) else meet
    nodes = _unpack(h.first, h.head, h.middles(), up_arcs, down_arcs, start)
    return int(best), nodes


def upward_space(
    h: Hierarchy, scratch: Scratch, entries: list[tuple[int, int]], forward: bool
) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """The nodes an upward search from ``entries`` settles (forward: from a source; backward:
    towards a target), with their times; a matrix meets the two halves."""
    relax, stall = (h.upward(), h.downward()) if forward else (h.downward(), h.upward())
    return _space(
        h.first,
        h.head,
        relax,
        stall,
        np.array([n for n, _ in entries], dtype=np.int32),
        np.array([w for _, w in entries], dtype=np.int64),
        scratch.dist_f,
        scratch.parent_f,
        scratch.touched_f,
    )


def road_arcs(
    out_start: NDArray[np.int32],
    arc_target: NDArray[np.int32],
    arc_ms: NDArray[np.int32],
    nodes: NDArray[np.int32],
) -> NDArray[np.int64]:
    """The road arcs of a path given by its nodes (the fastest where roads run parallel)."""
    return _road_arcs(out_start, arc_target, arc_ms, nodes)
