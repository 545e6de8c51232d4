"""Change sets: drafted from uploads and edits, reviewed, published as versions, rolled back.

Every path that writes the map (API, CLI, pages) goes through these functions, and they
check the acting user's role and scope themselves. Services flush, never commit: the
caller's transaction makes an upload, a publication or a rollback all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from accounts.errors import Forbidden
from accounts.models import Role, User
from accounts.permissions import require_role, require_scope
from catalogue.loading import link_sites_by_rules
from geo.coords import CRS
from geo.errors import InvalidInput
from geo.models import AuditEntry, Facility, FacilityCategory, SiteKind, SiteLevel, SiteStatus
from geo.models import Site as SiteModel
from geo.settings import get_settings
from stewardship.errors import (
    ChangeSetConflict,
    ChangeSetNotFound,
    UploadOutOfScope,
    UploadRejected,
    UploadTooLarge,
    VersionNotFound,
)
from stewardship.models import (
    Change,
    ChangeSet,
    ChangeSetStatus,
    Publication,
    PublicationKind,
    Revision,
)
from stewardship.reading import RawRow, RawTable, read_upload
from stewardship.report import Action, CleanRow, Entity, UploadReport
from stewardship.validation import load_context, validate

Record = SiteModel | Facility
FIELDS: dict[Entity, tuple[str, ...]] = {
    Entity.sites: (
        "name",
        "level",
        "kind",
        "region_code",
        "department",
        "address",
        "phone",
        "opening_hours",
        "lon",
        "lat",
    ),
    Entity.facilities: (
        "name",
        "category",
        "subcategory",
        "region_code",
        "address",
        "opening_hours",
        "lon",
        "lat",
    ),
}
AUTHORS = (Role.maintainer, Role.reviewer)
REVIEWERS = (Role.reviewer,)
PUBLISH_LOCK = 0x6461_6F66_7500  # one publication at a time: versions are numbered in order


def model_of(entity: Entity) -> type[SiteModel] | type[Facility]:
    return SiteModel if entity == Entity.sites else Facility


def get_record(
    session: Session, entity: Entity, record_id: int | None, *, lock: bool = False
) -> Record | None:
    """The site or facility ``record_id`` (locked for update if asked), or None."""
    if record_id is None or not 0 < record_id < 2**31:
        return None
    if entity == Entity.sites:
        return session.get(SiteModel, record_id, with_for_update=lock)
    return session.get(Facility, record_id, with_for_update=lock)


def snapshot(record: Record, entity: Entity) -> dict[str, Any]:
    """The record as a change set or revision keeps it: its fields, WGS-84 lon/lat, status."""
    point = to_shape(record.geom)
    values: dict[str, Any] = {}
    for name in FIELDS[entity]:
        if name == "lon":
            values[name] = round(float(point.x), 7)
        elif name == "lat":
            values[name] = round(float(point.y), 7)
        else:
            value = getattr(record, name)
            values[name] = value.value if hasattr(value, "value") else value
    values["status"] = record.status.value
    return values


SAME_PLACE_DEG = 5e-7
"""Coordinates closer than this (about 5 cm) are the same place: a round trip through
GCJ-02 or BD-09 and 7 decimals must not show up as a move."""


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    if before is None or after is None:
        return []
    return [k for k in after if k != "status" and not _same(k, before.get(k), after.get(k))]


def _same(name: str, old: Any, new: Any) -> bool:
    if name in ("lon", "lat") and old is not None and new is not None:
        return abs(float(old) - float(new)) < SAME_PLACE_DEG
    return bool(old == new)


def _audit(
    session: Session, actor: User, action: str, what: str, what_id: object, **detail: Any
) -> None:
    session.add(
        AuditEntry(
            actor=actor.username,
            action=action,
            entity=what,
            entity_id=str(what_id) if what_id is not None else None,
            detail=detail,
        )
    )


# --- drafting ------------------------------------------------------------------------


def upload(
    session: Session,
    user: User,
    *,
    file_name: str,
    data: bytes,
    entity: Entity,
    crs: CRS,
    accept_good_rows: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[UploadReport, ChangeSet | None]:
    """Read and validate an uploaded file; unless ``dry_run``, draft a change set of it.

    A file with bad rows is refused whole (:class:`UploadRejected`, with the report) unless
    the uploader explicitly accepts only the good rows.
    """
    require_role(user, *AUTHORS)
    settings = get_settings()
    if len(data) > settings.upload_max_bytes:
        raise UploadTooLarge(
            f"文件 {file_name} 为 {len(data) / 1e6:.1f} MB，超过上限 "
            f"{settings.upload_max_bytes / 1e6:.0f} MB — file too large "
            f"(limit set by DAOFU_UPLOAD_MAX_BYTES)",
            file=file_name,
        )
    table = read_upload(file_name, data, max_rows=settings.upload_max_rows)
    rows = len(table.rows)
    tick = (lambda done: progress(done, rows)) if progress else None
    report = validate(table, load_context(session, entity, crs, user.scope), tick)
    if dry_run:
        return report, None
    _refuse_unless_acceptable(report, accept_good_rows, user.scope.describe())
    change_set = draft_change_set(
        session,
        user,
        entity,
        report.good,
        title=f"上传 {file_name}",
        source=f"upload:{file_name}",
        report=report.to_json(),
    )
    return report, change_set


def _refuse_unless_acceptable(
    report: UploadReport, accept_good_rows: bool, scope_description: str
) -> None:
    counts = f"{len(report.bad_rows)} 行有误 bad rows, {len(report.good)} 行可用 good rows"
    if report.file_errors:
        first = report.file_errors[0]
        raise UploadRejected(
            f"文件有误，未写入任何数据 — file rejected: {first.message}", report.to_json()
        )
    if not report.ok and not accept_good_rows:
        if all(p.code == "outside_scope" for p in report.errors):
            raise UploadOutOfScope(
                f"{report.file_name}: {len(report.bad_rows)} 行不在您的权限范围内 "
                f"({scope_description}) rows outside your scope; 未写入任何数据 — nothing "
                "was written",
                report.to_json(),
            )
        raise UploadRejected(
            f"{report.file_name}: {counts}; 未写入任何数据 — nothing was written. "
            "改正后重新上传，或明确选择只接受正确的行 (accept=good) — fix the rows, or "
            "choose to accept only the good rows",
            report.to_json(),
        )
    if not report.good:
        raise UploadRejected(
            f"{report.file_name}: 没有可用的行 — no good rows ({counts})", report.to_json()
        )


def draft_change_set(
    session: Session,
    user: User,
    entity: Entity,
    rows: Iterable[CleanRow],
    *,
    title: str,
    source: str,
    report: dict[str, Any] | None = None,
) -> ChangeSet:
    """A draft change set of validated rows, each with the published record it changes.

    Rows that would change nothing are left out (and counted in the report).
    """
    require_role(user, *AUTHORS)
    changes: list[Change] = []
    unchanged: list[int] = []
    for row in rows:
        after = None if row.action == Action.retire else _record_values(row.values, entity)
        before = base_version = None
        if row.action != Action.add:
            target = get_record(session, entity, row.target_id)
            if target is None or target.status != SiteStatus.published:
                raise InvalidInput(
                    "id",
                    f"第 {row.row} 行: 编号 {row.target_id} 不是已发布的记录 — "
                    "not a published record",
                    row=row.row,
                )
            before, base_version = snapshot(target, entity), target.version
            _require_scope_of(user, before)
            same_place = (
                _same("lon", before["lon"], after["lon"])
                and _same("lat", before["lat"], after["lat"])
                if after is not None
                else False
            )
            if after is not None and same_place:  # a round trip, not a move
                after["lon"], after["lat"] = before["lon"], before["lat"]
            if after is not None and not changed_fields(before, after):
                unchanged.append(row.row)
                continue
        if after is not None:
            _require_scope_of(user, after)
        changes.append(
            Change(
                row=row.row,
                action=row.action,
                target_id=row.target_id,
                base_version=base_version,
                before=before,
                after=after,
            )
        )
    if not changes:
        raise InvalidInput(
            "file",
            "没有任何变更 — nothing to change: every row equals the published record",
            unchanged_rows=unchanged,
        )
    change_set = ChangeSet(
        entity=entity,
        title=title,
        source=source,
        status=ChangeSetStatus.draft,
        author_id=user.id,
        report={**(report or {}), "unchanged_rows": unchanged},
    )
    session.add(change_set)
    session.flush()
    for change in changes:
        change.change_set_id = change_set.id
    session.add_all(changes)
    session.flush()
    _audit(
        session,
        user,
        "draft",
        "change_set",
        change_set.id,
        entity=entity.value,
        changes=len(changes),
        source=source,
    )
    return change_set


def _record_values(values: dict[str, Any], entity: Entity) -> dict[str, Any]:
    record = {name: _plain(values.get(name)) for name in FIELDS[entity]}
    record["lon"], record["lat"] = round(float(record["lon"]), 7), round(float(record["lat"]), 7)
    record["status"] = SiteStatus.published.value
    return record


def _plain(value: Any) -> Any:
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, str):
        return value.strip() or None
    return value


def _require_scope_of(user: User, record: dict[str, Any]) -> None:
    require_scope(user, record.get("region_code"), record.get("department"))


def edit_table(values: dict[str, Any], action: Action, target_id: int | None) -> RawTable:
    """A one-row table of an edit made through the API, so edits pass the same checks as
    uploaded rows."""
    row = {k: None if v is None else str(v) for k, v in values.items()}
    row["action"] = action.value
    if target_id is not None:
        row["id"] = str(target_id)
    return RawTable(
        file_name="edit",
        format="edit",
        encoding=None,
        headers=list(row),
        rows=[RawRow(row=1, values=row, geometry=None)],
        file_crs=None,
        projected=False,
    )


def edit(
    session: Session,
    user: User,
    entity: Entity,
    action: Action,
    values: dict[str, Any],
    *,
    target_id: int | None = None,
    crs: CRS = CRS.wgs84,
) -> ChangeSet:
    """A single add / change / retire made in a form or through the API, as a change set."""
    require_role(user, *AUTHORS)
    target = get_record(session, entity, target_id)
    if target is not None:
        require_scope(user, target.region_code, getattr(target, "department", None))
    report = validate(
        edit_table(values, action, target_id), load_context(session, entity, crs, user.scope)
    )
    if any(p.code == "outside_scope" for p in report.errors):  # a 403, as for every write
        require_scope(user, values.get("region_code"), values.get("department"))
    if not report.ok:
        first = report.errors[0]
        raise InvalidInput(
            first.field or "request", first.message, problems=report.to_json()["problems"]
        )
    title = {Action.add: "新增", Action.change: "修改", Action.retire: "撤销"}[action]
    name = values.get("name") or (report.good[0].values.get("name") if report.good else "")
    return draft_change_set(
        session, user, entity, report.good, title=f"{title} {name or target_id}", source="edit"
    )


# --- reading change sets ----------------------------------------------------------------


def get_change_set(session: Session, change_set_id: int, *, lock: bool = False) -> ChangeSet:
    change_set = (
        session.get(ChangeSet, change_set_id, with_for_update=lock)
        if 0 < change_set_id < 2**31
        else None
    )
    if change_set is None:
        raise ChangeSetNotFound(
            f"变更集不存在 Change set {change_set_id} not found", id=change_set_id
        )
    return change_set


def changes_of(session: Session, change_set: ChangeSet) -> list[Change]:
    return list(
        session.scalars(
            select(Change).where(Change.change_set_id == change_set.id).order_by(Change.id)
        )
    )


def list_change_sets(
    session: Session, status: ChangeSetStatus | None = None, limit: int = 100, offset: int = 0
) -> list[ChangeSet]:
    stmt = select(ChangeSet).order_by(ChangeSet.id.desc()).limit(limit).offset(offset)
    if status is not None:
        stmt = stmt.where(ChangeSet.status == status)
    return list(session.scalars(stmt))


def change_counts(changes: Iterable[Change]) -> dict[str, int]:
    counts = {"added": 0, "changed": 0, "retired": 0}
    key = {Action.add: "added", Action.change: "changed", Action.retire: "retired"}
    for change in changes:
        counts[key[change.action]] += 1
    return counts


# --- deciding ---------------------------------------------------------------------------


def approve(
    session: Session, change_set_id: int, reviewer: User, note: str | None = None
) -> Publication:
    """Approve a draft change set and publish it, all at once, as the next version.

    The change set's row is locked first, so of two reviewers approving at the same time
    exactly one publishes and the other is told it is already decided.
    """
    require_role(reviewer, *REVIEWERS)
    change_set = get_change_set(session, change_set_id, lock=True)
    _require_draft(session, change_set)
    if change_set.author_id == reviewer.id:
        raise ChangeSetConflict(
            "不能审核自己提交的变更集 — a reviewer cannot approve their own change set"
        )
    changes = changes_of(session, change_set)
    for change in changes:
        for record in (change.before, change.after):
            if record is not None:
                _require_scope_of(reviewer, record)
    publication = _new_publication(
        session, reviewer, PublicationKind.publish, change_set_id=change_set.id, note=note
    )
    conflicts: list[str] = []
    for change in changes:
        _apply_change(session, change_set.entity, change, publication.version, conflicts)
    if conflicts:
        raise ChangeSetConflict(
            "发布前这些记录已被其他版本修改，请重新上传 — records changed since this change "
            f"set was made: {'; '.join(conflicts)}",
            records=conflicts,
        )
    publication.counts = change_counts(changes)
    _relink_sites(session, change_set.entity, changes)
    change_set.status = ChangeSetStatus.published
    change_set.decided_by_id, change_set.decided_at = reviewer.id, datetime.now(UTC)
    change_set.decision_note = note
    change_set.published_version = publication.version
    session.flush()
    _audit(
        session,
        reviewer,
        "publish",
        "change_set",
        change_set.id,
        version=publication.version,
        **publication.counts,
    )
    return publication


def reject(session: Session, change_set_id: int, reviewer: User, reason: str) -> ChangeSet:
    require_role(reviewer, *REVIEWERS)
    if not reason.strip():
        raise InvalidInput("reason", "请说明退回原因 — say why the change set is rejected")
    change_set = get_change_set(session, change_set_id, lock=True)
    _require_draft(session, change_set)
    return _decide(session, change_set, reviewer, ChangeSetStatus.rejected, reason)


def withdraw(session: Session, change_set_id: int, user: User) -> ChangeSet:
    change_set = get_change_set(session, change_set_id, lock=True)
    if change_set.author_id != user.id and user.role != Role.admin:
        raise Forbidden("只有提交人可以撤回 — only its author can withdraw a change set")
    _require_draft(session, change_set)
    return _decide(session, change_set, user, ChangeSetStatus.withdrawn, None)


def _decide(
    session: Session, change_set: ChangeSet, user: User, status: ChangeSetStatus, note: str | None
) -> ChangeSet:
    change_set.status = status
    change_set.decided_by_id, change_set.decided_at = user.id, datetime.now(UTC)
    change_set.decision_note = note
    session.flush()
    _audit(session, user, status.value, "change_set", change_set.id, note=note)
    return change_set


def _require_draft(session: Session, change_set: ChangeSet) -> None:
    if change_set.status == ChangeSetStatus.draft:
        return
    by = session.get(User, change_set.decided_by_id) if change_set.decided_by_id else None
    when = change_set.decided_at.isoformat(timespec="seconds") if change_set.decided_at else ""
    version = (
        f", 版本 version {change_set.published_version}" if change_set.published_version else ""
    )
    raise ChangeSetConflict(
        f"变更集 {change_set.id} 已处理 already decided: {change_set.status.value}"
        f" by {by.username if by else '?'} {when}{version}",
        status=change_set.status.value,
    )


# --- publishing -------------------------------------------------------------------------


def current_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Publication.version), 0))) or 0)


def _new_publication(
    session: Session, actor: User, kind: PublicationKind, **fields: Any
) -> Publication:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
    publication = Publication(
        version=current_version(session) + 1, kind=kind, actor_id=actor.id, **fields
    )
    session.add(publication)
    session.flush()
    return publication


def _apply_change(
    session: Session, entity: Entity, change: Change, version: int, conflicts: list[str]
) -> None:
    if change.action == Action.add:
        assert change.after is not None
        added = model_of(entity)(
            **_columns(change.after, entity), version=1, source=f"change set {change.change_set_id}"
        )
        session.add(added)
        session.flush()
        change.target_id = added.id
        session.add(
            Revision(
                version=version,
                entity=entity,
                entity_id=added.id,
                action=change.action,
                before=None,
                after=change.after,
            )
        )
        return
    record = get_record(session, entity, change.target_id, lock=True)
    if record is None or record.version != change.base_version:
        now = f"version {record.version}" if record is not None else "missing"
        conflicts.append(
            f"#{change.target_id} (drafted at version {change.base_version}, now {now})"
        )
        return
    before = snapshot(record, entity)
    after = (
        change.after if change.after is not None else {**before, "status": SiteStatus.retired.value}
    )
    _set_state(record, after, entity)
    session.add(
        Revision(
            version=version,
            entity=entity,
            entity_id=record.id,
            action=change.action,
            before=before,
            after=after,
        )
    )


def _columns(values: dict[str, Any], entity: Entity) -> dict[str, Any]:
    """Model columns of a record's values (enums typed, lon/lat as a PostGIS point)."""
    columns = {k: v for k, v in values.items() if k not in ("lon", "lat")}
    columns["geom"] = func.ST_SetSRID(func.ST_MakePoint(values["lon"], values["lat"]), 4326)
    columns["status"] = SiteStatus(values.get("status", SiteStatus.published.value))
    if entity == Entity.sites:
        columns["level"], columns["kind"] = SiteLevel(values["level"]), SiteKind(values["kind"])
    else:
        columns["category"] = FacilityCategory(values["category"])
    return columns


