"""Bundle itineraries (一件事一次办): which sites, in which order, to finish soonest.

Every item of a bundle is done at one site that handles it, during its opening
hours, taking the item's service time at the window; several items can be done
in one visit. Waiting is allowed, so arriving earlier never finishes later
(the FIFO property), and the earliest finish per (items done, last site) state
is all a search needs: a dynamic programme over subsets × sites is exact over
the candidate sites, which are every site that handles an item within the network.

Small bundles (at most ``DP_ITEMS_UP_TO`` items and ``ALL_CANDIDATES_UP_TO``
candidates) get that programme (``method`` "dp", ``exact``). Larger ones get an
OR-Tools routing search over every candidate (:mod:`catalogue.itinerary_ortools`,
``method`` "or-tools"), checked against the programme over a shortlist — the
``CANDIDATES_PER_ITEM`` fastest to reach from the origin for each item, plus any
site that handles two or more of the bundle's items — and the better plan is kept.
``exact`` is then true only when that shortlist held every candidate.
Both solvers give a list of :class:`Stop`; every plan's times are those of
:func:`simulate`, the visit order replayed with the sites' hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

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
DP_ITEMS_UP_TO = 6
CANDIDATES_PER_ITEM = 4
MAX_ITEMS = 10

Method = Literal["dp", "or-tools"]


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
    method: Method


class Stop(NamedTuple):
    """One visit of a plan, by index into the problem's items and sites."""

    item: int
    site: int
    arrive_at: datetime
    start_at: datetime
    finish_at: datetime


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
    problem = _problem(session, engine, steps, origin, mode)
    latest = depart_at + max_wait
    method: Method
    if len(problem.items) <= DP_ITEMS_UP_TO and len(problem.sites) <= ALL_CANDIDATES_UP_TO:
        plan, exact, method = _dp_plan(problem, calendar, depart_at, latest), True, "dp"
    else:
        plan, exact = _large_plan(problem, calendar, depart_at, latest)
        method = "or-tools"
    if plan is None:
        names = "、".join(i.name for i in problem.items)
        raise BundleNotFeasible(
            f"在网络范围内找不到能在 {max_wait.days} 天内办完的场所组合：{names} — "
            "no sites within the road network can finish every item in time"
        )
    return _itinerary(engine, problem, plan, origin, depart_at, mode, exact, method)


def _large_plan(
    problem: _Problem, calendar: HolidayCalendar, depart_at: datetime, latest: datetime
) -> tuple[list[Stop] | None, bool]:
    """OR-Tools over every candidate, seeded with and checked against the DP over a shortlist.

    The OR-Tools plan is kept when it finishes earlier, or as early with less travel.
    Exact only when the shortlist held every candidate (the DP then is the optimum).
    """
    from catalogue import itinerary_ortools  # heavy; only large bundles need it

    chosen = _shortlist(problem)
    fallback = _dp_plan(_restrict(problem, chosen), calendar, depart_at, latest)
    if fallback is not None:
        fallback = [s._replace(site=chosen[s.site]) for s in fallback]
    found = itinerary_ortools.solve(problem, calendar, depart_at, latest, seed=fallback)
    plan = fallback
    if found is not None and (
        plan is None or _plan_key(problem, found.stops) < _plan_key(problem, plan)
    ):
        plan = found.stops
    return plan, len(chosen) == len(problem.sites)


def _plan_key(problem: _Problem, plan: list[Stop]) -> tuple[datetime, int]:
    """Finish first, then total travel: the order in which two plans compare."""
    here, travel = -1, 0
    for stop in plan:
        travel += _travel_ms(problem, here, stop.site) or 0
        here = stop.site
    return plan[-1].finish_at, travel


def _problem(
    session: Session, engine: Engine, steps: list[tuple[BundleItem, Item]], origin: Snap, mode: Mode
) -> _Problem:
    """Every published site within the network that handles an item of the bundle."""
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
    return problem


def _snap_all(engine: Engine, sites: list[Site], mode: Mode) -> list[Snap | None]:
    if not sites:
        return []
    points = np.array([to_shape(s.geom).coords[0] for s in sites], dtype=np.float64)
    snaps = engine.snap_points(points[:, 0], points[:, 1], mode)
    return [snaps[i] for i in range(len(snaps))]


