"""The mainland holiday calendar (法定节假日 and 调休) in the ``calendar_days`` table.

Only the days that break the weekday rule are stored: public holidays (kind
``holiday``, a day off, also when it falls on a weekend inside a break) and
make-up working days (kind ``workday``, a Saturday or Sunday that is worked, 调休).
Every other day follows the weekday rule: Monday–Friday work, Saturday–Sunday rest.

Where the days come from (the ``source`` column):

- ``chinese-calendar <version>``: :func:`seed_from_chinese_calendar`, for the years
  the package knows (2004–2026 in 1.11; it raises for later years, which we never
  ask it about);
- ``import:<file name>``: :func:`import_year`, an admin's list of one year's days;
- ``admin`` (or what the caller passes): :func:`set_day`, one day at a time.

Coverage: a year counts as covered as soon as it has at least one stored day,
whatever its source. China announces a whole year's arrangement at once (the State
Council notice each autumn), so the expected way to add a year is one
``daofu calendar import`` of the full list; ``daofu calendar set`` on a year with no
days yet says that the year is now treated as covered. For an uncovered year the
answers fall back to the weekday rule and say so (see :mod:`catalogue.hours`).

For evaluating many sites × times, :func:`load_calendar` reads the table once into
a :class:`HolidayCalendar` (an immutable mapping); :func:`day_type` takes either
that or a session.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import chinese_calendar
from sqlalchemy import delete, extract, select, text
from sqlalchemy.orm import Session

from catalogue.errors import CalendarImportRejected, InvalidCalendarDay, RowProblem
from geo.models import CalendarDay, CalendarDayKind

Report = Callable[[str, int, int], None]
"""Progress callback: (step, done, total), the same shape as ``geo.loading.Report``."""

SEED_SOURCE_PREFIX = "chinese-calendar"
SEED_SOURCE = f"{SEED_SOURCE_PREFIX} {chinese_calendar.__version__}"
IMPORT_SOURCE_PREFIX = "import:"
ADMIN_SOURCE = "admin"
DEFAULT_WORKDAY_NAME = "调休上班"

_KIND_ALIASES = {
    "holiday": CalendarDayKind.holiday,
    "休": CalendarDayKind.holiday,
    "假": CalendarDayKind.holiday,
    "workday": CalendarDayKind.workday,
    "班": CalendarDayKind.workday,
}


class DayType(NamedTuple):
    """What a date is: a working day or not, the holiday's name, and whether we know."""

    is_working_day: bool
    holiday_name: str | None
    covered: bool


@dataclass(frozen=True)
class CalendarEntry:
    day: date
    kind: CalendarDayKind
    name: str
    source: str


@dataclass(frozen=True)
class HolidayCalendar:
    """The calendar loaded into memory: stored days by date, and the covered years.

    Immutable and cheap to query, so one instance serves a whole request or batch.
    """

    days: Mapping[date, CalendarEntry] = field(default_factory=lambda: MappingProxyType({}))
    covered_years: frozenset[int] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[CalendarEntry]) -> HolidayCalendar:
        by_day = {e.day: e for e in entries}
        return cls(MappingProxyType(by_day), frozenset(d.year for d in by_day))

    def is_covered(self, day: date) -> bool:
        return day.year in self.covered_years

    def entry(self, day: date) -> CalendarEntry | None:
        """The stored holiday / make-up day, or None for a day that follows the weekday rule."""
        return self.days.get(day)

    def day_type(self, day: date) -> DayType:
        covered = self.is_covered(day)
        entry = self.days.get(day) if covered else None
        if entry is None:
            return DayType(day.weekday() < 5, None, covered)
        if entry.kind is CalendarDayKind.holiday:
            return DayType(False, entry.name, True)
        return DayType(True, None, True)


@dataclass(frozen=True)
class YearCoverage:
    year: int
    holidays: int
    workdays: int
    sources: tuple[str, ...]


@dataclass
class SeedResult:
    """What :func:`seed_from_chinese_calendar` did, in counts of days."""

    years_seeded: list[int] = field(default_factory=list)
    years_not_in_package: list[int] = field(default_factory=list)
    years_kept_import: list[int] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    kept_admin: int = 0


