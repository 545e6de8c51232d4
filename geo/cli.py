"""``daofu db …`` and ``daofu data …``: the local database and the shipped data."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import make_url

from geo import cluster
from geo.db import database_url, session_scope, vacuum_analyze
from geo.errors import DaofuError
from geo.loading import Dataset, Report, load_all
from geo.migrate import upgrade_to_head
from geo.settings import get_settings

console = Console()
db_app = typer.Typer(
    help="数据库 The PostGIS store: local cluster and migrations.", no_args_is_help=True
)
data_app = typer.Typer(
    help="数据 Load the real public data shipped in data/.", no_args_is_help=True
)


@contextmanager
def friendly_errors(details: Callable[[DaofuError], None] | None = None) -> Iterator[None]:
    """Show a typed error as its title and message instead of a traceback, and exit 1;
    ``details`` prints what the error lists (an upload's bad rows, say)."""
    try:
        yield
    except DaofuError as error:
        console.print(f"[red]{error.title}[/red]: {error.message}")
        if details is not None:
            details(error)
        raise typer.Exit(1) from error


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@db_app.command("up")
def db_up() -> None:
    """Start the project-local PostGIS cluster (set it up first if needed)."""
    settings = get_settings()
    if settings.database_url:
        console.print(
            f"DAOFU_DATABASE_URL is set; using {_safe(database_url())} (no local cluster)."
        )
        return
    config = cluster.ensure_running(settings)
    console.print(f"[green]PostGIS up[/green] at {_safe(config.url())}")


@db_app.command("down")
def db_down() -> None:
    """Stop the project-local cluster."""
    stopped = cluster.stop(get_settings())
    console.print("PostGIS stopped" if stopped else "The local cluster was not running.")


@db_app.command("status")
def db_status() -> None:
    settings = get_settings()
    if settings.database_url:
        console.print(f"external database {_safe(database_url())}")
    else:
        state = "running" if cluster.is_running(settings) else "stopped"
        console.print(f"local cluster under {settings.home / 'pg'}: {state}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Bring the schema to the newest migration (alembic upgrade head)."""
    upgrade_to_head(database_url())
    console.print("[green]schema at head[/green]")


def step_bars() -> tuple[Progress, Report]:
    """Progress bars for long CLI work, one per step, and the ``report(step, done, total)``
    that feeds them (a total of 0: not known yet)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total or None)
        progress.update(tasks[step], completed=done, total=total or None)

    return progress, report


def add_data_load(data_app: typer.Typer, datasets: Sequence[Dataset]) -> None:
    """Give ``data_app`` its ``load`` command over ``datasets`` (all packages', in order)."""

    @data_app.command("load")
    def data_load(
        force: bool = typer.Option(False, "--force", help="reload even if unchanged"),
    ) -> None:
        """Load divisions, boundaries, facilities, demo sites, the catalogue (skips unchanged)."""
        settings = get_settings()
        progress, report = step_bars()
        with progress, session_scope() as session:
            results = load_all(session, settings.data_dir, report, datasets=datasets, force=force)
        if any(not r.skipped for r in results):
            vacuum_analyze()
        table = Table("dataset", "rows", "state")
        for r in results:
            table.add_row(r.name, f"{r.rows:,}", "unchanged, skipped" if r.skipped else "loaded")
        console.print(table)
