"""Matching: from an item to the sites that handle it, open when the citizen arrives.

With a road network for the origin, one bounded one-to-many search from the
origin gives every candidate's travel time; arrival times are checked against
each site's hours (holidays and 调休 included), and the sites are ordered by
when the citizen can be served: arrival, or opening time if that is later.
Without a network (Jinan until its OSM extract is imported) the answer is
ordered by straight-line distance, every result marked as an estimate, and no
travel time is invented.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from geoalchemy2 import Geography
from numpy.typing import NDArray
from pyproj import Geod
from sqlalchemy import cast, func, select, text
from sqlalchemy.orm import Session

from catalogue.calendar import HolidayCalendar
from catalogue.hours import next_open, open_state, today_hours
from catalogue.models import Item, SiteItem
from catalogue.service import sites_handling
from geo.models import Site, SiteStatus
from geo.service import region_at
from routing.engine import Engine, Route, Snap, Snaps
from routing.errors import NoNetwork
from routing.holder import EngineHolder
from routing.profiles import Mode

LonLat = tuple[float, float]
NEARBY_LEFT_OUT = 10
STRAIGHT_LINE_RANGE_M = 60_000.0
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class MatchRequest:
    origin: LonLat
    depart_at: datetime
    mode: Mode
    k: int = 5
    max_minutes: float = 60.0
    max_wait_minutes: float = 120.0
    service_minutes: float = 15.0
    """Time needed at the window: a hall closing sooner after arrival does not count as open."""


@dataclass
class Candidate:
    """A site considered for the answer; ``reason`` says why it was left out, if it was."""

    distance_m: float
    position: int = -1
    """Index in the :class:`SiteIndex` (routed answers)."""
    site: Site | None = None
    link: SiteItem | None = None
    duration_s: float | None = None
    arrive_at: datetime | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    ready_at: datetime | None = None
    open_on_arrival: bool | None = None
    open_now: bool | None = None
    hours_today: str | None = None
    route: Route | None = None
    target: Snap | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass
class Exclusion:
    site: Site
    distance_m: float
    reason: str
    detail: str


@dataclass
class MatchOutcome:
    item: Item
    request: MatchRequest
    routed: bool
    reason: str | None
    engine: Engine | None
    results: list[Candidate] = field(default_factory=list)
    left_out: list[Exclusion] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def match_item(
    session: Session,
    holder: EngineHolder,
    calendar: HolidayCalendar,
    item: Item,
    request: MatchRequest,
) -> MatchOutcome:
    """Sites handling ``item`` ordered by when the citizen can be served there."""
    try:
        engine = engine_for(session, holder, request.origin, request.mode)
    except NoNetwork as no_network:
        return _straight_line(session, calendar, item, request, no_network)
    return _routed(session, engine, calendar, item, request)


def engine_for(session: Session, holder: EngineHolder, origin: LonLat, mode: Mode) -> Engine:
    """The engine covering ``origin``. :class:`NoNetwork` only where the city has no network:
    a point off the network of a city that has one is :class:`OutsideNetwork` (field ``from``),
    not a reason to fall back to straight lines saying the city has no roads."""
    try:
        return holder.engine_at(session, *origin)
    except NoNetwork as no_network:
        city = no_network.detail.get("city_code")
        covering = holder.current.get(city) if isinstance(city, str) else None
        if covering is not None:
            covering.snap(*origin, mode, "from")  # raises OutsideNetwork with the distance
        raise


def _with_distance(
    session: Session, origin: LonLat, *clauses: object, limit: int
) -> list[tuple[Site, float]]:
    point = cast(func.ST_SetSRID(func.ST_MakePoint(*origin), 4326), Geography)
    geog = cast(Site.geom, Geography)
    distance = func.ST_Distance(geog, point)
    rows = session.execute(
        select(Site, distance)
        .where(Site.status == SiteStatus.published, *clauses)  # type: ignore[arg-type]
        .order_by(distance, Site.id)
        .limit(limit)
    ).all()
    return [(site, float(d)) for site, d in rows]


def _routed(
    session: Session, engine: Engine, calendar: HolidayCalendar, item: Item, request: MatchRequest
) -> MatchOutcome:
    outcome = MatchOutcome(item, request, routed=True, reason=None, engine=engine)
    origin = engine.snap(*request.origin, request.mode, "from")
    index = site_index(session, engine)
    handling = index.positions(_handling_ids(session, item.code))
    horizon = timedelta(minutes=request.max_minutes + request.max_wait_minutes)
    clock = _Clock(calendar, request.depart_at, request.depart_at + horizon,
                   round(request.service_minutes * 60_000), outcome.warnings)  # fmt: skip
    reached = _search(engine, origin, index, handling, clock, request)
    chosen = [
        _candidate(index, p, reached.get(p), request, calendar)
        for p in reached.served(request.k, index.site_ids)
    ]
    nearby = _nearby(index, handling, chosen, reached, engine, origin, clock, request, calendar)
    sites = _load_sites(session, [c.position for c in chosen] + [c.position for c in nearby], index)
    links = _links(session, item.code, [index.site_ids[c.position] for c in chosen])
    for c in chosen:
        c.site = sites[c.position]
        c.link = links.get(c.site.id)
        assert c.arrive_at is not None and c.target is not None
        c.hours_today = today_hours(c.site.opening_hours or "24/7", c.arrive_at.date(), calendar)
        c.route = engine.route(origin, c.target, request.mode)
    outcome.results = chosen
    outcome.left_out = [
        Exclusion(sites[c.position], c.distance_m, c.reason or "", c.detail or "") for c in nearby
    ]
    return outcome


@dataclass(frozen=True)
class SiteIndex:
    """Published sites within one network, snapped once per mode, as arrays.

    Built on first use and rebuilt when the sites change, so a request touches only
    the arrays, never a row per candidate site.
    """

    version_id: int
    fingerprint: str
    site_ids: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    exprs: list[str]
    """The distinct opening-hours expressions; ``expr_ids`` points each site at its own."""
    expr_ids: NDArray[np.int32]
    snaps: dict[Mode, Snaps]

    def positions(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Positions of ``ids`` in the index (ids of sites outside the network dropped)."""
        pos = np.searchsorted(self.site_ids, ids)
        pos = np.minimum(pos, max(len(self.site_ids) - 1, 0))
        found = (self.site_ids[pos] == ids) if len(self.site_ids) else np.zeros(len(ids), bool)
        return np.asarray(pos[found], dtype=np.int64)


