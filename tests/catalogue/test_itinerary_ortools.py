"""The OR-Tools itinerary search on the real Nanjing network, against the exact DP.

Small bundles (the 3-item test bundles of test_itinerary.py, a real 4-item one):
the search over every candidate finishes when the DP's optimum does. A real large
bundle (B008, 9 items): the plan is feasible when replayed with the open intervals
of ``catalogue.hours.day_hours``, and finishes no later than the DP over the
shortlist. The API says which method answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from catalogue import itinerary_ortools, service
from catalogue.calendar import HolidayCalendar, load_calendar
from catalogue.itinerary import (
    Visit,
    _dp_plan,
    _Problem,
    _problem,
    _restrict,
    _shortlist,
    plan_itinerary,
)
from catalogue.models import SiteItem
from routing.engine import Engine
from routing.holder import EngineHolder
from routing.profiles import Mode
from tests.catalogue.test_itinerary import (
    FRIDAY,
    GULOU,
    MAX_WAIT,
    ONE_SECOND,
    TUESDAY,
    XINJIEKOU,
    add_bundle,
    at,
    bundles,
    open_intervals,
)

SMALL_DEPARTURES = [
    (at(TUESDAY, 9, 10), Mode.walk, XINJIEKOU),
    (at(TUESDAY, 11, 35), Mode.walk, GULOU),  # lunch breaks
    (at(FRIDAY, 16, 35), Mode.drive, XINJIEKOU),  # closing on a Friday: the weekend
]
LARGE_DEPARTURES = [
    (at(TUESDAY, 9, 10), Mode.walk),
    (at(TUESDAY, 11, 5), Mode.walk),
    (at(FRIDAY, 15, 50), Mode.drive),
]
QUICK = timedelta(milliseconds=400)


def problem_for(
    session: Session, engine: Engine, code: str, origin_point: tuple[float, float], mode: Mode
) -> _Problem:
    _, steps = service.get_bundle(session, code)
    return _problem(session, engine, steps, engine.snap(*origin_point, mode, "from"), mode)


def test_or_tools_finds_the_dp_optimum_on_small_bundles(
    session: Session, holder: EngineHolder
) -> None:
    calendar = load_calendar(session)
    engine = holder.engine_at(session, *XINJIEKOU)
    for code, items in bundles(session).items():
        add_bundle(session, code, items, [25, 20, 15])
    greedy_worse = 0
    for code in ["TEST1", "TEST2", "B011"]:
        for depart, mode, origin_point in SMALL_DEPARTURES:
            problem = problem_for(session, engine, code, origin_point, mode)
            assert 3 <= len(problem.items) <= 4
            latest = depart + MAX_WAIT
            optimum = _dp_plan(problem, calendar, depart, latest)
            found = itinerary_ortools.solve(problem, calendar, depart, latest, time_limit=QUICK)
            assert optimum is not None and found is not None, (code, depart)
            finish = found.stops[-1].finish_at
            assert abs(finish - optimum[-1].finish_at) <= ONE_SECOND, (code, depart, mode)
            # the search's own end time agrees with the replay (travel rounded up to seconds)
            slack = timedelta(seconds=len(found.stops))
            assert finish - ONE_SECOND <= found.model_finish <= finish + slack
            start = itinerary_ortools.greedy(problem, calendar, depart, latest)
            greedy_worse += start is None or start[-1].finish_at > finish + ONE_SECOND
    assert greedy_worse  # the search improved on its greedy start somewhere


def assert_feasible(
    session: Session,
    calendar: HolidayCalendar,
    problem: _Problem,
    itinerary_visits: list[Visit],
    depart: datetime,
) -> None:
    """Replay with ``day_hours``: every item once, at a site handling it, inside its hours."""
    service_of = dict(zip((i.code for i in problem.items), problem.service, strict=True))
    assert sorted(v.item.code for v in itinerary_visits) == sorted(service_of)
    clock = depart
    for visit in itinerary_visits:
        assert session.get(SiteItem, (visit.site.id, visit.item.code)) is not None
        assert abs(visit.arrive_at - clock - timedelta(seconds=visit.travel_s)) < ONE_SECOND
        assert visit.arrive_at <= visit.start_at < visit.finish_at
        assert visit.finish_at - visit.start_at == service_of[visit.item.code]
        hours = open_intervals(visit.site.opening_hours or "24/7", depart.date(), 6, calendar)
        assert any(b <= visit.start_at and visit.finish_at <= e for b, e in hours), (
            visit.site.name,
            visit.start_at,
        )
        # and as early as the hours allow: arrived inside a period long enough, or waited
        # for the first one that is
        ready = [
            max(b, visit.arrive_at)
            for b, e in hours
            if e > visit.arrive_at and e - max(b, visit.arrive_at) >= service_of[visit.item.code]
        ]
        assert visit.start_at == min(ready)
        clock = visit.finish_at


def test_a_large_bundle_is_feasible_and_no_worse_than_the_shortlist(
    session: Session, holder: EngineHolder
) -> None:
    calendar = load_calendar(session)
    engine = holder.engine_at(session, *XINJIEKOU)
    _, steps = service.get_bundle(session, "B008")
    assert len(steps) == 9
    for depart, mode in LARGE_DEPARTURES:
        origin = engine.snap(*XINJIEKOU, mode, "from")
        plan = plan_itinerary(session, engine, calendar, steps, origin, depart, mode)
        problem = _problem(session, engine, steps, origin, mode)
        assert plan.method == "or-tools" and plan.candidates == len(problem.sites)
        chosen = _shortlist(problem)
        assert plan.exact == (len(chosen) == len(problem.sites))
        assert_feasible(session, calendar, problem, plan.visits, depart)
        assert plan.finish_at == plan.visits[-1].finish_at
        latest = depart + MAX_WAIT
        shortlisted = _dp_plan(_restrict(problem, chosen), calendar, depart, latest)
        assert shortlisted is not None
        assert plan.finish_at <= shortlisted[-1].finish_at
        # the search alone, over every candidate and without the shortlist's plan to start
        # from, is feasible too and no worse
        found = itinerary_ortools.solve(problem, calendar, depart, latest)
        assert found is not None
        assert found.stops[-1].finish_at <= shortlisted[-1].finish_at
        # nothing beats the DP over every candidate (22 sites: still quick enough here)
        optimum = _dp_plan(problem, calendar, depart, latest)
        assert optimum is not None
        assert plan.finish_at >= optimum[-1].finish_at - ONE_SECOND
        print(  # figures for the record (pytest -s)
            f"B008 {depart:%a %H:%M} {mode.value}:"
            f" shortlist DP {shortlisted[-1].finish_at:%H:%M:%S}"
            f" · OR-Tools alone {found.stops[-1].finish_at:%H:%M:%S} in {found.seconds:.2f} s"
            f" · plan {plan.finish_at:%H:%M:%S} · DP optimum {optimum[-1].finish_at:%H:%M:%S}"
        )


def test_the_api_says_which_method_answered(nanjing_client: TestClient) -> None:
    params = {"from": "118.7787,32.0426", "at": "2026-11-24T09:10", "mode": "walk"}
    large = nanjing_client.get("/api/bundles/B008/itinerary", params=params)
    assert large.status_code == 200, large.text
    assert large.json()["method"] == "or-tools" and len(large.json()["legs"]) == 9
    small = nanjing_client.get("/api/bundles/B012/itinerary", params=params)
    assert small.status_code == 200, small.text
    assert small.json()["method"] == "dp" and small.json()["exact"] is True
    assert len(small.json()["legs"]) == 3
