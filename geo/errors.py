"""Typed errors of the store. Every user-facing error subclasses :class:`DaofuError`."""


class DaofuError(Exception):
    """Base of all daofu errors: a stable ``code``, an HTTP ``status`` and a user message."""

    code = "daofu_error"
    status = 400
    title = "请求有误 Bad request"

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(DaofuError):
    code = "not_found"
    status = 404
    title = "未找到 Not found"


class RegionNotFound(NotFound):
    code = "region_not_found"


class SiteNotFound(NotFound):
    code = "site_not_found"


class FacilityNotFound(NotFound):
    code = "facility_not_found"


class InvalidInput(DaofuError):
    """The caller's input is wrong: names the field (and file/row where there is one)."""

    code = "invalid_input"
    status = 422
    title = "参数无效 Invalid input"

    def __init__(self, field: str, message: str, **detail: object) -> None:
        super().__init__(message, field=field, **detail)
        self.field = field


class DatabaseUnavailable(DaofuError):
    code = "database_unavailable"
    status = 503
    title = "数据库不可用 Database unavailable"


class ClusterError(DaofuError):
    """The project-local PostgreSQL cluster could not be set up or started."""

    code = "cluster_error"
    status = 500
    title = "本地数据库集群错误 Local cluster error"


class DataFileError(DaofuError):
    """A shipped or uploaded data file is malformed: names file, row and field."""

    code = "data_file_error"
    status = 422
    title = "数据文件错误 Data file error"

    def __init__(
        self, path: str, message: str, row: int | None = None, field: str | None = None
    ) -> None:
        where = path + (f", row {row}" if row is not None else "")
        where += f", field {field}" if field else ""
        super().__init__(f"{where}: {message}", file=path, row=row, field=field)