def _set_state(record: Record, values: dict[str, Any], entity: Entity) -> None:
    for name, value in _columns(values, entity).items():
        setattr(record, name, value)
    record.version += 1


def _relink_sites(session: Session, entity: Entity, changes: Iterable[Change]) -> None:
    """Published sites handle the items of their level, kind and department."""
    if entity != Entity.sites:
        return
    ids = [c.target_id for c in changes if c.action != Action.retire and c.target_id is not None]
    if ids:
        session.flush()
        link_sites_by_rules(session, ids)


# --- versions ---------------------------------------------------------------------------


def list_versions(session: Session) -> list[Publication]:
    return list(session.scalars(select(Publication).order_by(Publication.version.desc())))


def get_version(session: Session, version: int) -> tuple[Publication, list[Revision]]:
    publication = session.get(Publication, version) if 0 < version < 2**31 else None
    if publication is None:
        raise VersionNotFound(f"版本不存在 Version {version} not found", version=version)
    revisions = session.scalars(
        select(Revision).where(Revision.version == version).order_by(Revision.id)
    )
    return publication, list(revisions)


def rollback(
    session: Session, to_version: int, actor: User, note: str | None = None
) -> Publication:
    """Restore the map as it was at ``to_version`` (0 = before any publication), by
    publishing, as a new version, the reverse of everything published after it."""
    require_role(actor, *REVIEWERS)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
    latest = current_version(session)
    if to_version != 0:
        get_version(session, to_version)
    if to_version >= latest:
        raise InvalidInput(
            "version",
            f"只能回退到当前版本 {latest} 之前的版本 — "
            f"can only roll back to a version before {latest}",
        )
    later = session.scalars(
        select(Revision)
        .where(Revision.version > to_version)
        .order_by(Revision.version, Revision.id)
    )
    target: dict[tuple[Entity, int], dict[str, Any] | None] = {}
    for revision in later:
        target.setdefault((revision.entity, revision.entity_id), revision.before)
    publication = _new_publication(
        session, actor, PublicationKind.rollback, restored_version=to_version, note=note
    )
    counts = {"added": 0, "changed": 0, "retired": 0}
    relink: list[int] = []
    for (entity, entity_id), state in target.items():
        record = get_record(session, entity, entity_id, lock=True)
        assert record is not None  # records are never deleted, only retired
        before = snapshot(record, entity)
        after = state if state is not None else {**before, "status": SiteStatus.retired.value}
        if after == before:
            continue
        for values in (before, after):
            _require_scope_of(actor, values)
        _set_state(record, after, entity)
        action = _action_between(before, after)
        counts[
            {Action.add: "added", Action.change: "changed", Action.retire: "retired"}[action]
        ] += 1
        session.add(
            Revision(
                version=publication.version,
                entity=entity,
                entity_id=entity_id,
                action=action,
                before=before,
                after=after,
            )
        )
        if entity == Entity.sites and after["status"] == SiteStatus.published.value:
            relink.append(entity_id)
    publication.counts = counts
    if relink:
        session.flush()
        link_sites_by_rules(session, relink)
    session.flush()
    _audit(
        session,
        actor,
        "rollback",
        "version",
        publication.version,
        restored_version=to_version,
        **counts,
    )
    return publication


