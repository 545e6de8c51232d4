"""The holiday calendar on real PostGIS with the real chinese-calendar data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import chinese_calendar
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from catalogue.calendar import (
    SEED_SOURCE,
    chinese_calendar_years,
    coverage,
    day_type,
    days_of_year,
    import_year,
    load_calendar,
    remove_day,
    seed_from_chinese_calendar,
    set_day,
)
from catalogue.errors import CalendarImportRejected, InvalidCalendarDay
from geo.models import CalendarDay, CalendarDayKind

NATIONAL_DAY = date(2026, 10, 1)


def _rows_of(session: Session, year: int) -> list[tuple[date, str, str, str]]:
    query = select(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
    return sorted((r.day, str(r.kind), r.name, r.source) for r in session.scalars(query))


@pytest.fixture
def no_2027(session: Session) -> Session:
    """The session with no 2027 days (whatever a loader did; rolled back after the test)."""
    session.execute(
        delete(CalendarDay).where(CalendarDay.day.between(date(2027, 1, 1), date(2027, 12, 31)))
    )
    return session


def make_up_days_2026() -> list[date]:
    """The 2026 调休 days, as the chinese-calendar package lists them."""
    return sorted(d for d in chinese_calendar.workdays if d.year == 2026)


def test_seed_stores_every_year_the_package_knows_and_is_idempotent(session: Session) -> None:
    years = chinese_calendar_years()
    assert years.start <= 2026 < years.stop

    first = seed_from_chinese_calendar(session)
    covered = {c.year for c in coverage(session)}
    assert set(years) <= covered
    expected = len(chinese_calendar.holidays) + len(chinese_calendar.workdays)
    stored = session.scalar(
        select(func.count()).select_from(CalendarDay).where(CalendarDay.source == SEED_SOURCE)
    )
    assert stored == expected
    assert first.inserted + first.unchanged + first.updated == expected

    again = seed_from_chinese_calendar(session)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert again.unchanged == expected


def test_seed_of_a_year_the_package_does_not_know_does_not_crash(no_2027: Session) -> None:
    result = seed_from_chinese_calendar(no_2027, [2026, 2027])
    assert result.years_seeded == [2026]
    assert result.years_not_in_package == [2027]
    assert _rows_of(no_2027, 2027) == []


def test_seeded_national_day_and_make_up_days(session: Session) -> None:
    seed_from_chinese_calendar(session, [2026])
    assert day_type(session, NATIONAL_DAY) == (False, "国庆节", True)
    make_up = make_up_days_2026()
    assert make_up, "chinese-calendar lists 调休 days for 2026"
    for day in make_up:
        assert day.weekday() >= 5, f"{day} should be a Saturday or Sunday"
        assert day_type(session, day) == (True, None, True)
    calendar = load_calendar(session)
    ordinary_saturday = next(
        date(2026, 6, d)
        for d in range(1, 31)
        if date(2026, 6, d).weekday() == 5 and date(2026, 6, d) not in chinese_calendar.workdays
    )
    assert calendar.day_type(ordinary_saturday) == (False, None, True)


def test_uncovered_year_uses_the_weekday_rule(no_2027: Session) -> None:
    seed_from_chinese_calendar(no_2027, [2026])
    assert date(2027, 1, 1).weekday() == 4  # a Friday
    assert day_type(no_2027, date(2027, 1, 1)) == (True, None, False)
    assert day_type(no_2027, date(2027, 1, 2)) == (False, None, False)
    assert 2027 not in {c.year for c in coverage(no_2027)}


def test_set_day_covers_the_year_and_wins_over_the_seed(no_2027: Session) -> None:
    session = no_2027
    set_day(session, date(2027, 1, 1), "holiday", "元旦")
    assert day_type(session, date(2027, 1, 1)) == (False, "元旦", True)
    assert 2027 in {c.year for c in coverage(session)}

    seed_from_chinese_calendar(session, [2026])
    set_day(session, NATIONAL_DAY, CalendarDayKind.holiday, "国庆节（人工）", source="admin")
    result = seed_from_chinese_calendar(session, [2026])
    assert result.kept_admin == 1
    assert day_type(session, NATIONAL_DAY).holiday_name == "国庆节（人工）"

    saturday = date(2027, 2, 20)
    row = set_day(session, saturday, "workday")
    assert (row.kind, row.name) == (CalendarDayKind.workday, "调休上班")
    assert day_type(session, saturday) == (True, None, True)
    assert remove_day(session, saturday)
    assert day_type(session, saturday) == (False, None, True)


@pytest.mark.parametrize(
    ("day", "kind", "name", "field"),
    [
        (date(2027, 1, 4), "workday", None, "kind"),  # a Monday is already a working day
        (date(2027, 1, 1), "vacation", "元旦", "kind"),
        (date(2027, 1, 1), "holiday", "  ", "name"),
    ],
)
def test_set_day_rejects_bad_entries(
    no_2027: Session, day: date, kind: str, name: str | None, field: str
) -> None:
    with pytest.raises(InvalidCalendarDay) as caught:
        set_day(no_2027, day, kind, name)
    assert caught.value.field == field
    assert _rows_of(no_2027, 2027) == []


def test_import_csv_replaces_the_year(no_2027: Session, tmp_path: Path) -> None:
    session = no_2027
    set_day(session, date(2027, 3, 1), "holiday", "wrong, to be replaced")
    file = tmp_path / "2027.csv"
    file.write_text(
        "day,kind,name\n2027-01-01,holiday,元旦\n2027-02-06,休,春节\n2027-02-20,workday,\n",
        encoding="utf-8",
    )
    result = import_year(session, file)
    assert (result.year, result.holidays, result.workdays, result.replaced) == (2027, 2, 1, 1)
    assert [(e.day, e.kind, e.name) for e in days_of_year(session, 2027)] == [
        (date(2027, 1, 1), CalendarDayKind.holiday, "元旦"),
        (date(2027, 2, 6), CalendarDayKind.holiday, "春节"),
        (date(2027, 2, 20), CalendarDayKind.workday, "调休上班"),
    ]
    assert {e.source for e in days_of_year(session, 2027)} == {"import:2027.csv"}
    assert day_type(session, date(2027, 2, 20)) == (True, None, True)


def test_import_json(no_2027: Session, tmp_path: Path) -> None:
    file = tmp_path / "2027.json"
    days = [{"day": "2027-10-01", "kind": "holiday", "name": "国庆节"}]
    file.write_text(json.dumps(days, ensure_ascii=False), encoding="utf-8")
    assert import_year(no_2027, file).holidays == 1
    assert day_type(no_2027, date(2027, 10, 1)) == (False, "国庆节", True)


def test_import_names_every_bad_row_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    seed_from_chinese_calendar(session, [2026])
    before = _rows_of(session, 2026)
    file = tmp_path / "2026-bad.csv"
    file.write_text(
        "day,kind,name\n"
        "2026-01-01,holiday,元旦\n"  # line 2: fine
        "2026-13-01,holiday,坏日期\n"  # line 3: no such month
        "2026-10-01,party,国庆节\n"  # line 4: unknown kind
        "2026-10-02,holiday,\n"  # line 5: holiday without a name
        "2026-01-01,holiday,元旦\n"  # line 6: duplicate
        "2026-10-12,workday,\n"  # line 7: a Monday
        "2025-10-01,holiday,国庆节\n",  # line 8: another year
        encoding="utf-8",
    )
    with pytest.raises(CalendarImportRejected) as caught:
        import_year(session, file)
    error = caught.value
    assert error.path == str(file)
    assert (error.row, error.field) == (3, "day")
    assert [(p.row, p.field) for p in error.problems] == [
        (3, "day"),
        (4, "kind"),
        (5, "name"),
        (6, "day"),
        (7, "kind"),
        (8, "day"),
    ]
    assert str(file) in error.message and "row 3" in error.message and "field day" in error.message
    assert _rows_of(session, 2026) == before


@pytest.mark.parametrize(
    ("name", "content", "row", "field"),
    [
        ("days.txt", "2027-01-01 元旦", None, "file"),
        ("days.csv", "date,kind,name\n2027-01-01,holiday,元旦\n", 1, "day"),
        ("days.json", '{"day": "2027-01-01"}', None, "file"),
        ("days.json", '[{"day": "2027-01-01", "kind": "holiday", "name": "元旦"}, 7]', 2, "day"),
        ("days.json", "[]", None, "file"),
    ],
)
def test_import_rejects_bad_files(
    no_2027: Session, tmp_path: Path, name: str, content: str, row: int | None, field: str
) -> None:
    file = tmp_path / name
    file.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarImportRejected) as caught:
        import_year(no_2027, file)
    assert (caught.value.row, caught.value.field) == (row, field)
    assert _rows_of(no_2027, 2027) == []


def test_loaded_calendar_is_immutable(session: Session) -> None:
    seed_from_chinese_calendar(session, [2026])
    calendar = load_calendar(session)
    with pytest.raises(TypeError):
        calendar.days[date(2026, 6, 1)] = calendar.days[NATIONAL_DAY]  # type: ignore[index]
    assert 2026 in calendar.covered_years
