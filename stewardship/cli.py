"""``daofu sites …``: upload, review, publish, roll back and export, as a named user.

The CLI acts as the account given with ``--user`` and obeys its role and scope exactly as
the API does (the checks live in the service layer).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from accounts.errors import UserNotFound
from accounts.models import User
from accounts.service import get_user
from geo.cli import friendly_errors
from geo.coords import CRS
from geo.db import session_scope
from geo.errors import DaofuError
from stewardship import service
from stewardship.errors import UploadRejected
from stewardship.export import ExportFormat, export_records
from stewardship.models import ChangeSetStatus
from stewardship.report import Entity, Problem, Severity

app = typer.Typer(help="场所数据维护 Sites: upload, review, publish, export.", no_args_is_help=True)
console = Console()
UserOption = typer.Option(..., "--user", "-u", help="the account acting (its scope applies)")


def _upload_problems(error: DaofuError) -> None:
    """Every bad row of a rejected upload (the first ``SHOWN_PROBLEMS``)."""
    if isinstance(error, UploadRejected):
        problems = error.report.get("problems", [])
        for problem in problems[:SHOWN_PROBLEMS]:
            _print_problem(problem)
        _print_more(len(problems))


SHOWN_PROBLEMS = 200


def _print_more(count: int) -> None:
    if count > SHOWN_PROBLEMS:
        console.print(
            f"  … 另有 {count - SHOWN_PROBLEMS:,} 条 more (--report FILE writes them all)"
        )


def _write_report(path: Path | None, report: dict[str, object]) -> None:
    if path is not None:
        path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        console.print(f"报告 report → {path}")


def _print_problem(problem: dict[str, object]) -> None:
    where = f"第 {problem['row']} 行 row" if problem.get("row") is not None else "文件 file"
    colour = "red" if problem.get("severity") == Severity.error.value else "yellow"
    field = f" [{problem['field']}]" if problem.get("field") else ""
    console.print(f"  [{colour}]{where}{field}[/{colour}] {problem['message']}")


def acting_user(session: Session, username: str) -> User:
    try:
        user = get_user(session, username)
    except UserNotFound:
        user = None
    if user is None or user.disabled:
        console.print(f"[red]没有可用的账户 no active account[/red] {username!r}")
        raise typer.Exit(1)
    return user


@app.command("upload")
def upload_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="GeoJSON, CSV, XLSX, GPKG, zipped SHP"
    ),
    user: str = UserOption,
    crs: CRS = typer.Option(CRS.wgs84, help="coordinate system of the file's points"),
    entity: Entity = typer.Option(Entity.sites, help="sites or facilities"),
    accept_good: bool = typer.Option(False, "--accept-good", help="take only the good rows"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only check, write nothing"),
    report_file: Path = typer.Option(
        None, "--report", dir_okay=False, help="write the whole report as JSON to this file"
    ),
) -> None:
    """Check a file row by row and draft a change set of it for review."""
    with (
        friendly_errors(_upload_problems),
        session_scope() as session,
        Progress(
            TextColumn("校验 validating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("rows", total=None)
        try:
            report, change_set = service.upload(
                session,
                acting_user(session, user),
                file_name=file.name,
                data=file.read_bytes(),
                entity=entity,
                crs=crs,
                accept_good_rows=accept_good,
                dry_run=dry_run,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except UploadRejected as rejected:
            _write_report(report_file, rejected.report)
            raise
        progress.update(task, completed=report.rows_total, total=report.rows_total)
    _write_report(report_file, report.to_json())
    summary = report.summary()
    console.print(
        f"{summary['file']}: {summary['rows_total']:,} 行 rows, "
        f"{summary['rows_good']:,} 可用 good, {summary['rows_bad']:,} 有误 bad, "
        f"{summary['warnings']:,} 提示 warnings"
    )
    for problem in report.problems[:SHOWN_PROBLEMS]:
        _print_problem(_problem_dict(problem))
    _print_more(len(report.problems))
    if change_set is not None:
        console.print(
            f"[green]已提交变更集 change set {change_set.id} (draft), "
            "待审核 awaiting review[/green]"
        )


def _problem_dict(problem: Problem) -> dict[str, object]:
    return {
        "row": problem.row,
        "field": problem.field,
        "severity": problem.severity.value,
        "message": problem.message + (f" — {problem.suggestion}" if problem.suggestion else ""),
    }


@app.command("changes")
def list_changes(status: ChangeSetStatus | None = typer.Option(None)) -> None:
    """Change sets, newest first."""
    with session_scope() as session:
        table = Table("id", "状态 status", "标题 title", "作者 author", "增/改/撤", "版本 version")
        for change_set in service.list_change_sets(session, status):
            counts = service.change_counts(service.changes_of(session, change_set))
            author = session.get(User, change_set.author_id)
            table.add_row(
                str(change_set.id),
                change_set.status.value,
                change_set.title,
                author.username if author else "?",
                f"{counts['added']}/{counts['changed']}/{counts['retired']}",
                str(change_set.published_version or ""),
            )
        console.print(table)


@app.command("show")
def show_change_set(change_set_id: int) -> None:
    """What a change set would do: every change with the fields it alters."""
    with friendly_errors(_upload_problems), session_scope() as session:
        change_set = service.get_change_set(session, change_set_id)
        console.print(
            f"[bold]{change_set.id} {change_set.title}[/bold] ({change_set.status.value})"
        )
        table = Table("行 row", "操作 action", "编号 id", "名称 name", "变更字段 fields")
        for change in service.changes_of(session, change_set):
            record = change.after or change.before or {}
            table.add_row(
                str(change.row or ""),
                change.action.value,
                str(change.target_id or ""),
                str(record.get("name") or ""),
                ", ".join(service.changed_fields(change.before, change.after)),
            )
        console.print(table)


@app.command("approve")
def approve_command(
    change_set_id: int, user: str = UserOption, note: str = typer.Option(None)
) -> None:
    """Approve a change set and publish it as the next version."""
    with friendly_errors(_upload_problems), session_scope() as session:
        publication = service.approve(session, change_set_id, acting_user(session, user), note)
        console.print(
            f"[green]已发布 published as version {publication.version}[/green] {publication.counts}"
        )


@app.command("reject")
def reject_command(
    change_set_id: int, user: str = UserOption, reason: str = typer.Option(..., help="why")
) -> None:
    with friendly_errors(_upload_problems), session_scope() as session:
        service.reject(session, change_set_id, acting_user(session, user), reason)
        console.print(f"变更集 {change_set_id} 已退回 rejected")


@app.command("versions")
def list_versions() -> None:
    """Every published version, newest first."""
    with session_scope() as session:
        table = Table(
            "版本 version", "类型 kind", "时间 at", "操作人 actor", "增/改/撤", "说明 note"
        )
        for publication in service.list_versions(session):
            actor = session.get(User, publication.actor_id)
            counts = publication.counts
            kind = publication.kind.value
            if publication.restored_version is not None:
                kind += f" → {publication.restored_version}"
            elif publication.change_set_id is not None:
                kind += f" (change set {publication.change_set_id})"
            table.add_row(
                str(publication.version),
                kind,
                publication.at.isoformat(timespec="seconds"),
                actor.username if actor else "?",
                f"{counts.get('added', 0)}/{counts.get('changed', 0)}/{counts.get('retired', 0)}",
                publication.note or "",
            )
        console.print(table)


@app.command("rollback")
def rollback_command(
    version: int = typer.Argument(..., help="the version to restore (0: before any publication)"),
    user: str = UserOption,
    note: str = typer.Option(None),
) -> None:
    """Restore an earlier version; published as a new version, so nothing is lost."""
    with friendly_errors(_upload_problems), session_scope() as session:
        publication = service.rollback(session, version, acting_user(session, user), note)
        console.print(
            f"[green]已恢复到版本 {version} restored, as version {publication.version}[/green] "
            f"{publication.counts}"
        )


@app.command("export")
def export_command(
    output: Path = typer.Argument(..., dir_okay=False, help="file to write"),
    format: ExportFormat = typer.Option(None, help="default: from the file's extension"),
    crs: CRS = typer.Option(CRS.wgs84, help="gcj02 for AMap users, bd09 for Baidu"),
    entity: Entity = typer.Option(Entity.sites),
    region: str = typer.Option(None, help="division code: only this subtree"),
) -> None:
    """Export the published sites (or facilities) as GeoJSON, CSV or XLSX."""
    fmt = format or ExportFormat(output.suffix.lstrip(".").lower() or "geojson")
    with friendly_errors(_upload_problems), session_scope() as session:
        result = export_records(session, entity, fmt, crs, region)
    output.write_bytes(result.content)
    console.print(f"{result.rows:,} 条记录 records → {output} ({fmt.value}, {crs.value})")
