"""Bundle itineraries (一件事一次办): which sites, in which order, to finish soonest.

Every item of a bundle is done at one site that handles it, during its opening
hours, taking the item's service time at the window; several items can be done
in one visit. Waiting is allowed, so arriving earlier never finishes later
(the FIFO property), and the earliest finish per (items done, last site) state
is all a search needs: a dynamic programme over subsets × sites is exact over
the candidate sites. Candidates are every site that handles an item within the
network when there are few; otherwise the ``CANDIDATES_PER_ITEM`` fastest to
reach from the origin for each item, plus any site that handles two or more of
the bundle's items (``exact`` then says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.calendar import HolidayCalendar
from catalogue.errors import BundleNotFeasible
from catalogue.matching import earliest_service
from catalogue.models import BundleItem, Item, SiteItem
from geo.models import Site, SiteStatus
from routing.engine import Engine, Route, Snap
from routing.profiles import Mode

ALL_CANDIDATES_UP_TO = 24
CANDIDATES_PER_ITEM = 4
MAX_ITEMS = 10


@dataclass(frozen=True)
class Visit:
    """One item done at one site."""

    item: Item
    site: Site
    arrive_at: datetime
    start_at: datetime
    finish_at: datetime
    travel_s: float
    route: Route | None


@dataclass(frozen=True)
class Itinerary:
    visits: list[Visit]
    depart_at: datetime
    finish_at: datetime
    travel_s: float
    wait_s: float
    exact: bool
    candidates: int


@dataclass(frozen=True)
class _Problem:
    items: list[Item]
    service: list[timedelta]
    sites: list[Site]
    snaps: list[Snap]
    handles: list[list[bool]]  # handles[item][site]
    from_origin_ms: np.ndarray
    between_ms: np.ndarray  # [site][site]


def plan_itinerary(
    session: Session,
    engine: Engine,
    calendar: HolidayCalendar,
    steps: list[tuple[BundleItem, Item]],
    origin: Snap,
    depart_at: datetime,
    mode: Mode,
    max_wait: timedelta = timedelta(days=3),
) -> Itinerary:
    """The visits that finish every item of the bundle soonest."""
    if len(steps) > MAX_ITEMS:
        raise BundleNotFeasible(
            f"一件事最多 {MAX_ITEMS} 项 — at most {MAX_ITEMS} items per itinerary"
        )
    problem, exact = _problem(session, engine, steps, origin, mode)
    best = _solve(problem, calendar, depart_at, depart_at + max_wait)
    if best is None:
        names = "、".join(i.name for i in problem.items)
        raise BundleNotFeasible(
            f"在网络范围内找不到能在 {max_wait.days} 天内办完的场所组合：{names} — "
            "no sites within the road network can finish every item in time"
        )
    return _itinerary(engine, problem, best, origin, depart_at, mode, exact)


def _problem(
    session: Session, engine: Engine, steps: list[tuple[BundleItem, Item]], origin: Snap, mode: Mode
) -> tuple[_Problem, bool]:
    items = [item for _, item in steps]
    west, south, east, north = engine.network.extent
    rows = session.execute(
        select(SiteItem.item_code, Site)
        .join(Site, Site.id == SiteItem.site_id)
        .where(
            SiteItem.item_code.in_([i.code for i in items]),
            Site.status == SiteStatus.published,
            func.ST_Intersects(Site.geom, func.ST_MakeEnvelope(west, south, east, north, 4326)),
        )
        .order_by(Site.id)
    ).all()
    sites = {site.id: site for _, site in rows}
    handled: dict[int, set[str]] = {}
    for code, site in rows:
        handled.setdefault(site.id, set()).add(code)
    ordered = sorted(sites.values(), key=lambda s: s.id)
    snaps = _snap_all(engine, ordered, mode)
    keep = [i for i, snap in enumerate(snaps) if snap is not None]
    ordered, snaps = [ordered[i] for i in keep], [snaps[i] for i in keep]
    for item in items:
        if not any(item.code in handled[s.id] for s in ordered):
            raise BundleNotFeasible(
                f"路网范围内没有办理“{item.name}”的场所 — no site within the road network handles "
                f"{item.code}"
            )
    from_origin = engine.matrix_ms([origin], ordered_snaps := [s for s in snaps if s], mode)[0]
    exact = len(ordered) <= ALL_CANDIDATES_UP_TO
    if not exact:
        chosen = _shortlist(items, ordered, handled, from_origin)
        ordered = [ordered[i] for i in chosen]
        ordered_snaps = [ordered_snaps[i] for i in chosen]
        from_origin = from_origin[chosen]
    between = engine.matrix_ms(ordered_snaps, ordered_snaps, mode)
    problem = _Problem(
        items=items,
        service=[timedelta(minutes=step.service_minutes) for step, _ in steps],
        sites=ordered,
        snaps=ordered_snaps,
        handles=[[item.code in handled[s.id] for s in ordered] for item in items],
        from_origin_ms=from_origin,
        between_ms=between,
    )
    return problem, exact


def _snap_all(engine: Engine, sites: list[Site], mode: Mode) -> list[Snap | None]:
    if not sites:
        return []
    points = np.array([to_shape(s.geom).coords[0] for s in sites], dtype=np.float64)
    pieces, along, dist, slon, slat = engine.snap_many(points[:, 0], points[:, 1], mode)
    return [
        Snap(int(p), float(a), float(x), float(y), float(d)) if p >= 0 else None
        for p, a, d, x, y in zip(pieces, along, dist, slon, slat, strict=True)
    ]


def _shortlist(
    items: list[Item], sites: list[Site], handled: dict[int, set[str]], from_origin: np.ndarray
) -> list[int]:
    chosen: set[int] = set()
    reach = np.where(np.isnan(from_origin), np.inf, from_origin)
    for item in items:
        able = [i for i, s in enumerate(sites) if item.code in handled[s.id]]
        chosen.update(sorted(able, key=lambda i: reach[i])[:CANDIDATES_PER_ITEM])
    codes = {i.code for i in items}
    multi = [i for i, s in enumerate(sites) if len(handled[s.id] & codes) > 1]
    chosen.update(sorted(multi, key=lambda i: reach[i])[:CANDIDATES_PER_ITEM])
    return sorted(chosen)


State = tuple[int, int]  # (items done as a bit mask, site index; -1 = origin)


def _solve(
    problem: _Problem, calendar: HolidayCalendar, depart_at: datetime, latest: datetime
) -> dict[State, tuple[datetime, State | None, int]] | None:
    """Earliest finish per state, with back-pointers; None when no complete plan exists."""
    n, full = len(problem.items), (1 << len(problem.items)) - 1
    best: dict[State, tuple[datetime, State | None, int]] = {(0, -1): (depart_at, None, -1)}
    service_cache: dict[tuple[int, datetime, int], tuple[datetime, datetime | None] | None] = {}
    for mask in range(full + 1):  # masks grow by one item per step, so order is topological
        for (m, here), (time_here, _, _) in [(s, v) for s, v in best.items() if s[0] == mask]:
            for item in range(n):
                if m & (1 << item):
                    continue
                for there, site in enumerate(problem.sites):
                    if not problem.handles[item][there]:
                        continue
                    travel = _travel_ms(problem, here, there)
                    if travel is None:
                        continue
                    arrive = time_here + timedelta(milliseconds=travel)
                    key = (there, arrive, item)
                    if key not in service_cache:
                        service_cache[key] = earliest_service(
                            site.opening_hours or "24/7",
                            arrive,
                            problem.service[item],
                            calendar,
                            latest,
                        )
                    served = service_cache[key]
                    if served is None:
                        continue
                    finish = served[0] + problem.service[item]
                    state = (m | (1 << item), there)
                    if state not in best or finish < best[state][0]:
                        best[state] = (finish, (m, here), item)
    finals = [s for s in best if s[0] == full]
    if not finals:
        return None
    return {**best, (full, -2): min((best[s][0], s, -1) for s in finals)}


def _travel_ms(problem: _Problem, here: int, there: int) -> int | None:
    if here == there:
        return 0
    value = problem.from_origin_ms[there] if here < 0 else problem.between_ms[here, there]
    return None if np.isnan(value) else int(value)


def _itinerary(
    engine: Engine,
    problem: _Problem,
    best: dict[State, tuple[datetime, State | None, int]],
    origin: Snap,
    depart_at: datetime,
    mode: Mode,
    exact: bool,
) -> Itinerary:
    full = (1 << len(problem.items)) - 1
    finish_at, state, _ = best[(full, -2)]
    chain: list[tuple[State, int]] = []
    while state is not None and state != (0, -1):
        _, previous, item = best[state]
        chain.append((state, item))
        state = previous
    visits: list[Visit] = []
    here, clock, travel_s = -1, depart_at, 0.0
    for state, item in reversed(chain):
        there = state[1]
        travel_ms = _travel_ms(problem, here, there) or 0
        route = None
        if there != here:
            start = origin if here < 0 else problem.snaps[here]
            route = engine.route(start, problem.snaps[there], mode)
        finish = best[state][0]
        visits.append(
            Visit(
                problem.items[item],
                problem.sites[there],
                clock + timedelta(milliseconds=travel_ms),
                finish - problem.service[item],
                finish,
                travel_ms / 1000.0,
                route,
            )
        )
        travel_s += travel_ms / 1000.0
        here, clock = there, finish
    busy = sum((v.finish_at - v.start_at for v in visits), timedelta()).total_seconds()
    wait_s = (finish_at - depart_at).total_seconds() - busy - travel_s
    return Itinerary(
        visits, depart_at, finish_at, travel_s, max(wait_s, 0.0), exact, len(problem.sites)
    )