@dataclass(frozen=True)
class ImportResult:
    year: int
    holidays: int
    workdays: int
    replaced: int


def _to_entry(row: CalendarDay) -> CalendarEntry:
    return CalendarEntry(row.day, CalendarDayKind(row.kind), row.name, row.source)


def load_calendar(session: Session, years: Iterable[int] | None = None) -> HolidayCalendar:
    """Read the stored days (of ``years``, or all) into an in-memory :class:`HolidayCalendar`."""
    query = select(CalendarDay)
    if years is not None:
        query = query.where(extract("year", CalendarDay.day).in_(list(years)))
    return HolidayCalendar.from_entries(_to_entry(r) for r in session.scalars(query))


def day_type(calendar: Session | HolidayCalendar, day: date) -> DayType:
    """``(is_working_day, holiday_name | None, covered)`` of ``day``.

    For an uncovered year: the weekday rule (Mon–Fri work), no name, ``covered=False``.
    """
    if isinstance(calendar, Session):
        calendar = load_calendar(calendar, [day.year])
    return calendar.day_type(day)


def coverage(session: Session) -> list[YearCoverage]:
    """The covered years (those with at least one stored day), with counts and sources."""
    per_year: dict[int, tuple[int, int, set[str]]] = {}
    for row in session.scalars(select(CalendarDay).order_by(CalendarDay.day)):
        holidays, workdays, sources = per_year.get(row.day.year, (0, 0, set()))
        if row.kind == CalendarDayKind.holiday:
            holidays += 1
        else:
            workdays += 1
        sources.add(row.source)
        per_year[row.day.year] = (holidays, workdays, sources)
    return [
        YearCoverage(year, h, w, tuple(sorted(s))) for year, (h, w, s) in sorted(per_year.items())
    ]


def chinese_calendar_years() -> range:
    """The years the installed ``chinese-calendar`` package has data for."""
    known = chinese_calendar.holidays.keys() | chinese_calendar.workdays.keys()
    return range(min(known).year, max(known).year + 1)


def _package_days(year: int) -> dict[date, tuple[CalendarDayKind, str]]:
    def chinese(value: str) -> str:
        try:
            return str(chinese_calendar.Holiday(value).chinese)
        except ValueError:
            return value

    days: dict[date, tuple[CalendarDayKind, str]] = {}
    for day, value in chinese_calendar.holidays.items():
        if day.year == year:
            days[day] = (CalendarDayKind.holiday, chinese(value))
    for day, value in chinese_calendar.workdays.items():
        # a worked weekday would change nothing: only weekends break the weekday rule
        if day.year == year and day.weekday() >= 5:
            days[day] = (CalendarDayKind.workday, f"{chinese(value)} {DEFAULT_WORKDAY_NAME}")
    return days


def seed_from_chinese_calendar(
    session: Session, years: Iterable[int] | None = None, report: Report | None = None
) -> SeedResult:
    """Store the holidays and make-up days of ``chinese-calendar`` (default: all its years).

    Idempotent. Years the package does not know (2027+) are skipped and listed in the
    result, never asked about. An admin's work wins: days set by hand are kept, and a
    year imported from a file is left alone; seed rows the package no longer lists are
    removed. Flushes, never commits.
    """
    known = chinese_calendar_years()
    wanted = sorted(set(years)) if years is not None else list(known)
    result = SeedResult(years_not_in_package=[y for y in wanted if y not in known])
    todo = [y for y in wanted if y in known]
    for done, year in enumerate(todo, start=1):
        stored = {r.day: r for r in session.scalars(select(CalendarDay).where(_in_year(year)))}
        if any(r.source.startswith(IMPORT_SOURCE_PREFIX) for r in stored.values()):
            result.years_kept_import.append(year)
        else:
            _seed_year(session, year, stored, result)
            result.years_seeded.append(year)
        if report:
            report("节假日日历 holiday calendar", done, len(todo))
    session.flush()
    return result


