"""Typed errors of the catalogue. Every one subclasses :class:`geo.errors.DaofuError`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from geo.errors import DaofuError, DataFileError, InvalidInput, NotFound


class InvalidOpeningHours(InvalidInput):
    """An ``opening_hours`` expression the OSM parser rejects; carries the parser's message."""

    code = "invalid_opening_hours"
    title = "营业时间格式无效 Invalid opening hours"

    def __init__(self, expression: str, parser_message: str, field: str = "opening_hours") -> None:
        super().__init__(
            field,
            f"营业时间无法解析 cannot parse opening_hours {expression!r}: {parser_message}",
            expression=expression,
            parser_message=parser_message,
        )
        self.expression = expression
        self.parser_message = parser_message


class InvalidCalendarDay(InvalidInput):
    """An admin's calendar entry is wrong (unknown kind, empty name, 调休 on a weekday …)."""

    code = "invalid_calendar_day"
    title = "节假日日历条目无效 Invalid calendar day"


@dataclass(frozen=True)
class RowProblem:
    """One bad row of an uploaded file: its row number (None: the whole file), field, problem."""

    row: int | None
    field: str
    message: str


class CalendarImportRejected(DataFileError):
    """A calendar import file has bad rows; nothing was written. Lists every problem."""

    code = "calendar_import_rejected"
    title = "节假日文件有误 Calendar file rejected"

    def __init__(self, path: str, problems: list[RowProblem]) -> None:
        first = problems[0]
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(path, first.message + more, row=first.row, field=first.field)
        self.path = path
        self.row = first.row
        self.field = first.field
        self.problems = problems
        self.detail["problems"] = [asdict(p) for p in problems]


class ItemNotFound(NotFound):
    code = "item_not_found"


class BundleNotFound(NotFound):
    code = "bundle_not_found"


class NothingFits(NotFound):
    """Free text that matches no item well enough: better said than a confident wrong answer."""

    code = "nothing_fits"
    title = "没有相符的事项 Nothing fits"


class BundleNotFeasible(DaofuError):
    """No combination of sites within reach can finish every item of the bundle."""

    code = "bundle_not_feasible"
    status = 409
    title = "无法安排行程 No feasible itinerary"