_SITE_FINGERPRINT = text(
    "SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(max(updated_at)::text, '') "
    "FROM sites WHERE status = 'published'"
)
_indexes: dict[int, SiteIndex] = {}
_indexes_lock = threading.Lock()


CACHE_CHECK_S = 2.0
"""How long the site index and the item → sites lists are trusted before the database is
asked again: a site published by a maintainer is matched at most this much later."""
_checked_at: dict[int, float] = {}


def site_index(session: Session, engine: Engine) -> SiteIndex:
    version = engine.network.version_id
    cached = _indexes.get(version)
    if cached is not None and time.monotonic() - _checked_at.get(version, -1e9) < CACHE_CHECK_S:
        return cached
    fingerprint = str(session.scalar(_SITE_FINGERPRINT))
    _checked_at[version] = time.monotonic()
    if cached is not None and cached.fingerprint == fingerprint:
        return cached
    west, south, east, north = engine.network.extent
    rows = session.execute(
        select(Site.id, func.ST_X(Site.geom), func.ST_Y(Site.geom), Site.opening_hours)
        .where(
            Site.status == SiteStatus.published,
            func.ST_Intersects(Site.geom, func.ST_MakeEnvelope(west, south, east, north, 4326)),
        )
        .order_by(Site.id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    lon = np.array([r[1] for r in rows], dtype=np.float64)
    lat = np.array([r[2] for r in rows], dtype=np.float64)
    hours = [r[3] or "24/7" for r in rows]
    exprs = sorted(set(hours))
    expr_ids = np.array([exprs.index(h) for h in hours], dtype=np.int32)
    snaps = {mode: engine.snap_points(lon, lat, mode) for mode in Mode}
    built = SiteIndex(version, fingerprint, ids, lon, lat, exprs, expr_ids, snaps)
    with _indexes_lock:
        _indexes.clear()  # one network version per city is active; old ones are not needed
        _indexes[version] = built
    return built


_HANDLING = text(
    "SELECT array_agg(site_id ORDER BY site_id) FROM site_items WHERE item_code = :code"
)
_handling: OrderedDict[str, tuple[float, NDArray[np.int64]]] = OrderedDict()
HANDLING_CACHE_ITEMS = 256


def _handling_ids(session: Session, item_code: str) -> NDArray[np.int64]:
    """Ids of the sites that handle the item (the most recently asked items are cached)."""
    hit = _handling.get(item_code)
    if hit is not None and time.monotonic() - hit[0] < CACHE_CHECK_S:
        _handling.move_to_end(item_code)
        return hit[1]
    ids = session.scalar(_HANDLING, {"code": item_code}) or []  # one array: cheap to fetch
    found = np.array(ids, dtype=np.int64)
    with _indexes_lock:
        _handling[item_code] = (time.monotonic(), found)
        _handling.move_to_end(item_code)
        while len(_handling) > HANDLING_CACHE_ITEMS:
            _handling.popitem(last=False)
    return found


NEVER = np.int64(2**62)


@dataclass
class _Clock:
    """Opening windows of each hours expression over one request's horizon, for array checks.

    The windows are the open periods :func:`earliest_service` walks through, so
    ``ready`` answers the same question for thousands of arrivals at once.
    """

    calendar: HolidayCalendar
    start: datetime
    end: datetime
    need_ms: int
    warnings: list[str]
    _windows: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = field(default_factory=dict)

    def windows(self, expr: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if expr not in self._windows:
            opens: list[int] = []
            closes: list[int] = []
            at = self.start
            for _ in range(64):
                if at > self.end:
                    break
                state = open_state(expr, at, self.calendar)
                if state.warning and state.warning not in self.warnings:
                    self.warnings.append(state.warning)
                if not state.is_open:
                    following = next_open(expr, at, self.calendar)
                    if following is None or following <= at:
                        break
                    at = following
                    continue
                opens.append(_ms(at))
                closes.append(int(NEVER) if state.closes_at is None else _ms(state.closes_at))
                if state.closes_at is None:
                    break
                following = next_open(expr, state.closes_at + timedelta(seconds=1), self.calendar)
                if following is None:
                    break
                at = following
            self._windows[expr] = (np.array(opens, np.int64), np.array(closes, np.int64))
        return self._windows[expr]

    def ready(
        self, expr: str, arrive_ms: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Earliest service start (-1: none within the horizon) and that period's closing."""
        ready = np.full(len(arrive_ms), -1, np.int64)
        closing = np.full(len(arrive_ms), -1, np.int64)
        for o, c in zip(*self.windows(expr), strict=True):
            fits = (ready < 0) & (c - self.need_ms >= arrive_ms)
            ready[fits] = np.maximum(arrive_ms[fits], o)
            closing[fits] = c
        return ready, closing


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int, like: datetime) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=like.tzinfo)


@dataclass
class _Reached:
    """What the search learnt about one handling site: travel ms (None: not within the
    limit), service start and closing in epoch ms (-1: not served in time)."""

    ms: int | None
    ready_ms: int
    closes_ms: int


@dataclass
class _ReachTable:
    """Everything the search learnt, as arrays sorted by site position."""

    positions: NDArray[np.int64]
    ms: NDArray[np.int64]
    ready_ms: NDArray[np.int64]
    closes_ms: NDArray[np.int64]
    extra: dict[int, _Reached] = field(default_factory=dict)
    """Sites looked up one by one afterwards (nearby ones the search stopped before)."""

    def get(self, position: int) -> _Reached | None:
        if position in self.extra:
            return self.extra[position]
        i = int(np.searchsorted(self.positions, position))
        if i < len(self.positions) and self.positions[i] == position:
            return _Reached(int(self.ms[i]), int(self.ready_ms[i]), int(self.closes_ms[i]))
        return None

    def served(self, k: int, site_ids: NDArray[np.int64]) -> list[int]:
        """The ``k`` positions served first (by service start, travel time, site id)."""
        ok = np.flatnonzero(self.ready_ms >= 0)
        order = np.lexsort((site_ids[self.positions[ok]], self.ms[ok], self.ready_ms[ok]))
        return [int(p) for p in self.positions[ok][order][:k]]


def _search(
    engine: Engine,
    origin: Snap,
    index: SiteIndex,
    handling: NDArray[np.int64],
    clock: _Clock,
    request: MatchRequest,
) -> _ReachTable:
    """Travel times and service times of the sites that can be served soonest.

    The bounded search stops after the ``budget`` nearest sites by travel time; since
    service can never start before arrival, once ``k`` sites are served no later than
    the last arrival seen, no farther site can beat them. Otherwise the budget grows.
    """
    limit_ms = round(request.max_minutes * 60_000)
    wait_ms = round(request.max_wait_minutes * 60_000)
    depart_ms = _ms(request.depart_at)
    targets = index.snaps[request.mode].take(handling)
    budget = min(len(handling), max(8 * request.k, 40))
    while True:
        _, best = engine.bounded_search(origin, request.mode, limit_ms, targets, k=budget)
        found = np.flatnonzero(best <= limit_ms)
        found = found[np.argsort(best[found], kind="stable")][:budget]
        positions = handling[found]
        arrive = depart_ms + best[found].astype(np.int64)
        ready = np.full(len(found), -1, np.int64)
        closes = np.full(len(found), -1, np.int64)
        expr_ids = index.expr_ids[positions]
        for expr_id in np.unique(expr_ids).tolist():
            mask = expr_ids == expr_id
            ready[mask], closes[mask] = clock.ready(index.exprs[expr_id], arrive[mask])
        ready[(ready >= 0) & (ready - arrive > wait_ms)] = -1
        served = np.sort(ready[ready >= 0])
        done = len(found) < budget or budget >= len(handling) or not len(found)
        if done or (len(served) >= request.k and served[request.k - 1] <= arrive[-1]):
            order = np.argsort(positions, kind="stable")
            ms = best[found].astype(np.int64)
            return _ReachTable(positions[order], ms[order], ready[order], closes[order])
        budget = min(len(handling), budget * 4)


def _candidate(
    index: SiteIndex,
    position: int,
    state: _Reached | None,
    request: MatchRequest,
    calendar: HolidayCalendar,
) -> Candidate:
    """The candidate as answers show it; ``state`` None: unreachable from any road."""
    c = Candidate(position=position, distance_m=_geodesic_m(index, position, request.origin))
    c.target = index.snaps[request.mode][position]
    if c.target is None or state is None:
        c.reason, c.detail = (
            "unreachable",
            "场所离可用道路太远 — the site is too far from any usable road",
        )
        return c
    if state.ms is None:
        c.reason = "out_of_range"
        c.detail = (f"{request.max_minutes:.0f} 分钟内无法到达 — not reachable within "
                    f"{request.max_minutes:.0f} min ({request.mode.value})")  # fmt: skip
        return c
    c.duration_s = state.ms / 1000.0
    c.arrive_at = request.depart_at + timedelta(milliseconds=state.ms)
    if state.ready_ms >= 0:
        c.ready_at = _moment(state.ready_ms, request.depart_at)
        c.closes_at = (
            None if state.closes_ms >= NEVER else _moment(state.closes_ms, request.depart_at)
        )
        c.open_on_arrival = c.ready_at == c.arrive_at
        c.opens_at = None if c.open_on_arrival else c.ready_at
        return c
    expr = index.exprs[int(index.expr_ids[position])]
    reopening = next_open(expr, c.arrive_at, calendar)
    when = (
        f"下次开放 next opening {reopening:%Y-%m-%d %H:%M}"
        if reopening
        else "近期不开放 not open soon"
    )
    c.open_on_arrival = False
    c.reason = "closed_on_arrival"
    c.detail = (
        f"{c.arrive_at:%m-%d %H:%M} 到达时未开放或即将下班 — closed (or closing within "
        f"{request.service_minutes:.0f} min) on arrival; {when}"
    )
    return c


def _geodesic_m(index: SiteIndex, position: int, origin: LonLat) -> float:
    return float(_GEOD.inv(origin[0], origin[1], index.lon[position], index.lat[position])[2])


def _nearby(
    index: SiteIndex,
    handling: NDArray[np.int64],
    chosen: list[Candidate],
    reached: _ReachTable,
    engine: Engine,
    origin: Snap,
    clock: _Clock,
    request: MatchRequest,
    calendar: HolidayCalendar,
) -> list[Candidate]:
    """The nearest sites (straight line) that were left out, each with its reason."""
    if not len(index.site_ids):
        return []
    lon, lat = request.origin
    rough = np.hypot((index.lon - lon) * np.cos(np.radians(lat)), index.lat - lat)
    shortlist = np.argsort(rough, kind="stable")[: 4 * NEARBY_LEFT_OUT + len(chosen)]
    exact = _GEOD.inv(np.full(len(shortlist), lon), np.full(len(shortlist), lat),
                      index.lon[shortlist], index.lat[shortlist])[2]  # fmt: skip
    order = [int(p) for p in shortlist[np.argsort(np.round(exact, 6), kind="stable")]]
    handles = set(handling.tolist())
    unknown = [p for p in order if p in handles and reached.get(p) is None]
    _fill_times(engine, origin, index, unknown, reached.extra, clock, request)
    chosen_positions = {c.position for c in chosen}
    left: list[Candidate] = []
    for position in order:
        if position in chosen_positions:
            continue
        if position not in handles:
            c = Candidate(
                position=position, distance_m=_geodesic_m(index, position, request.origin)
            )
            c.reason, c.detail = (
                "not_handled",
                "该场所不办理此事项 — this site does not handle the item",
            )
            left.append(c)
        elif (state := reached.get(position)) is None or state.ready_ms < 0:
            left.append(_candidate(index, position, state, request, calendar))
        if len(left) == NEARBY_LEFT_OUT:
            break
    return left


def _fill_times(
    engine: Engine,
    origin: Snap,
    index: SiteIndex,
    positions: list[int],
    reached: dict[int, _Reached],
    clock: _Clock,
    request: MatchRequest,
) -> None:
    """Times of a few more sites (nearby ones the search stopped before), by CH queries."""
    snaps = index.snaps[request.mode]
    reachable = [p for p in positions if snaps.piece[p] >= 0]
    if not reachable:
        return
    targets = [t for t in (snaps[p] for p in reachable) if t is not None]
    times = engine.matrix_ms([origin], targets, request.mode)[0]
    limit_ms = round(request.max_minutes * 60_000)
    wait_ms = round(request.max_wait_minutes * 60_000)
    depart_ms = _ms(request.depart_at)
    for p, t in zip(reachable, times, strict=True):
        if np.isnan(t) or t > limit_ms:
            reached[p] = _Reached(None, -1, -1)
            continue
        arrive = np.array([depart_ms + int(t)], np.int64)
        ready, closes = clock.ready(index.exprs[int(index.expr_ids[p])], arrive)
        served = ready[0] >= 0 and ready[0] - arrive[0] <= wait_ms
        reached[p] = _Reached(int(t), int(ready[0]) if served else -1, int(closes[0]))


def _load_sites(session: Session, positions: list[int], index: SiteIndex) -> dict[int, Site]:
    ids = [int(index.site_ids[p]) for p in positions]
    rows = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(ids)))}
    return {p: rows[int(index.site_ids[p])] for p in positions}


