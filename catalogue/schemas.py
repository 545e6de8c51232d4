"""What crosses the API boundary for items, bundles and matching."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Material(BaseModel):
    name: str
    form: str | None = None
    copies: int | str | None = None
    note: str | None = None


class ItemSummary(BaseModel):
    code: str
    name: str
    department: str
    category: str | None
    sample_content: bool = Field(description="elements written for the demo (示例内容)")


class ItemDetail(ItemSummary):
    item_type: str | None
    implementing_body: str | None
    legal_basis: str | None
    conditions: str | None
    applicants: str | None
    materials: list[Material]
    process: list[str]
    legal_limit_days: int | None
    promised_limit_days: int | None
    fees: str | None
    result: str | None
    channels: list[str]
    levels: list[str]
    colloquial: list[str]
    source: str
    source_url: str | None
    notice: str = Field(description="where the catalogue comes from, shown with every item")


class SearchHit(BaseModel):
    code: str
    name: str
    department: str
    score: float
    matched_by: str


class SearchAnswer(BaseModel):
    query: str
    hits: list[SearchHit]
    groups: dict[str, list[str]] = Field(description="department → item codes, in hit order")
    nothing_fits: bool
    message: str | None
    interpreted_as: str = Field(description="the rewritten query behind the best hit")
    suggestions: list[SearchHit] = Field(description="weak candidates when nothing fits")


class BundleStep(BaseModel):
    position: int
    item: ItemSummary
    service_minutes: int
    note: str | None


class BundleDetail(BaseModel):
    code: str
    name: str
    description: str | None
    sample_content: bool
    steps: list[BundleStep]


class TimeWindow(BaseModel):
    opens_at: datetime | None
    closes_at: datetime | None


class MatchedSite(BaseModel):
    site: dict[str, Any] = Field(description="the site as a GeoJSON Feature")
    window: str | None
    estimate: bool = Field(description="true: no travel time (no road network), straight line only")
    distance_m: float | None
    duration_s: float | None
    depart_at: datetime
    arrive_at: datetime | None
    opens_at: datetime | None = Field(description="when it opens if closed on arrival")
    wait_s: float = 0
    ready_at: datetime | None = Field(description="arrival, or opening time if later")
    closes_at: datetime | None
    open_on_arrival: bool | None
    open_now: bool | None = Field(None, description="open at departure (estimates only)")
    hours_today: str | None
    route: dict[str, Any] | None = Field(description="GeoJSON Feature: LineString and steps")


class LeftOut(BaseModel):
    site_id: int
    name: str
    distance_m: float
    reason: str = Field(description="closed_on_arrival | not_handled | out_of_range | unreachable")
    detail: str


class MatchAnswer(BaseModel):
    item: ItemSummary
    alternatives: list[ItemSummary] = Field(description="other items the text could mean")
    origin: tuple[float, float]
    depart_at: datetime
    mode: str
    routed: bool = Field(description="false: ordered by straight-line distance (estimates)")
    reason: str | None = Field(description="why results are estimates, and how to fix it")
    warnings: list[str]
    results: list[MatchedSite]
    left_out: list[LeftOut]


class ItineraryLeg(BaseModel):
    item: ItemSummary
    site: dict[str, Any] = Field(description="the site as a GeoJSON Feature")
    travel_s: float
    arrive_at: datetime
    start_at: datetime = Field(description="service starts (after any wait for opening)")
    finish_at: datetime
    route: dict[str, Any] | None = Field(description="GeoJSON Feature from the previous stop")


class ItineraryAnswer(BaseModel):
    bundle: str
    name: str
    depart_at: datetime
    finish_at: datetime
    travel_s: float
    wait_s: float
    exact: bool = Field(description="optimal over every site handling the items within the network")
    candidates: int
    method: Literal["dp", "or-tools"] = Field(
        description="dp: exact dynamic programme (small bundles); or-tools: OR-Tools routing "
        "search over every candidate, kept only if no worse than the programme over a shortlist"
    )
    legs: list[ItineraryLeg]
    warnings: list[str]
