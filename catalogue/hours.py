"""Is a site open? Its OSM ``opening_hours`` evaluated with the mainland holiday calendar.

The parser is ``opening-hours-py`` (the Rust ``opening-hours`` crate). It can load
public holidays only by country code, from its own data set, which knows neither
the make-up working days (调休) nor the years an admin adds; so it cannot take our
calendar. We build it without a country (then ``PH`` never matches) and evaluate
one local day at a time, choosing what the parser sees by the day's type in our
:class:`~catalogue.calendar.HolidayCalendar`:

- **ordinary day** (not in the calendar): the expression as written, at that date;
- **public holiday** (kind ``holiday``): the expression with each ``PH`` token
  (outside comments) replaced by that date's weekday, at that date. So ``PH off``
  closes, ``PH 10:00-12:00`` gives those hours, and a rule after ``PH`` still
  overrides it, exactly in OSM's rule order. An expression without ``PH`` keeps its
  weekday rule on a holiday, as OSM specifies: ``Mo-Su 08:30-17:00`` is open on
  国庆节, ``Mo-Fr 09:00-17:00`` (without ``PH off``) too — say ``PH off`` if closed.
  ``PH Mo-Fr`` (OSM: a holiday that falls on Mo–Fr) applies on such a holiday only;
  the rarer ``PH +1 day`` has no weekday rewrite: there the weekday rule applies and
  the answer carries a warning.
- **any other day**: rules for holidays on given weekdays (``PH Mo-Fr off``, ``SH Sa
  10:00-12:00``) do not apply. The parser reads ``PH Mo-Fr`` as "holiday *or* Mo–Fr"
  and would close such a hall on every working day; OSM means "holiday *and* Mo–Fr".
  School holidays (``SH``) are not in our calendar and never match.
- **make-up working day** (kind ``workday`` on a Saturday/Sunday): the hours of an
  ordinary working day, taken from the Wednesday of the same ISO week (Mo–Fr halls
  open as usual; a hall's Saturday short hours do not apply on a worked Saturday).
- **year the calendar does not cover**: the weekends-only rule, i.e. the expression
  as written without holidays, and a warning (Chinese + English) saying so.

Times are local to Asia/Shanghai (no DST since 1991). A naive ``at`` is read as
Shanghai local time; returned datetimes are aware, in Asia/Shanghai. Parsed
expressions and per-day results are cached, so many sites × times stay cheap.
Known limit: a rule running past midnight (``Fr 22:00-02:00``) spills into the next
day as the parser sees the previous date, whatever its type in our calendar.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

import opening_hours
from opening_hours import OpeningHours, State

from catalogue.calendar import HolidayCalendar
from catalogue.errors import InvalidOpeningHours
from geo.models import CalendarDayKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
_WEEKDAY_TOKENS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_QUOTED = re.compile(r'("[^"]*")')
_PH = re.compile(r"\bPH\b")
_WEEKDAY_RE = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_HOLIDAY_AND_DAYS = re.compile(rf"\b(PH|SH)\s+({_WEEKDAY_RE}(?:\s*[-,]\s*{_WEEKDAY_RE})*)\b")
_NO_DAY = "1900 Jan 01"
"""A selector that matches none of the days we evaluate."""
_PH_NOTE = (
    "此营业时间的节假日(PH)写法无法按日历计算，按平日规则推算 "
    "the PH rule of these hours cannot be applied; the weekday rule was used"
)
_ONE_DAY = timedelta(days=1)
# the package raises its own ParserError, which its type stubs do not declare
_PARSER_ERRORS: tuple[type[Exception], ...] = (
    getattr(opening_hours, "ParserError", SyntaxError),
    SyntaxError,
)

Interval = tuple[datetime, datetime]


class _DayKind(enum.Enum):
    ordinary = "ordinary"
    holiday = "holiday"
    makeup = "makeup"
    uncovered = "uncovered"


@dataclass(frozen=True)
class OpenState:
    """Open now? ``opens_at``/``closes_at`` bound the current open period, or the next one.

    Open: ``opens_at`` is when the current period began (None if it runs from before
    the day before ``at``, e.g. 24/7) and ``closes_at`` when it ends (None if not
    within the horizon). Closed: the next period's start and end (both None if it
    does not open within the horizon). ``next_change`` is ``closes_at`` when open,
    ``opens_at`` when closed. ``warning``: a text to show with the answer, or None.
    """

    is_open: bool
    opens_at: datetime | None
    closes_at: datetime | None
    next_change: datetime | None
    warning: str | None


@dataclass(frozen=True)
class DayHours:
    """One local day's open intervals (aware datetimes) and what kind of day it is."""

    day: date
    intervals: tuple[Interval, ...]
    is_working_day: bool
    holiday_name: str | None
    covered: bool
    warning: str | None
    text: str