def _links(session: Session, item_code: str, site_ids: list[np.int64]) -> dict[int, SiteItem]:
    rows = session.scalars(
        select(SiteItem).where(SiteItem.item_code == item_code,
                               SiteItem.site_id.in_([int(i) for i in site_ids]))
    )  # fmt: skip
    return {link.site_id: link for link in rows}


def earliest_service(
    expr: str,
    arrive_at: datetime,
    need: timedelta,
    calendar: HolidayCalendar,
    latest: datetime,
    warnings: list[str] | None = None,
) -> tuple[datetime, datetime | None] | None:
    """The first moment from ``arrive_at`` (until ``latest``) at which the site is open
    for at least ``need``, with its closing time; None if there is none."""
    at = arrive_at
    while at <= latest:
        state = open_state(expr, at, calendar)
        if warnings is not None and state.warning and state.warning not in warnings:
            warnings.append(state.warning)
        if state.is_open and (state.closes_at is None or state.closes_at - at >= need):
            return at, state.closes_at
        # Open but closing too soon: try the next period. Closed: its next period (when
        # closed, ``closes_at`` is the *end* of that next period, so it must not be skipped).
        if state.is_open and state.closes_at is not None:
            following = next_open(expr, state.closes_at + timedelta(seconds=1), calendar)
        else:
            following = next_open(expr, at, calendar)
        if following is None or following <= at:
            return None
        at = following
    return None


