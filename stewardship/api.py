"""Uploads, edits, change sets, versions and exports over HTTP.

Writes need a signed-in maintainer or reviewer (bearer token, or the web session with its
CSRF token); the service layer checks role and scope, so this file only translates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from accounts.api import CurrentUser
from accounts.models import User
from geo.coords import CRS
from geo.db import request_session
from geo.models import FacilityCategory, SiteKind, SiteLevel
from geo.settings import get_settings
from stewardship import service
from stewardship.errors import UploadTooLarge
from stewardship.export import ExportFormat, export_records
from stewardship.models import Change, ChangeSet, ChangeSetStatus, Publication, Revision
from stewardship.report import Action, Entity

router = APIRouter(prefix="/api", tags=["维护 Maintenance"])
SessionDep = Annotated[Session, Depends(request_session)]
CrsParam = Annotated[
    CRS, Query(description="coordinate system of the points: wgs84, cgcs2000, gcj02, bd09")
]


class ChangeOut(BaseModel):
    row: int | None
    action: Action
    target_id: int | None
    fields_changed: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ChangeSetOut(BaseModel):
    id: int
    entity: Entity
    title: str
    source: str
    status: ChangeSetStatus
    author: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    published_version: int | None
    counts: dict[str, int]
    report: dict[str, Any]
    changes: list[ChangeOut] | None = None
    links: dict[str, str]


class UploadOut(BaseModel):
    report: dict[str, Any]
    change_set: ChangeSetOut | None


class Decision(BaseModel):
    note: str | None = Field(None, max_length=2000)


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class VersionOut(BaseModel):
    version: int
    kind: str
    change_set_id: int | None
    restored_version: int | None
    actor: str
    at: datetime
    note: str | None
    counts: dict[str, int]
    revisions: list[dict[str, Any]] | None = None


class SiteEdit(BaseModel):
    """A site's fields (Chinese headers are accepted in uploads; here the English names)."""

    name: str | None = Field(None, max_length=200)
    level: SiteLevel | None = None
    kind: SiteKind | None = None
    region_code: str | None = Field(None, max_length=12)
    department: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=500)
    phone: str | None = Field(None, max_length=100)
    opening_hours: str | None = Field(None, max_length=500)
    lon: float | None = None
    lat: float | None = None


class FacilityEdit(BaseModel):
    name: str | None = Field(None, max_length=200)
    category: FacilityCategory | None = None
    subcategory: str | None = Field(None, max_length=200)
    region_code: str | None = Field(None, max_length=12)
    address: str | None = Field(None, max_length=500)
    opening_hours: str | None = Field(None, max_length=500)
    lon: float | None = None
    lat: float | None = None


