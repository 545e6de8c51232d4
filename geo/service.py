"""Queries of the store: regions, the division chain of a point, sites and facilities.

Distances are on the sphere in metres (PostGIS geography); nearest-first
ordering uses the GiST index on ``geom::geography`` (KNN ``<->``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from geoalchemy2 import Geography
from sqlalchemy import and_, cast, func, null, select
from sqlalchemy.orm import Session

from geo import divisions
from geo.errors import FacilityNotFound, InvalidInput, RegionNotFound, SiteNotFound
from geo.models import (
    Facility,
    FacilityCategory,
    Region,
    RegionLevel,
    Site,
    SiteKind,
    SiteLevel,
    SiteStatus,
)

LonLat = tuple[float, float]
BBox = tuple[float, float, float, float]
MAX_RADIUS_M = 200_000.0


@dataclass
class PlaceQuery:
    """Filters shared by sites and facilities; ``limit``/``offset`` page the result."""

    bbox: BBox | None = None
    near: LonLat | None = None
    radius_m: float | None = None
    region: str | None = None
    name: str | None = None
    demo: bool | None = None
    limit: int = 100
    offset: int = 0


@dataclass
class SiteQuery(PlaceQuery):
    levels: Sequence[SiteLevel] = ()
    kinds: Sequence[SiteKind] = ()
    statuses: Sequence[SiteStatus] = (SiteStatus.published,)


@dataclass
class FacilityQuery(PlaceQuery):
    categories: Sequence[FacilityCategory] = field(default_factory=tuple)
    statuses: Sequence[SiteStatus] = (SiteStatus.published,)


def validate_lonlat(point: LonLat, field_name: str) -> LonLat:
    lon, lat = point
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise InvalidInput(
            field_name,
            f"坐标超出范围 ({lon}, {lat}): longitude must be in [-180, 180] and latitude in "
            "[-90, 90]; order is lon,lat",
        )
    return point


def _geog_point(point: LonLat) -> Any:
    return cast(func.ST_SetSRID(func.ST_MakePoint(point[0], point[1]), 4326), Geography)


def _geog(column: Any) -> Any:
    # plain ::geography like the ix_*_geog indexes; a typmod cast would not match them
    return cast(column, Geography(geometry_type=None))


Model = TypeVar("Model", Site, Facility)


def _place_filters(model: type[Site] | type[Facility], q: PlaceQuery) -> list[Any]:
    clauses: list[Any] = []
    if q.bbox is not None:
        clauses.append(model.geom.intersects(func.ST_MakeEnvelope(*q.bbox, 4326)))
    if q.near is not None and q.radius_m is not None:
        clauses.append(func.ST_DWithin(_geog(model.geom), _geog_point(q.near), q.radius_m))
    if q.region is not None:
        prefix = divisions.subtree_prefix(q.region)
        clauses.append(model.region_code.startswith(prefix, autoescape=True))
    if q.name:
        clauses.append(model.name.contains(q.name, autoescape=True))
    if q.demo is not None:
        clauses.append(model.demo.is_(q.demo))
    return clauses


def _site_filters(q: SiteQuery) -> list[Any]:
    clauses = _place_filters(Site, q)
    if q.levels:
        clauses.append(Site.level.in_(q.levels))
    if q.kinds:
        clauses.append(Site.kind.in_(q.kinds))
    if q.statuses:
        clauses.append(Site.status.in_(q.statuses))
    return clauses


def _facility_filters(q: FacilityQuery) -> list[Any]:
    clauses = _place_filters(Facility, q)
    if q.categories:
        clauses.append(Facility.category.in_(q.categories))
    if q.statuses:
        clauses.append(Facility.status.in_(q.statuses))
    return clauses


def _page(
    session: Session, model: type[Model], clauses: list[Any], q: PlaceQuery
) -> tuple[list[tuple[Model, float | None]], int]:
    where = and_(True, *clauses)
    total = int(session.scalar(select(func.count()).select_from(model).where(where)) or 0)
    if q.near is None:
        stmt = select(model, null()).where(where).order_by(model.id)
    else:
        within = _nearest_bound_m(session, model, where, q.near, q.offset + q.limit)
        if within is None:
            return [], total
        point, geog = _geog_point(q.near), _geog(model.geom)
        distance = func.ST_Distance(geog, point)
        stmt = (
            select(model, distance)
            .where(where, func.ST_DWithin(geog, point, within))
            .order_by(distance, model.id)
        )
    rows = session.execute(stmt.limit(q.limit).offset(q.offset)).all()
    return [(row[0], row[1]) for row in rows], total


def _nearest_bound_m(
    session: Session, model: type[Model], where: Any, near: LonLat, count: int
) -> float | None:
    """A radius that holds the ``count`` nearest rows, found with the KNN index.

    The index orders by distance on the sphere, answers report the (more exact)
    spheroid distance, so the two orders can differ by a few metres: the largest
    spheroid distance among the ``count`` sphere-nearest rows bounds the true
    ``count`` nearest, which a second, exact ``ST_DWithin`` query then ranks.
    """
    point, geog = _geog_point(near), _geog(model.geom)
    knn = (
        select(func.ST_Distance(geog, point).label("d"))
        .where(where)
        .order_by(geog.op("<->")(point))
        .limit(count)
        .subquery()
    )
    bound = session.scalar(select(func.max(knn.c.d)))
    return None if bound is None else float(bound) + 0.01


def find_sites(session: Session, q: SiteQuery) -> tuple[list[tuple[Site, float | None]], int]:
    """Sites matching ``q``, nearest first when ``q.near`` is set; with the total count."""
    return _page(session, Site, _site_filters(q), q)


def find_facilities(
    session: Session, q: FacilityQuery
) -> tuple[list[tuple[Facility, float | None]], int]:
    return _page(session, Facility, _facility_filters(q), q)


def nearest_sites(
    session: Session, origin: LonLat, k: int, q: SiteQuery | None = None
) -> list[tuple[Site, float]]:
    """The ``k`` sites closest to ``origin`` in straight-line metres (KNN index scan)."""
    q = q or SiteQuery()
    q.near, q.limit, q.offset = origin, k, 0
    rows, _ = _page(session, Site, _site_filters(q), q)
    return [(site, float(d or 0.0)) for site, d in rows]


def get_site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id) if 0 < site_id < 2**31 else None  # ids are int4
    if site is None:
        raise SiteNotFound(f"服务场所不存在 Site {site_id} not found", id=site_id)
    return site


def get_public_site(session: Session, site_id: int) -> Site:
    """A site as the public sees it: drafts stay with their maintainers until published."""
    site = get_site(session, site_id)
    if site.status == SiteStatus.draft:
        raise SiteNotFound(f"服务场所不存在 Site {site_id} not found", id=site_id)
    return site


def get_facility(session: Session, facility_id: int) -> Facility:
    facility = session.get(Facility, facility_id) if 0 < facility_id < 2**31 else None
    if facility is None:
        raise FacilityNotFound(f"便民设施不存在 Facility {facility_id} not found", id=facility_id)
    return facility


def get_region(session: Session, code: str) -> Region:
    full = divisions.full_code(code)
    region = session.get(Region, full)
    if region is None:
        raise RegionNotFound(f"区划不存在 Region {code} not found", region_code=code)
    return region


def region_filter(session: Session, code: str, field_name: str) -> str:
    """A division code given as a filter: padded to 12 digits and known to the store."""
    full = divisions.full_code(code, field_name)
    if session.get(Region, full) is None:
        raise InvalidInput(field_name, f"区划代码 {code} 不存在 — no such division in the store")
    return full


def region_children(session: Session, code: str) -> list[Region]:
    return list(
        session.scalars(select(Region).where(Region.parent_code == code).order_by(Region.code))
    )


def region_chain(session: Session, region: Region) -> list[Region]:
    """From the province down to ``region`` itself."""
    codes = [region.code]
    while (parent := divisions.parent_code(codes[-1])) is not None:
        codes.append(parent)
    found = {r.code: r for r in session.scalars(select(Region).where(Region.code.in_(codes)))}
    return [found[c] for c in reversed(codes) if c in found]


def find_regions(
    session: Session,
    *,
    parent: str | None = None,
    level: RegionLevel | None = None,
    name: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Region], int]:
    clauses: list[Any] = []
    if parent is not None:
        parent = region_filter(session, parent, "parent")
        clauses += [Region.code.startswith(divisions.subtree_prefix(parent)), Region.code != parent]
    if level is not None:
        clauses.append(Region.level == level)
    if name:
        clauses.append(Region.name.contains(name, autoescape=True))
    where = and_(True, *clauses)
    total = session.scalar(select(func.count()).select_from(Region).where(where))
    rows = session.scalars(
        select(Region).where(where).order_by(Region.code).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


def region_at(session: Session, point: LonLat) -> Region | None:
    """The deepest region whose boundary contains ``point`` (district where known, else city)."""
    geom = func.ST_SetSRID(func.ST_MakePoint(point[0], point[1]), 4326)
    stmt = (
        select(Region)
        .where(Region.boundary.is_not(None), func.ST_Contains(Region.boundary, geom))
        .order_by(Region.level.desc())  # enum order: province < city < district < ...
        .limit(1)
    )
    return session.scalars(stmt).first()


def region_chain_at(session: Session, point: LonLat) -> list[Region]:
    """The division chain of a point: province, city, district (as far as boundaries go)."""
    region = region_at(session, point)
    return region_chain(session, region) if region is not None else []