def _not_handled(
    session: Session, origin: LonLat, links: dict[int, SiteItem], *clauses: object
) -> list[Exclusion]:
    nearby = _with_distance(
        session, origin, *clauses, Site.id.not_in(links) if links else True, limit=NEARBY_LEFT_OUT
    )
    return [
        Exclusion(site, d, "not_handled", "该场所不办理此事项 — this site does not handle the item")
        for site, d in nearby
    ]


def _straight_line(
    session: Session,
    calendar: HolidayCalendar,
    item: Item,
    request: MatchRequest,
    no_network: NoNetwork,
) -> MatchOutcome:
    """No network here: straight-line order, no travel time, hours judged at departure."""
    reason = (
        f"{no_network.message} 结果按直线距离排序，仅供参考，不含行程时间 — "
        "ordered by straight-line distance, no travel times."
    )
    outcome = MatchOutcome(item, request, routed=False, reason=reason, engine=None)
    links = sites_handling(session, item.code)
    region = region_at(session, request.origin)
    city_clause = Site.region_code.startswith(region.code[:4]) if region is not None else True
    point = cast(func.ST_SetSRID(func.ST_MakePoint(*request.origin), 4326), Geography)
    in_range = func.ST_DWithin(cast(Site.geom, Geography), point, STRAIGHT_LINE_RANGE_M)
    handling = _with_distance(
        session,
        request.origin,
        city_clause,
        in_range,
        Site.id.in_(links) if links else False,
        limit=request.k,
    )
    for site, distance in handling:
        candidate = Candidate(distance_m=distance, site=site, link=links[site.id])
        expr = site.opening_hours or "24/7"
        state = open_state(expr, request.depart_at, calendar)
        if state.warning and state.warning not in outcome.warnings:
            outcome.warnings.append(state.warning)
        candidate.open_now = state.is_open
        candidate.closes_at = state.closes_at if state.is_open else None
        candidate.opens_at = None if state.is_open else next_open(expr, request.depart_at, calendar)
        candidate.hours_today = today_hours(expr, request.depart_at.date(), calendar)
        outcome.results.append(candidate)
    outcome.left_out = _not_handled(session, request.origin, links, city_clause, in_range)
    return outcome