def _username(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.username if user else None


def change_set_out(
    session: Session, change_set: ChangeSet, changes: list[Change] | None = None
) -> ChangeSetOut:
    every = changes if changes is not None else service.changes_of(session, change_set)
    return ChangeSetOut(
        id=change_set.id,
        entity=change_set.entity,
        title=change_set.title,
        source=change_set.source,
        status=change_set.status,
        author=_username(session, change_set.author_id) or "?",
        created_at=change_set.created_at,
        decided_by=_username(session, change_set.decided_by_id),
        decided_at=change_set.decided_at,
        decision_note=change_set.decision_note,
        published_version=change_set.published_version,
        counts=service.change_counts(every),
        report=change_set.report,
        changes=None if changes is None else [_change_out(c) for c in changes],
        links={
            "self": f"/api/change-sets/{change_set.id}",
            "preview": f"/api/change-sets/{change_set.id}/preview",
        },
    )


def _change_out(change: Change) -> ChangeOut:
    return ChangeOut(
        row=change.row,
        action=change.action,
        target_id=change.target_id,
        fields_changed=service.changed_fields(change.before, change.after),
        before=change.before,
        after=change.after,
    )


def _version_out(
    session: Session, publication: Publication, revisions: list[Revision] | None = None
) -> VersionOut:
    return VersionOut(
        version=publication.version,
        kind=publication.kind.value,
        change_set_id=publication.change_set_id,
        restored_version=publication.restored_version,
        actor=_username(session, publication.actor_id) or "?",
        at=publication.at,
        note=publication.note,
        counts=publication.counts,
        revisions=None
        if revisions is None
        else [
            {
                "entity": r.entity.value,
                "id": r.entity_id,
                "action": r.action.value,
                "before": r.before,
                "after": r.after,
            }
            for r in revisions
        ],
    )


async def read_limited(upload: UploadFile) -> bytes:
    """The uploaded file, refused with 413 as soon as it passes the size limit."""
    limit = get_settings().upload_max_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(
            f"文件 {upload.filename} 超过上限 {limit / 1e6:.0f} MB — file larger than the "
            "limit (DAOFU_UPLOAD_MAX_BYTES)",
            file=upload.filename,
        )
    return data


@router.post(
    "/uploads",
    response_model=UploadOut,
    status_code=201,
    summary="上传场所或设施文件 Upload sites or facilities (GeoJSON, CSV, XLSX, GPKG, SHP zip)",
)
async def upload_file(
    request: Request,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="the file")],
    entity: Annotated[Entity, Form()] = Entity.sites,
    crs: Annotated[CRS, Form(description="coordinate system of the file's points")] = CRS.wgs84,
    accept: Annotated[
        str,
        Form(
            pattern="^(all|good)$",
            description="all: refuse the file if any row is bad (default); good: take only "
            "the good rows",
        ),
    ] = "all",
    dry_run: Annotated[bool, Form(description="only check, write nothing")] = False,
) -> UploadOut:
    length = request.headers.get("content-length")
    limit = get_settings().upload_max_bytes
    if length and length.isdigit() and int(length) > limit + 64 * 1024:
        raise UploadTooLarge(
            f"上传内容 {int(length) / 1e6:.1f} MB 超过上限 {limit / 1e6:.0f} MB — request too "
            "large (DAOFU_UPLOAD_MAX_BYTES)"
        )
    data = await read_limited(file)
    report, change_set = service.upload(
        session,
        user,
        file_name=file.filename or "upload",
        data=data,
        entity=entity,
        crs=crs,
        accept_good_rows=accept == "good",
        dry_run=dry_run,
    )
    if change_set is None:
        response.status_code = 200
        return UploadOut(report=report.to_json(), change_set=None)
    return UploadOut(report=report.to_json(), change_set=change_set_out(session, change_set))


@router.get("/change-sets", response_model=list[ChangeSetOut], summary="变更集 Change sets")
def list_change_sets(
    session: SessionDep,
    user: CurrentUser,
    status: ChangeSetStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ChangeSetOut]:
    return [
        change_set_out(session, c) for c in service.list_change_sets(session, status, limit, offset)
    ]


@router.get("/change-sets/{change_set_id}", response_model=ChangeSetOut)
def get_change_set(session: SessionDep, user: CurrentUser, change_set_id: int) -> ChangeSetOut:
    change_set = service.get_change_set(session, change_set_id)
    return change_set_out(session, change_set, service.changes_of(session, change_set))


@router.get(
    "/change-sets/{change_set_id}/preview",
    summary="变更预览 Changes as GeoJSON for a map (added / changed / retired)",
)
def preview_change_set(
    session: SessionDep, user: CurrentUser, change_set_id: int
) -> dict[str, Any]:
    change_set = service.get_change_set(session, change_set_id)
    return service.preview(service.changes_of(session, change_set))


@router.post("/change-sets/{change_set_id}/approve", response_model=VersionOut)
def approve(
    session: SessionDep, user: CurrentUser, change_set_id: int, decision: Decision | None = None
) -> VersionOut:
    """Approve and publish: the change set becomes the next version of the map."""
    publication = service.approve(session, change_set_id, user, decision.note if decision else None)
    return _version_out(session, publication)


@router.post("/change-sets/{change_set_id}/reject", response_model=ChangeSetOut)
def reject(
    session: SessionDep, user: CurrentUser, change_set_id: int, rejection: Rejection
) -> ChangeSetOut:
    return change_set_out(session, service.reject(session, change_set_id, user, rejection.reason))


@router.post("/change-sets/{change_set_id}/withdraw", response_model=ChangeSetOut)
def withdraw(session: SessionDep, user: CurrentUser, change_set_id: int) -> ChangeSetOut:
    return change_set_out(session, service.withdraw(session, change_set_id, user))


