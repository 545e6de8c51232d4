"""Sites, facilities and regions as GeoJSON (RFC 7946), in WGS-84 or a chosen web-map system."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.coords import CRS, geometry_from_wgs84
from geo.divisions import adcode
from geo.models import Facility, FacilityCategory, Region, Site, SiteKind, SiteLevel, SiteStatus
from geo.schemas import Feature, PointGeometry, RegionRef

DEMO_LABEL = "示例数据"

SITE_LEVEL_NAMES = {
    SiteLevel.city: "市级",
    SiteLevel.district: "区县级",
    SiteLevel.street: "街道(镇)级",
    SiteLevel.community: "社区(村)级",
}
SITE_KIND_NAMES = {
    SiteKind.hall: "政务服务大厅",
    SiteKind.sub_centre: "分中心",
    SiteKind.self_service_terminal: "自助终端",
    SiteKind.self_service_zone_24h: "24小时自助服务区",
    SiteKind.bank_outlet: "政银合作网点",
    SiteKind.post_outlet: "政邮合作网点",
    SiteKind.park_station: "园区服务站",
}
FACILITY_CATEGORY_NAMES = {
    FacilityCategory.medical: "医疗卫生",
    FacilityCategory.commerce: "便民商业",
    FacilityCategory.culture_tourism: "文体旅游",
    FacilityCategory.parking: "停车设施",
    FacilityCategory.education: "教育机构",
    FacilityCategory.emergency_shelter: "应急避难",
    FacilityCategory.elderly_care: "养老服务",
}


def point_geometry(geom: Any, crs: CRS) -> dict[str, Any]:
    return dict(mapping(geometry_from_wgs84(to_shape(geom), crs)))


def region_names(session: Session, codes: Iterable[str | None]) -> dict[str, str]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(wanted)))
    return {code: name for code, name in rows}


class SiteFields(Protocol):
    """What a site's GeoJSON properties are made of: a :class:`Site`, or a row that selected
    :data:`SITE_COLUMNS` (a warm match shows sites without loading them)."""

    @property
    def name(self) -> str: ...
    @property
    def level(self) -> SiteLevel: ...
    @property
    def kind(self) -> SiteKind: ...
    @property
    def region_code(self) -> str: ...
    @property
    def department(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def opening_hours(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def status(self) -> SiteStatus: ...
    @property
    def version(self) -> int: ...
    @property
    def source(self) -> str | None: ...
    @property
    def demo(self) -> bool: ...


SITE_COLUMNS = (Site.name, Site.level, Site.kind, Site.region_code, Site.department, Site.address,
                Site.phone, Site.opening_hours, Site.attributes, Site.status, Site.version,
                Site.source, Site.demo)  # fmt: skip
"""The columns :func:`site_properties` reads."""


def site_properties(site: SiteFields, region_name: str | None) -> dict[str, Any]:
    """A site's GeoJSON properties (the API's ``SiteProperties``)."""
    return {
        "name": site.name,
        "level": site.level.value,
        "level_name": SITE_LEVEL_NAMES[site.level],
        "kind": site.kind.value,
        "kind_name": SITE_KIND_NAMES[site.kind],
        "region_code": site.region_code,
        "region_name": region_name,
        "department": site.department,
        "address": site.address,
        "phone": site.phone,
        "opening_hours": site.opening_hours,
        "attributes": site.attributes,
        "status": site.status.value,
        "version": site.version,
        "source": site.source,
        "demo": site.demo,
        "demo_label": DEMO_LABEL if site.demo else None,
    }


def site_feature(
    site: Site, region_name: str | None, crs: CRS, distance_m: float | None = None
) -> Feature:
    properties = site_properties(site, region_name)
    if distance_m is not None:
        properties["distance_m"] = round(distance_m, 1)
    return Feature(id=site.id, geometry=point_geometry(site.geom, crs), properties=properties)


def facility_feature(
    facility: Facility, region_name: str | None, crs: CRS, distance_m: float | None = None
) -> Feature:
    properties: dict[str, Any] = {
        "name": facility.name,
        "category": facility.category.value,
        "category_name": FACILITY_CATEGORY_NAMES[facility.category],
        "subcategory": facility.subcategory,
        "region_code": facility.region_code,
        "region_name": region_name,
        "address": facility.address,
        "opening_hours": facility.opening_hours,
        "attributes": facility.attributes,
        "status": facility.status.value,
        "version": facility.version,
        "source": facility.source,
        "demo": facility.demo,
        "demo_label": DEMO_LABEL if facility.demo else None,
    }
    if distance_m is not None:
        properties["distance_m"] = round(distance_m, 1)
    return Feature(
        id=facility.id, geometry=point_geometry(facility.geom, crs), properties=properties
    )


def region_ref(region: Region) -> RegionRef:
    return RegionRef(
        code=region.code, adcode=adcode(region.code), name=region.name, level=region.level
    )


def region_centre(region: Region, crs: CRS) -> PointGeometry | None:
    if region.centre is None:
        return None
    point = geometry_from_wgs84(to_shape(region.centre), crs)
    return PointGeometry(coordinates=(point.x, point.y))


def region_boundary(region: Region, crs: CRS) -> dict[str, Any] | None:
    if region.boundary is None:
        return None
    return dict(mapping(geometry_from_wgs84(to_shape(region.boundary), crs)))