def _action_between(before: dict[str, Any], after: dict[str, Any]) -> Action:
    published = SiteStatus.published.value
    if after["status"] != published:
        return Action.retire
    return Action.add if before["status"] != published else Action.change


PREVIEW_KIND = {Action.add: "added", Action.change: "changed", Action.retire: "retired"}


def preview(changes: Iterable[Change]) -> dict[str, Any]:
    """The changes as a GeoJSON FeatureCollection for a map: one point each, at the new
    position (the old one for a retirement), with ``change`` = added / changed / retired
    and, for a moved record, where it was (``moved_from``)."""
    features = []
    for change in changes:
        record = change.after or change.before or {}
        properties: dict[str, Any] = {
            "change": PREVIEW_KIND[change.action],
            "row": change.row,
            "id": change.target_id,
            "name": record.get("name"),
            "fields_changed": changed_fields(change.before, change.after),
        }
        moved = {"lon", "lat"} & set(properties["fields_changed"])
        if change.before and moved:
            properties["moved_from"] = [change.before["lon"], change.before["lat"]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [record["lon"], record["lat"]]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def audit_log(
    session: Session,
    viewer: User,
    *,
    what: str | None = None,
    what_id: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Who did what, newest first: for reviewers and admins."""
    require_role(viewer, *REVIEWERS)
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if what:
        stmt = stmt.where(AuditEntry.entity == what)
    if what_id:
        stmt = stmt.where(AuditEntry.entity_id == what_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    return list(session.scalars(stmt))
