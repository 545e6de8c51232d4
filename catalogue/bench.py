"""``daofu bench search``: item search against the evaluation set of citizen queries.

Top-1 / top-3 hit rates over the queries that have expected items, how often
the queries that must find nothing do say "nothing fits", and query latency
(p50 / p95 over every query, after one warm-up pass). Targets of issue 5:
top-3 ≥ 95 %, top-1 ≥ 85 %, p95 ≤ 20 ms.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from catalogue.search import ItemSearchIndex, SearchableItem
from geo.settings import PROJECT_ROOT, get_settings

EVAL_PATH = PROJECT_ROOT / "tests" / "catalogue" / "search_eval.csv"
TARGET_TOP1, TARGET_TOP3, TARGET_P95_MS = 0.85, 0.95, 20.0


def default_items_csv() -> Path:
    """The real district catalogue shipped in ``data/items`` (see its SOURCE.md)."""
    return get_settings().data_dir / "items" / "guangan_district_items.csv"


@dataclass(frozen=True)
class EvalRow:
    """One citizen query; no expected codes means the search must say nothing fits."""

    query: str
    expected_codes: tuple[str, ...]
    kind: str = ""


@dataclass(frozen=True)
class Miss:
    """A query the search got wrong: what it returned first (or that it found nothing)."""

    query: str
    kind: str
    got: str


@dataclass(frozen=True)
class SearchBenchReport:
    """Hit rates as fractions in [0, 1], latencies in milliseconds."""

    positives: int
    negatives: int
    top1: float
    top3: float
    nothing_fits_accuracy: float
    false_nothing: int
    p50_ms: float
    p95_ms: float
    build_s: float | None
    misses: tuple[Miss, ...]

    @property
    def meets_targets(self) -> bool:
        return (
            self.top1 >= TARGET_TOP1 and self.top3 >= TARGET_TOP3 and self.p95_ms <= TARGET_P95_MS
        )


def read_items_csv(path: Path) -> list[SearchableItem]:
    """Items of a catalogue CSV with columns item_code, item_name, department, category."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            SearchableItem(r["item_code"], r["item_name"], r["department"], r["category"])
            for r in csv.DictReader(handle)
        ]


def load_eval_rows(path: Path = EVAL_PATH) -> list[EvalRow]:
    """The evaluation set: columns query, kind, expected_codes (``;``-separated)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            EvalRow(
                r["query"],
                tuple(c for c in r["expected_codes"].split(";") if c),
                r.get("kind") or "",
            )
            for r in csv.DictReader(handle)
        ]


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def search_bench(
    index: ItemSearchIndex, eval_rows: Iterable[EvalRow], build_s: float | None = None
) -> SearchBenchReport:
    """Run every query of ``eval_rows`` through ``index`` and measure it."""
    rows = list(eval_rows)
    for row in rows:  # warm-up: first calls pay for lazy caches
        index.search(row.query)
    latencies: list[float] = []
    top1 = top3 = negatives_right = false_nothing = 0
    misses: list[Miss] = []
    for row in rows:
        started = time.perf_counter()
        result = index.search(row.query)
        latencies.append((time.perf_counter() - started) * 1000)
        codes = [hit.code for hit in result.hits]
        got = "(nothing fits)" if result.nothing_fits else (result.hits[0].name if codes else "")
        if not row.expected_codes:
            negatives_right += result.nothing_fits
            if not result.nothing_fits:
                misses.append(Miss(row.query, row.kind, got))
            continue
        expected = set(row.expected_codes)
        false_nothing += result.nothing_fits
        top1 += bool(codes[:1]) and codes[0] in expected
        hit3 = bool(expected.intersection(codes[:3]))
        top3 += hit3
        if not (codes[:1] and codes[0] in expected):
            misses.append(Miss(row.query, row.kind, got + ("" if hit3 else "  [not in top 3]")))
    positives = sum(1 for row in rows if row.expected_codes)
    negatives = len(rows) - positives
    return SearchBenchReport(
        positives=positives,
        negatives=negatives,
        top1=top1 / max(positives, 1),
        top3=top3 / max(positives, 1),
        nothing_fits_accuracy=negatives_right / max(negatives, 1),
        false_nothing=false_nothing,
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p95_ms=_percentile(latencies, 0.95) if latencies else 0.0,
        build_s=build_s,
        misses=tuple(misses),
    )


def render_report(report: SearchBenchReport, console: Console, show_misses: int = 20) -> None:
    """Print the figures against their targets, then the first misses."""
    table = Table(title="item search 事项搜索")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("top-1 hit rate", f"{report.top1:.1%}", f"≥ {TARGET_TOP1:.0%}")
    table.add_row("top-3 hit rate", f"{report.top3:.1%}", f"≥ {TARGET_TOP3:.0%}")
    table.add_row("nothing-fits accuracy", f"{report.nothing_fits_accuracy:.1%}", "")
    table.add_row("expected item but 'nothing fits'", str(report.false_nothing), "")
    table.add_row("latency p50", f"{report.p50_ms:.2f} ms", "")
    table.add_row("latency p95", f"{report.p95_ms:.2f} ms", f"≤ {TARGET_P95_MS:.0f} ms")
    if report.build_s is not None:
        table.add_row("index build", f"{report.build_s:.2f} s", "")
    table.add_row("queries", f"{report.positives} + {report.negatives} nothing-fits", "")
    console.print(table)
    for miss in report.misses[:show_misses]:
        console.print(f"  miss [{miss.kind}] {miss.query!r} → {miss.got}", markup=False)


def run_search_bench(
    items_csv: Path | None = None, eval_csv: Path | None = None
) -> SearchBenchReport:
    """Build the index from the catalogue CSV (timed) and run the evaluation set."""
    items = read_items_csv(items_csv or default_items_csv())
    started = time.perf_counter()
    index = ItemSearchIndex.build(items)
    build_s = time.perf_counter() - started
    return search_bench(index, load_eval_rows(eval_csv or EVAL_PATH), build_s=build_s)


def bench_search_command(
    items: Annotated[
        Path | None, typer.Option(help="catalogue CSV (default: data/items/…)", dir_okay=False)
    ] = None,
    eval_set: Annotated[
        Path | None, typer.Option(help="evaluation CSV (default: tests/catalogue/…)")
    ] = None,
    show_misses: Annotated[int, typer.Option(help="how many misses to list")] = 20,
) -> None:
    """Top-1 / top-3 hit rates, nothing-fits accuracy and latency of item search."""
    console = Console()
    with console.status("building the search index 建立索引…"):
        report = run_search_bench(items, eval_set)
    render_report(report, console, show_misses)
    if not report.meets_targets:
        raise typer.Exit(code=1)
