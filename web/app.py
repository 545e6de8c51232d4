"""The daofu web application: the API of every package, OpenAPI at /docs, pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

import accounts.api
import catalogue.api
import geo.api
import routing.api
import stewardship.api
import web.login
import web.pages
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
    app.include_router(web.pages.router)
    app.add_api_route(
        "/", home, methods=["GET"], response_class=HTMLResponse, include_in_schema=False
    )
    return app


HOME = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>导服 daofu — 政务服务地图</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto">
<h1>导服 daofu · 政务服务地图</h1>
<p>济南市及山东省各市四级政务服务场所、便民设施与区划数据。
Government service sites, facilities and divisions of Jinan, Shandong and Nanjing.</p>
<ul>
<li><a href="/docs">接口文档 API documentation (OpenAPI)</a></li>
<li><a href="/api/regions/370100">济南市区划 Jinan's districts</a></li>
<li><a href="/api/sites?region=370100&amp;level=district">济南市区县政务服务中心 (GeoJSON)</a></li>
<li><a href="/api/sites/nearest?at=117.0009,36.6758&amp;k=5">泉城广场附近 Nearest sites</a></li>
<li><a href="/api/facilities?region=370102&amp;limit=20">历下区充电站 EV charging in Lixia</a></li>
</ul>
<p><small>标注“示例数据”的场所为生成的示例数据 — sites marked demo are generated sample data.
区划：国家统计局；边界：DataV.GeoAtlas（已由 GCJ-02 转为 WGS-84）。</small></p>
</body></html>"""


async def home() -> str:
    return HOME


app = create_app()
