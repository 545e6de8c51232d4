"""Bundle itineraries on the real Nanjing network: optimal against a brute force.

Three-item bundles are built in the test from real items of different levels and
departments, so that no single site does them all; the brute force tries every
order × every site handling each item, with ``Engine.route`` travel times and the
open intervals of ``catalogue.hours.day_hours``.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue import service
from catalogue.calendar import HolidayCalendar, load_calendar
from catalogue.hours import SHANGHAI, day_hours
from catalogue.itinerary import plan_itinerary
from catalogue.models import Bundle, BundleItem, Item, SiteItem
from geo.models import Site, SiteStatus
from routing.engine import Engine, Snap
from routing.holder import EngineHolder
from routing.profiles import Mode

XINJIEKOU = (118.7787, 32.0426)
GULOU = (118.7705, 32.0500)
MAX_WAIT = timedelta(days=3)
ONE_SECOND = timedelta(seconds=1)
Interval = tuple[datetime, datetime]


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def item_where(session: Session, levels: list[str], *clauses: object, avoid: set[str]) -> Item:
    """The first real item (by code) of these service levels, of a department not in ``avoid``."""
    found = session.scalars(
        select(Item)
        .where(Item.levels == levels, Item.department.not_in(avoid), *clauses)  # type: ignore[arg-type]
        .order_by(Item.code)
    ).first()
    assert found is not None, levels
    return found


def bundles(session: Session) -> dict[str, list[Item]]:
    """Two 3-item bundles whose items are handled at different kinds of sites."""
    terminal = Item.channels.contains(["terminal"])
    a = item_where(session, ["district"], Item.item_type == "行政许可", avoid=set())
    b = item_where(session, ["street"], avoid={a.department})
    c = item_where(session, ["city", "district"], terminal, avoid={a.department, b.department})
    d = item_where(session, ["street"], terminal, avoid=set())
    e = item_where(session, ["city", "district"], ~terminal, avoid={d.department})
    f = item_where(session, ["district"], Item.item_type == "行政给付", avoid={d.department})
    return {"TEST1": [a, b, c], "TEST2": [d, e, f]}


def add_bundle(session: Session, code: str, items: list[Item], minutes: list[int]) -> None:
    session.add(Bundle(code=code, name=f"测试一件事 {code}", source="test"))
    session.flush()
    for position, (item, service_minutes) in enumerate(zip(items, minutes, strict=True), 1):
        session.add(
            BundleItem(
                bundle_code=code,
                position=position,
                item_code=item.code,
                service_minutes=service_minutes,
            )
        )
    session.flush()


def open_intervals(
    expression: str, start: date, days: int, calendar: HolidayCalendar
) -> list[Interval]:
    merged: list[list[datetime]] = []
    for offset in range(days):
        for begin, end in day_hours(expression, start + timedelta(days=offset), calendar).intervals:
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
    return [(b, e) for b, e in merged]


def first_start(
    intervals: list[Interval], arrive: datetime, need: timedelta, latest: datetime
) -> datetime | None:
    for begin, end in intervals:
        start = max(begin, arrive)
        if start > latest:
            return None
        if end - start >= need:
            return start
    return None


class BruteForce:
    """Every order × every candidate site, travel times from one ``route()`` per pair."""

    def __init__(
        self,
        session: Session,
        engine: Engine,
        calendar: HolidayCalendar,
        items: list[Item],
        origin: Snap,
        mode: Mode,
        depart: datetime,
    ) -> None:
        west, south, east, north = engine.network.extent
        self.candidates: list[list[int]] = []
        self.sites: dict[int, Site] = {}
        for item in items:
            ids = []
            query = (
                select(Site)
                .join(SiteItem, SiteItem.site_id == Site.id)
                .where(SiteItem.item_code == item.code, Site.status == SiteStatus.published)
            )
            for site in session.scalars(query):
                lon, lat = to_shape(site.geom).coords[0]
                if west <= lon <= east and south <= lat <= north:
                    self.sites[site.id] = site
                    ids.append(site.id)
            self.candidates.append(ids)
        snaps = {}
        for i, site in self.sites.items():
            lon, lat = to_shape(site.geom).coords[0]
            snaps[i] = engine.snap(lon, lat, mode, "to")
        self.travel: dict[tuple[int, int], timedelta] = {}
        for i, to in snaps.items():
            self.travel[(-1, i)] = timedelta(seconds=engine.route(origin, to, mode).duration_s)
            for j, frm in snaps.items():
                if i != j:
                    self.travel[(j, i)] = timedelta(seconds=engine.route(frm, to, mode).duration_s)
        self.depart = depart
        self.latest = depart + MAX_WAIT
        self.hours = {
            i: open_intervals(s.opening_hours or "24/7", depart.date(), 6, calendar)
            for i, s in self.sites.items()
        }

    def finish(
        self, order: tuple[int, ...], sites: tuple[int, ...], service: list[int]
    ) -> datetime | None:
        clock, here = self.depart, -1
        for item, site in zip(order, sites, strict=True):
            arrive = clock + (self.travel[(here, site)] if site != here else timedelta())
            need = timedelta(minutes=service[item])
            start = first_start(self.hours[site], arrive, need, self.latest)
            if start is None:
                return None
            clock, here = start + need, site
        return clock

    def best(self, service: list[int]) -> datetime:
        finishes = []
        for order in itertools.permutations(range(len(self.candidates))):
            for sites in itertools.product(*(self.candidates[i] for i in order)):
                finish = self.finish(order, sites, service)
                if finish is not None:
                    finishes.append(finish)
        return min(finishes)


TUESDAY = date(2026, 11, 24)
FRIDAY = date(2026, 11, 27)
DEPARTURES = [
    (at(TUESDAY, 9, 10), Mode.walk, XINJIEKOU),
    (at(TUESDAY, 11, 35), Mode.walk, GULOU),  # lunch breaks
    (at(TUESDAY, 16, 35), Mode.drive, XINJIEKOU),  # closing time
    (at(FRIDAY, 16, 50), Mode.walk, GULOU),  # closing on a Friday: the weekend
]


def test_itinerary_is_optimal_against_brute_force(session: Session, holder: EngineHolder) -> None:
    calendar = load_calendar(session)
    engine = holder.engine_at(session, *XINJIEKOU)
    minutes = [25, 20, 15]
    waited = next_day = 0
    for code, items in bundles(session).items():
        assert len({i.department for i in items}) >= 2
        links = [
            set(session.scalars(select(SiteItem.site_id).where(SiteItem.item_code == i.code)))
            for i in items
        ]
        assert not links[0] & links[1] & links[2], f"{code}: one site handles every item"
        add_bundle(session, code, items, minutes)
        _, steps = service.get_bundle(session, code)
        for depart, mode, origin_point in DEPARTURES:
            origin = engine.snap(*origin_point, mode, "from")
            plan = plan_itinerary(session, engine, calendar, steps, origin, depart, mode)
            brute = BruteForce(session, engine, calendar, items, origin, mode, depart)
            assert plan.exact and plan.candidates == len(brute.sites)
            optimum = brute.best(minutes)
            assert abs(plan.finish_at - optimum) <= ONE_SECOND, (code, depart, mode)
            # the plan's own legs are feasible and add up to its finish
            assert sorted(v.item.code for v in plan.visits) == sorted(i.code for i in items)
            order = tuple(
                next(k for k, i in enumerate(items) if i.code == v.item.code) for v in plan.visits
            )
            sites = tuple(v.site.id for v in plan.visits)
            for k, site in zip(order, sites, strict=True):
                assert site in brute.candidates[k]
            replay = brute.finish(order, sites, minutes)
            assert replay is not None and abs(replay - plan.finish_at) <= ONE_SECOND
            clock = depart
            for visit in plan.visits:
                assert clock <= visit.arrive_at <= visit.start_at < visit.finish_at
                clock = visit.finish_at
            assert plan.finish_at == plan.visits[-1].finish_at
            waited += plan.wait_s > 0
            next_day += plan.finish_at.date() > depart.date()
    assert waited and next_day  # lunch breaks and closing times did shape some plans


def test_a_real_bundle_through_the_api(nanjing_client: TestClient, session: Session) -> None:
    r = nanjing_client.get(
        "/api/bundles/B001/itinerary",
        params={"from": "118.7787,32.0426", "at": "2026-11-24T09:00", "mode": "walk"},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    _, steps = service.get_bundle(session, "B001")
    legs = answer["legs"]
    assert sorted(leg["item"]["code"] for leg in legs) == sorted(s.item_code for s, _ in steps)
    clock = datetime.fromisoformat(answer["depart_at"])
    for leg in legs:
        arrive, start, finish = (
            datetime.fromisoformat(leg[k]) for k in ("arrive_at", "start_at", "finish_at")
        )
        assert clock <= arrive <= start < finish
        clock = finish
        link = session.get(SiteItem, (leg["site"]["id"], leg["item"]["code"]))
        assert link is not None, (leg["site"]["properties"]["name"], leg["item"]["name"])
    assert datetime.fromisoformat(answer["finish_at"]) == clock
    assert legs[0]["route"] is not None and legs[0]["route"]["geometry"]["type"] == "LineString"