def _seed_year(
    session: Session, year: int, stored: dict[date, CalendarDay], result: SeedResult
) -> None:
    package = _package_days(year)
    for day, row in stored.items():
        if not row.source.startswith(SEED_SOURCE_PREFIX):
            result.kept_admin += 1
        elif day not in package:
            session.delete(row)
            result.deleted += 1
    for day, (kind, name) in package.items():
        existing = stored.get(day)
        if existing is None:
            session.add(CalendarDay(day=day, kind=kind, name=name, source=SEED_SOURCE))
            result.inserted += 1
            continue
        if not existing.source.startswith(SEED_SOURCE_PREFIX):
            continue
        if (existing.kind, existing.name, existing.source) == (kind, name, SEED_SOURCE):
            result.unchanged += 1
        else:
            existing.kind, existing.name, existing.source = kind, name, SEED_SOURCE
            result.updated += 1


SEED_DATASET_VERSION = int(
    "".join(f"{int(p):03d}" for p in chinese_calendar.__version__.split("."))
)
"""For a ``geo.loading.Dataset`` wrapping :func:`load_holiday_calendar`: a new package reseeds."""


def load_holiday_calendar(session: Session, data_dir: Path, report: Report) -> int:
    """:func:`seed_from_chinese_calendar` in the shape of ``Dataset.load`` for ``daofu data load``.

    ``data_dir`` is unused (the data ships inside the package). Returns the days stored.
    """
    result = seed_from_chinese_calendar(session, report=report)
    return result.inserted + result.updated + result.unchanged + result.kept_admin


def _in_year(year: int) -> Any:
    return CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))


def _parse_kind(value: object) -> CalendarDayKind | None:
    if isinstance(value, CalendarDayKind):
        return value
    return _KIND_ALIASES.get(str(value).strip().lower()) if value is not None else None


def _check_day(day: date, kind_value: object, name: str | None) -> tuple[CalendarDayKind, str]:
    """Validate one entry; raises :class:`InvalidCalendarDay` naming the field."""
    kind = _parse_kind(kind_value)
    if kind is None:
        raise InvalidCalendarDay(
            "kind", f"kind must be holiday (休) or workday (班), not {kind_value!r}"
        )
    if kind is CalendarDayKind.workday and day.weekday() < 5:
        raise InvalidCalendarDay(
            "kind",
            f"{day} 是周{'一二三四五'[day.weekday()]}，本来就是工作日 is a weekday, already a "
            "working day; a make-up working day (调休) is a Saturday or Sunday",
        )
    name = (name or "").strip()
    if not name:
        if kind is CalendarDayKind.holiday:
            raise InvalidCalendarDay("name", "a holiday needs a name (e.g. 元旦, 春节, 国庆节)")
        name = DEFAULT_WORKDAY_NAME
    return kind, name


def set_day(
    session: Session,
    day: date,
    kind: CalendarDayKind | str,
    name: str | None = None,
    source: str = ADMIN_SOURCE,
) -> CalendarDay:
    """Add or change one day (an admin's correction, or a year the package does not know).

    ``kind``: ``holiday`` (day off) or ``workday`` (调休: a weekend day that is worked;
    ``name`` defaults to 调休上班). Flushes, never commits.
    """
    checked_kind, checked_name = _check_day(day, kind, name)
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, kind=checked_kind, name=checked_name, source=source)
        session.add(row)
    else:
        row.kind, row.name, row.source = checked_kind, checked_name, source
    session.flush()
    return row


def remove_day(session: Session, day: date) -> bool:
    """Delete a stored day (it follows the weekday rule again); False if there was none."""
    row = session.get(CalendarDay, day)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The file's records with their row numbers (CSV: line, header = 1; JSON: 1-based)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("day", "kind", "name") if c not in (reader.fieldnames or [])]
            if missing:
                raise CalendarImportRejected(
                    str(path), [RowProblem(1, missing[0], f"missing column {missing[0]!r}")]
                )
            return [(reader.line_num, dict(record)) for record in reader]
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise CalendarImportRejected(
                str(path), [RowProblem(None, "file", f"not valid JSON: {error}")]
            ) from error
        if not isinstance(data, list):
            raise CalendarImportRejected(
                str(path), [RowProblem(None, "file", "expected a JSON list of days")]
            )
        return [(i, r if isinstance(r, dict) else {"_": r}) for i, r in enumerate(data, 1)]
    raise CalendarImportRejected(
        str(path), [RowProblem(None, "file", "expected a .csv or .json file")]
    )


