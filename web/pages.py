"""The public pages: the citizen trip planner (``/``) and a site's page (``/sites/{id}``).

Thin: Jinja2 templates (autoescaped) filled from the services; the maps and forms are
static JS (``web/static/js``) calling the JSON APIs. No inline script and no third-party
host (see the Content-Security-Policy in :mod:`web.app`): data for the scripts travels
in ``<script type="application/json">`` blocks, rendered with ``tojson``.

Also the agent helper ``GET /api/directions-text``: it lives here, not in
``routing/api.py``, because the hours it quotes come from the catalogue, a layer above
routing (the text itself is composed by :mod:`routing.directions`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from geoalchemy2.shape import to_shape
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.calendar import HolidayCalendar, current_calendar
from catalogue.errors import InvalidOpeningHours
from catalogue.hours import DayHours, day_hours, open_state, uncovered_warning
from catalogue.models import Item, SiteItem
from geo import service as geo_service
from geo.db import request_session
from geo.errors import SiteNotFound
from geo.features import (
    DEMO_LABEL,
    FACILITY_CATEGORY_NAMES,
    SITE_KIND_NAMES,
    SITE_LEVEL_NAMES,
    region_names,
    site_feature,
)
from geo.models import CalendarDayKind, FacilityCategory, RegionLevel, Site, SiteStatus
from geo.schemas import Feature
from geo.settings import get_settings
from routing.api import get_holder, parse_crs, parse_mode, parse_point, route_feature
from routing.directions import site_directions
from routing.holder import EngineHolder
from routing.schemas import ATTRIBUTION, RouteFeature
from routing.service import active_versions

router = APIRouter()
SessionDep = Annotated[Session, Depends(request_session)]
HolderDep = Annotated[EngineHolder, Depends(get_holder)]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    )
)
CHINA = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "一二三四五六日"
FACILITY_RADIUS_M = 1000.0
HOLIDAY_LOOKAHEAD_DAYS = 90
OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
BOUNDARY_ATTRIBUTION = "边界 DataV.GeoAtlas"


# ---- shared by the pages -------------------------------------------------------------


def map_config(session: Session) -> dict[str, Any]:
    """What the map scripts need: cities, their road-network extents, the tile option."""
    settings = get_settings()
    networks: dict[str, list[float]] = {}
    for version in active_versions(session):
        networks[version.city_code] = [round(v, 6) for v in to_shape(version.extent).bounds]
    cities, _ = geo_service.find_regions(session, level=RegionLevel.city, limit=100)
    tile = None
    if settings.tile_url:
        tile = {
            "url": settings.tile_url,
            "attribution": settings.tile_attribution,
            "crs": "gcj02" if settings.tile_crs == "gcj02" else "wgs84",
        }
    return {
        "default_city": settings.default_city,
        "cities": [
            {
                "code": c.code,
                "name": c.name,
                "centre": list(to_shape(c.centre).coords[0]) if c.centre is not None else None,
                "network": networks.get(c.code),
            }
            for c in cities
        ],
        "tile": tile,
        "attribution": f"{OSM_ATTRIBUTION} · {BOUNDARY_ATTRIBUTION}",
    }


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def not_found_page(request: Request, message: str | None = None) -> HTMLResponse:
    """The friendly 404 page (unknown site id, unknown page)."""
    return render(request, "not_found.html", status_code=404, message=message)


def today_in_china() -> date:
    return datetime.now(CHINA).date()


def _spans(hours: DayHours) -> list[str]:
    def clock(moment: datetime) -> str:
        return "24:00" if moment.date() > hours.day else moment.strftime("%H:%M")

    return [f"{clock(b)}–{clock(e)}" for b, e in hours.intervals]


def hours_phrase(expression: str | None, day: date, calendar: HolidayCalendar) -> str | None:
    """今天 09:00–12:00、13:00–17:00 开放 / 今天休息（国庆节）/ 今天全天开放; None if unknown."""
    if not expression:
        return None
    try:
        hours = day_hours(expression, day, calendar)
    except InvalidOpeningHours:
        return None
    spans = _spans(hours)
    if spans == ["00:00–24:00"]:
        return "今天全天开放"
    if spans:
        return f"今天 {'、'.join(spans)} 开放"
    return f"今天休息（{hours.holiday_name}）" if hours.holiday_name else "今天休息"


# ---- the planner -------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False, name="planner")
def planner_page(
    request: Request,
    session: SessionDep,
    city: Annotated[str | None, Query(max_length=20)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=60)] = None,
    item: Annotated[str | None, Query(max_length=100)] = None,
    mode: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    """The trip planner; ``?city=320100&from=lon,lat&item=…&mode=walk`` preset it (a link
    that does not parse is ignored rather than refused: it is a page, not an API)."""
    config = map_config(session)
    config["page"] = {
        "city": city.ljust(12, "0") if city and re.fullmatch(r"\d{6,12}", city) else None,
        "from": from_,
        "item": item,
        "mode": mode if mode in ("walk", "drive") else None,
    }
    return render(request, "planner.html", config=config)


# ---- the site page -------------------------------------------------------------------


@dataclass(frozen=True)
class DayRow:
    label: str
    hours: str
    note: str | None
    today: bool


@dataclass(frozen=True)
class HolidayChange:
    label: str
    name: str
    kind: str
    hours: str


def _day_label(day: date) -> str:
    return f"{day.month}月{day.day}日 周{WEEKDAYS[day.weekday()]}"


def _day_row(expression: str, day: date, calendar: HolidayCalendar, today: date) -> DayRow:
    hours = day_hours(expression, day, calendar)
    spans = _spans(hours)
    entry = calendar.entry(day) if calendar.is_covered(day) else None
    note = hours.holiday_name or (
        "调休上班" if entry is not None and entry.kind is CalendarDayKind.workday else None
    )
    text = "全天开放" if spans == ["00:00–24:00"] else ("、".join(spans) or "休息")
    return DayRow(_day_label(day), text, note, day == today)


def week_hours(expression: str, today: date, calendar: HolidayCalendar) -> list[DayRow]:
    return [_day_row(expression, today + timedelta(days=i), calendar, today) for i in range(7)]


def lookahead_warning(today: date, calendar: HolidayCalendar) -> str | None:
    """Say so when the holiday look-ahead runs into a year the calendar does not cover
    (e.g. late November, before an admin has entered next year's 元旦 and 春节)."""
    end = today + timedelta(days=HOLIDAY_LOOKAHEAD_DAYS)
    years = [y for y in range(today.year, end.year + 1) if y not in calendar.covered_years]
    return uncovered_warning(years) if years else None


def holiday_changes(
    expression: str, today: date, calendar: HolidayCalendar, limit: int = 4
) -> list[HolidayChange]:
    """The next holidays and make-up working days, with this site's hours on them.

    Consecutive days of one kind are one entry (国庆节 and 中秋节 in one break).
    """
    end = today + timedelta(days=HOLIDAY_LOOKAHEAD_DAYS)
    days = sorted(d for d in calendar.days if today <= d <= end)
    runs: list[list[date]] = []
    for day in days:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and (day - last).days == 1
            and calendar.days[last].kind is calendar.days[day].kind
        ):
            runs[-1].append(day)
        else:
            runs.append([day])
    changes = []
    for run in runs[:limit]:
        first, last = run[0], run[-1]
        names = "、".join(dict.fromkeys(calendar.days[d].name for d in run))
        label = _day_label(first) + (f" 至 {last.month}月{last.day}日" if len(run) > 1 else "")
        row = _day_row(expression, first, calendar, today)
        kind = "放假" if calendar.days[first].kind is CalendarDayKind.holiday else "调休上班"
        changes.append(HolidayChange(label, names, kind, row.hours))
    return changes


