"""Opening hours of the real demo sites, evaluated with the real holiday calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import numpy as np
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalogue.calendar import HolidayCalendar, load_calendar, seed_from_chinese_calendar, set_day
from catalogue.errors import InvalidOpeningHours
from catalogue.hours import (
    SHANGHAI,
    OpenPeriods,
    day_hours,
    next_open,
    open_state,
    today_hours,
    validate_hours,
)
from geo.demo import HOURS_ALWAYS, HOURS_BANK, HOURS_CITY, HOURS_DISTRICT, HOURS_POST
from geo.models import CalendarDay, CalendarDayKind, Site

LUNCH_BREAK_HALL = HOURS_DISTRICT[0]  # "Mo-Fr 09:00-12:00,13:00-17:00; PH off"
NATIONAL_DAY = date(2026, 10, 1)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def demo_hours(session: Session, expression: str) -> str:
    """The hours of a real demo site carrying ``expression`` (fails if no site has it)."""
    found = session.scalar(select(Site.opening_hours).where(Site.opening_hours == expression))
    assert found == expression, f"no demo site has the hours {expression!r}"
    return found


@pytest.fixture
def calendar(session: Session) -> HolidayCalendar:
    """2025–2026 seeded from chinese-calendar, 2027 not covered."""
    session.execute(
        delete(CalendarDay).where(CalendarDay.day.between(date(2027, 1, 1), date(2027, 12, 31)))
    )
    seed_from_chinese_calendar(session, [2025, 2026])
    return load_calendar(session)


def first_working_day_after(day: date) -> date:
    following = day + timedelta(days=1)
    while not chinese_calendar.is_workday(following):
        following += timedelta(days=1)
    return following


def test_every_demo_site_has_hours_the_parser_accepts(session: Session) -> None:
    expressions = set(session.scalars(select(Site.opening_hours).distinct())) - {None}
    assert LUNCH_BREAK_HALL in expressions and HOURS_ALWAYS in expressions
    for expression in expressions:
        assert expression is not None
        validate_hours(expression)


def test_hall_closed_on_national_day_and_open_after_the_break(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, LUNCH_BREAK_HALL)
    assert NATIONAL_DAY.weekday() < 5  # a weekday: only the holiday closes it
    state = open_state(hours, at(NATIONAL_DAY, 10), calendar)
    assert not state.is_open
    assert state.warning is None

    back = first_working_day_after(NATIONAL_DAY + timedelta(days=6))
    assert back > date(2026, 10, 7)
    assert state.opens_at == at(back, 9)
    assert state.closes_at == at(back, 12)
    assert state.next_change == at(back, 9)
    assert open_state(hours, at(back, 10), calendar).is_open
    assert today_hours(hours, NATIONAL_DAY, calendar) == "休息 closed (国庆节)"
    assert today_hours(hours, back, calendar) == "09:00–12:00, 13:00–17:00"


def test_city_hall_closed_on_a_national_day_saturday(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, HOURS_CITY)  # Sa 09:00-12:00 normally, PH off
    saturday = next(
        d for d in (NATIONAL_DAY + timedelta(days=i) for i in range(7)) if d.weekday() == 5
    )
    assert not chinese_calendar.is_workday(saturday)
    assert not open_state(hours, at(saturday, 10), calendar).is_open
    ordinary_saturday = saturday + timedelta(days=14)
    assert ordinary_saturday not in calendar.days
    assert open_state(hours, at(ordinary_saturday, 10), calendar).is_open


def test_hall_open_on_2026_make_up_weekend_days(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, LUNCH_BREAK_HALL)
    make_up = sorted(d for d in chinese_calendar.workdays if d.year == 2026)
    assert make_up
    for day in make_up:
        assert day.weekday() >= 5, f"{day} is not a weekend day"
        state = open_state(hours, at(day, 10), calendar)
        assert state.is_open, day
        assert state.closes_at == at(day, 12)
        assert today_hours(hours, day, calendar).startswith("09:00–12:00, 13:00–17:00")
        ordinary = day + timedelta(days=7)
        if ordinary not in calendar.days:  # the same weekday a week later is a day off
            assert not open_state(hours, at(ordinary, 10), calendar).is_open


def test_make_up_saturday_has_weekday_hours_not_saturday_hours(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, HOURS_CITY)  # Mo-Fr 09:00-17:00; Sa 09:00-12:00; PH off
    saturdays = [d for d in chinese_calendar.workdays if d.year == 2026 and d.weekday() == 5]
    assert saturdays
    assert open_state(hours, at(saturdays[0], 15), calendar).is_open


def test_24_7_zone_open_on_every_holiday(session: Session, calendar: HolidayCalendar) -> None:
    hours = demo_hours(session, HOURS_ALWAYS)
    holidays = [d for d in chinese_calendar.holidays if d.year == 2026]
    assert NATIONAL_DAY in holidays
    for day in holidays:
        state = open_state(hours, at(day, 3), calendar)
        assert state.is_open, day
        assert (state.opens_at, state.closes_at, state.warning) == (None, None, None)


def test_hours_without_a_ph_rule_keep_their_weekday_rule_on_holidays(
    session: Session, calendar: HolidayCalendar
) -> None:
    post = demo_hours(session, HOURS_POST)  # Mo-Su 08:30-17:00
    assert open_state(post, at(NATIONAL_DAY, 10), calendar).is_open
    assert today_hours(post, NATIONAL_DAY, calendar) == "08:30–17:00 (国庆节)"
    bank = demo_hours(session, HOURS_BANK)  # Sa,Su 09:00-16:00
    assert not open_state(bank, at(date(2026, 10, 3), 16, 30), calendar).is_open


def test_lunch_break_closes_at_12_30(session: Session, calendar: HolidayCalendar) -> None:
    hours = demo_hours(session, LUNCH_BREAK_HALL)
    day = date(2026, 9, 29)
    assert calendar.day_type(day) == (True, None, True)
    state = open_state(hours, at(day, 12, 30), calendar)
    assert not state.is_open
    assert (state.opens_at, state.closes_at) == (at(day, 13), at(day, 17))
    morning = open_state(hours, at(day, 11, 59), calendar)
    assert morning.is_open and morning.closes_at == at(day, 12)
    assert next_open(hours, at(day, 12, 30), calendar) == at(day, 13)


def test_next_open_crosses_the_national_day_week(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, LUNCH_BREAK_HALL)
    eve = NATIONAL_DAY - timedelta(days=1)
    back = first_working_day_after(NATIONAL_DAY + timedelta(days=6))
    assert (back - eve).days >= 8
    assert next_open(hours, at(eve, 17, 30), calendar) == at(back, 9)
    assert next_open(hours, at(eve, 10), calendar) == at(eve, 10)  # open now
    assert next_open(hours, at(eve, 17, 30), calendar, horizon_days=5) is None
    utc = datetime(back.year, back.month, back.day, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
    assert next_open(hours, utc, calendar) == at(back, 9, 30)


def test_2027_without_data_uses_weekends_only_with_a_warning(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, LUNCH_BREAK_HALL)
    new_year = date(2027, 1, 1)  # a Friday
    state = open_state(hours, at(new_year, 10), calendar)
    assert state.is_open
    assert state.warning is not None
    assert "2027" in state.warning and "尚未录入" in state.warning and "not loaded" in state.warning
    assert next_open(hours, at(date(2027, 1, 2), 10), calendar) == at(date(2027, 1, 4), 9)
    assert "holidays not loaded" in today_hours(hours, new_year, calendar)
    # New Year's Eve 2026 is covered, but the answer reaches into 2027
    eve = open_state(hours, at(date(2026, 12, 31), 18), calendar)
    assert eve.opens_at == at(new_year, 9)
    assert eve.warning is not None and "2027" in eve.warning
    assert open_state(hours, at(date(2026, 12, 31), 10), calendar).warning is None


def test_2027_covered_once_an_admin_adds_its_days(
    session: Session, calendar: HolidayCalendar
) -> None:
    hours = demo_hours(session, LUNCH_BREAK_HALL)
    new_year = date(2027, 1, 1)
    set_day(session, new_year, "holiday", "元旦")
    updated = load_calendar(session)
    state = open_state(hours, at(new_year, 10), updated)
    assert not state.is_open
    assert state.warning is None
    assert state.opens_at == at(date(2027, 1, 4), 9)
    assert today_hours(hours, new_year, updated) == "休息 closed (元旦)"
    assert day_hours(hours, new_year, updated).covered


def test_invalid_hours_raise_a_typed_error_with_the_parser_message(
    calendar: HolidayCalendar,
) -> None:
    with pytest.raises(InvalidOpeningHours) as caught:
        open_state("Mo-Fr 25:00-26:00 lunch", at(NATIONAL_DAY, 10), calendar)
    error = caught.value
    assert error.field == "opening_hours"
    assert error.expression == "Mo-Fr 25:00-26:00 lunch"
    assert error.parser_message and error.parser_message in error.message
    assert error.status == 422


def test_unsupported_ph_form_answers_with_a_warning(calendar: HolidayCalendar) -> None:
    state = open_state("Mo-Fr 09:00-17:00; PH +1 day off", at(NATIONAL_DAY, 10), calendar)
    assert state.is_open  # the weekday rule, since "PH +1 day" cannot be mapped to a weekday
    assert state.warning is not None and "PH" in state.warning


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        # OSM reads "PH Mo-Fr" as a holiday that falls on Mo-Fr (the parser alone: "or")
        ("Mo-Fr 09:00-17:00; PH Mo-Fr off", ("09:00–17:00", "休息", "休息", "休息")),
        ("Mo-Fr 09:00-17:00; PH Mo 10:00-12:00", ("09:00–17:00", "09:00–17:00", "休息", "10:00")),
        ("Mo-Su 09:00-17:00; PH Sa,Su off", ("09:00–17:00", "09:00–17:00", "休息", "09:00")),
        # school holidays are not in the calendar: their rules never apply
        (
            "Mo-Fr 09:00-17:00; SH Mo-Fr 10:00-12:00",
            ("09:00–17:00", "09:00–17:00", "休息", "09:00"),
        ),
    ],
)
def test_holiday_rules_for_given_weekdays_apply_on_those_holidays_only(
    calendar: HolidayCalendar, hours: str, expected: tuple[str, str, str, str]
) -> None:
    monday = date(2026, 12, 7)
    days = (monday, NATIONAL_DAY, date(2026, 10, 3), date(2026, 10, 5))  # Mo; Th, Sa, Mo 国庆
    kinds = [(e.kind if (e := calendar.entry(d)) else None) for d in days]
    assert kinds == [None, *[CalendarDayKind.holiday] * 3]
    shown = [today_hours(hours, d, calendar) for d in days]
    for text, start in zip(shown, expected, strict=True):
        assert text.startswith(start), (hours, shown)
    # the same days as the answers of open_state see them
    for day, start in zip(days, expected, strict=True):
        opening = at(day, int(start[:2])) if start[0].isdigit() else None
        state = open_state(hours, opening or at(day, 11), calendar)
        assert state.is_open == (opening is not None) and state.warning is None, (hours, day)


SERVICE = timedelta(minutes=15)
CLOCK_HOURS = [
    LUNCH_BREAK_HALL,
    "Mo-Fr 09:00-09:10,10:00-17:00; PH off",  # a first period shorter than the service
    "Mo-Fr 08:30-17:00; Sa 09:00-12:00; PH off",
    "24/7",
    "Mo-Su 22:00-02:00",
    "Mo-Fr 09:00-17:00; PH Mo-Fr off",
]


@pytest.mark.parametrize("hours", CLOCK_HOURS)
def test_the_matching_clock_agrees_with_earliest_service(
    calendar: HolidayCalendar, hours: str
) -> None:
    """Matching checks thousands of arrivals at once against each expression's open windows
    (``_Clock.ready``) and bounds the sites it has not reached (``first_ready``); both must
    give the service start that walking the hours gives, closed days and short periods
    included."""
    from catalogue.matching import _Clock, _ms, earliest_service

    for depart in (at(date(2026, 9, 30), 16, 40), at(NATIONAL_DAY, 8), at(date(2026, 12, 7), 7)):
        end = depart + timedelta(hours=3)
        clock = _Clock(calendar, depart, end, round(SERVICE.total_seconds() * 1000), [])
        arrivals = [depart + timedelta(minutes=m) for m in range(0, 61, 4)]
        ready, _ = clock.ready(hours, np.array([_ms(a) for a in arrivals], dtype=np.int64))
        for arrival, found in zip(arrivals, ready.tolist(), strict=True):
            walked = earliest_service(hours, arrival, SERVICE, calendar, end)
            expected = -1 if walked is None else _ms(walked[0])
            assert found == expected, (hours, arrival)
            assert clock.first_ready(hours, _ms(arrival)) == expected, (hours, arrival)


@pytest.mark.parametrize("hours", [*CLOCK_HOURS, "Mo-Fr 00:00-24:00", "Mo-Fr 09:00-17:00 unknown"])
def test_open_windows_are_the_periods_open_state_and_next_open_give(
    calendar: HolidayCalendar, hours: str
) -> None:
    starts = [at(date(2026, 9, 30), 16, 40), at(NATIONAL_DAY, 8), at(date(2026, 10, 9), 18)]
    starts += [at(date(2026, 12, 4), 17, 20), at(date(2026, 12, 7), 3, 30)]
    for start in starts:
        end = start + timedelta(hours=26)
        walked: list[tuple[datetime, datetime | None]] = []
        moment: datetime | None = start
        while moment is not None and moment <= end:
            state = open_state(hours, moment, calendar)
            if not state.is_open:
                moment = next_open(hours, moment, calendar)
                continue
            walked.append((moment, state.closes_at))
            if state.closes_at is None:
                break
            moment = next_open(hours, state.closes_at + timedelta(seconds=1), calendar)
        windows, _ = OpenPeriods(calendar, start, end).windows(hours)
        assert windows == [(ms(o), c and ms(c)) for o, c in walked], (hours, start)


def test_open_windows_warn_about_the_years_the_answer_relies_on(calendar: HolidayCalendar) -> None:
    hall = "Mo-Fr 09:00-17:00; PH off"
    late_december = at(date(2026, 12, 28), 10)
    three_hours = OpenPeriods(calendar, late_december, late_december + timedelta(hours=3))
    assert three_hours.windows(hall)[1] is None  # 2027 is not loaded, but nothing needs it
    assert three_hours.windows("24/7")[1] is None
    new_year_eve = at(date(2026, 12, 31), 16)
    next_evening = OpenPeriods(calendar, new_year_eve, new_year_eve + timedelta(hours=26))
    windows, warning = next_evening.windows(hall)
    # 1 January 2027 is a Friday: open by the weekends-only rule, which the answer says
    assert [o for o, _ in windows] == [ms(new_year_eve), ms(at(date(2027, 1, 1), 9))]
    assert warning is not None and "2027" in warning


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


NOT_FIXED = "时间未定 hours not fixed"


@pytest.mark.parametrize(
    ("hours", "day", "expected"),
    [
        # a rule of days and a comment only: by appointment, not open around the clock
        ('Tu-Th 09:00-17:00 || "电话预约"', date(2026, 12, 7), f"{NOT_FIXED}（电话预约）"),
        ('Mo-Fr 09:00-17:00; Sa "预约"', date(2026, 12, 12), f"{NOT_FIXED}（预约）"),
        ('Mo-Fr 09:00-17:00; Sa "预约"', date(2026, 12, 7), "09:00–17:00"),
        # a comment beside times keeps them open
        ('Mo-Fr 09:00-17:00 "综合窗口"', date(2026, 12, 7), "09:00–17:00"),
    ],
)
def test_a_comment_without_times_makes_the_day_unknown_not_open(
    calendar: HolidayCalendar, hours: str, day: date, expected: str
) -> None:
    assert today_hours(hours, day, calendar) == expected
    late_evening = open_state(hours, at(day, 23), calendar)
    assert not late_evening.is_open
    noon = open_state(hours, at(day, 12), calendar)
    assert noon.is_open == expected.startswith("09:00")
    if not noon.is_open:
        assert noon.warning is not None and "unknown" in noon.warning