@dataclass(frozen=True)
class _DayEval:
    intervals: tuple[Interval, ...]  # open, naive local times, clipped to the day
    unknown: tuple[Interval, ...]  # state "unknown" (e.g. ``Mo-Fr 09:00-17:00 unknown``)
    note: str | None
    unknown_comments: tuple[str, ...] = ()  # what the unknown rules say (``"电话预约"``)


def _build(expression: str) -> OpeningHours:
    unknown = _comment_rules_unknown(expression)
    if unknown != expression:
        try:
            return _parser(unknown)
        except _PARSER_ERRORS:
            pass  # the expression as written, and its parser message if it is invalid
    return _parser(expression)


def _parser(expression: str) -> OpeningHours:
    return OpeningHours(expression, country=None, auto_country=False, auto_timezone=False)


_RULE_SEPARATOR = re.compile(r"(;|\|\|)")
_MODIFIER_OR_TIME = re.compile(
    r"\b(open|closed|off|unknown|sunrise|sunset|dawn|dusk)\b|\d:\d\d|24/7"
)


def _comment_rules_unknown(expression: str) -> str:
    """A rule of days and a comment only (``Sa "预约"``, ``|| "电话预约"``) made ``unknown``.

    The parser reads it as open around the clock; in OSM a comment without a state makes
    the state unknown (by appointment, call first), which is what such a rule says. Rules
    with times (``Mo-Fr 09:00-17:00 "窗口"``) keep the parser's reading: open, with a note.
    """
    rules: list[str] = [""]
    for part in _QUOTED.split(expression):
        if part.startswith('"'):
            rules[-1] += part
            continue
        pieces = _RULE_SEPARATOR.split(part)
        rules[-1] += pieces[0]
        rules += pieces[1:]  # separators and the rules after them, alternately
    for i, rule in enumerate(rules):
        plain = _QUOTED.sub("", rule)
        if i % 2 == 0 and '"' in rule and not _MODIFIER_OR_TIME.search(plain):
            rules[i] = rule.replace('"', 'unknown "', 1)
    return "".join(rules)


@lru_cache(maxsize=4096)
def parse_hours(expression: str) -> OpeningHours:
    """The parsed expression (cached).

    Raises :class:`InvalidOpeningHours` carrying the parser's message.
    """
    try:
        return _build(expression)
    except _PARSER_ERRORS as error:
        raise InvalidOpeningHours(expression, str(error)) from error


def validate_hours(expression: str) -> None:
    """Raise :class:`InvalidOpeningHours` if ``expression`` is not valid OSM opening_hours."""
    parse_hours(expression)


