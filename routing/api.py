"""HTTP API of routing: ``/api/route``, ``/api/nearest-sites``, ``/api/isochrone``, ``/api/matrix``,
``/api/roads`` (the roads in view, for the offline base map).

Thin: parses points (``lon,lat`` in ``crs``), asks the engine, converts answers
back to ``crs``. Errors are typed (:mod:`routing.errors`, :mod:`geo.errors`);
the web layer turns them into problem+json: bad points/modes 422 naming the
field, off-network points 422 with the distance to the nearest road,
unreachable 404, no network for the city 409 naming the import command.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Depends, Query
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.api import parse_bbox, parse_lonlat
from geo.coords import CRS, geometry_from_wgs84
from geo.db import request_session
from geo.errors import InvalidInput
from geo.models import SiteKind, SiteLevel
from geo.schemas import Feature, FeatureCollection
from routing import basemap, service
from routing.engine import Route
from routing.holder import EngineHolder, default_holder
from routing.profiles import Mode
from routing.schemas import (
    ATTRIBUTION,
    Geometry,
    IsochroneFeature,
    IsochroneProperties,
    Isochrones,
    Matrix,
    MatrixRequest,
    NearestSites,
    RouteFeature,
    RouteProperties,
    SiteFeature,
    SiteProperties,
    StepOut,
)

router = APIRouter(prefix="/api", tags=["routing"])


def get_holder() -> EngineHolder:
    return default_holder()


SessionDep = Annotated[Session, Depends(request_session)]
HolderDep = Annotated[EngineHolder, Depends(get_holder)]


def parse_mode(value: str, field: str = "mode") -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise InvalidInput(field, f"出行方式无效 '{value}': mode must be walk or drive") from None


def parse_crs(value: str, field: str = "crs") -> CRS:
    try:
        return CRS(value)
    except ValueError:
        raise InvalidInput(
            field, f"坐标系无效 '{value}': crs must be wgs84, gcj02 or bd09"
        ) from None


def parse_point(value: str, field: str, crs: CRS) -> tuple[float, float]:
    """``lon,lat`` in ``crs`` → WGS-84 (lon, lat); rejects malformed or out-of-range values."""
    return parse_lonlat(value, field, crs)


def _out(geom: BaseGeometry, crs: CRS) -> Geometry:
    geom = shapely.set_precision(geometry_from_wgs84(geom, crs), 1e-7)
    return Geometry.model_validate(mapping(geom))


def route_feature(route: Route, mode: Mode, crs: CRS, version: int) -> RouteFeature:
    line = (
        shapely.linestrings(route.coords)
        if len(route.coords) > 1
        else shapely.linestrings([route.coords[0]] * 2)
    )
    steps = []
    for step in route.steps:
        lon, lat = step.location
        x, y = geometry_from_wgs84(shapely.Point(lon, lat), crs).coords[0]
        steps.append(StepOut(**{**vars(step), "location": (round(x, 7), round(y, 7))}))
    return RouteFeature(
        geometry=_out(line, crs),
        properties=RouteProperties(
            mode=mode.value,
            duration_s=round(route.duration_s, 3),
            distance_m=round(route.distance_m, 1),
            origin_snap_m=round(route.origin.distance_m, 1),
            destination_snap_m=round(route.destination.distance_m, 1),
            steps=steps,
            network_version=version,
        ),
        crs=crs.value,
    )


@router.get("/route", response_model=RouteFeature, summary="Fastest route A→B with Chinese steps")
def get_route(
    session: SessionDep,
    holder: HolderDep,
    from_: Annotated[str, Query(alias="from", description="lon,lat")],
    to: Annotated[str, Query(description="lon,lat")],
    mode: str = "drive",
    crs: str = "wgs84",
) -> RouteFeature:
    crs_ = parse_crs(crs)
    mode_ = parse_mode(mode)
    origin = parse_point(from_, "from", crs_)
    destination = parse_point(to, "to", crs_)
    engine = holder.engine_at(session, *origin)
    route = engine.route(
        engine.snap(*origin, mode_, "from"), engine.snap(*destination, mode_, "to"), mode_
    )
    return route_feature(route, mode_, crs_, engine.network.version_id)


@router.get(
    "/nearest-sites",
    response_model=NearestSites,
    summary="k published sites nearest by travel time",
)
def get_nearest_sites(
    session: SessionDep,
    holder: HolderDep,
    at: Annotated[str, Query(description="lon,lat")],
    mode: str = "walk",
    k: Annotated[int, Query(ge=1, le=50)] = 5,
    max_minutes: Annotated[float, Query(gt=0, le=240)] = 30,
    level: SiteLevel | None = None,
    kind: SiteKind | None = None,
    region: str | None = None,
    crs: str = "wgs84",
) -> NearestSites:
    crs_ = parse_crs(crs)
    mode_ = parse_mode(mode)
    origin = parse_point(at, "at", crs_)
    engine = holder.engine_at(session, *origin)
    snap = engine.snap(*origin, mode_, "at")
    found = service.nearest_sites(
        session, engine, snap, mode_, k, max_minutes * 60, level, kind, region
    )
    features = [
        SiteFeature(
            geometry=_out(to_shape(r.site.geom), crs_),
            properties=SiteProperties(
                id=r.site.id,
                name=r.site.name,
                level=r.site.level.value,
                kind=r.site.kind.value,
                address=r.site.address,
                rank=rank,
                duration_s=round(r.duration_s, 3),
                snapped_distance_m=round(r.snapped_distance_m, 1),
            ),
        )
        for rank, r in enumerate(found, start=1)
    ]
    return NearestSites(
        features=features,
        mode=mode_.value,
        max_minutes=max_minutes,
        network_version=engine.network.version_id,
        crs=crs_.value,
    )


def parse_minutes(value: str) -> list[float]:
    try:
        minutes = sorted({float(m) for m in value.split(",") if m.strip()})
    except ValueError:
        raise InvalidInput(
            "minutes", f"应为逗号分隔的分钟数 / expected minutes like 5,10,15, got '{value}'"
        ) from None
    if not minutes or minutes[0] <= 0 or minutes[-1] > 120 or len(minutes) > 6:
        raise InvalidInput("minutes", "1 to 6 values, each in (0, 120] minutes")
    return minutes


@router.get(
    "/isochrone", response_model=Isochrones, summary="Areas reachable within 5/10/15 minutes"
)
def get_isochrone(
    session: SessionDep,
    holder: HolderDep,
    at: Annotated[str, Query(description="lon,lat")],
    minutes: str = "5,10,15",
    mode: str = "walk",
    crs: str = "wgs84",
) -> Isochrones:
    crs_ = parse_crs(crs)
    mode_ = parse_mode(mode)
    limits = parse_minutes(minutes)
    origin = parse_point(at, "at", crs_)
    engine = holder.engine_at(session, *origin)
    snap = engine.snap(*origin, mode_, "at")
    limits_ms = [round(m * 60_000) for m in limits]
    reach, _ = engine.bounded_search(snap, mode_, limits_ms[-1])
    polygons = engine.isochrone_polygons(reach, mode_, limits_ms)
    features = []
    for m, limit, polygon in sorted(zip(limits, limits_ms, polygons, strict=True), reverse=True):
        area = shapely.area(
            shapely.transform(
                polygon, lambda xy: np.column_stack(engine.to_local(xy[:, 0], xy[:, 1]))
            )
        )
        features.append(
            IsochroneFeature(
                geometry=_out(polygon, crs_),
                properties=IsochroneProperties(
                    minutes=m,
                    area_km2=round(float(area) / 1e6, 4),
                    nodes_reached=int(np.count_nonzero(reach.times_ms <= limit)),
                ),
            )
        )
    return Isochrones(
        features=features,
        mode=mode_.value,
        origin=origin,
        network_version=engine.network.version_id,
        crs=crs_.value,
    )


@router.post(
    "/matrix", response_model=Matrix, summary="Travel-time matrix (seconds, null = unreachable)"
)
def post_matrix(session: SessionDep, holder: HolderDep, body: MatrixRequest) -> Matrix:
    crs_ = parse_crs(body.crs)
    mode_ = parse_mode(body.mode)
    sources = [
        parse_point(f"{x},{y}", f"sources[{i}]", crs_) for i, (x, y) in enumerate(body.sources)
    ]
    targets = [
        parse_point(f"{x},{y}", f"destinations[{i}]", crs_)
        for i, (x, y) in enumerate(body.destinations)
    ]
    engine = holder.engine_at(session, *sources[0])
    source_snaps = [engine.snap(*p, mode_, f"sources[{i}]") for i, p in enumerate(sources)]
    target_snaps = [engine.snap(*p, mode_, f"destinations[{i}]") for i, p in enumerate(targets)]
    ms = engine.matrix_ms(source_snaps, target_snaps, mode_)
    durations: list[list[Any]] = [
        [None if np.isnan(v) else round(v / 1000.0, 3) for v in row] for row in ms
    ]
    return Matrix(
        durations_s=durations, mode=mode_.value, network_version=engine.network.version_id
    )


class RoadCollection(FeatureCollection):
    """Roads in view as GeoJSON LineStrings; ``classes`` lists the highway classes shown."""

    classes: list[str] | None = None
    truncated: bool = False
    attribution: str = ATTRIBUTION


@router.get(
    "/roads",
    response_model=RoadCollection,
    summary="道路底图 Roads of the active networks in a bbox (simplified, for the offline map)",
)
def get_roads(
    session: SessionDep,
    bbox: Annotated[str, Query(description="minLon,minLat,maxLon,maxLat")],
    crs: str = "wgs84",
) -> RoadCollection:
    crs_ = parse_crs(crs)
    box = parse_bbox(bbox, crs_)
    if max(box[2] - box[0], box[3] - box[1]) > basemap.MAX_VIEW_DEG:
        raise InvalidInput(
            "bbox", f"范围过大 bbox wider than {basemap.MAX_VIEW_DEG}°: zoom in to see the roads"
        )
    found = basemap.roads_in_view(session, box)
    features = [
        Feature(
            id=road.piece_id,
            geometry=_geojson_out(road.geometry, crs_),
            properties={"name": road.name, "highway": road.highway},
        )
        for road in found.roads
    ]
    return RoadCollection(
        features=features,
        numberReturned=len(features),
        classes=list(found.classes) if found.classes is not None else None,
        truncated=found.truncated,
    )


def _geojson_out(geometry: dict[str, Any], crs: CRS) -> dict[str, Any]:
    if crs is CRS.wgs84:
        return geometry
    return dict(mapping(geometry_from_wgs84(shape(geometry), crs)))
