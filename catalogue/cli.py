"""``daofu calendar …``: the mainland holiday calendar (seed, set, import, list)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from catalogue import calendar
from catalogue.errors import CalendarImportRejected
from catalogue.hours import SHANGHAI
from geo.cli import friendly_errors, step_bars
from geo.db import session_scope
from geo.errors import DaofuError

calendar_app = typer.Typer(
    help="节假日日历 Public holidays and make-up working days (调休) for opening hours.",
    no_args_is_help=True,
)
console = Console()
_WEEKDAYS = "一二三四五六日"


def _calendar_problems(error: DaofuError) -> None:
    """Every bad row of a rejected calendar file."""
    if isinstance(error, CalendarImportRejected):
        for problem in error.problems:
            where = f"row {problem.row}" if problem.row is not None else "file"
            console.print(f"  {where}, field {problem.field}: {problem.message}")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from error


@calendar_app.command("seed")
def seed(
    year: Annotated[
        list[int] | None,
        typer.Option("--year", help="only these years (default: all the package knows)"),
    ] = None,
) -> None:
    """Store holidays and 调休 from the chinese-calendar package (idempotent)."""
    known = calendar.chinese_calendar_years()
    progress, report = step_bars()
    with friendly_errors(_calendar_problems), progress, session_scope() as session:
        result = calendar.seed_from_chinese_calendar(session, year, report)
    console.print(
        f"{calendar.SEED_SOURCE} knows {known.start}–{known.stop - 1}: "
        f"seeded {len(result.years_seeded)} years — {result.inserted} days added, "
        f"{result.updated} updated, {result.deleted} removed, {result.unchanged} unchanged, "
        f"{result.kept_admin} set by an admin kept"
    )
    if result.years_kept_import:
        console.print(f"imported from a file, left alone: {result.years_kept_import}")
    if result.years_not_in_package:
        console.print(
            f"[yellow]not in the package (add with `daofu calendar import`): "
            f"{result.years_not_in_package}[/yellow]"
        )


@calendar_app.command("set")
def set_command(
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    kind: Annotated[str, typer.Argument(help="holiday (休, a day off) or workday (班, 调休)")],
    name: Annotated[str | None, typer.Argument(help="e.g. 元旦; optional for workday")] = None,
    source: Annotated[str, typer.Option(help="where this comes from")] = calendar.ADMIN_SOURCE,
) -> None:
    """Add or change one day, e.g. ``daofu calendar set 2027-01-01 holiday 元旦``."""
    parsed = _parse_day(day)
    with friendly_errors(_calendar_problems), session_scope() as session:
        was_covered = bool(calendar.load_calendar(session, [parsed.year]).covered_years)
        row = calendar.set_day(session, parsed, kind, name, source)
        console.print(
            f"[green]{row.day}[/green] (周{_WEEKDAYS[row.day.weekday()]}) {row.kind} {row.name}"
        )
    if not was_covered:
        console.print(
            f"[yellow]{parsed.year} now counts as covered: days not listed follow the weekday "
            f"rule. Add the year's other holidays and 调休 days too (`daofu calendar import`)."
            "[/yellow]"
        )


@calendar_app.command("unset")
def unset(day: Annotated[str, typer.Argument(help="YYYY-MM-DD")]) -> None:
    """Remove one stored day: it follows the weekday rule again."""
    parsed = _parse_day(day)
    with session_scope() as session:
        removed = calendar.remove_day(session, parsed)
    console.print(f"{parsed}: removed" if removed else f"{parsed}: nothing stored")


@calendar_app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (day,kind,name) or JSON list of one year's days", exists=True, dir_okay=False
        ),
    ],
) -> None:
    """Replace one year's days with a file's list; any bad row rejects the whole file."""
    with friendly_errors(_calendar_problems), session_scope() as session:
        result = calendar.import_year(session, file)
    console.print(
        f"[green]{result.year}[/green]: {result.holidays} holidays, {result.workdays} make-up "
        f"working days imported ({result.replaced} stored days replaced)"
    )


def _list_year(year: int) -> None:
    with session_scope() as session:
        days = calendar.days_of_year(session, year)
    if not days:
        console.print(
            f"[yellow]{year}: not covered — answers use the weekends-only rule with a warning. "
            "Add it with `daofu calendar import FILE` or `daofu calendar set`.[/yellow]"
        )
        return
    table = Table("day", "周", "kind", "name", "source", title=f"{year} 节假日与调休")
    for entry in days:
        table.add_row(
            entry.day.isoformat(),
            _WEEKDAYS[entry.day.weekday()],
            "休 holiday" if entry.kind == "holiday" else "班 workday",
            entry.name,
            entry.source,
        )
    console.print(table)


def _list_coverage() -> None:
    with session_scope() as session:
        years = calendar.coverage(session)
    table = Table("year", "holidays", "workdays (调休)", "sources", title="covered years")
    for y in years:
        table.add_row(str(y.year), str(y.holidays), str(y.workdays), ", ".join(y.sources))
    console.print(table)
    this_year = datetime.now(SHANGHAI).year
    missing = [y for y in (this_year, this_year + 1) if y not in {c.year for c in years}]
    if missing:
        console.print(f"[yellow]not covered: {missing}[/yellow]")


@calendar_app.command("list")
def list_command(
    year: Annotated[
        int | None, typer.Argument(help="a year; without it: which years are covered")
    ] = None,
) -> None:
    """List a year's holidays and make-up working days, or the covered years."""
    if year is None:
        _list_coverage()
    else:
        _list_year(year)
