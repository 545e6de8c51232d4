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

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from geoalchemy2 import Geography
from geoalchemy2.shape import to_shape
from sqlalchemy import cast, func, select
from sqlalchemy.orm import Session

from catalogue.calendar import HolidayCalendar
from catalogue.hours import next_open, open_state, today_hours
from catalogue.models import Item, SiteItem
from catalogue.service import sites_handling
from geo.models import Site, SiteStatus
from geo.service import region_at
from routing.engine import Engine, Route, Snap
from routing.errors import NoNetwork
from routing.holder import EngineHolder
from routing.profiles import Mode

LonLat = tuple[float, float]
NEARBY_LEFT_OUT = 10
STRAIGHT_LINE_RANGE_M = 60_000.0


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
    site: Site
    link: SiteItem | None
    distance_m: float
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
    origin_snap = engine.snap(*request.origin, request.mode, "from")
    links = sites_handling(session, item.code)
    west, south, east, north = engine.network.extent
    inside = func.ST_Intersects(Site.geom, func.ST_MakeEnvelope(west, south, east, north, 4326))
    handling = _with_distance(
        session, request.origin, inside, Site.id.in_(links) if links else False, limit=10_000
    )
    candidates = [Candidate(site, links[site.id], d) for site, d in handling]
    if candidates:
        _travel_times(engine, origin_snap, candidates, request)
    served, outcome.left_out = _check_hours(calendar, candidates, request, outcome.warnings)
    served.sort(key=lambda c: (c.ready_at, c.duration_s, c.site.id))
    outcome.results = served[: request.k]
    for candidate in outcome.results:
        assert candidate.target is not None
        candidate.route = engine.route(origin_snap, candidate.target, request.mode)
    outcome.left_out += _not_handled(session, request.origin, links, inside)
    outcome.left_out.sort(key=lambda e: e.distance_m)
    outcome.left_out = outcome.left_out[:NEARBY_LEFT_OUT]
    return outcome


def _travel_times(
    engine: Engine, origin: Snap, candidates: list[Candidate], request: MatchRequest
) -> None:
    """One bounded search from the origin gives every candidate's time."""
    points = np.array([to_shape(c.site.geom).coords[0] for c in candidates], dtype=np.float64)
    pieces, along, dist, slon, slat = engine.snap_many(points[:, 0], points[:, 1], request.mode)
    targets: list[Snap | None] = [
        Snap(int(p), float(a), float(x), float(y), float(d)) if p >= 0 else None
        for p, a, d, x, y in zip(pieces, along, dist, slon, slat, strict=True)
    ]
    limit_ms = round(request.max_minutes * 60_000)
    _, best = engine.bounded_search(origin, request.mode, limit_ms, targets)
    for candidate, target, ms in zip(candidates, targets, best, strict=True):
        candidate.target = target
        if target is not None and ms <= limit_ms:
            candidate.duration_s = float(ms) / 1000.0
            candidate.arrive_at = request.depart_at + timedelta(milliseconds=int(ms))


def _check_hours(
    calendar: HolidayCalendar,
    candidates: list[Candidate],
    request: MatchRequest,
    warnings: list[str],
) -> tuple[list[Candidate], list[Exclusion]]:
    served: list[Candidate] = []
    left_out: list[Exclusion] = []
    for c in candidates:
        if c.target is None:
            left_out.append(
                Exclusion(
                    c.site,
                    c.distance_m,
                    "unreachable",
                    "场所离可用道路太远 — the site is too far from any usable road",
                )
            )
            continue
        if c.arrive_at is None:
            left_out.append(
                Exclusion(
                    c.site,
                    c.distance_m,
                    "out_of_range",
                    f"{request.max_minutes:.0f} 分钟内无法到达 — not reachable within "
                    f"{request.max_minutes:.0f} min ({request.mode.value})",
                )
            )
            continue
        exclusion = _serve_time(calendar, c, c.arrive_at, request, warnings)
        if exclusion is None:
            served.append(c)
        else:
            left_out.append(exclusion)
    return served, left_out


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


def _serve_time(
    calendar: HolidayCalendar,
    c: Candidate,
    arrive_at: datetime,
    request: MatchRequest,
    warnings: list[str],
) -> Exclusion | None:
    """Set when the citizen can be served at ``c``; an exclusion if not soon enough."""
    expr = c.site.opening_hours or "24/7"
    c.hours_today = today_hours(expr, arrive_at.date(), calendar)
    latest = arrive_at + timedelta(minutes=request.max_wait_minutes)
    need = timedelta(minutes=request.service_minutes)
    served = earliest_service(expr, arrive_at, need, calendar, latest, warnings)
    if served is not None:
        c.ready_at, c.closes_at = served
        c.open_on_arrival = c.ready_at == arrive_at
        c.opens_at = None if c.open_on_arrival else c.ready_at
        return None
    reopening = next_open(expr, arrive_at, calendar)
    when = (
        f"下次开放 next opening {reopening:%Y-%m-%d %H:%M}"
        if reopening
        else "近期不开放 not open soon"
    )
    c.open_on_arrival = False
    return Exclusion(
        c.site,
        c.distance_m,
        "closed_on_arrival",
        f"{arrive_at:%m-%d %H:%M} 到达时未开放或即将下班 — closed (or closing within "
        f"{request.service_minutes:.0f} min) on arrival; {when}",
    )


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
        candidate = Candidate(site, links[site.id], distance)
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
