"""The roads of the active networks for the offline base map: small, simplified, by bbox.

The map pages draw their default base layer from our own data, so they work without
internet; this gives them the roads in view. The answer stays small whatever the
network's size: a wide view gets only the main classes, geometry is simplified to
about a pixel of a 1,500-pixel-wide view, and at most ``limit`` roads are returned
(``truncated`` says when more were in view). A two-way road is stored as two edges
sharing a ``piece_id``; it is drawn once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from routing.models import NetworkVersion, RoadEdge

BBox = tuple[float, float, float, float]

MAIN = ("motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link")
MIDDLE = ("secondary", "tertiary", "secondary_link", "tertiary_link")
WIDE_VIEW_DEG = 0.5
"""A view wider than this (about 50 km) shows only the main roads."""
MEDIUM_VIEW_DEG = 0.08
"""A view wider than this (about 8 km) shows the main and middle classes."""
PIXELS = 1500
MAX_ROADS = 4000
MAX_VIEW_DEG = 3.0


@dataclass(frozen=True)
class RoadLine:
    piece_id: int
    name: str | None
    highway: str
    geometry: dict[str, Any]


@dataclass(frozen=True)
class RoadsInView:
    roads: list[RoadLine]
    classes: tuple[str, ...] | None
    """The highway classes shown; None: every class."""
    truncated: bool


def classes_for(bbox: BBox) -> tuple[str, ...] | None:
    """The highway classes worth drawing in a view of this size (None: all of them)."""
    span = max(bbox[2] - bbox[0], bbox[3] - bbox[1])
    if span > WIDE_VIEW_DEG:
        return MAIN
    if span > MEDIUM_VIEW_DEG:
        return MAIN + MIDDLE
    return None


def roads_in_view(session: Session, bbox: BBox, limit: int = MAX_ROADS) -> RoadsInView:
    """Roads of every active network that cross ``bbox`` (WGS-84), simplified for display."""
    west, south, east, north = bbox
    span = max(east - west, north - south)
    classes = classes_for(bbox)
    envelope = func.ST_MakeEnvelope(west, south, east, north, 4326)
    simplified = func.ST_AsGeoJSON(func.ST_Simplify(RoadEdge.geom, span / PIXELS), 6)
    query = (
        select(RoadEdge.piece_id, RoadEdge.name, RoadEdge.highway, simplified)
        .join(NetworkVersion, NetworkVersion.id == RoadEdge.version_id)
        .where(NetworkVersion.active.is_(True), RoadEdge.geom.op("&&")(envelope))
        .ext(distinct_on(RoadEdge.version_id, RoadEdge.piece_id))
        .order_by(RoadEdge.version_id, RoadEdge.piece_id)
        .limit(limit + 1)
    )
    if classes is not None:
        query = query.where(RoadEdge.highway.in_(classes))
    rows = session.execute(query).all()
    roads = [
        RoadLine(int(piece), name, highway, json.loads(geometry))
        for piece, name, highway, geometry in rows[:limit]
    ]
    return RoadsInView(roads, classes, truncated=len(rows) > limit)
