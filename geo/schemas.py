"""What crosses the API boundary: GeoJSON (RFC 7946) features and region records."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from geo.models import RegionLevel


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[lon, lat]")


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int | str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """A page of features; ``numberMatched`` counts all matches, ``links`` has the next page."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int | None = None
    numberReturned: int
    links: list[dict[str, str]] = []


class RegionRef(BaseModel):
    code: str = Field(description="12-digit statistical division code")
    adcode: str | None = Field(description="6-digit GB/T 2260 code (district level and above)")
    name: str
    level: RegionLevel


class RegionList(BaseModel):
    regions: list[RegionRef]
    numberMatched: int
    numberReturned: int


class RegionDetail(RegionRef):
    parent: RegionRef | None
    chain: list[RegionRef] = Field(description="from the province down to this region")
    children: list[RegionRef]
    has_boundary: bool
    centre: PointGeometry | None
    boundary: dict[str, Any] | None = Field(None, description="GeoJSON MultiPolygon, if asked for")
    source: str


class RegionsAtPoint(BaseModel):
    """The division chain of a point, as far down as boundaries are known."""

    lon: float
    lat: float
    chain: list[RegionRef]
    deepest_level_known: RegionLevel | None
    note: str
