"""The ``daofu`` command: every package contributes its sub-commands here."""

from __future__ import annotations

import typer
import uvicorn

from accounts.cli import app as users_app
from accounts.secrets import secret_key
from catalogue.bench import bench_search_command
from catalogue.cli import calendar_app
from catalogue.match_bench import bench_match_command
from geo.cli import add_data_load, console, data_app, db_app
from geo.settings import get_settings
from routing.cli import app as roads_app
from routing.cli import bench_app
from stewardship.bench import bench_upload_command
from stewardship.cli import app as sites_app
from web.datasets import ALL_DATASETS

app = typer.Typer(
    help="导服 daofu: government service map and route planner.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
add_data_load(data_app, ALL_DATASETS)
app.add_typer(data_app, name="data")
app.add_typer(roads_app, name="roads")
app.add_typer(calendar_app, name="calendar")
app.add_typer(users_app, name="users")
app.add_typer(sites_app, name="sites")
bench_app.command("search")(bench_search_command)
bench_app.command("match")(bench_match_command)
bench_app.command("upload")(bench_upload_command)
app.add_typer(bench_app, name="bench")


@app.command()
def serve(
    host: str = typer.Option(None, help="default: DAOFU_HOST or 127.0.0.1"),
    port: int = typer.Option(None, help="default: DAOFU_PORT or 8000"),
) -> None:
    """Serve the web app and API."""
    settings = get_settings()
    secret_key(settings)  # generated into .daofu/ on the first start, never in the repo
    host = host or settings.host
    port = port or settings.port
    console.print(
        f"[bold green]daofu serving at http://{host}:{port}/[/bold green]  (API docs: /docs)"
    )
    uvicorn.run("web.app:app", host=host, port=port, log_level="info")
