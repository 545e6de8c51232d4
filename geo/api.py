"""HTTP API of the store: regions, sites and facilities (GeoJSON, RFC 7946)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from geo import service
from geo.coords import CRS, to_wgs84
from geo.db import request_session
from geo.errors import InvalidInput
from geo.features import (
    facility_feature,
    region_boundary,
    region_centre,
    region_names,
    region_ref,
    site_feature,
)
from geo.models import FacilityCategory, RegionLevel, SiteKind, SiteLevel, SiteStatus
from geo.schemas import Feature, FeatureCollection, RegionDetail, RegionList, RegionsAtPoint

router = APIRouter(prefix="/api", tags=["store 数据"])

SessionDep = Annotated[Session, Depends(request_session)]
CrsParam = Annotated[
    CRS,
    Query(
        description="坐标系 of input points and answer: wgs84 (default), gcj02 (AMap), bd09 (Baidu)"
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size (max 1000)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def parse_lonlat(text: str, field: str, crs: CRS = CRS.wgs84) -> service.LonLat:
    """Parse ``"lon,lat"`` into WGS-84, naming ``field`` when it is malformed."""
    parts = text.split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(
            field, f"'{text}' is not 'lon,lat' (two numbers, longitude first)"
        ) from None
    service.validate_lonlat((lon, lat), field)
    return to_wgs84(lon, lat, crs)


def parse_bbox(text: str, crs: CRS) -> service.BBox:
    try:
        minx, miny, maxx, maxy = (float(p) for p in text.split(","))
    except ValueError:
        raise InvalidInput("bbox", f"'{text}' is not 'minLon,minLat,maxLon,maxLat'") from None
    if minx >= maxx or miny >= maxy:
        raise InvalidInput("bbox", "bbox needs minLon < maxLon and minLat < maxLat")
    service.validate_lonlat((minx, miny), "bbox")
    service.validate_lonlat((maxx, maxy), "bbox")
    (minx, miny), (maxx, maxy) = to_wgs84(minx, miny, crs), to_wgs84(maxx, maxy, crs)
    return minx, miny, maxx, maxy


def _place_query_args(
    session: Session,
    bbox: str | None,
    near: str | None,
    radius_m: float | None,
    region: str | None,
    crs: CRS,
) -> dict[str, object]:
    if radius_m is not None and not near:
        raise InvalidInput("radius_m", "radius_m needs near=lon,lat")
    return {
        "bbox": parse_bbox(bbox, crs) if bbox else None,
        "near": parse_lonlat(near, "near", crs) if near else None,
        "radius_m": radius_m,
        "region": service.region_filter(session, region, "region") if region else None,
    }


def _page(
    request: Request, features: list[Feature], total: int, limit: int, offset: int
) -> FeatureCollection:
    """One page of a paged answer, with the total and a link to the next page."""
    return FeatureCollection(
        features=features,
        numberMatched=total,
        numberReturned=len(features),
        links=_next_links(request, total, limit, offset),
    )


def _next_links(request: Request, total: int, limit: int, offset: int) -> list[dict[str, str]]:
    if offset + limit >= total:
        return []
    url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return [{"rel": "next", "type": "application/geo+json", "href": url}]


Near = Annotated[str | None, Query(description="lon,lat: order by distance from this point")]
Radius = Annotated[
    float | None, Query(gt=0, le=service.MAX_RADIUS_M, description="metres, with near")
]
BBoxParam = Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")]
RegionParam = Annotated[
    str | None,
    Query(description="division code (6-digit GB/T 2260 or 9/12-digit): its whole subtree"),
]


@router.get("/sites", response_model=FeatureCollection, summary="服务场所 Service sites")
def list_sites(
    request: Request,
    session: SessionDep,
    bbox: BBoxParam = None,
    near: Near = None,
    radius_m: Radius = None,
    region: RegionParam = None,
    level: Annotated[list[SiteLevel] | None, Query()] = None,
    kind: Annotated[list[SiteKind] | None, Query()] = None,
    status: Annotated[
        list[SiteStatus] | None, Query(description="published (default) or retired")
    ] = None,
    demo: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=100, pattern=r"^[^\x00]*$", description="part of the name")
    ] = None,
    crs: CrsParam = CRS.wgs84,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FeatureCollection:
    if status and SiteStatus.draft in status:
        raise InvalidInput(
            "status", "草稿仅维护人员可见 — drafts are visible to their maintainers only"
        )
    query = service.SiteQuery(
        **_place_query_args(session, bbox, near, radius_m, region, crs),  # type: ignore[arg-type]
        name=q,
        demo=demo,
        limit=limit,
        offset=offset,
        levels=level or (),
        kinds=kind or (),
        statuses=status or (SiteStatus.published,),
    )
    rows, total = service.find_sites(session, query)
    names = region_names(session, (s.region_code for s, _ in rows))
    features = [site_feature(s, names.get(s.region_code), crs, d) for s, d in rows]
    return _page(request, features, total, limit, offset)


@router.get(
    "/sites/nearest",
    response_model=FeatureCollection,
    summary="最近的服务场所 Nearest sites (straight line)",
)
def nearest_sites(
    session: SessionDep,
    at: Annotated[str, Query(description="lon,lat")],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    level: Annotated[list[SiteLevel] | None, Query()] = None,
    kind: Annotated[list[SiteKind] | None, Query()] = None,
    region: RegionParam = None,
    crs: CrsParam = CRS.wgs84,
) -> FeatureCollection:
    origin = parse_lonlat(at, "at", crs)
    query = service.SiteQuery(
        levels=level or (),
        kinds=kind or (),
        region=service.region_filter(session, region, "region") if region else None,
    )
    rows = service.nearest_sites(session, origin, k, query)
    names = region_names(session, (s.region_code for s, _ in rows))
    features = [site_feature(s, names.get(s.region_code), crs, d) for s, d in rows]
    return FeatureCollection(features=features, numberReturned=len(features))


@router.get("/sites/{site_id}", response_model=Feature, summary="一个服务场所 One site")
def get_site(session: SessionDep, site_id: int, crs: CrsParam = CRS.wgs84) -> Feature:
    site = service.get_public_site(session, site_id)
    names = region_names(session, [site.region_code])
    return site_feature(site, names.get(site.region_code), crs)


@router.get(
    "/facilities", response_model=FeatureCollection, summary="便民设施 Convenience facilities"
)
def list_facilities(
    request: Request,
    session: SessionDep,
    bbox: BBoxParam = None,
    near: Near = None,
    radius_m: Radius = None,
    region: RegionParam = None,
    category: Annotated[list[FacilityCategory] | None, Query()] = None,
    demo: bool | None = None,
    q: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    crs: CrsParam = CRS.wgs84,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FeatureCollection:
    query = service.FacilityQuery(
        **_place_query_args(session, bbox, near, radius_m, region, crs),  # type: ignore[arg-type]
        name=q,
        demo=demo,
        limit=limit,
        offset=offset,
        categories=category or (),
    )
    rows, total = service.find_facilities(session, query)
    names = region_names(session, (f.region_code for f, _ in rows))
    features = [facility_feature(f, names.get(f.region_code or ""), crs, d) for f, d in rows]
    return _page(request, features, total, limit, offset)


@router.get(
    "/facilities/{facility_id}", response_model=Feature, summary="一个便民设施 One facility"
)
def get_facility(session: SessionDep, facility_id: int, crs: CrsParam = CRS.wgs84) -> Feature:
    facility = service.get_facility(session, facility_id)
    names = region_names(session, [facility.region_code])
    return facility_feature(facility, names.get(facility.region_code or ""), crs)


@router.get("/regions", response_model=RegionList, summary="区划 Divisions")
def list_regions(
    session: SessionDep,
    parent: Annotated[str | None, Query(description="division code: everything under it")] = None,
    level: RegionLevel | None = None,
    q: Annotated[
        str | None, Query(max_length=50, pattern=r"^[^\x00]*$", description="part of the name")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> RegionList:
    rows, total = service.find_regions(
        session, parent=parent, level=level, name=q, limit=limit, offset=offset
    )
    regions = [region_ref(r) for r in rows]
    return RegionList(regions=regions, numberMatched=total, numberReturned=len(regions))


@router.get(
    "/regions/at", response_model=RegionsAtPoint, summary="坐标所在区划 Division chain of a point"
)
def regions_at(
    session: SessionDep, at: Annotated[str, Query(description="lon,lat")], crs: CrsParam = CRS.wgs84
) -> RegionsAtPoint:
    chain = service.region_chain_at(session, parse_lonlat(at, "at", crs))
    lon, lat = (float(p) for p in at.split(","))  # echoed in the caller's system
    return RegionsAtPoint(
        lon=lon,
        lat=lat,
        chain=[region_ref(r) for r in chain],
        deepest_level_known=chain[-1].level if chain else None,
        note=(
            "区县以下无公开边界：街道/社区无法由坐标确定 — street and community boundaries are not "
            "public, so the chain stops at the district"
            if chain
            else "该点不在已加载的任何区划边界内 — the point is outside every loaded boundary"
        ),
    )


@router.get(
    "/regions/{code}",
    response_model=RegionDetail,
    summary="一个区划及其下级 A division with its children",
)
def get_region(
    session: SessionDep,
    code: str,
    geometry: Annotated[
        bool, Query(description="include the boundary (GeoJSON MultiPolygon)")
    ] = False,
    crs: CrsParam = CRS.wgs84,
) -> RegionDetail:
    region = service.get_region(session, code)
    chain = service.region_chain(session, region)
    children = service.region_children(session, region.code)
    ref = region_ref(region)
    return RegionDetail(
        **ref.model_dump(),
        parent=region_ref(chain[-2]) if len(chain) > 1 else None,
        chain=[region_ref(r) for r in chain],
        children=[region_ref(c) for c in children],
        has_boundary=region.boundary is not None,
        centre=region_centre(region, crs),
        boundary=region_boundary(region, crs) if geometry else None,
        source=region.source,
    )
