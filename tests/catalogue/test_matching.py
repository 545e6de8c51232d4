"""Matching on the real Nanjing network and real demo sites, against a brute force.

The brute force routes to every site one by one with ``Engine.route`` and finds the
first moment each site is open long enough from the day-by-day intervals of
``catalogue.hours.day_hours``; ``match_item`` must give the same sites, order and times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from geoalchemy2.shape import to_shape
from pyproj import Geod
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.calendar import HolidayCalendar, load_calendar
from catalogue.hours import SHANGHAI, day_hours
from catalogue.matching import MatchOutcome, MatchRequest, match_item
from catalogue.models import Item, SiteItem
from geo.models import Site, SiteStatus
from routing.engine import Engine
from routing.errors import OutsideNetwork, Unreachable
from routing.holder import EngineHolder
from routing.profiles import Mode

XINJIEKOU = (118.7787, 32.0426)
QUANCHENG_SQUARE = (117.0185, 36.6628)  # Jinan: no road network
GEOD = Geod(ellps="WGS84")
ID_CARD = "513A0011200068-511602000000-000-1151130000877869M-1-00"  # city, district, street
COMMUNITY_ITEM = "51201400100001-511602000000-000-12511301452262044F-1-00"  # district…community
DISTRICT_LICENCE = "511A0000800001-511602000000-000-115113016823646795-1-00"  # district only
ONE_SECOND = timedelta(seconds=1)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def first_service(
    expression: str, arrive: datetime, need: timedelta, calendar: HolidayCalendar, latest: datetime
) -> datetime | None:
    """The first moment ≥ arrive (≤ latest) with ``need`` of open time ahead, or None."""
    merged: list[list[datetime]] = []
    day = arrive.date() - timedelta(days=1)
    while day <= latest.date() + timedelta(days=1):
        for begin, end in day_hours(expression, day, calendar).intervals:
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
        day += timedelta(days=1)
    for begin, end in merged:
        start = max(begin, arrive)
        if start > latest:
            return None
        if end - start >= need:
            return start
    return None


@dataclass
class Expected:
    site: Site
    distance_m: float
    reason: str | None = None  # None: served
    duration_s: float | None = None
    arrive: datetime | None = None
    ready: datetime | None = None


def brute_force(
    session: Session,
    engine: Engine,
    calendar: HolidayCalendar,
    item_code: str,
    request: MatchRequest,
) -> dict[int, Expected]:
    handling = set(session.scalars(select(SiteItem.site_id).where(SiteItem.item_code == item_code)))
    west, south, east, north = engine.network.extent
    origin = engine.snap(*request.origin, request.mode, "from")
    found: dict[int, Expected] = {}
    for site in session.scalars(select(Site).where(Site.status == SiteStatus.published)):
        lon, lat = to_shape(site.geom).coords[0]
        if not (west <= lon <= east and south <= lat <= north):
            continue
        distance = GEOD.inv(request.origin[0], request.origin[1], lon, lat)[2]
        expected = found[site.id] = Expected(site, distance)
        if site.id not in handling:
            expected.reason = "not_handled"
            continue
        try:
            route = engine.route(origin, engine.snap(lon, lat, request.mode, "to"), request.mode)
        except OutsideNetwork:
            expected.reason = "unreachable"
            continue
        except Unreachable:
            expected.reason = "out_of_range"
            continue
        if route.duration_s > request.max_minutes * 60:
            expected.reason = "out_of_range"
            continue
        expected.duration_s = route.duration_s
        expected.arrive = request.depart_at + timedelta(seconds=route.duration_s)
        expected.ready = first_service(
            site.opening_hours or "24/7",
            expected.arrive,
            timedelta(minutes=request.service_minutes),
            calendar,
            expected.arrive + timedelta(minutes=request.max_wait_minutes),
        )
        if expected.ready is None:
            expected.reason = "closed_on_arrival"
    return found


def check_against_brute_force(outcome: MatchOutcome, expected: dict[int, Expected]) -> None:
    served = sorted(
        (e for e in expected.values() if e.reason is None),
        key=lambda e: (e.ready, e.duration_s, e.site.id),
    )[: outcome.request.k]
    assert outcome.routed and outcome.reason is None
    assert len(outcome.results) == len(served)
    assert len({c.site.id for c in outcome.results}) == len(served)
    for candidate, rank in zip(outcome.results, served, strict=True):
        mine = expected[candidate.site.id]
        assert mine.reason is None, (candidate.site.name, mine.reason)
        assert candidate.duration_s == pytest.approx(mine.duration_s, abs=1.0)
        assert candidate.arrive_at is not None and mine.arrive is not None
        assert abs(candidate.arrive_at - mine.arrive) <= ONE_SECOND
        assert candidate.ready_at is not None and mine.ready is not None
        assert abs(candidate.ready_at - mine.ready) <= ONE_SECOND, candidate.site.name
        # same place in the order, up to ties of (ready, travel time)
        assert rank.ready is not None and abs(candidate.ready_at - rank.ready) <= ONE_SECOND
        assert candidate.duration_s == pytest.approx(rank.duration_s, abs=1.0)
        assert candidate.open_on_arrival == (mine.ready - mine.arrive <= ONE_SECOND)
        assert candidate.route is not None
        assert candidate.route.duration_s == pytest.approx(mine.duration_s, abs=1.0)
    left_out = sorted((e for e in expected.values() if e.reason), key=lambda e: e.distance_m)[:10]
    assert {(e.site.id, e.reason) for e in outcome.left_out} == {
        (e.site.id, e.reason) for e in left_out
    }
    for exclusion in outcome.left_out:
        assert exclusion.distance_m == pytest.approx(
            expected[exclusion.site.id].distance_m, abs=0.5
        )


TUESDAY = date(2026, 11, 24)
FRIDAY = date(2026, 11, 27)
MAKE_UP_SATURDAY = date(2026, 10, 10)
CASES = [
    # (item, departure, mode, max_minutes, max_wait_minutes, what the case must exercise)
    (ID_CARD, at(TUESDAY, 10), Mode.walk, 60, 120, "served"),
    (COMMUNITY_ITEM, at(TUESDAY, 11, 20), Mode.walk, 60, 120, "lunch"),
    (ID_CARD, at(TUESDAY, 16, 42), Mode.drive, 60, 120, "closing"),
    (DISTRICT_LICENCE, at(FRIDAY, 17, 20), Mode.drive, 60, 20 * 60, "next_day"),
    (COMMUNITY_ITEM, at(MAKE_UP_SATURDAY, 10), Mode.walk, 60, 120, "served"),
    (ID_CARD, at(TUESDAY, 10), Mode.walk, 6, 120, "out_of_range"),
]


def test_match_ordering_equals_brute_force(session: Session, holder: EngineHolder) -> None:
    calendar = load_calendar(session)
    assert chinese_calendar.is_workday(MAKE_UP_SATURDAY) and MAKE_UP_SATURDAY.weekday() == 5
    engine = holder.engine_at(session, *XINJIEKOU)
    for code, depart, mode, max_minutes, max_wait, exercise in CASES:
        item = session.get(Item, code)
        assert item is not None
        request = MatchRequest(
            XINJIEKOU, depart, mode, k=100, max_minutes=max_minutes, max_wait_minutes=max_wait
        )
        expected = brute_force(session, engine, calendar, code, request)
        outcome = match_item(session, holder, calendar, item, request)
        check_against_brute_force(outcome, expected)
        served = [e for e in expected.values() if e.reason is None]
        reasons = {e.reason for e in expected.values()}
        # the case exercises what it is there for (so it cannot pass on an empty answer)
        assert served or exercise == "out_of_range", (code, depart)
        if exercise == "lunch":
            assert any(e.ready and e.arrive and e.ready - e.arrive > ONE_SECOND for e in served)
            assert {
                e.ready.strftime("%H:%M")
                for e in served
                if e.ready and e.arrive and e.ready > e.arrive
            } <= {"13:30", "14:00"}
        if exercise in ("closing", "lunch"):
            assert "closed_on_arrival" in reasons
        if exercise == "next_day":
            assert all(e.ready and e.ready.date() == date(2026, 11, 28) for e in served)
            assert any(e.ready and e.ready.strftime("%H:%M") == "09:00" for e in served)
        if exercise == "out_of_range":
            assert "out_of_range" in {e.reason for e in outcome.left_out}
            assert all(c.duration_s is not None and c.duration_s <= 360 for c in outcome.results)
        assert "not_handled" in {e.reason for e in outcome.left_out}


SUNDAY = date(2026, 11, 29)
FEW_CASES = [
    # (item, departure, mode, k, what the case must exercise): answers of a few sites, where
    # the search stops as soon as no farther site can be served sooner
    (ID_CARD, at(TUESDAY, 7, 30), Mode.walk, 3, "open_all_night"),  # the 24-hour zones win
    (ID_CARD, at(TUESDAY, 7, 30), Mode.drive, 5, "wait"),  # then the halls opening first
    (COMMUNITY_ITEM, at(TUESDAY, 8, 10), Mode.walk, 5, "wait"),  # 08:30 halls before 09:00 ones
    (ID_CARD, at(SUNDAY, 10), Mode.walk, 5, "fewer"),  # only weekend and 24-hour sites serve
    (DISTRICT_LICENCE, at(FRIDAY, 17, 20), Mode.drive, 5, "none"),  # none opens within the wait
    (COMMUNITY_ITEM, at(TUESDAY, 10), Mode.drive, 2, "open"),
]


@pytest.mark.parametrize(("code", "depart", "mode", "k", "exercise"), FEW_CASES)
def test_the_first_few_sites_equal_brute_force(
    session: Session,
    holder: EngineHolder,
    code: str,
    depart: datetime,
    mode: Mode,
    k: int,
    exercise: str,
) -> None:
    calendar = load_calendar(session)
    engine = holder.engine_at(session, *XINJIEKOU)
    item = session.get(Item, code)
    assert item is not None
    request = MatchRequest(XINJIEKOU, depart, mode, k=k)
    expected = brute_force(session, engine, calendar, code, request)
    outcome = match_item(session, holder, calendar, item, request)
    check_against_brute_force(outcome, expected)
    served = [e for e in expected.values() if e.reason is None]
    waits = [c for c in outcome.results if c.ready_at and c.arrive_at and c.ready_at > c.arrive_at]
    hours = {c.site.opening_hours for c in outcome.results if c.site}
    assert len(served) > k if exercise in ("open_all_night", "wait", "open") else len(served) < k
    if exercise == "open_all_night":
        assert hours == {"24/7"} and not waits
    if exercise == "wait":
        assert waits and {c.ready_at.strftime("%H:%M") for c in waits if c.ready_at} == {"08:30"}
    if exercise == "fewer":
        assert outcome.results and any("Su" in h for h in hours if h)
    if exercise == "none":
        assert not outcome.results
        assert "closed_on_arrival" in {e.reason for e in outcome.left_out}
    if exercise == "open":
        assert not waits


def test_national_day_closes_the_halls_but_not_the_24_hour_zone(
    session: Session, holder: EngineHolder
) -> None:
    calendar = load_calendar(session)
    item = session.get(Item, ID_CARD)
    assert item is not None
    national_day = MatchRequest(XINJIEKOU, at(date(2026, 10, 1), 10), Mode.walk, k=20)
    outcome = match_item(session, holder, calendar, item, national_day)
    assert outcome.results, "the 24-hour zones stay open on 国庆节"
    assert all(c.site.opening_hours == "24/7" for c in outcome.results)
    assert all(c.site.kind == "self_service_zone_24h" for c in outcome.results)
    closed = [e for e in outcome.left_out if e.reason == "closed_on_arrival"]
    assert closed and all("PH off" in (e.site.opening_hours or "") for e in closed)

    after = date(2026, 10, 2)
    while not chinese_calendar.is_workday(after):
        after += timedelta(days=1)
    assert after == date(2026, 10, 8)  # the first working day after the break
    working = MatchRequest(XINJIEKOU, at(after, 10), Mode.walk, k=20)
    reopened = match_item(session, holder, calendar, item, working)
    halls = [c for c in reopened.results if "PH off" in (c.site.opening_hours or "")]
    assert halls and all(c.open_on_arrival for c in halls)
    assert {e.site.id for e in closed} <= {c.site.id for c in halls}
    assert not [e for e in reopened.left_out if e.reason == "closed_on_arrival"]


def test_without_a_network_answers_by_straight_line_and_never_a_travel_time(
    session: Session, holder: EngineHolder
) -> None:
    calendar = load_calendar(session)
    item = session.get(Item, ID_CARD)
    assert item is not None
    request = MatchRequest(QUANCHENG_SQUARE, at(TUESDAY, 10), Mode.drive, k=5)
    outcome = match_item(session, holder, calendar, item, request)
    assert not outcome.routed and outcome.engine is None
    assert outcome.reason is not None and "daofu roads import" in outcome.reason

    handling = set(session.scalars(select(SiteItem.site_id).where(SiteItem.item_code == ID_CARD)))
    by_distance = []
    for site in session.scalars(select(Site).where(Site.region_code.startswith("3701"))):
        lon, lat = to_shape(site.geom).coords[0]
        distance = GEOD.inv(*QUANCHENG_SQUARE, lon, lat)[2]
        if site.id in handling and distance <= 60_000:
            by_distance.append((distance, site.id))
    by_distance.sort()
    assert [c.site.id for c in outcome.results] == [s for _, s in by_distance[:5]]
    for candidate, (distance, _) in zip(outcome.results, by_distance, strict=False):
        assert candidate.distance_m == pytest.approx(distance, abs=0.5)
        assert candidate.duration_s is None and candidate.arrive_at is None
        assert candidate.ready_at is None and candidate.route is None
        assert candidate.open_now is not None  # hours judged at departure instead
    assert outcome.left_out and {e.reason for e in outcome.left_out} == {"not_handled"}
    assert all(e.site.id not in handling for e in outcome.left_out)