def _weekdays_in(sequence: str) -> set[int]:
    """The weekdays (0 = Monday) of a sequence like ``Mo-Fr``, ``Sa,Su`` or ``Fr-Mo``."""
    days: set[int] = set()
    for part in sequence.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        a, b = _WEEKDAY_TOKENS.index(first), _WEEKDAY_TOKENS.index(last or first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return days


def _settle_holiday_days(expression: str, holiday_weekday: int | None) -> str:
    """Each ``PH Mo-Fr`` / ``SH Sa`` selector (outside comments) for one day: that day's
    weekday token on a public holiday falling on one of those weekdays (``holiday_weekday``),
    otherwise a selector that matches no day."""

    def settle(match: re.Match[str]) -> str:
        if match.group(1) == "PH" and holiday_weekday in _weekdays_in(match.group(2)):
            return _WEEKDAY_TOKENS[holiday_weekday]
        return _NO_DAY

    return _outside_comments(_HOLIDAY_AND_DAYS, settle, expression)


def _outside_comments(
    pattern: re.Pattern[str], replacement: str | Callable[[re.Match[str]], str], expression: str
) -> str:
    """``pattern.sub(replacement, …)`` on the expression except its quoted comments."""
    parts = _QUOTED.split(expression)
    return "".join(p if p.startswith('"') else pattern.sub(replacement, p) for p in parts)


def _parsed_variant(expression: str, rewritten: str) -> tuple[OpeningHours, str | None]:
    """``rewritten`` parsed, or the expression as written with a note if that fails."""
    if rewritten == expression:
        return parse_hours(expression), None
    try:
        return _build(rewritten), None
    except _PARSER_ERRORS:
        return parse_hours(expression), _PH_NOTE


@lru_cache(maxsize=4096)
def _ordinary_variant(expression: str) -> tuple[OpeningHours, str | None]:
    """The expression as the parser must see it on a day that is not a public holiday."""
    return _parsed_variant(expression, _settle_holiday_days(expression, None))


@lru_cache(maxsize=4096)
def _holiday_variant(expression: str, weekday: int) -> tuple[OpeningHours, str | None]:
    """The expression as the parser must see it on a public holiday falling on ``weekday``."""
    settled = _settle_holiday_days(expression, weekday)
    rewritten = _outside_comments(_PH, _WEEKDAY_TOKENS[weekday], settled)
    return _parsed_variant(expression, rewritten)


def _kind_of(calendar: HolidayCalendar, day: date) -> _DayKind:
    if not calendar.is_covered(day):
        return _DayKind.uncovered
    entry = calendar.entry(day)
    if entry is None:
        return _DayKind.ordinary
    if entry.kind is CalendarDayKind.holiday:
        return _DayKind.holiday
    return _DayKind.makeup if day.weekday() >= 5 else _DayKind.ordinary


@lru_cache(maxsize=65536)
def _evaluate_day(expression: str, day: date, kind: _DayKind) -> _DayEval:
    reference = day
    if kind is _DayKind.holiday:
        parsed, note = _holiday_variant(expression, day.weekday())
    else:
        parsed, note = _ordinary_variant(expression)
        if kind is _DayKind.makeup:
            reference = day - timedelta(days=day.weekday() - 2)  # that week's Wednesday
    start = datetime.combine(reference, time())
    shift = datetime.combine(day, time()) - start
    found: dict[State, list[Interval]] = {State.OPEN: [], State.UNKNOWN: []}
    comments: list[str] = []
    for begin, end, state, comment in parsed.intervals(start, start + _ONE_DAY):
        begin, end = max(begin, start), min(end, start + _ONE_DAY)
        if state in found and begin < end:
            found[state].append((begin + shift, end + shift))
            if state == State.UNKNOWN and comment and comment not in comments:
                comments.append(comment)
    opened, unknown = tuple(found[State.OPEN]), tuple(found[State.UNKNOWN])
    return _DayEval(opened, unknown, note, tuple(comments))


def _local(at: datetime) -> datetime:
    """``at`` as naive Shanghai local time (a naive ``at`` already is)."""
    return at.astimezone(SHANGHAI).replace(tzinfo=None) if at.tzinfo else at


def _aware(local: datetime) -> datetime:
    return local.replace(tzinfo=SHANGHAI)


def uncovered_warning(years: list[int]) -> str:
    """The warning for answers that rely on years the holiday calendar does not cover."""
    listed = "、".join(str(y) for y in years)
    english = ", ".join(str(y) for y in years)
    return (
        f"{listed}年的节假日安排尚未录入，按周六周日休息推算，节假日和调休可能不准。"
        f" The {english} public holiday calendar is not loaded yet: assuming only Saturdays "
        "and Sundays are days off, so holidays and make-up working days are not accounted for."
    )


Moment = TypeVar("Moment", datetime, int)


def _merged(
    days: Iterable[tuple[Moment, Iterable[tuple[Moment, Moment]]]],
) -> Iterator[tuple[Moment, Moment]]:
    """Open periods from each day's end and open intervals, in order, touching ones merged
    (a period is given once the day after it shows it does not go on)."""
    current: tuple[Moment, Moment] | None = None
    for day_end, intervals in days:
        for begin, end in intervals:
            if current is not None and begin <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (begin, end)
        if current is not None and current[1] < day_end:
            yield current
            current = None
    if current is not None:
        yield current


class _Scan:
    """Walks the open periods day by day, remembering what it consulted (for warnings)."""

    def __init__(self, expression: str, calendar: HolidayCalendar) -> None:
        parse_hours(expression)  # raise on a bad expression even if no day is evaluated
        self.expression = expression
        self.calendar = calendar
        self.uncovered: set[int] = set()
        self.notes: set[str] = set()
        self.unknown = False

    def day(self, day: date, *, record: bool = True) -> _DayEval:
        kind = _kind_of(self.calendar, day)
        evaluated = _evaluate_day(self.expression, day, kind)
        if record:
            if kind is _DayKind.uncovered:
                self.uncovered.add(day.year)
            if evaluated.note:
                self.notes.add(evaluated.note)
        return evaluated

    def periods(self, first: date, days: int, record_from: date) -> Iterator[Interval]:
        """Open periods over ``days`` days from ``first``, touching intervals merged."""
        each_day = (first + timedelta(days=offset) for offset in range(days))
        return _merged(
            (
                datetime.combine(day, time()) + _ONE_DAY,
                self.day(day, record=day >= record_from).intervals,
            )
            for day in each_day
        )

    def warning(self) -> str | None:
        texts = sorted(self.notes)
        if self.uncovered:
            texts.insert(0, uncovered_warning(sorted(self.uncovered)))
        if self.unknown:
            texts.append("营业状态未知 the hours say the state is unknown at this time")
        return "；".join(texts) if texts else None


def open_state(
    expression: str, at: datetime, calendar: HolidayCalendar, horizon_days: int = 14
) -> OpenState:
    """Whether a site with these hours is open at ``at``, and when that changes.

    Looks ``horizon_days`` ahead for the next opening or closing.
    Raises :class:`InvalidOpeningHours` for an expression the parser rejects.
    """
    local = _local(at)
    today = local.date()
    scan = _Scan(expression, calendar)
    # the day asked about always counts for the warning
    scan.unknown = any(b <= local < e for b, e in scan.day(today).unknown)
    window_start = datetime.combine(today - _ONE_DAY, time())
    window_end = datetime.combine(today + timedelta(days=horizon_days + 1), time())
    for begin, end in scan.periods(today - _ONE_DAY, horizon_days + 2, today):
        if end <= local:
            continue
        closes = None if end >= window_end else _aware(end)
        if begin <= local:
            opens = None if begin <= window_start else _aware(begin)
            return OpenState(True, opens, closes, closes, scan.warning())
        return OpenState(False, _aware(begin), closes, _aware(begin), scan.warning())
    return OpenState(False, None, None, None, scan.warning())


def next_open(
    expression: str, at: datetime, calendar: HolidayCalendar, horizon_days: int = 14
) -> datetime | None:
    """The first moment at or after ``at`` when the site is open; None if not within the horizon.

    Crosses holiday breaks (the 7-day National Day break, Spring Festival).
    """
    local = _local(at)
    scan = _Scan(expression, calendar)
    for begin, end in scan.periods(local.date(), horizon_days + 1, local.date()):
        if end > local:
            return _aware(max(begin, local))
    return None


_EPOCH_LOCAL = datetime(1970, 1, 1, 8)
"""The Unix epoch in Shanghai local time (UTC+8, no DST since 1991)."""


def _local_ms(local: datetime) -> int:
    return (local - _EPOCH_LOCAL) // timedelta(milliseconds=1)


def _local_day(ms: int) -> date:
    """The Shanghai date of an epoch-milliseconds moment."""
    return (_EPOCH_LOCAL + timedelta(milliseconds=ms)).date()


@lru_cache(maxsize=65536)
def _day_ms(expression: str, day: date, kind: _DayKind) -> tuple[tuple[int, int], ...]:
    """:func:`_evaluate_day`'s open intervals in epoch milliseconds."""
    intervals = _evaluate_day(expression, day, kind).intervals
    return tuple((_local_ms(b), _local_ms(e)) for b, e in intervals)


class OpenPeriods:
    """The open periods of many hours expressions over one stretch of time, in epoch
    milliseconds: what matching asks of every site's hours over a request's horizon.

    The days' kinds (holiday, 调休, not covered) are looked up once for all expressions,
    and each expression's days come from a cache, so an expression costs a few
    microseconds however many distinct ones the sites have.
    """

    def __init__(
        self, calendar: HolidayCalendar, start: datetime, end: datetime, horizon_days: int = 14
    ) -> None:
        self.calendar = calendar
        self.local, self.until = _local(start), _local(end)
        self.start_ms, self.until_ms = _local_ms(self.local), _local_ms(self.until)
        self.first = self.local.date() - _ONE_DAY
        self.horizon_days = horizon_days
        self._kinds: list[_DayKind] = []

    def _kind(self, offset: int) -> _DayKind:
        while len(self._kinds) <= offset:
            self._kinds.append(_kind_of(self.calendar, self.first + len(self._kinds) * _ONE_DAY))
        return self._kinds[offset]

    def _periods(self, expression: str, days: int) -> Iterator[tuple[int, int]]:
        """:meth:`_Scan.periods` from the day before ``start``, in milliseconds."""
        midnight = _local_ms(datetime.combine(self.first, time()))
        return _merged(
            (midnight + (offset + 1) * 86_400_000,
             _day_ms(expression, self.first + offset * _ONE_DAY, self._kind(offset)))
            for offset in range(days)
        )  # fmt: skip

    def windows(self, expression: str) -> tuple[list[tuple[int, int | None]], str | None]:
        """The open periods from ``start`` that begin by ``end``, as :func:`open_state` at
        ``start`` and then :func:`next_open` period after period would give them: each
        period's opening (``start`` if open then) and closing (None when it lasts past the
        ``horizon_days`` of its opening); and a warning for the days the answer relies on
        (the request's, and those its periods close on)."""
        parse_hours(expression)  # raise on a bad expression even if no day is evaluated
        days = (self.until.date() - self.first).days + self.horizon_days + 2
        found: list[tuple[int, int | None]] = []
        last_ms = self.until_ms
        for begin, finish in self._periods(expression, days):
            if finish <= self.start_ms:
                continue
            opens = max(begin, self.start_ms)
            if opens > self.until_ms:
                break
            opening_day = _local_day(opens)
            horizon = datetime.combine(opening_day + timedelta(days=self.horizon_days + 1), time())
            closes = None if finish >= _local_ms(horizon) else finish
            found.append((opens, closes))
            if closes is None:
                break
            last_ms = max(last_ms, finish - 1)  # a period closing at midnight: its own day
        return found, self._warning(expression, last_ms)

    def _warning(self, expression: str, last_ms: int) -> str | None:
        scan = _Scan(expression, self.calendar)
        scan.unknown = any(b <= self.local < e for b, e in scan.day(self.local.date()).unknown)
        last_day = _local_day(last_ms)
        for offset in range((last_day - self.local.date()).days + 1):
            scan.day(self.local.date() + offset * _ONE_DAY)
        return scan.warning()

    def first_start(self, expression: str, at_ms: int, need_ms: int) -> int | None:
        """The first moment from ``at_ms`` (not after ``end``) with ``need_ms`` of open time
        ahead, or None. Collects no warnings: for bounds and quick checks."""
        at_day = _local_day(at_ms)
        # through the day after ``end``: a period cut short by the scan's end still lasts
        # a day past ``end``, longer than any service
        days = (max(self.until.date(), at_day) - self.first).days + 2
        for begin, finish in self._periods(expression, days):
            start = max(begin, at_ms)
            if start > self.until_ms:
                return None
            if finish - start >= need_ms:
                return start
        return None


def _clock(moment: datetime, day: date) -> str:
    return "24:00" if moment.date() > day else moment.strftime("%H:%M")


def day_hours(expression: str, day: date, calendar: HolidayCalendar) -> DayHours:
    """The open intervals of one local day, with its type and a text for people."""
    scan = _Scan(expression, calendar)
    evaluated = scan.day(day)
    kind = _kind_of(calendar, day)
    working, holiday_name, covered = calendar.day_type(day)
    if evaluated.intervals:
        text = ", ".join(f"{_clock(b, day)}–{_clock(e, day)}" for b, e in evaluated.intervals)
    elif evaluated.unknown:
        text = "时间未定 hours not fixed"
    else:
        text = "休息 closed"
    if evaluated.unknown_comments:
        text += f"（{'；'.join(evaluated.unknown_comments)}）"
    if holiday_name:
        text += f" ({holiday_name})"
    elif kind is _DayKind.makeup:
        text += " (调休上班 make-up working day)"
    elif kind is _DayKind.uncovered:
        text += " (节假日未录入 holidays not loaded)"
    intervals = tuple((_aware(b), _aware(e)) for b, e in evaluated.intervals)
    return DayHours(day, intervals, working, holiday_name, covered, scan.warning(), text)


def today_hours(expression: str, day: date, calendar: HolidayCalendar) -> str:
    """A day's hours as text: ``09:00–12:00, 13:00–17:00`` or ``休息 closed (国庆节)``."""
    return day_hours(expression, day, calendar).text
