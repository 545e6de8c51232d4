"""What crosses the API boundary: GeoJSON (RFC 7946) features of routes, sites, isochrones.

Coordinates are ``[lon, lat]`` in WGS-84 unless the request asked for
``crs=gcj02|bd09``; then every coordinate of the answer is in that system and
the collection says so in ``crs`` (a foreign member, as RFC 7946 §6.1 allows).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"


class StepOut(BaseModel):
    instruction: str = Field(description="中文导航提示, e.g. 沿中山路向北行驶850米，右转进入汉中路")
    road: str | None
    distance_m: float
    duration_s: float
    maneuver: str
    modifier: str | None
    location: tuple[float, float]
    bearing_before: int
    bearing_after: int
    exit: int | None = Field(default=None, description="环岛出口序号 roundabout exit taken")


class Geometry(BaseModel):
    type: str
    coordinates: Any


class RouteProperties(BaseModel):
    mode: str
    duration_s: float
    distance_m: float
    origin_snap_m: float = Field(
        description="distance from the given origin to the road it was snapped to"
    )
    destination_snap_m: float
    steps: list[StepOut]
    network_version: int
    attribution: str = ATTRIBUTION


class RouteFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: Geometry
    properties: RouteProperties
    crs: str = "wgs84"


class SiteProperties(BaseModel):
    id: int
    name: str
    level: str
    kind: str
    address: str | None
    rank: int
    duration_s: float
    snapped_distance_m: float


class SiteFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: Geometry
    properties: SiteProperties


class NearestSites(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SiteFeature]
    mode: str
    max_minutes: float
    network_version: int
    crs: str = "wgs84"
    attribution: str = ATTRIBUTION


class IsochroneProperties(BaseModel):
    minutes: float
    area_km2: float
    nodes_reached: int


class IsochroneFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: Geometry
    properties: IsochroneProperties


class Isochrones(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[IsochroneFeature]
    mode: str
    origin: tuple[float, float]
    network_version: int
    crs: str = "wgs84"
    attribution: str = ATTRIBUTION


class MatrixRequest(BaseModel):
    sources: list[tuple[float, float]] = Field(min_length=1, max_length=100)
    destinations: list[tuple[float, float]] = Field(min_length=1, max_length=100)
    mode: str = "drive"
    crs: str = "wgs84"


class Matrix(BaseModel):
    durations_s: list[list[float | None]]
    mode: str
    network_version: int
    attribution: str = ATTRIBUTION


class NetworkVersionOut(BaseModel):
    id: int
    city_code: str
    source_file: str
    active: bool
    clipped: bool
    node_count: int
    edge_count: int
    length_km: float
    created_at: str
    attribution: str