def _check_rows(
    rows: list[tuple[int, dict[str, Any]]],
) -> tuple[list[CalendarEntry], list[RowProblem]]:
    entries: list[CalendarEntry] = []
    problems: list[RowProblem] = []
    seen: dict[date, int] = {}
    year: int | None = None
    for number, record in rows:
        raw_day = record.get("day")
        try:
            day = date.fromisoformat(str(raw_day).strip())
        except ValueError:
            problems.append(RowProblem(number, "day", f"not a date (YYYY-MM-DD): {raw_day!r}"))
            continue
        year = day.year if year is None else year
        if day.year != year:
            problems.append(RowProblem(number, "day", f"{day} is not in {year}: one year a file"))
        elif day in seen:
            problems.append(RowProblem(number, "day", f"{day} already on row {seen[day]}"))
        seen.setdefault(day, number)
        name = record.get("name")
        try:
            kind, checked_name = _check_day(
                day, record.get("kind"), None if name is None else str(name)
            )
        except InvalidCalendarDay as error:
            problems.append(RowProblem(number, error.field, error.message))
            continue
        entries.append(CalendarEntry(day, kind, checked_name, ""))
    return entries, problems


def import_year(session: Session, file: Path, source: str | None = None) -> ImportResult:
    """Replace one year's days with the list in ``file`` (CSV or JSON), all or nothing.

    CSV: a header with ``day,kind,name`` (UTF-8); JSON: a list of
    ``{"day": "2027-01-01", "kind": "holiday", "name": "元旦"}``. ``kind`` is
    ``holiday``/``休`` or ``workday``/``班``; a workday's name may be empty. Every
    row is checked first; any bad row raises :class:`CalendarImportRejected` naming
    file, row and field of each problem, and nothing is written. Flushes, never commits.
    """
    rows = _read_rows(file)
    entries, problems = _check_rows(rows)
    if not entries and not problems:
        problems.append(RowProblem(None, "file", "no days in the file"))
    if problems:
        raise CalendarImportRejected(str(file), problems)
    year = entries[0].day.year
    source = source or f"{IMPORT_SOURCE_PREFIX}{file.name}"
    replaced = len(session.scalars(select(CalendarDay.day).where(_in_year(year))).all())
    session.execute(delete(CalendarDay).where(_in_year(year)))
    session.add_all(
        CalendarDay(day=e.day, kind=e.kind, name=e.name, source=source) for e in entries
    )
    session.flush()
    holidays = sum(e.kind is CalendarDayKind.holiday for e in entries)
    return ImportResult(year, holidays, len(entries) - holidays, replaced)


def days_of_year(session: Session, year: int) -> list[CalendarEntry]:
    """The stored days of ``year``, in date order."""
    query = select(CalendarDay).where(_in_year(year)).order_by(CalendarDay.day)
    return [_to_entry(r) for r in session.scalars(query)]


CALENDAR_CHECK_S = 2.0
"""How long a loaded calendar is trusted before its fingerprint is checked again."""
_CALENDAR_FINGERPRINT = text(
    "SELECT count(*) || ':' || coalesce(md5(string_agg(day::text || kind::text || name, ',' "
    "ORDER BY day)), '') FROM calendar_days"
)
_current: tuple[float, str, HolidayCalendar] | None = None


def current_calendar(session: Session) -> HolidayCalendar:
    """The whole calendar, loaded once per process and reloaded when an admin changes it."""
    global _current
    now = time.monotonic()
    if _current is not None and now - _current[0] < CALENDAR_CHECK_S:
        return _current[2]
    fingerprint = str(session.scalar(_CALENDAR_FINGERPRINT))
    if _current is None or _current[1] != fingerprint:
        _current = (now, fingerprint, load_calendar(session))
    else:
        _current = (now, fingerprint, _current[2])
    return _current[2]
