"""The item catalogue (事项), opening hours with the holiday calendar, and matching."""

from catalogue.calendar import (
    DayType,
    HolidayCalendar,
    coverage,
    day_type,
    import_year,
    load_calendar,
    seed_from_chinese_calendar,
    set_day,
)
from catalogue.hours import OpenState, day_hours, next_open, open_state, today_hours

__all__ = [
    "DayType",
    "HolidayCalendar",
    "OpenState",
    "coverage",
    "day_hours",
    "day_type",
    "import_year",
    "load_calendar",
    "next_open",
    "open_state",
    "seed_from_chinese_calendar",
    "set_day",
    "today_hours",
]