ATTRIBUTE_LABELS = {
    "accessible": "无障碍设施",
    "green_channel": "老年人、残疾人绿色通道",
    "mother_baby_room": "母婴室",
}
WINDOW_LABELS = {
    "assisted": "帮办代办窗口",
    "complaints": "“办不成事”反映窗口",
    "cross_region": "跨域通办窗口",
}


def site_attributes(attributes: dict[str, Any]) -> list[str]:
    """The practical attributes of a site, as short Chinese phrases."""
    found: list[str] = []
    windows = attributes.get("windows")
    if isinstance(windows, dict):
        if isinstance(windows.get("comprehensive"), int):
            found.append(f"综合受理窗口 {windows['comprehensive']} 个")
        found += [label for key, label in WINDOW_LABELS.items() if windows.get(key) is True]
    found += [label for key, label in ATTRIBUTE_LABELS.items() if attributes.get(key) is True]
    if isinstance(attributes.get("self_service_terminals"), int):
        found.append(f"自助终端 {attributes['self_service_terminals']} 台")
    if isinstance(attributes.get("parking_spaces"), int):
        found.append(f"停车位 {attributes['parking_spaces']} 个")
    return found


def items_by_department(session: Session, site_id: int) -> list[tuple[str, list[dict[str, Any]]]]:
    rows = session.execute(
        select(Item.code, Item.name, Item.department, SiteItem.window)
        .join(SiteItem, SiteItem.item_code == Item.code)
        .where(SiteItem.site_id == site_id)
        .order_by(Item.department, func.coalesce(Item.popularity_rank, 1_000_000), Item.code)
    ).all()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, name, department, window in rows:
        groups[department].append({"code": code, "name": name, "window": window})
    return sorted(groups.items(), key=lambda g: -len(g[1]))


def facilities_nearby(session: Session, point: tuple[float, float]) -> list[dict[str, Any]]:
    """The nearest few of each of the 7 categories within ``FACILITY_RADIUS_M``."""
    found = []
    for category in FacilityCategory:
        query = geo_service.FacilityQuery(
            near=point, radius_m=FACILITY_RADIUS_M, categories=(category,), limit=3
        )
        rows, total = geo_service.find_facilities(session, query)
        found.append(
            {
                "name": FACILITY_CATEGORY_NAMES[category],
                "total": total,
                "nearest": [
                    {"name": f.name, "distance_m": round(d or 0.0), "demo": f.demo} for f, d in rows
                ],
            }
        )
    return found


