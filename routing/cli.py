"""``daofu roads …`` (import, list, rollback, activate) and ``daofu bench routing``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geo.cli import friendly_errors, step_bars
from geo.db import session_scope
from routing import service

app = typer.Typer(
    help="道路网络 Road networks from OpenStreetMap: import, versions, rollback.",
    no_args_is_help=True,
)
bench_app = typer.Typer(help="性能测试 Benchmarks.", no_args_is_help=True)
console = Console()


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="OSM extract: .osm.pbf or .osm (XML)", exists=True, dir_okay=False),
    ],
    city: Annotated[
        str | None,
        typer.Option(
            help="division code (e.g. 370100): clip to its boundary and serve it for that city"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="import even if this file is the city's active network")
    ] = False,
) -> None:
    """Import the highway ways of an OSM file as a new network version and activate it."""
    if city and not force:
        with friendly_errors(), session_scope() as session:
            current = service.active_import_of(session, file, city)
            if current is not None:
                console.print(
                    f"路网未变 unchanged: version {current.id} of city {current.city_code} is "
                    f"already this file ({current.node_count} nodes); skipped (--force re-imports)."
                )
                return
    progress, report = step_bars()

    with friendly_errors(), progress, session_scope() as session:
        version = service.import_network(session, file, city, report)
        summary = (
            f"version {version.id} of city {version.city_code} is active: "
            f"{version.ways_read} highway ways, "
            f"{version.node_count} nodes, {version.edge_count} directed edges, "
            f"{version.length_km:.1f} km"
            + (" (clipped to the city's boundary)" if version.clipped else "")
        )
    console.print(
        f"[green]导入完成 Imported[/green] {summary}. Data © OpenStreetMap contributors (ODbL)."
    )


@app.command("list")
def list_command(city: Annotated[str | None, typer.Option(help="division code")] = None) -> None:
    """Network versions, the active one marked."""
    with friendly_errors(), session_scope() as session:
        versions = service.list_versions(session, city)
        table = Table("id", "city", "active", "file", "nodes", "edges", "km", "clipped", "created")
        for v in versions:
            table.add_row(
                str(v.id),
                v.city_code,
                "✔" if v.active else "",
                v.source_file,
                str(v.node_count),
                str(v.edge_count),
                f"{v.length_km:.1f}",
                "yes" if v.clipped else "",
                f"{v.created_at:%Y-%m-%d %H:%M}",
            )
    console.print(
        table if versions else "no road network imported yet: daofu roads import FILE.osm.pbf"
    )


@app.command("rollback")
def rollback_command(
    city: Annotated[str | None, typer.Option(help="division code")] = None,
) -> None:
    """Re-activate the version imported before the active one (the newer one is kept)."""
    with friendly_errors(), session_scope() as session:
        was, now = service.rollback(session, city)
        message = (
            f"city {now.city_code}: version {now.id} active again (version {was.id} kept, inactive)"
        )
    console.print(f"[green]已回滚 Rolled back[/green] {message}")


@app.command("activate")
def activate_command(version_id: int) -> None:
    """Make a given version its city's active network (roll forward after a rollback)."""
    with friendly_errors(), session_scope() as session:
        version = service.activate_version(session, version_id)
        message = f"version {version.id} is the active network of city {version.city_code}"
    console.print(f"[green]已启用 Activated[/green] {message}")


@app.command("hierarchies")
def hierarchies_command() -> None:
    """Build and store the contraction hierarchies of versions imported before they were stored
    (the engine otherwise builds them each time it loads such a version)."""
    progress, report = step_bars()

    with friendly_errors(), progress, session_scope() as session:
        done = service.store_missing_hierarchies(session, report)
    console.print(
        f"[green]已存储 Stored[/green] hierarchies of versions {', '.join(map(str, done))}"
        if done
        else "every version has its hierarchies stored"
    )


@bench_app.command("routing")
def bench_routing(
    target_nodes: Annotated[int, typer.Option(help="size of the tiled graph")] = 1_000_000,
    queries: Annotated[int, typer.Option(help="queries per measurement")] = 200,
    baseline_queries: Annotated[
        int, typer.Option(help="queries for networkx / pgRouting (slow)")
    ] = 10,
    output: Annotated[Path | None, typer.Option(help="write the markdown table here too")] = None,
) -> None:
    """Time the engine against networkx and pgRouting: Nanjing and a tiled ~1M-node graph."""
    from routing.bench import run  # heavy: only when benchmarking

    markdown = run(
        console, target_nodes=target_nodes, queries=queries, baseline_queries=baseline_queries
    )
    if output:
        output.write_text(markdown, encoding="utf-8")
        console.print(f"written to {output}")
