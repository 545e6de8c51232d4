"""Typed errors of uploads, change sets and publishing (all :class:`geo.errors.DaofuError`)."""

from __future__ import annotations

from typing import Any

from geo.errors import DaofuError, InvalidInput, NotFound


class UploadUnreadable(InvalidInput):
    """The file cannot be read at all (unknown format, broken zip, no header row …)."""

    code = "upload_unreadable"
    title = "文件无法读取 Upload unreadable"

    def __init__(self, file_name: str, message: str) -> None:
        super().__init__("file", f"{file_name}: {message}", file=file_name)


class UploadTooLarge(DaofuError):
    code = "upload_too_large"
    status = 413
    title = "上传文件过大 Upload too large"


class UploadRejected(InvalidInput):
    """Some rows are bad and the uploader did not choose to accept only the good ones.

    Carries the whole report (``report``: every bad row with its number, field and reason).
    """

    code = "upload_rejected"
    title = "上传被拒绝 Upload rejected"

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__("file", message, report=report)
        self.report = report


class UploadOutOfScope(UploadRejected):
    """Every bad row of the upload is outside the uploader's scope: a 403, with the report."""

    code = "upload_out_of_scope"
    status = 403
    title = "超出权限范围 Upload outside your scope"


class ChangeSetNotFound(NotFound):
    code = "change_set_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class ChangeSetConflict(DaofuError):
    """The change set cannot move on: already decided, or the sites changed under it."""

    code = "change_set_conflict"
    status = 409
    title = "变更集状态冲突 Change set conflict"
