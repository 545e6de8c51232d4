"""Travel profiles: who may use a road, in which direction, and how fast.

Only OSM ways tagged ``highway=*`` are read. Speeds are in km/h.

Drive (a car):

=================  ==========  =================  ==========
highway            km/h        highway            km/h
=================  ==========  =================  ==========
motorway           90          motorway_link      45
trunk              60          trunk_link         40
primary            45          primary_link       30
secondary          35          secondary_link     25
tertiary           30          tertiary_link      25
unclassified       25          residential        20
road               20          living_street      10
service            15
=================  ==========  =================  ==========

When a way has a numeric ``maxspeed`` (``60``, ``60 km/h``, ``35 mph``), the
drive speed is ``0.8 × maxspeed`` (OSRM's car profile reduces posted limits
the same way, for junctions and traffic), capped at the posted limit. Cars
follow ``oneway`` (``yes``/``1``/``true``, ``-1`` for the reverse,
``junction=roundabout`` and motorways are one-way by default) and are kept off
``access``/``motor_vehicle``/``motorcar`` = ``no``/``private`` and off
``service=emergency_access``.

Walk (a pedestrian): 5 km/h on every highway class except motorways (and
trunks tagged ``foot=no``); 2.5 km/h on ``steps``. Pedestrians ignore
``oneway`` (except ``oneway:foot=yes``) and respect ``foot=no``/``access=no``
unless ``foot=yes``/``designated`` says otherwise.

Travel times are stored per directed edge as whole milliseconds
(``length_m / speed``), so every search adds integers and is exact.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass


class Mode(enum.StrEnum):
    walk = "walk"
    drive = "drive"


DRIVE_SPEED_KPH: dict[str, float] = {
    "motorway": 90,
    "motorway_link": 45,
    "trunk": 60,
    "trunk_link": 40,
    "primary": 45,
    "primary_link": 30,
    "secondary": 35,
    "secondary_link": 25,
    "tertiary": 30,
    "tertiary_link": 25,
    "unclassified": 25,
    "residential": 20,
    "road": 20,
    "living_street": 10,
    "service": 15,
}
MAXSPEED_FACTOR = 0.8
WALK_SPEED_KPH = 5.0
STEPS_SPEED_KPH = 2.5

NOT_WALKABLE = {"motorway", "motorway_link"}
NOT_A_ROAD = {
    "proposed",
    "construction",
    "abandoned",
    "disused",
    "platform",
    "raceway",
    "bus_guideway",
    "escape",
    "razed",
    "no",
    "elevator",
    "emergency_bay",
    "rest_area",
    "services",
}
WALK_ONLY = {
    "footway",
    "pedestrian",
    "path",
    "steps",
    "cycleway",
    "track",
    "bridleway",
    "corridor",
    "crossing",
    "sidewalk",
}
DENIED = {"no", "private"}
ALLOWED = {"yes", "designated", "permissive", "destination", "customers", "delivery"}
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")


@dataclass(frozen=True)
class WayAccess:
    """What a way allows, read from its tags once at import."""

    walk_forward: bool
    walk_backward: bool
    drive_forward: bool
    drive_backward: bool
    oneway: int
    """1 forward only (for cars), -1 backward only, 0 both ways."""
    maxspeed_kph: float | None
    drive_speed_kph: float
    walk_speed_kph: float
    roundabout: bool = False
    """``junction=roundabout`` / ``circular``: steps count its exits."""

    @property
    def usable(self) -> bool:
        return self.walk_forward or self.walk_backward or self.drive_forward or self.drive_backward


def parse_maxspeed(value: str | None) -> float | None:
    """A numeric ``maxspeed`` in km/h, or None for symbolic ones (``CN:urban``, ``walk``)."""
    if not value:
        return None
    match = _MAXSPEED.match(value.split(";")[0])
    if not match:
        return None
    speed = float(match.group(1))
    unit = match.group(2)
    if unit == "mph":
        speed *= 1.609344
    elif unit == "knots":
        speed *= 1.852
    return speed if speed > 0 else None


def _oneway(tags: Mapping[str, str], highway: str) -> int:
    value = tags.get("oneway", "")
    if value in ("yes", "true", "1"):
        return 1
    if value in ("-1", "reverse"):
        return -1
    if value in ("no", "false", "0", "reversible", "alternating"):
        return 0
    if tags.get("junction") in ("roundabout", "circular") or highway == "motorway":
        return 1
    return 0


def _drive_allowed(tags: Mapping[str, str], highway: str) -> bool:
    if highway not in DRIVE_SPEED_KPH or tags.get("area") == "yes":
        return False
    if tags.get("service") == "emergency_access":
        return False
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        value = tags.get(key)
        if value in DENIED:
            return False
        if value in ALLOWED:
            return True
    return True


def _walk_allowed(tags: Mapping[str, str], highway: str) -> bool:
    foot = tags.get("foot")
    if foot in ALLOWED:
        return True
    if foot in DENIED or highway in NOT_WALKABLE:
        return False
    if tags.get("access") in DENIED:
        return False
    return highway in DRIVE_SPEED_KPH or highway in WALK_ONLY


def way_access(tags: Mapping[str, str]) -> WayAccess | None:
    """The access of a highway way, or None when it is no usable road at all."""
    highway = tags.get("highway", "")
    if not highway or highway in NOT_A_ROAD:
        return None
    oneway = _oneway(tags, highway)
    drive = _drive_allowed(tags, highway)
    walk = _walk_allowed(tags, highway)
    maxspeed = parse_maxspeed(tags.get("maxspeed"))
    class_speed = DRIVE_SPEED_KPH.get(highway, 15.0)
    drive_speed = min(maxspeed * MAXSPEED_FACTOR, maxspeed) if maxspeed else class_speed
    walk_speed = STEPS_SPEED_KPH if highway == "steps" else WALK_SPEED_KPH
    walk_oneway = tags.get("oneway:foot") in ("yes", "true", "1")
    access = WayAccess(
        walk_forward=walk,
        walk_backward=walk and not walk_oneway,
        drive_forward=drive and oneway >= 0,
        drive_backward=drive and oneway <= 0,
        oneway=oneway,
        maxspeed_kph=maxspeed,
        drive_speed_kph=drive_speed,
        walk_speed_kph=walk_speed,
        roundabout=tags.get("junction") in ("roundabout", "circular"),
    )
    return access if access.usable else None


def duration_ms(length_m: float, speed_kph: float) -> int:
    """Whole milliseconds to cover ``length_m`` at ``speed_kph``; at least 1 ms."""
    return max(1, round(length_m / (speed_kph / 3.6) * 1000.0))
