"""One place that turns errors into RFC 9457 problem+json answers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import DaofuError

log = logging.getLogger("daofu.web")
PROBLEM = "application/problem+json"


def problem(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"urn:daofu:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [
        str(p)
        for p in loc
        if p not in ("query", "path", "body", "header") and not isinstance(p, int)
    ]
    return ".".join(parts) or "request"


async def _daofu_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DaofuError)
    extra = {k: v for k, v in exc.detail.items() if v is not None}
    answer = problem(request, exc.status, exc.code, exc.title, exc.message, **extra)
    if exc.status == 401:  # RFC 6750: say how to authenticate
        answer.headers["WWW-Authenticate"] = 'Bearer realm="daofu"'
    return answer


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"参数 {e['field']} 无效 invalid: {e['message']}" for e in errors)
    return problem(
        request,
        422,
        "invalid_input",
        "参数无效 Invalid input",
        detail,
        field=errors[0]["field"] if errors else None,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = "未找到 Not found" if exc.status_code == 404 else "请求有误 Request error"
    return problem(request, exc.status_code, f"http_{exc.status_code}", title, str(exc.detail))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("database unavailable", exc_info=exc)
    return problem(
        request,
        503,
        "database_unavailable",
        "数据库不可用 Database unavailable",
        "The database did not answer; try again shortly.",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem(
        request,
        500,
        "internal_error",
        "服务器内部错误 Internal error",
        "Something went wrong on our side; it has been logged.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DaofuError, _daofu_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