@router.get("/versions", response_model=list[VersionOut], summary="已发布版本 Published versions")
def list_versions(session: SessionDep) -> list[VersionOut]:
    return [_version_out(session, p) for p in service.list_versions(session)]


@router.get("/versions/{version}", response_model=VersionOut)
def get_version(session: SessionDep, version: int) -> VersionOut:
    publication, revisions = service.get_version(session, version)
    return _version_out(session, publication, revisions)


@router.post(
    "/versions/{version}/rollback",
    response_model=VersionOut,
    status_code=201,
    summary="回退到某一版本 Restore an earlier version (published as a new version)",
)
def rollback(
    session: SessionDep, user: CurrentUser, version: int, decision: Decision | None = None
) -> VersionOut:
    publication = service.rollback(session, version, user, decision.note if decision else None)
    return _version_out(session, publication)


def _edit_routes(entity: Entity, body_model: type[SiteEdit] | type[FacilityEdit]) -> None:
    path = f"/{entity.value}"

    def create(
        session: SessionDep,
        user: CurrentUser,
        body: SiteEdit | FacilityEdit,
        crs: CrsParam = CRS.wgs84,
    ) -> ChangeSetOut:
        change_set = service.edit(
            session, user, entity, Action.add, body.model_dump(exclude_none=True), crs=crs
        )
        return change_set_out(session, change_set, service.changes_of(session, change_set))

    def change(
        session: SessionDep,
        user: CurrentUser,
        record_id: int,
        body: SiteEdit | FacilityEdit,
        crs: CrsParam = CRS.wgs84,
    ) -> ChangeSetOut:
        values = body.model_dump(exclude_none=True)
        change_set = service.edit(
            session, user, entity, Action.change, values, target_id=record_id, crs=crs
        )
        return change_set_out(session, change_set, service.changes_of(session, change_set))

    def retire(session: SessionDep, user: CurrentUser, record_id: int) -> ChangeSetOut:
        change_set = service.edit(session, user, entity, Action.retire, {}, target_id=record_id)
        return change_set_out(session, change_set, service.changes_of(session, change_set))

    for endpoint in (create, change):  # the body's model is a local: give it as a class
        endpoint.__annotations__["body"] = body_model
    what = "场所 a site" if entity == Entity.sites else "设施 a facility"
    router.add_api_route(
        path,
        create,
        methods=["POST"],
        status_code=201,
        response_model=ChangeSetOut,
        summary=f"新增{what} (as a draft change set)",
    )
    router.add_api_route(
        f"{path}/{{record_id}}",
        change,
        methods=["PATCH"],
        status_code=201,
        response_model=ChangeSetOut,
        summary=f"修改{what} (as a draft change set; omitted fields stay as they are)",
    )
    router.add_api_route(
        f"{path}/{{record_id}}",
        retire,
        methods=["DELETE"],
        status_code=201,
        response_model=ChangeSetOut,
        summary=f"撤销{what} (as a draft change set)",
    )


_edit_routes(Entity.sites, SiteEdit)
_edit_routes(Entity.facilities, FacilityEdit)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any]


@router.get("/audit", response_model=list[AuditOut], summary="审计日志 Who did what (reviewers)")
def audit_log(
    session: SessionDep,
    user: CurrentUser,
    entity: Annotated[str | None, Query(max_length=50, description="e.g. change_set, user")] = None,
    entity_id: Annotated[str | None, Query(max_length=50)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditOut]:
    entries = service.audit_log(
        session, user, what=entity, what_id=entity_id, actor=actor, limit=limit, offset=offset
    )
    return [
        AuditOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            detail=e.detail,
        )
        for e in entries
    ]


@router.get(
    "/export/{entity}",
    summary="导出已发布数据 Export published sites or facilities (GeoJSON, CSV, XLSX)",
    response_class=Response,
)
def export(
    session: SessionDep,
    entity: Entity,
    format: Annotated[ExportFormat, Query()] = ExportFormat.geojson,
    crs: CrsParam = CRS.wgs84,
    region: Annotated[str | None, Query(description="division code: only this subtree")] = None,
) -> Response:
    result = export_records(session, entity, format, crs, region)
    return Response(
        result.content,
        media_type=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{result.file_name}"'},
    )
