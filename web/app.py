"""The daofu web application: the API of every package, OpenAPI at /docs, pages."""

from __future__ import annotations

import inspect
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import accounts.api
import catalogue.api
import geo.api
import routing.api
import stewardship.api
import web.console
import web.login
import web.pages
from geo.settings import get_settings
from web.errors import install_error_handlers

DESCRIPTION = """
导服 daofu — 政务服务地图 government service map.

Service sites of four levels (市 / 区县 / 街道(镇) / 社区(村)), convenience facilities
and divisions, as GeoJSON (RFC 7946, WGS-84). Points are `lon,lat`; pass `crs=gcj02`
(AMap) or `crs=bd09` (Baidu) to send and receive those systems instead. Errors are
`application/problem+json` (RFC 9457) and name the parameter at fault.
Records marked `demo: true` are generated sample data (示例数据).
"""


def create_app() -> FastAPI:
    app = FastAPI(title="导服 daofu", version="0.1.0", description=DESCRIPTION)
    install_error_handlers(app)
    app.include_router(geo.api.router)
    app.include_router(routing.api.router)
    app.include_router(catalogue.api.router)
    app.include_router(accounts.api.router)
    app.include_router(stewardship.api.router)
    app.include_router(web.login.router)
    app.include_router(web.console.router)
    app.include_router(web.pages.router)
    app.mount("/static", StaticFiles(directory=web.pages.STATIC_DIR), name="static")
    install_html_not_found(app)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(get_settings().tile_url))
    return app


DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
"""Swagger UI and ReDoc load their scripts from a CDN: the strict policy would break them."""


def content_security_policy(tile_url: str | None = None) -> str:
    """Scripts, styles and fetches from this app only; images also from the tile host if any.

    No inline script or style: the pages pass data in ``<script type="application/json">``.
    """
    images = "'self'"
    tile_origin = _origin_of(tile_url) if tile_url else None
    if tile_origin:
        images += f" {tile_origin}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def _origin_of(url: str) -> str | None:
    """``https://t{s}.tianditu.gov.cn/...`` → ``https://*.tianditu.gov.cn`` (CSP host source)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    if parts.scheme not in ("http", "https") or not host:
        return None
    if "{" in host:  # a subdomain template: allow the parent domain's subdomains
        if "." not in host or "{" in host.split(".", 1)[1]:
            return None
        host = "*." + host.split(".", 1)[1]
    return f"{parts.scheme}://{host}"


class SecurityHeaders:
    """Adds the Content-Security-Policy and the usual hardening headers to every answer."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
            "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_html_not_found(app: FastAPI) -> None:
    """A browser asking for an unknown page gets the friendly 404 page, the API problem+json."""
    problem_handler = app.exception_handlers[StarletteHTTPException]

    async def not_found(request: Request, exc: Exception) -> Response:
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 404
            and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", "")
        ):
            return web.pages.not_found_page(request)
        answer = problem_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, not_found)


app = create_app()