def qr_svg(text: str) -> str:
    """An inline SVG QR code of ``text`` (segno; no script, no style attribute)."""
    return str(segno.make(text, error="m").svg_inline(scale=4, dark="#111", title=text))


def _parse_site_id(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None


@router.get("/sites/{site_id}", response_class=HTMLResponse, include_in_schema=False, name="site")
def site_page(request: Request, session: SessionDep, site_id: str) -> HTMLResponse:
    number = _parse_site_id(site_id)
    try:
        site = geo_service.get_public_site(session, number) if number else None
    except SiteNotFound:
        site = None
    if site is None:
        return not_found_page(request, f"没有编号为 {site_id} 的服务场所。")
    return render(request, "site.html", **site_context(request, session, site))


def site_context(request: Request, session: Session, site: Site) -> dict[str, Any]:
    today = today_in_china()
    calendar = current_calendar(session)
    expression = site.opening_hours
    point = to_shape(site.geom)
    chain = geo_service.region_chain(session, geo_service.get_region(session, site.region_code))
    url = str(request.url_for("site", site_id=str(site.id)))
    hours: dict[str, Any] = {"known": False}
    if expression:
        try:
            state = open_state(expression, datetime.now(CHINA), calendar)
            hours = {
                "known": True,
                "expression": expression,
                "today": hours_phrase(expression, today, calendar),
                "open_now": state.is_open,
                "next_change": state.next_change,
                "warning": state.warning,
                "week": week_hours(expression, today, calendar),
                "changes": holiday_changes(expression, today, calendar),
                "uncovered": lookahead_warning(today, calendar),
            }
        except InvalidOpeningHours:
            hours = {"known": False, "expression": expression}
    items = items_by_department(session, site.id)
    config = map_config(session)
    config["site"] = {
        "id": site.id,
        "name": site.name,
        "lonlat": [point.x, point.y],
        "region_code": site.region_code,
        "retired": site.status == SiteStatus.retired,
    }
    return {
        "site": site,
        "level_name": SITE_LEVEL_NAMES[site.level],
        "kind_name": SITE_KIND_NAMES[site.kind],
        "chain": [r.name for r in chain],
        "retired": site.status == SiteStatus.retired,
        "demo_label": DEMO_LABEL,
        "attributes": site_attributes(site.attributes or {}),
        "hours": hours,
        "items": items,
        "item_count": sum(len(rows) for _, rows in items),
        "facilities": facilities_nearby(session, (point.x, point.y)),
        "facility_radius_m": round(FACILITY_RADIUS_M),
        "url": url,
        "qr_svg": qr_svg(url),
        "today": today,
        "config": config,
    }


# ---- the agent helper ------------------------------------------------------------------


class DirectionsText(BaseModel):
    """Directions to a site as a short Chinese text plus its link, for an agent's reply."""

    text: str = Field(description="从出发点步行约12分钟（850米）到达…。详情：http://…/sites/123")
    url: str = Field(description="the site's page")
    mode: str
    estimate: bool = Field(description="true: no road network, straight-line distance only")
    duration_s: float | None = Field(description="null for an estimate: no time is made up")
    distance_m: float = Field(description="along the route, or the straight line for an estimate")
    straight_line_m: float
    note: str | None = Field(description="why the answer is an estimate")
    site: Feature
    route: RouteFeature | None
    attribution: str = ATTRIBUTION


@router.get(
    "/api/directions-text",
    response_model=DirectionsText,
    tags=["routing"],
    summary="导服指路 Directions to a site as a short Chinese text, with a link",
)
def directions_text(
    request: Request,
    session: SessionDep,
    holder: HolderDep,
    site: Annotated[int, Query(ge=1, lt=2**31, description="site id")],
    from_: Annotated[str, Query(alias="from", description="lon,lat")],
    mode: str = "walk",
    crs: str = "wgs84",
) -> DirectionsText:
    crs_ = parse_crs(crs)
    mode_ = parse_mode(mode)
    origin = parse_point(from_, "from", crs_)
    found = geo_service.get_public_site(session, site)
    url = str(request.url_for("site", site_id=str(found.id)))
    phrase = hours_phrase(found.opening_hours, today_in_china(), current_calendar(session))
    answer = site_directions(session, holder, found, origin, mode_, url, phrase)
    names = region_names(session, [found.region_code])
    route = None
    if answer.route is not None and answer.engine is not None:
        route = route_feature(answer.route, mode_, crs_, answer.engine.network.version_id)
    return DirectionsText(
        text=answer.text,
        url=url,
        mode=mode_.value,
        estimate=answer.estimate,
        duration_s=None if answer.duration_s is None else round(answer.duration_s, 1),
        distance_m=round(answer.distance_m, 1),
        straight_line_m=round(answer.straight_line_m, 1),
        note=answer.note,
        site=site_feature(found, names.get(found.region_code), crs_),
        route=route,
    )
