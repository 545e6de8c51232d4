"""Bundle itineraries too large for the exact DP: an OR-Tools routing search.

One vehicle leaves the origin at ``depart_at``. Every (item, candidate site) pair
is a node, and each item's nodes form a disjunction, so exactly one site does each
item (dropping an item costs more than any complete plan; a plan with a dropped
item is refused). Several items at one site are separate nodes with no travel
between them. The time dimension, in ms after ``depart_at``, counts at a node the
moment its service starts; the transit of an arc is the service at its tail plus
the travel, and slack is waiting. A node's cumul may only take the starts its
site's opening periods allow with the item's service fitting before closing (one
range with the closed gaps removed), and no start after ``latest``, as
:func:`catalogue.matching.earliest_service` has it. The cost is the end time
(the span; the vehicle starts at 0), weighted well above the arc cost, which is
travel: the earliest finish first, then the least travel.

The search (parallel cheapest insertion, then guided local search for
``TIME_LIMIT``) can start from a given plan. Its answer is only a visit order:
:func:`catalogue.itinerary.simulate` replays it with the sites' hours, and those
are the times returned; None when the search finds no complete plan or the replay
refuses it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from time import perf_counter

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from catalogue.calendar import HolidayCalendar
from catalogue.hours import SHANGHAI, day_hours
from catalogue.itinerary import Stop, _Problem, simulate, visit_next

TIME_LIMIT = timedelta(seconds=1)
SPAN_WEIGHT = 1_000  # 1 s later finish weighs as much as 1,000 s more travel
_ROUNDING_S = 60  # room for the model's rounding up of travel to whole seconds
_MS = timedelta(milliseconds=1)

Window = tuple[int, int]  # allowed service starts, s after departure, both inclusive


@dataclass(frozen=True)
class Solved:
    """The replayed plan, with what the search itself said about it."""

    stops: list[Stop]
    model_finish: datetime  # the end cumul of the search's solution
    seeded: bool  # the search started from the given plan
    seconds: float


def solve(
    problem: _Problem,
    calendar: HolidayCalendar,
    depart_at: datetime,
    latest: datetime,
    *,
    seed: list[Stop] | None = None,
    time_limit: timedelta = TIME_LIMIT,
) -> Solved | None:
    """A plan doing every item of ``problem``, finishing as early as the search finds.

    The search starts from ``seed`` or, without one, from a greedy plan, and only
    looks at plans finishing by then (give or take the rounding to seconds).
    """
    began = perf_counter()
    incumbent = seed or greedy(problem, calendar, depart_at, latest)
    horizon = _s(latest - depart_at)  # no service starts later (as in earliest_service)
    finish_by = horizon + _s(max(problem.service))
    if incumbent:
        finish_by = min(finish_by, _s(incumbent[-1].finish_at - depart_at) + _ROUNDING_S)
    periods = [
        _open_periods(site.opening_hours or "24/7", depart_at, latest, calendar)
        for site in problem.sites
    ]
    reach = np.where(np.isnan(problem.from_origin_ms), np.inf, problem.from_origin_ms / 1000)
    nodes: list[tuple[int, int, list[Window]]] = []  # (item, site, windows); node k + 1
    for item, handles in enumerate(problem.handles):
        need = _s(problem.service[item])
        for site, yes in enumerate(handles):
            if not yes or np.isinf(reach[site]):
                continue
            low, high = math.ceil(reach[site]), min(horizon, finish_by - need)
            windows = _windows(periods[site], need, low, high)
            if windows:
                nodes.append((item, site, windows))
    if {item for item, _, _ in nodes} != set(range(len(problem.items))):
        return None

    size = len(nodes) + 1  # node 0 is the origin, the vehicle's start and end
    travel = _travel_matrix(problem, [site for _, site, _ in nodes])
    unreachable = np.isnan(travel)
    travel_s = np.where(unreachable, 0, np.ceil(travel / 1000)).astype(np.int64)
    services = np.array([0] + [_s(problem.service[item]) for item, _, _ in nodes], np.int64)
    transit = travel_s + services[:, None]  # the service at the arc's tail, then the travel

    manager = pywrapcp.RoutingIndexManager(size, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(travel_s.tolist()))
    transit_index = routing.RegisterTransitMatrix(transit.tolist())
    routing.AddDimension(transit_index, finish_by, finish_by, True, "time")
    clock = routing.GetDimensionOrDie("time")
    clock.SetSpanCostCoefficientForAllVehicles(SPAN_WEIGHT)

    for k, (_, _, windows) in enumerate(nodes, 1):
        index = manager.NodeToIndex(k)
        cumul = clock.CumulVar(index)
        cumul.SetRange(windows[0][0], windows[-1][1])
        for (_, gap_from), (gap_to, _) in itertools.pairwise(windows):
            if gap_to - gap_from > 1:
                cumul.RemoveInterval(gap_from + 1, gap_to - 1)
        for j in np.flatnonzero(unreachable[k]):
            routing.NextVar(index).RemoveValue(manager.NodeToIndex(int(j)))
    start = routing.Start(0)
    for j in np.flatnonzero(unreachable[0]):
        routing.NextVar(start).RemoveValue(manager.NodeToIndex(int(j)))

    drop = SPAN_WEIGHT * finish_by * 4 + int(travel_s.sum())  # above any complete plan
    for item in range(len(problem.items)):
        members = [manager.NodeToIndex(k) for k, node in enumerate(nodes, 1) if node[0] == item]
        routing.AddDisjunction(members, drop, 1)

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    parameters.time_limit.FromMilliseconds(max(1, math.floor(time_limit / _MS)))
    routing.CloseModelWithParameters(parameters)

    initial = None
    if incumbent:
        where = {(item, site): k for k, (item, site, _) in enumerate(nodes, 1)}
        route = [where.get((s.item, s.site)) for s in incumbent]
        if None not in route:
            indices = [manager.NodeToIndex(k) for k in route if k is not None]
            initial = routing.ReadAssignmentFromRoutes([indices], True)
    if initial is not None:
        solution = routing.SolveFromAssignmentWithParameters(initial, parameters)
    else:
        solution = routing.SolveWithParameters(parameters)
    if solution is None:
        return None

    order: list[tuple[int, int]] = []
    index = solution.Value(routing.NextVar(start))
    while not routing.IsEnd(index):
        item, site, _ = nodes[manager.IndexToNode(index) - 1]
        order.append((item, site))
        index = solution.Value(routing.NextVar(index))
    if sorted(item for item, _ in order) != list(range(len(problem.items))):
        return None
    stops = simulate(problem, calendar, depart_at, latest, order)
    if stops is None:
        return None
    model_finish = depart_at + timedelta(seconds=solution.Value(clock.CumulVar(index)))
    return Solved(stops, model_finish, initial is not None, perf_counter() - began)


def greedy(
    problem: _Problem, calendar: HolidayCalendar, depart_at: datetime, latest: datetime
) -> list[Stop] | None:
    """A quick plan: again and again, the (item, site) visit that finishes soonest."""
    stops: list[Stop] = []
    left = set(range(len(problem.items)))
    while left:
        last = stops[-1] if stops else None
        tried = (
            visit_next(problem, calendar, last, depart_at, latest, item, site)
            for item in sorted(left)
            for site, yes in enumerate(problem.handles[item])
            if yes
        )
        best = min((t for t in tried if t is not None), key=lambda t: t.finish_at, default=None)
        if best is None:
            return None
        stops.append(best)
        left.discard(best.item)
    return stops


def _s(span: timedelta) -> int:
    return math.floor(span.total_seconds())


def _open_periods(
    expression: str, depart_at: datetime, latest: datetime, calendar: HolidayCalendar
) -> list[tuple[int, int | None]]:
    """The site's open periods in s after departure, touching days merged.

    An end of None: open on past the last day looked at (two days after ``latest``),
    which ``earliest_service`` too counts as long enough for any service.
    """
    depart, last = _shanghai(depart_at), _shanghai(latest)
    first = depart.date() - timedelta(days=1)
    days = (last.date() - first).days + 3
    scan_end = datetime.combine(first + timedelta(days=days), time(), SHANGHAI)
    merged: list[list[datetime]] = []
    for offset in range(days):
        for begin, end in day_hours(expression, first + timedelta(days=offset), calendar).intervals:
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
    return [
        (math.ceil((begin - depart).total_seconds()), None if end >= scan_end else _s(end - depart))
        for begin, end in merged
    ]


def _shanghai(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI) if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def _windows(
    periods: list[tuple[int, int | None]], service: int, low: int, high: int
) -> list[Window]:
    """Starts within [low, high] from which the service fits in one open period."""
    windows: list[Window] = []
    for begin, end in periods:
        first = max(begin, low)
        last = high if end is None else min(end - service, high)
        if first <= last:
            windows.append((first, last))
    return windows


def _travel_matrix(problem: _Problem, sites: list[int]) -> np.ndarray:
    """Travel ms between nodes (0 the origin, k the k-th node's site); nan: unreachable."""
    size = len(sites) + 1
    travel = np.zeros((size, size))
    at = np.array(sites, dtype=np.int64)
    travel[0, 1:] = problem.from_origin_ms[at]
    travel[1:, 1:] = problem.between_ms[np.ix_(at, at)]
    same = at[:, None] == at[None, :]
    travel[1:, 1:][same] = 0.0
    return travel
