"""HTTP API of the catalogue: items, search, bundles and matching."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import shapely
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic_core import to_json
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue import service
from catalogue.calendar import HolidayCalendar, current_calendar
from catalogue.hours import uncovered_warning
from catalogue.itinerary import plan_itinerary
from catalogue.matching import (
    Candidate,
    MatchRequest,
    SiteCard,
    engine_for,
    match_item,
    region_names,
    resolve_item,
)
from catalogue.models import Item
from catalogue.schemas import (
    BundleDetail,
    BundleStep,
    ItemDetail,
    ItemSummary,
    ItineraryAnswer,
    ItineraryLeg,
    MatchAnswer,
    Material,
    SearchAnswer,
    SearchHit,
)
from catalogue.search import SearchHit as SearchHitFound
from catalogue.service import ItemCard
from geo.api import parse_lonlat
from geo.coords import CRS, from_wgs84, geometry_from_wgs84
from geo.db import request_session
from geo.errors import InvalidInput
from geo.features import region_names as load_region_names
from geo.features import site_feature
from routing.api import get_holder, parse_mode, route_feature
from routing.engine import Route
from routing.holder import EngineHolder
from routing.profiles import Mode
from routing.schemas import ATTRIBUTION

router = APIRouter(prefix="/api", tags=["catalogue 事项"])
SessionDep = Annotated[Session, Depends(request_session)]
HolderDep = Annotated[EngineHolder, Depends(get_holder)]
CHINA = ZoneInfo("Asia/Shanghai")
FIRST_YEAR, LAST_YEAR = 2000, 2100  # a trip is planned for a date people can travel on


def summary(item: Item) -> ItemSummary:
    return ItemSummary(
        code=item.code,
        name=item.name,
        department=item.department,
        category=item.category,
        sample_content=item.sample_content,
    )


def detail(item: Item) -> ItemDetail:
    return ItemDetail(
        **summary(item).model_dump(),
        item_type=item.item_type,
        implementing_body=item.implementing_body,
        legal_basis=item.legal_basis,
        conditions=item.conditions,
        applicants=item.applicants,
        materials=[Material.model_validate(m) for m in item.materials],
        process=item.process,
        legal_limit_days=item.legal_limit_days,
        promised_limit_days=item.promised_limit_days,
        fees=item.fees,
        result=item.result,
        channels=item.channels,
        levels=item.levels,
        colloquial=item.colloquial,
        source=item.source,
        source_url=item.source_url,
        notice=service.CATALOGUE_NOTICE,
    )


@router.get("/items/search", response_model=SearchAnswer, summary="搜索事项 Search items")
def search_items(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchAnswer:
    result = service.search_items(session, q, limit)
    return SearchAnswer(
        query=q,
        hits=[_hit(h) for h in result.hits],
        groups={g.department: [h.code for h in g.hits] for g in result.groups},
        nothing_fits=result.nothing_fits,
        message=result.message,
        interpreted_as=result.interpreted_as,
        suggestions=[_hit(h) for h in result.suggestions],
    )


def _hit(hit: SearchHitFound) -> SearchHit:
    return SearchHit(
        code=hit.code,
        name=hit.name,
        department=hit.department,
        score=hit.score,
        matched_by=str(hit.matched_by),
    )


@router.get("/items", response_model=list[ItemSummary], summary="事项目录 Items")
def list_items(
    session: SessionDep,
    department: Annotated[str | None, Query(max_length=50, pattern=r"^[^\x00]*$")] = None,
    sample_content: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[ItemSummary]:
    query = select(Item)
    if department:
        query = query.where(Item.department == department)
    if sample_content is not None:
        query = query.where(Item.sample_content.is_(sample_content))
    order = (func.coalesce(Item.popularity_rank, 1_000_000), Item.code)
    rows = session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return [summary(i) for i in rows]


@router.get("/items/{code}", response_model=ItemDetail, summary="一个事项 One item")
def get_item(session: SessionDep, code: str) -> ItemDetail:
    return detail(service.get_item(session, code))


@router.get("/bundles", response_model=list[BundleDetail], summary="一件事 Bundles")
def list_bundles(session: SessionDep) -> list[BundleDetail]:
    return [get_bundle(session, b.code) for b in service.list_bundles(session)]


@router.get("/bundles/{code}", response_model=BundleDetail, summary="一个一件事 One bundle")
def get_bundle(session: SessionDep, code: str) -> BundleDetail:
    bundle, steps = service.get_bundle(session, code)
    return BundleDetail(
        code=bundle.code,
        name=bundle.name,
        description=bundle.description,
        sample_content=bundle.sample_content,
        steps=[
            BundleStep(
                position=s.position, item=summary(i), service_minutes=s.service_minutes, note=s.note
            )
            for s, i in steps
        ],
    )


def parse_time(value: str | None, field: str) -> datetime:
    """ISO 8601; without an offset it is Beijing time. Default: now."""
    if not value:
        return datetime.now(CHINA).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            field, f"时间格式无效 '{value}': use ISO 8601, e.g. 2026-11-24T09:30"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidInput(
            field, f"时间超出范围 '{value}': departures from {FIRST_YEAR} to {LAST_YEAR} only"
        )
    return parsed.replace(tzinfo=CHINA) if parsed.tzinfo is None else parsed.astimezone(CHINA)


def on_loop(dependency: Callable[[], Any]) -> Callable[[Request], AsyncIterator[Any]]:
    """``dependency`` (or the app's override of it), run on the event loop.

    FastAPI runs sync dependencies, and a sync generator's setup and teardown, on its
    thread pool: for ``request_session`` and ``get_holder`` three thread switches that
    cost /api/match about 0.5 ms of its ~3 ms. A warm match asks the database nothing,
    so holding the loop for them is cheap. For dependencies without parameters only.
    """

    async def run(request: Request) -> AsyncIterator[Any]:
        provider = request.app.dependency_overrides.get(dependency, dependency)
        if inspect.isgeneratorfunction(provider):
            with contextmanager(provider)() as value:
                yield value
        elif inspect.isasyncgenfunction(provider):
            async with asynccontextmanager(provider)() as value:
                yield value
        else:
            made = provider()
            yield await made if inspect.isawaitable(made) else made

    return run


# async: a warm match is ~3 ms of CPU and no I/O, so each worker runs one at a time on its
# loop instead of ten threads contending for the GIL. Work that reads the database (the
# first request, loading the caches again after a change) holds that worker's loop meanwhile.
@router.get(
    "/match",
    response_model=MatchAnswer,
    summary="哪里能办、到达时是否开门、怎么去 Match",
)
async def match(
    session: Annotated[Session, Depends(on_loop(request_session))],
    holder: Annotated[EngineHolder, Depends(on_loop(get_holder))],
    item: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            pattern=r"^[^\x00]*$",
            description="item code or what the citizen typed",
        ),
    ],
    from_: Annotated[str, Query(alias="from", description="lon,lat")],
    at: Annotated[str | None, Query(description="departure, ISO 8601 (Beijing time)")] = None,
    mode: str = "walk",
    k: Annotated[int, Query(ge=1, le=20)] = 5,
    max_minutes: Annotated[float, Query(gt=0, le=240)] = 60,
    max_wait_minutes: Annotated[float, Query(ge=0, le=24 * 60)] = 120,
    crs: CRS = CRS.wgs84,
) -> Response:
    chosen, alternatives = resolve_item(session, item)
    request = MatchRequest(
        origin=parse_lonlat(from_, "from", crs),
        depart_at=parse_time(at, "at"),
        mode=parse_mode(mode),
        k=k,
        max_minutes=max_minutes,
        max_wait_minutes=max_wait_minutes,
    )
    outcome = match_item(session, holder, current_calendar(session), chosen, request)
    names = region_names(session, [c.site.region_code for c in outcome.results if c.site])
    version = outcome.engine.network.version_id if outcome.engine else None
    # MatchAnswer as JSON, built from plain values: a pydantic model per route, step and site
    # and FastAPI's re-validation of the answer cost more than the matching itself
    answer = {
        "item": _card(chosen),
        "alternatives": [_card(a) for a in alternatives],
        "origin": from_wgs84(*request.origin, crs),
        "depart_at": request.depart_at,
        "mode": request.mode.value,
        "routed": outcome.routed,
        "reason": outcome.reason,
        "warnings": outcome.warnings,
        "results": [_matched(c, names, crs, request, version) for c in outcome.results],
        "left_out": [
            {
                "site_id": e.site.id,
                "name": e.site.name,
                "distance_m": round(e.distance_m, 1),
                "reason": e.reason,
                "detail": e.detail,
            }
            for e in outcome.left_out
        ],
    }
    # returning a Response skips the re-validation; the schema still comes from response_model
    return Response(to_json(answer), media_type="application/json")


def _card(item: ItemCard) -> dict[str, Any]:
    """An :class:`ItemSummary` as JSON values."""
    return {
        "code": item.code,
        "name": item.name,
        "department": item.department,
        "category": item.category,
        "sample_content": item.sample_content,
    }


def _matched(
    c: Candidate, names: dict[str, str], crs: CRS, request: MatchRequest, version: int | None
) -> dict[str, Any]:
    """A :class:`MatchedSite` as JSON values."""
    wait = (c.ready_at - c.arrive_at).total_seconds() if c.ready_at and c.arrive_at else 0.0
    site = c.site
    assert site is not None, "results always carry their site"
    return {
        "site": _site(site, names.get(site.region_code), crs, c.distance_m),
        "window": c.window,
        "estimate": c.route is None,
        "distance_m": round(c.route.distance_m, 1) if c.route else round(c.distance_m, 1),
        "duration_s": c.duration_s,
        "depart_at": request.depart_at,
        "arrive_at": c.arrive_at,
        "opens_at": c.opens_at,
        "wait_s": wait,
        "ready_at": c.ready_at,
        "closes_at": c.closes_at,
        "open_on_arrival": c.open_on_arrival,
        "open_now": c.open_now,
        "hours_today": c.hours_today,
        "route": (
            _route(c.route, request.mode, crs, version)
            if c.route is not None and version is not None
            else None
        ),
    }


_SHIFTED = (CRS.gcj02, CRS.bd09)
"""The systems :func:`geo.coords.from_wgs84` converts to; the others keep WGS-84 values."""


def _site(card: SiteCard, region_name: str | None, crs: CRS, distance_m: float) -> dict[str, Any]:
    """``geo.features.site_feature(...).model_dump()`` from the cached card."""
    geometry = card.feature["geometry"]
    if crs in _SHIFTED:
        geometry = dict(mapping(geometry_from_wgs84(shapely.Point(card.lon, card.lat), crs)))
    properties = {
        **card.feature["properties"],
        "region_name": region_name,
        "distance_m": round(distance_m, 1),
    }
    return {"type": "Feature", "id": card.id, "geometry": geometry, "properties": properties}


def _route(route: Route, mode: Mode, crs: CRS, version: int) -> dict[str, Any]:
    """``routing.api.route_feature(...).model_dump()``, without a model per step."""
    coords = route.coords if len(route.coords) > 1 else [route.coords[0]] * 2
    line = shapely.linestrings(coords)
    if crs in _SHIFTED:
        line = geometry_from_wgs84(line, crs)
    steps = []
    for step in route.steps:
        x, y = step.location
        if crs in _SHIFTED:
            x, y = geometry_from_wgs84(shapely.Point(x, y), crs).coords[0]
        steps.append(
            {
                "instruction": step.instruction,
                "road": step.road,
                "distance_m": step.distance_m,
                "duration_s": step.duration_s,
                "maneuver": step.maneuver,
                "modifier": step.modifier,
                "location": (round(x, 7), round(y, 7)),
                "bearing_before": step.bearing_before,
                "bearing_after": step.bearing_after,
                "exit": step.exit,
            }
        )
    return {
        "type": "Feature",
        "geometry": _line_geometry(shapely.set_precision(line, 1e-7)),
        "properties": {
            "mode": mode.value,
            "duration_s": round(route.duration_s, 3),
            "distance_m": round(route.distance_m, 1),
            "origin_snap_m": round(route.origin.distance_m, 1),
            "destination_snap_m": round(route.destination.distance_m, 1),
            "steps": steps,
            "network_version": version,
            "attribution": ATTRIBUTION,
        },
        "crs": crs.value,
    }


def _line_geometry(line: BaseGeometry) -> dict[str, Any]:
    """``mapping(line)``, the coordinates read as one array rather than point by point."""
    if line.geom_type != "LineString":
        return dict(mapping(line))
    return {"type": "LineString", "coordinates": shapely.get_coordinates(line).tolist()}


@router.get(
    "/bundles/{code}/itinerary",
    response_model=ItineraryAnswer,
    summary="一件事行程 The sites and order that finish a bundle soonest",
)
def bundle_itinerary(
    session: SessionDep,
    holder: HolderDep,
    code: str,
    from_: Annotated[str, Query(alias="from", description="lon,lat")],
    at: Annotated[str | None, Query(description="departure, ISO 8601 (Beijing time)")] = None,
    mode: str = "walk",
    crs: CRS = CRS.wgs84,
) -> ItineraryAnswer:
    bundle, steps = service.get_bundle(session, code)
    origin = parse_lonlat(from_, "from", crs)
    depart_at, mode_ = parse_time(at, "at"), parse_mode(mode)
    engine = engine_for(session, holder, origin, mode_)
    calendar = current_calendar(session)
    plan = plan_itinerary(
        session, engine, calendar, steps, engine.snap(*origin, mode_, "from"), depart_at, mode_
    )
    names = load_region_names(session, [v.site.region_code for v in plan.visits])
    version = engine.network.version_id
    return ItineraryAnswer(
        bundle=bundle.code,
        name=bundle.name,
        depart_at=plan.depart_at,
        finish_at=plan.finish_at,
        travel_s=round(plan.travel_s, 1),
        wait_s=round(plan.wait_s, 1),
        exact=plan.exact,
        candidates=plan.candidates,
        method=plan.method,
        legs=[
            ItineraryLeg(
                item=summary(v.item),
                site=site_feature(v.site, names.get(v.site.region_code), crs).model_dump(),
                travel_s=round(v.travel_s, 1),
                arrive_at=v.arrive_at,
                start_at=v.start_at,
                finish_at=v.finish_at,
                route=route_feature(v.route, mode_, crs, version).model_dump() if v.route else None,
            )
            for v in plan.visits
        ],
        warnings=_uncovered(calendar, depart_at, plan.finish_at),
    )


def _uncovered(calendar: HolidayCalendar, start: datetime, end: datetime) -> list[str]:
    years = sorted(
        {y for y in range(start.year, end.year + 1) if not calendar.is_covered(date(y, 1, 1))}
    )
    return [uncovered_warning(years)] if years else []
