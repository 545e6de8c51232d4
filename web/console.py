"""The maintainer console: upload a file and read its row-level report, review a change
set on a map, publish or reject it, and list or roll back the published versions.

Server-rendered forms over :mod:`stewardship.service` (the service checks roles and
scopes, so the pages only decide what to offer). Every page needs the web login
(``/login``); every form posts the session's CSRF token, checked here so that a failure
answers with a page, never with problem+json. A service error (403 out of scope, 409
already decided, 422 bad input) is shown on the page with its HTTP status, and whatever
the failed step had written is rolled back to a savepoint first, because the request's
transaction commits when the page is answered. Only the change-set map is a script
(``static/js/console.js``, reading ``/api/change-sets/{id}/preview``).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts import service as accounts_service
from accounts.api import SESSION_COOKIE
from accounts.csrf import csrf_token_for, tokens_match
from accounts.errors import CsrfFailed, NotAuthenticated
from accounts.models import AuthToken, Role, TokenKind, User
from accounts.scope import Scope
from geo.coords import CRS
from geo.db import request_session
from geo.errors import DaofuError, InvalidInput
from geo.features import FACILITY_CATEGORY_NAMES, SITE_KIND_NAMES, SITE_LEVEL_NAMES, region_names
from geo.settings import get_settings
from stewardship import service
from stewardship.errors import UploadRejected, UploadTooLarge
from stewardship.models import Change, ChangeSet, ChangeSetStatus, Publication, PublicationKind
from stewardship.report import Action, Entity
from web.pages import map_config, render

router = APIRouter(prefix="/console", include_in_schema=False)
SessionDep = Annotated[Session, Depends(request_session)]
CHINA = ZoneInfo("Asia/Shanghai")

ROLE_NAMES = {
    Role.admin: "管理员 admin",
    Role.reviewer: "审核员 reviewer",
    Role.maintainer: "维护员 maintainer",
    Role.agent: "坐席 agent",
}
STATUS_NAMES = {
    ChangeSetStatus.draft: "待审核 draft",
    ChangeSetStatus.published: "已发布 published",
    ChangeSetStatus.rejected: "已退回 rejected",
    ChangeSetStatus.withdrawn: "已撤回 withdrawn",
}
ENTITY_NAMES = {Entity.sites: "场所 sites", Entity.facilities: "设施 facilities"}
CRS_NAMES = {
    CRS.wgs84: "WGS-84（GPS、天地图）",
    CRS.cgcs2000: "CGCS2000（国家大地坐标系）",
    CRS.gcj02: "GCJ-02（高德、腾讯）",
    CRS.bd09: "BD-09（百度）",
}
ACTION_NAMES = {Action.add: "新增", Action.change: "修改", Action.retire: "撤销"}
ACTION_KEYS = {Action.add: "added", Action.change: "changed", Action.retire: "retired"}
KIND_NAMES = {PublicationKind.publish: "发布 publish", PublicationKind.rollback: "回退 rollback"}
FIELD_NAMES = {
    "name": "名称",
    "level": "层级",
    "kind": "类型",
    "category": "类别",
    "subcategory": "子类",
    "region_code": "区划代码",
    "department": "部门",
    "address": "地址",
    "phone": "电话",
    "opening_hours": "办公时间",
    "lon": "经度",
    "lat": "纬度",
    "status": "状态",
}
VALUE_NAMES: dict[str, dict[str, str]] = {
    "level": {k.value: v for k, v in SITE_LEVEL_NAMES.items()},
    "kind": {k.value: v for k, v in SITE_KIND_NAMES.items()},
    "category": {k.value: v for k, v in FACILITY_CATEGORY_NAMES.items()},
    "status": {"published": "已发布", "retired": "已撤销"},
}
DONE_MESSAGES = {
    "approved": "已通过并发布。Approved and published.",
    "rejected": "已退回。Rejected.",
    "withdrawn": "已撤回。Withdrawn.",
    "rolled_back": "已回退，并作为新版本发布。Rolled back, published as a new version.",
}
MAX_TEXT = 2000
MAX_CHANGES_SHOWN = 1000
MAX_PROBLEMS_SHOWN = 2000
DRAFTS_SHOWN = 100
DECIDED_SHOWN = 30
VERSIONS_ON_DASHBOARD = 8

# ---- who is signed in -----------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    """The signed-in user of a console request, with the CSRF token of their session."""

    user: User
    token: AuthToken

    @property
    def csrf(self) -> str:
        return csrf_token_for(self.token)

    @property
    def may_upload(self) -> bool:
        return self.user.role in (Role.admin, Role.reviewer, Role.maintainer)

    @property
    def may_review(self) -> bool:
        return self.user.role in (Role.admin, Role.reviewer)


def signed_in(request: Request, session: Session) -> Visitor | None:
    """The user of the session cookie, or None (no cookie, expired, revoked, disabled)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        user, token = accounts_service.authenticate_token(session, cookie, TokenKind.session)
    except NotAuthenticated:
        return None
    return Visitor(user, token)