def _shortlist(problem: _Problem) -> list[int]:
    """Indices of the sites the DP fallback considers for a large bundle."""
    chosen: set[int] = set()
    reach = np.where(np.isnan(problem.from_origin_ms), np.inf, problem.from_origin_ms)
    for handles in problem.handles:
        able = [i for i, yes in enumerate(handles) if yes]
        chosen.update(sorted(able, key=lambda i: reach[i])[:CANDIDATES_PER_ITEM])
    multi = [i for i in range(len(problem.sites)) if sum(h[i] for h in problem.handles) > 1]
    chosen.update(sorted(multi, key=lambda i: reach[i])[:CANDIDATES_PER_ITEM])
    return sorted(chosen)


def _restrict(problem: _Problem, chosen: list[int]) -> _Problem:
    """The same problem over only the sites ``chosen`` (indices into ``problem.sites``)."""
    return replace(
        problem,
        sites=[problem.sites[i] for i in chosen],
        snaps=[problem.snaps[i] for i in chosen],
        handles=[[h[i] for i in chosen] for h in problem.handles],
        from_origin_ms=problem.from_origin_ms[chosen],
        between_ms=problem.between_ms[np.ix_(chosen, chosen)],
    )


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


def _dp_plan(
    problem: _Problem, calendar: HolidayCalendar, depart_at: datetime, latest: datetime
) -> list[Stop] | None:
    """The DP's optimal plan over the problem's sites; None when there is none."""
    best = _solve(problem, calendar, depart_at, latest)
    if best is None:
        return None
    full = (1 << len(problem.items)) - 1
    _, state, _ = best[(full, -2)]
    chain: list[tuple[int, int]] = []
    while state is not None and state != (0, -1):
        _, previous, item = best[state]
        chain.append((item, state[1]))
        state = previous
    return simulate(problem, calendar, depart_at, latest, chain[::-1])


def simulate(
    problem: _Problem,
    calendar: HolidayCalendar,
    depart_at: datetime,
    latest: datetime,
    order: Sequence[tuple[int, int]],
) -> list[Stop] | None:
    """Replay (item, site) visits in this order, each started as early as the hours allow.

    None when a visit cannot start by ``latest`` or a site cannot be reached.
    By the FIFO property this is the earliest finish of that order.
    """
    stops: list[Stop] = []
    for item, there in order:
        stop = visit_next(
            problem, calendar, stops[-1] if stops else None, depart_at, latest, item, there
        )
        if stop is None:
            return None
        stops.append(stop)
    return stops


def visit_next(
    problem: _Problem,
    calendar: HolidayCalendar,
    last: Stop | None,
    depart_at: datetime,
    latest: datetime,
    item: int,
    there: int,
) -> Stop | None:
    """The visit after ``last`` (None: from the origin at ``depart_at``), as early as can be."""
    if not problem.handles[item][there]:
        return None
    here, clock = (-1, depart_at) if last is None else (last.site, last.finish_at)
    travel = _travel_ms(problem, here, there)
    if travel is None:
        return None
    arrive = clock + timedelta(milliseconds=travel)
    served = earliest_service(
        problem.sites[there].opening_hours or "24/7",
        arrive,
        problem.service[item],
        calendar,
        latest,
    )
    if served is None:
        return None
    return Stop(item, there, arrive, served[0], served[0] + problem.service[item])


def _itinerary(
    engine: Engine,
    problem: _Problem,
    plan: list[Stop],
    origin: Snap,
    depart_at: datetime,
    mode: Mode,
    exact: bool,
    method: Method,
) -> Itinerary:
    visits: list[Visit] = []
    here, travel_s = -1, 0.0
    for stop in plan:
        there = stop.site
        travel_ms = _travel_ms(problem, here, there) or 0
        route = None
        if there != here:
            start = origin if here < 0 else problem.snaps[here]
            route = engine.route(start, problem.snaps[there], mode)
        visits.append(
            Visit(
                problem.items[stop.item],
                problem.sites[there],
                stop.arrive_at,
                stop.start_at,
                stop.finish_at,
                travel_ms / 1000.0,
                route,
            )
        )
        travel_s += travel_ms / 1000.0
        here = there
    finish_at = plan[-1].finish_at
    busy = sum((v.finish_at - v.start_at for v in visits), timedelta()).total_seconds()
    wait_s = (finish_at - depart_at).total_seconds() - busy - travel_s
    return Itinerary(
        visits,
        depart_at,
        finish_at,
        travel_s,
        max(wait_s, 0.0),
        exact,
        len(problem.sites),
        method,
    )