def to_login(request: Request) -> RedirectResponse:
    """To the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def csrf_ok(visitor: Visitor, submitted: str) -> bool:
    return tokens_match(visitor.csrf, submitted)


# ---- rendering --------------------------------------------------------------------------


def when(moment: datetime | None) -> str:
    """A time in Beijing time, to the minute: 2026-05-01 14:03."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


def scope_words(session: Session, scope: Scope) -> str:
    """历下区（370102000000）及下级；全部部门 — what the user may write, in words."""
    if scope.region_code is None:
        where = "全部区划 everywhere"
    else:
        name = region_names(session, [scope.region_code]).get(scope.region_code, "")
        where = f"{name}（{scope.region_code}）及下级" if name else f"{scope.region_code} 及下级"
    departments = "部门：" + "、".join(scope.departments) if scope.departments else "全部部门"
    return f"{where}；{departments}"


def page(
    request: Request,
    session: Session,
    visitor: Visitor,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page: the template with the visitor, their CSRF token and the helpers."""
    response = render(
        request,
        f"console/{template}",
        status_code=status,
        visitor=visitor,
        user=visitor.user,
        role_name=ROLE_NAMES.get(visitor.user.role, visitor.user.role.value),
        scope=scope_words(session, visitor.user.scope),
        csrf=visitor.csrf,
        when=when,
        entity_names={k.value: v for k, v in ENTITY_NAMES.items()},
        crs_names={k.value: v for k, v in CRS_NAMES.items()},
        status_names=STATUS_NAMES,
        **context,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def error_of(error: DaofuError) -> dict[str, Any]:
    """What the pages show of a service error: its title, message and status."""
    return {"title": error.title, "message": error.message, "status": error.status}


@contextmanager
def step(session: Session) -> Iterator[None]:
    """A savepoint around one service call: if it fails, what it wrote is undone before
    the page answers (the request's transaction still commits the rest, e.g. the login's
    bookkeeping)."""
    with session.begin_nested():
        yield


def message_page(
    request: Request,
    session: Session,
    visitor: Visitor,
    error: DaofuError,
    back: str = "/console",
) -> HTMLResponse:
    return page(
        request, session, visitor, "message.html", error.status, error=error_of(error), back=back
    )


def csrf_page(request: Request, session: Session, visitor: Visitor, back: str) -> HTMLResponse:
    return message_page(request, session, visitor, CsrfFailed(), back)


def not_signed_in_page(request: Request) -> HTMLResponse:
    """A form posted without a (valid) login: a page pointing to the login, 401."""
    return render(request, "console/signed_out.html", status_code=401)


# ---- the dashboard -----------------------------------------------------------------------


@dataclass
class ChangeSetRow:
    change_set: ChangeSet
    author: str
    counts: dict[str, int]
    status_name: str


def usernames(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def counts_of(session: Session, change_set_ids: list[int]) -> dict[int, dict[str, int]]:
    """Added / changed / retired of many change sets in one query."""
    counts: dict[int, dict[str, int]] = defaultdict(
        lambda: {"added": 0, "changed": 0, "retired": 0}
    )
    if change_set_ids:
        rows = session.execute(
            select(Change.change_set_id, Change.action, func.count())
            .where(Change.change_set_id.in_(change_set_ids))
            .group_by(Change.change_set_id, Change.action)
        )
        for change_set_id, action, count in rows:
            counts[change_set_id][ACTION_KEYS[action]] = count
    return counts


def change_set_rows(session: Session, change_sets: list[ChangeSet]) -> list[ChangeSetRow]:
    names = usernames(session, {c.author_id for c in change_sets})
    counts = counts_of(session, [c.id for c in change_sets])
    return [
        ChangeSetRow(c, names.get(c.author_id, "?"), counts[c.id], STATUS_NAMES[c.status])
        for c in change_sets
    ]


@dataclass
class VersionRow:
    publication: Publication
    actor: str
    kind_name: str


def version_rows(session: Session, publications: list[Publication]) -> list[VersionRow]:
    names = usernames(session, {p.actor_id for p in publications})
    return [VersionRow(p, names.get(p.actor_id, "?"), KIND_NAMES[p.kind]) for p in publications]


def upload_form_context(entity: Entity = Entity.sites, crs: CRS = CRS.wgs84) -> dict[str, Any]:
    return {
        "form_entity": entity.value,
        "form_crs": crs.value,
        "max_mb": round(get_settings().upload_max_bytes / 2**20),
    }


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep) -> Response:
    """Who I am, the change sets (drafts first), the upload form and the latest versions."""
    visitor = signed_in(request, session)
    if visitor is None:
        return to_login(request)
    drafts = service.list_change_sets(session, ChangeSetStatus.draft, limit=DRAFTS_SHOWN)
    decided = list(
        session.scalars(
            select(ChangeSet)
            .where(ChangeSet.status != ChangeSetStatus.draft)
            .order_by(ChangeSet.id.desc())
            .limit(DECIDED_SHOWN)
        )
    )
    versions = service.list_versions(session)[:VERSIONS_ON_DASHBOARD]
    return page(
        request,
        session,
        visitor,
        "index.html",
        drafts=change_set_rows(session, drafts),
        decided=change_set_rows(session, decided),
        versions=version_rows(session, versions),
        **upload_form_context(),
    )


# ---- uploads and their reports ---------------------------------------------------------


PENDING_TTL_S = 30 * 60
PENDING_KEY = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass
class PendingUpload:
    """A file the user uploaded and may submit again (accepting only its good rows, or
    after a dry run) without choosing it again."""

    user_id: int
    file_name: str
    data: bytes = field(repr=False)


class PendingUploads:
    """Short-lived server-side copies of uploads, under random keys, for their uploader
    only. Files in ``DAOFU_HOME/console-uploads`` so every worker process sees them;
    older than ``PENDING_TTL_S`` they are gone. The key travels in a form field, never
    in a URL."""

    def __init__(self, directory: Callable[[], Path]) -> None:
        self._directory = directory

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self._directory()
        return base / f"{key}.json", base / f"{key}.bin"

    def put(self, user: User, file_name: str, data: bytes) -> str:
        directory = self._directory()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.purge()
        key = secrets.token_urlsafe(24)
        meta, blob = self._paths(key)
        blob.write_bytes(data)
        meta.write_text(json.dumps({"user_id": user.id, "file_name": file_name}))
        return key

    def get(self, user: User, key: str) -> PendingUpload | None:
        if not PENDING_KEY.match(key):
            return None
        meta, blob = self._paths(key)
        try:
            if time.time() - meta.stat().st_mtime > PENDING_TTL_S:
                self.drop(key)
                return None
            info = json.loads(meta.read_text())
            if info.get("user_id") != user.id:
                return None
            return PendingUpload(user.id, str(info["file_name"]), blob.read_bytes())
        except (OSError, ValueError, KeyError):
            return None

    def drop(self, key: str) -> None:
        if PENDING_KEY.match(key):
            for path in self._paths(key):
                path.unlink(missing_ok=True)

    def purge(self) -> None:
        """Forget the copies older than the time limit."""
        directory = self._directory()
        if not directory.is_dir():
            return
        limit = time.time() - PENDING_TTL_S
        for path in directory.iterdir():
            try:
                if path.stat().st_mtime < limit:
                    path.unlink(missing_ok=True)
            except OSError:
                continue


pending_uploads = PendingUploads(lambda: get_settings().home / "console-uploads")


def parse_entity(value: str) -> Entity:
    try:
        return Entity(value)
    except ValueError:
        raise InvalidInput("entity", f"无效的数据类型 '{value[:40]}' — invalid entity") from None


def parse_crs(value: str) -> CRS:
    try:
        return CRS(value)
    except ValueError:
        raise InvalidInput("crs", f"无效的坐标系 '{value[:40]}' — invalid crs") from None


def checked(value: str) -> bool:
    return value.lower() in ("on", "true", "1", "yes")


@dataclass
class ReportView:
    """The report as the page shows it: the summary and the problems, file-level first."""

    report: dict[str, Any]
    problems: list[dict[str, Any]]
    problems_hidden: int
    bad_rows_shown: list[int]


def report_view(report: dict[str, Any]) -> ReportView:
    problems = sorted(
        report.get("problems", []),
        key=lambda p: (p.get("row") is not None, p.get("row") or 0, p.get("severity") != "error"),
    )
    bad_rows = list(report.get("bad_rows", []))
    return ReportView(
        report=report,
        problems=problems[:MAX_PROBLEMS_SHOWN],
        problems_hidden=max(0, len(problems) - MAX_PROBLEMS_SHOWN),
        bad_rows_shown=bad_rows[:200],
    )


@router.post("/upload", response_class=HTMLResponse)
def upload(
    request: Request,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form()] = "",
    entity: Annotated[str, Form()] = "sites",
    crs: Annotated[str, Form()] = "wgs84",
    accept_good_rows: Annotated[str, Form()] = "",
    dry_run: Annotated[str, Form()] = "",
    pending: Annotated[str, Form()] = "",
) -> Response:
    """Check a file and, unless it is a dry run, draft a change set of it; the answer is
    the readable report (422 and nothing written when bad rows were not accepted)."""
    visitor = signed_in(request, session)
    if visitor is None:
        return not_signed_in_page(request)
    if not csrf_ok(visitor, csrf_token):
        return csrf_page(request, session, visitor, "/console")
    context: dict[str, Any] = {
        "file_name": file.filename if file is not None and file.filename else None,
        "dry_run": checked(dry_run),
        "accepted_good_rows": checked(accept_good_rows),
        **upload_form_context(),
    }
    try:
        entity_, crs_ = parse_entity(entity), parse_crs(crs)
        context.update(upload_form_context(entity_, crs_))
        file_name, data = _uploaded_file(request, visitor, file, pending)
        context["file_name"] = file_name
        with step(session):
            report, change_set = service.upload(
                session,
                visitor.user,
                file_name=file_name,
                data=data,
                entity=entity_,
                crs=crs_,
                accept_good_rows=checked(accept_good_rows),
                dry_run=checked(dry_run),
            )
    except UploadRejected as rejected:
        context["pending"] = _keep_for_retry(visitor, context, rejected.report, file, pending)
        return page(
            request,
            session,
            visitor,
            "report.html",
            rejected.status,
            error=error_of(rejected),
            view=report_view(rejected.report),
            **context,
        )
    except DaofuError as error:
        return page(
            request,
            session,
            visitor,
            "report.html",
            error.status,
            error=error_of(error),
            view=None,
            **context,
        )
    as_json = report.to_json()
    if change_set is None:  # a dry run: offer to submit the same file
        context["pending"] = _keep_for_retry(visitor, context, as_json, file, pending)
        return page(request, session, visitor, "report.html", view=report_view(as_json), **context)
    if pending:
        pending_uploads.drop(pending)
    counts = service.change_counts(service.changes_of(session, change_set))
    return page(
        request,
        session,
        visitor,
        "report.html",
        201,
        view=report_view(as_json),
        change_set=change_set,
        counts=counts,
        **context,
    )


def _uploaded_file(
    request: Request, visitor: Visitor, file: UploadFile | None, pending: str
) -> tuple[str, bytes]:
    """The chosen file (refused past the size limit), else the kept copy of ``pending``."""
    limit = get_settings().upload_max_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 64 * 1024:
        raise UploadTooLarge(
            f"上传内容 {int(length) / 1e6:.1f} MB 超过上限 {limit / 1e6:.0f} MB — request too "
            "large (DAOFU_UPLOAD_MAX_BYTES)"
        )
    if file is not None and file.filename:
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise UploadTooLarge(
                f"文件 {file.filename} 超过上限 {limit / 1e6:.0f} MB — file larger than the "
                "limit (DAOFU_UPLOAD_MAX_BYTES)",
                file=file.filename,
            )
        return file.filename, data
    if pending:
        kept = pending_uploads.get(visitor.user, pending)
        if kept is None:
            raise InvalidInput(
                "file",
                "上次上传的文件已过期，请重新选择文件 — the kept copy of your file has "
                "expired; please choose the file again",
            )
        return kept.file_name, kept.data
    raise InvalidInput("file", "请选择要上传的文件 — choose a file to upload")


def _keep_for_retry(
    visitor: Visitor,
    context: dict[str, Any],
    report: dict[str, Any],
    file: UploadFile | None,
    pending: str,
) -> str | None:
    """Keep a copy of a file that has good rows, so the user can submit it again in one
    click (accepting only the good rows, or after a dry run)."""
    if report.get("rows_good", 0) == 0 or any(
        p.get("row") is None and p.get("severity") == "error" for p in report.get("problems", [])
    ):
        return None
    if file is None or not file.filename:
        return pending or None  # the kept copy was used: keep using it
    file.file.seek(0)
    data = file.file.read()
    return pending_uploads.put(visitor.user, context["file_name"] or file.filename, data)


@router.get("/change-sets/{change_set_id}/report", response_class=HTMLResponse)
def change_set_report(request: Request, session: SessionDep, change_set_id: str) -> Response:
    """The upload report kept with a change set, as a readable page."""
    visitor = signed_in(request, session)
    if visitor is None:
        return to_login(request)
    try:
        change_set = service.get_change_set(session, _number(change_set_id, "change_set_id"))
    except DaofuError as error:
        return message_page(request, session, visitor, error)
    return page(
        request,
        session,
        visitor,
        "stored_report.html",
        change_set=change_set,
        view=report_view(change_set.report or {}),
    )


def _number(value: str, name: str, minimum: int = 1) -> int:
    if not value.isdigit() or not minimum <= int(value) < 2**31:
        raise InvalidInput(name, f"无效的编号 '{value[:20]}' — not a valid number")
    return int(value)


# ---- a change set: the diff, the map, the decision ------------------------------------


@dataclass
class FieldDiff:
    label: str
    before: str | None
    after: str | None


@dataclass
class ChangeView:
    row: int | None
    action: Action
    action_name: str
    key: str
    target_id: int | None
    name: str
    fields: list[FieldDiff]
    site_link: str | None


def shown(name: str, value: Any) -> str | None:
    """A field's value as the table shows it (enum values in Chinese)."""
    if value is None or value == "":
        return None
    text = str(value)
    return VALUE_NAMES.get(name, {}).get(text, text)


def change_view(change: Change, entity: Entity, published: bool) -> ChangeView:
    record = change.after or change.before or {}
    if change.action == Action.change:
        order = {name: i for i, name in enumerate(service.FIELDS[entity])}
        names = sorted(
            service.changed_fields(change.before, change.after), key=lambda n: order.get(n, 99)
        )
    elif change.action == Action.add:
        names = [k for k in service.FIELDS[entity] if record.get(k) not in (None, "")]
    else:
        names = []
    before, after = change.before or {}, change.after or {}
    fields = [
        FieldDiff(FIELD_NAMES.get(n, n), shown(n, before.get(n)), shown(n, after.get(n)))
        for n in names
    ]
    link = None
    if entity == Entity.sites and change.target_id and (published or change.action != Action.add):
        link = f"/sites/{change.target_id}"
    return ChangeView(
        row=change.row,
        action=change.action,
        action_name=ACTION_NAMES[change.action],
        key=ACTION_KEYS[change.action],
        target_id=change.target_id,
        name=str(record.get("name") or ""),
        fields=fields,
        site_link=link,
    )


def city_of(changes: list[Change]) -> str | None:
    """The city most of the changes are in (its 12-digit code), for the map's base layer."""
    codes = Counter(
        str(code)[:4].ljust(12, "0")
        for c in changes
        for code in [(c.after or c.before or {}).get("region_code")]
        if code
    )
    return codes.most_common(1)[0][0] if codes else None


def change_set_page(
    request: Request,
    session: Session,
    visitor: Visitor,
    change_set: ChangeSet,
    status: int = 200,
    error: DaofuError | None = None,
    done: str | None = None,
    note: str = "",
    reason: str = "",
) -> HTMLResponse:
    changes = service.changes_of(session, change_set)
    published = change_set.status == ChangeSetStatus.published
    views = [change_view(c, change_set.entity, published) for c in changes[:MAX_CHANGES_SHOWN]]
    names = usernames(session, {change_set.author_id, change_set.decided_by_id})
    draft = change_set.status == ChangeSetStatus.draft
    is_author = change_set.author_id == visitor.user.id
    config = map_config(session)
    config["preview"] = {
        "url": f"/api/change-sets/{change_set.id}/preview",
        "city": city_of(changes) or get_settings().default_city,
    }
    added_sites = [
        v for v in views if v.action == Action.add and v.site_link is not None and published
    ]
    return page(
        request,
        session,
        visitor,
        "change_set.html",
        status,
        change_set=change_set,
        author=names.get(change_set.author_id, "?"),
        decided_by=names.get(change_set.decided_by_id, "?") if change_set.decided_by_id else None,
        status_name=STATUS_NAMES[change_set.status],
        changes=views,
        changes_hidden=max(0, len(changes) - MAX_CHANGES_SHOWN),
        counts=service.change_counts(changes),
        added_sites=added_sites,
        can_review=draft and visitor.may_review and not is_author,
        own_draft_of_reviewer=draft and visitor.may_review and is_author,
        can_withdraw=draft and (is_author or visitor.user.role == Role.admin),
        error=error_of(error) if error else None,
        done=DONE_MESSAGES.get(done or ""),
        note=note,
        reason=reason,
        config=config,
    )


def _load_change_set(
    request: Request, session: Session, visitor: Visitor, change_set_id: str
) -> ChangeSet | HTMLResponse:
    try:
        return service.get_change_set(session, _number(change_set_id, "change_set_id"))
    except DaofuError as error:
        return message_page(request, session, visitor, error)


@router.get("/change-sets/{change_set_id}", response_class=HTMLResponse)
def change_set_detail(
    request: Request, session: SessionDep, change_set_id: str, done: str | None = None
) -> Response:
    """The changes of a change set, on a table and a map, with the review buttons."""
    visitor = signed_in(request, session)
    if visitor is None:
        return to_login(request)
    change_set = _load_change_set(request, session, visitor, change_set_id)
    if isinstance(change_set, HTMLResponse):
        return change_set
    return change_set_page(request, session, visitor, change_set, done=done)


def _decision(
    request: Request,
    session: Session,
    change_set_id: str,
    csrf_token: str,
    act: Callable[[Visitor, int], object],
    done: str,
    **kept: str,
) -> Response:
    """Check the login and CSRF token, run ``act`` in a savepoint, and go back to the
    change set (303) — or show its page with the error and its status."""
    visitor = signed_in(request, session)
    if visitor is None:
        return not_signed_in_page(request)
    change_set = _load_change_set(request, session, visitor, change_set_id)
    if isinstance(change_set, HTMLResponse):
        return change_set
    back = f"/console/change-sets/{change_set.id}"
    if not csrf_ok(visitor, csrf_token):
        return csrf_page(request, session, visitor, back)
    try:
        with step(session):
            act(visitor, change_set.id)
    except DaofuError as error:
        session.refresh(change_set)
        return change_set_page(
            request, session, visitor, change_set, error.status, error=error, **kept
        )
    return RedirectResponse(f"{back}?done={done}", status_code=303)


def _text(value: str, name: str, label: str, required: bool = False) -> str | None:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(name, f"{label}过长（最多 {MAX_TEXT} 字）— {name} too long")
    if required and not text:
        raise InvalidInput(name, f"请填写{label} — {name} is required")
    return text or None


@router.post("/change-sets/{change_set_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    session: SessionDep,
    change_set_id: str,
    csrf_token: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """通过并发布: the change set becomes the next version of the map."""

    def act(visitor: Visitor, number: int) -> object:
        return service.approve(session, number, visitor.user, _text(note, "note", "说明"))

    return _decision(request, session, change_set_id, csrf_token, act, "approved", note=note)


@router.post("/change-sets/{change_set_id}/reject", response_class=HTMLResponse)
def reject(
    request: Request,
    session: SessionDep,
    change_set_id: str,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """退回, with a reason (required)."""

    def act(visitor: Visitor, number: int) -> object:
        text = _text(reason, "reason", "退回原因", required=True)
        return service.reject(session, number, visitor.user, text or "")

    return _decision(request, session, change_set_id, csrf_token, act, "rejected", reason=reason)


@router.post("/change-sets/{change_set_id}/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request,
    session: SessionDep,
    change_set_id: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """撤回: the author takes a draft back."""

    def act(visitor: Visitor, number: int) -> object:
        return service.withdraw(session, number, visitor.user)

    return _decision(request, session, change_set_id, csrf_token, act, "withdrawn")


# ---- versions and rollback ---------------------------------------------------------------


@router.get("/versions", response_class=HTMLResponse)
def versions(request: Request, session: SessionDep, done: str | None = None) -> Response:
    """Every published version, newest first, with 回退到此版本 for reviewers."""
    visitor = signed_in(request, session)
    if visitor is None:
        return to_login(request)
    return page(
        request,
        session,
        visitor,
        "versions.html",
        versions=version_rows(session, service.list_versions(session)),
        latest=service.current_version(session),
        done=DONE_MESSAGES.get(done or ""),
    )


def rollback_page(
    request: Request,
    session: Session,
    visitor: Visitor,
    target: int,
    status: int = 200,
    error: DaofuError | None = None,
    note: str = "",
) -> HTMLResponse:
    later = [p for p in service.list_versions(session) if p.version > target]
    undone = {"added": 0, "changed": 0, "retired": 0}
    for publication in later:
        for key in undone:
            undone[key] += int((publication.counts or {}).get(key, 0))
    return page(
        request,
        session,
        visitor,
        "rollback.html",
        status,
        target=target,
        later=version_rows(session, later),
        undone=undone,
        latest=service.current_version(session),
        error=error_of(error) if error else None,
        note=note,
    )


def _target_version(session: Session, value: str) -> int:
    """A version to roll back to: 0 (before any publication) or a published one."""
    number = _number(value, "version", minimum=0)
    if number:
        service.get_version(session, number)
    return number


@router.get("/versions/{version}/rollback", response_class=HTMLResponse)
def confirm_rollback(request: Request, session: SessionDep, version: str) -> Response:
    """The confirmation step: what rolling back to ``version`` would undo."""
    visitor = signed_in(request, session)
    if visitor is None:
        return to_login(request)
    try:
        target = _target_version(session, version)
    except DaofuError as error:
        return message_page(request, session, visitor, error, back="/console/versions")
    return rollback_page(request, session, visitor, target)


@router.post("/versions/{version}/rollback", response_class=HTMLResponse)
def rollback(
    request: Request,
    session: SessionDep,
    version: str,
    csrf_token: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """回退: publish, as a new version, the map as it was at ``version``."""
    visitor = signed_in(request, session)
    if visitor is None:
        return not_signed_in_page(request)
    try:
        target = _target_version(session, version)
    except DaofuError as error:
        return message_page(request, session, visitor, error, back="/console/versions")
    if not csrf_ok(visitor, csrf_token):
        return csrf_page(request, session, visitor, "/console/versions")
    try:
        with step(session):
            service.rollback(session, target, visitor.user, _text(note, "note", "说明"))
    except DaofuError as error:
        return rollback_page(request, session, visitor, target, error.status, error, note)
    return RedirectResponse("/console/versions?done=rolled_back", status_code=303)
