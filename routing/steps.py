"""Chinese turn-by-turn instructions from the pieces a route follows.

Consecutive stretches of the same road are one step; a step says where to go
and how to leave the road: "沿中山路向北行驶850米，右转进入汉中路". A
roundabout (``junction=roundabout``) is one step that counts its exits, as
OSRM does: "进入环岛，从第2个出口驶出，进入汉中路" (an exit is a node of
the ring where a road usable in the mode leaves it). Turns are read from the
change of bearing where two roads meet:

=============  ===============
|change|       instruction
=============  ===============
< 25°          直行
25°–65°        向左前方 / 向右前方
65°–155°       左转 / 右转
> 155°         掉头
=============  ===============
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from routing.profiles import Mode

UNNAMED = "无名道路"
DIRECTIONS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
MERGE_BELOW_M = 20.0


@dataclass
class Legs:
    """The stretches of a route in travel order, as arrays (one entry per stretch).

    A stretch is the part of the route along one piece: the partial first and
    last pieces and every arc in between.
    """

    name: NDArray[np.int32]
    """Index into ``names``; -1 for an unnamed road."""
    names: list[str]
    distance_m: NDArray[np.float64]
    duration_ms: NDArray[np.float64]
    roundabout: NDArray[np.bool_]
    exit: NDArray[np.bool_]
    """On a roundabout stretch: its end is an exit (a usable road leaves the ring there)."""
    bearing_start: NDArray[np.float64]
    bearing_end: NDArray[np.float64]
    start: NDArray[np.float64]
    """(n, 2) lon, lat where each stretch begins."""
    end: tuple[float, float]
    """Where the last stretch ends (the destination)."""


@dataclass
class Step:
    instruction: str
    road: str | None
    distance_m: float
    duration_s: float
    maneuver: str
    """depart, turn, continue, uturn, roundabout or arrive."""
    modifier: str | None
    """left, slight left, straight, slight right, right (OSRM's words)."""
    location: tuple[float, float]
    bearing_before: int
    bearing_after: int
    exit: int | None = None
    """On a roundabout: the number of the exit taken (1 = the first)."""


def bearing_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Initial compass bearing from lon/lat ``a`` to ``b`` (0 = north, clockwise)."""
    dx = (b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    dy = b[1] - a[1]
    return math.degrees(math.atan2(dx, dy)) % 360.0


def bearings_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`bearing_deg` of many (n, 2) point pairs at once."""
    dx = (b[:, 0] - a[:, 0]) * np.cos(np.radians((a[:, 1] + b[:, 1]) / 2))
    return np.asarray(np.degrees(np.arctan2(dx, b[:, 1] - a[:, 1])) % 360.0, dtype=np.float64)


def _end_bearing(coords: NDArray[np.float64]) -> float:
    for i in range(len(coords) - 1, 0, -1):
        if not np.array_equal(coords[i - 1], coords[i]):
            return bearing_deg(coords[i - 1], coords[i])
    return 0.0


def _start_bearing(coords: NDArray[np.float64]) -> float:
    for i in range(1, len(coords)):
        if not np.array_equal(coords[i - 1], coords[i]):
            return bearing_deg(coords[i - 1], coords[i])
    return 0.0


def distance_text(distance_m: float) -> str:
    if distance_m >= 1000:
        return f"{distance_m / 1000:.1f}公里"
    return f"{max(10, round(distance_m / 10) * 10):.0f}米"


def direction_word(bearing: float) -> str:
    return DIRECTIONS[int(((bearing + 22.5) % 360) // 45)]


def turn_of(before: float, after: float) -> tuple[str, str, str]:
    """(Chinese words, maneuver, modifier) for a change of bearing."""
    delta = (after - before + 540.0) % 360.0 - 180.0
    size = abs(delta)
    side = "右" if delta > 0 else "左"
    side_en = "right" if delta > 0 else "left"
    if size < 25:
        return "直行", "continue", "straight"
    if size < 65:
        return f"向{side}前方", "turn", f"slight {side_en}"
    if size <= 155:
        return f"{side}转", "turn", side_en
    return "掉头", "uturn", "uturn"


@dataclass
class _Group:
    """Stretches ``lo..hi`` (inclusive) of :class:`Legs` that make one step."""

    lo: int
    hi: int
    name: int
    roundabout: bool


def _groups(legs: Legs) -> list[_Group]:
    count = len(legs.name)
    keep = legs.distance_m > 0
    keep[0] = True  # the route's start, even on a zero-length first stretch
    kept = np.flatnonzero(keep)
    key_name, key_rb = legs.name[kept], legs.roundabout[kept]
    change = np.flatnonzero((key_name[1:] != key_name[:-1]) | (key_rb[1:] != key_rb[:-1])) + 1
    run_starts = np.concatenate([[0], change]).tolist()
    # runs as ranges of stretches (skipped zero-length stretches join the run before them)
    firsts = kept[run_starts].tolist()
    runs = [
        _Group(lo, (firsts[r + 1] - 1) if r + 1 < len(firsts) else count - 1, int(n), bool(rb))
        for r, (lo, n, rb) in enumerate(
            zip(firsts, key_name[run_starts].tolist(), key_rb[run_starts].tolist(), strict=True)
        )
    ]
    cumulative = np.concatenate([[0.0], np.cumsum(legs.distance_m)])

    def distance(g: _Group) -> float:
        return float(cumulative[g.hi + 1] - cumulative[g.lo])

    # a short link between two stretches (a junction piece) is no step of its own
    merged: list[_Group] = []
    for i, group in enumerate(runs):
        is_link = 0 < i < len(runs) - 1 and not group.roundabout and distance(group) < MERGE_BELOW_M
        if merged and (
            is_link
            or (
                merged[-1].name == group.name and not merged[-1].roundabout and not group.roundabout
            )
        ):
            merged[-1].hi = group.hi
            continue
        merged.append(group)
    return merged


def _bearings(legs: Legs, group: _Group) -> tuple[float, float]:
    """Bearing where a group starts and where it ends (its first and last non-empty stretch)."""
    inside = np.flatnonzero(legs.distance_m[group.lo : group.hi + 1] > 0) + group.lo
    first = int(inside[0]) if len(inside) else group.lo
    last = int(inside[-1]) if len(inside) else group.hi
    return float(legs.bearing_start[first]), float(legs.bearing_end[last])


def build_steps(legs: Legs, mode: Mode) -> list[Step]:
    """Steps for a route; the last one arrives."""
    verb = "步行" if mode is Mode.walk else "行驶"
    groups = _groups(legs)
    cumulative = np.concatenate([[0.0], np.cumsum(legs.distance_m)])
    cumulative_ms = np.concatenate([[0.0], np.cumsum(legs.duration_ms)])
    bearings = [_bearings(legs, g) for g in groups]

    def road_of(group: _Group) -> str | None:
        return legs.names[group.name] if group.name >= 0 else None

    steps: list[Step] = []
    for i, group in enumerate(groups):
        start, end = bearings[i]
        distance = float(cumulative[group.hi + 1] - cumulative[group.lo])
        duration = float(cumulative_ms[group.hi + 1] - cumulative_ms[group.lo])
        road = road_of(group)
        nxt = groups[i + 1] if i + 1 < len(groups) else None
        next_road = (road_of(nxt) or UNNAMED) if nxt is not None else None
        exit_number: int | None = None
        if group.roundabout:
            exit_number = max(1, int(np.count_nonzero(legs.exit[group.lo : group.hi + 1])))
            opening = "进入环岛" if i else f"沿{road or '环岛'}{verb}{distance_text(distance)}"
            if nxt is None:
                text = (
                    f"{opening}，{verb}{distance_text(distance)}，到达目的地"
                    if i
                    else (f"{opening}，到达目的地")
                )
            else:
                text = f"{opening}，从第{exit_number}个出口驶出，进入{next_road}"
        else:
            text = f"沿{road or UNNAMED}向{direction_word(start)}{verb}{distance_text(distance)}"
            if nxt is None:
                text += "，到达目的地"
            elif not nxt.roundabout:
                words, _, _ = turn_of(end, bearings[i + 1][0])
                text += f"，{words}进入{next_road}"
        if i == 0:
            maneuver, modifier = "depart", None
        elif group.roundabout:
            maneuver, modifier = "roundabout", None
        else:
            _, maneuver, modifier_word = turn_of(bearings[i - 1][1], start)
            modifier = modifier_word
        location = legs.start[group.lo]
        steps.append(
            Step(
                instruction=text,
                road=road,
                distance_m=round(distance, 1),
                duration_s=round(duration / 1000.0, 1),
                maneuver=maneuver,
                modifier=modifier,
                location=(float(location[0]), float(location[1])),
                bearing_before=round(bearings[i - 1][1]) if i else 0,
                bearing_after=round(start),
                exit=exit_number,
            )
        )
    steps.append(
        Step(
            instruction="到达目的地",
            road=None,
            distance_m=0.0,
            duration_s=0.0,
            maneuver="arrive",
            modifier=None,
            location=(float(legs.end[0]), float(legs.end[1])),
            bearing_before=round(bearings[-1][1]) if bearings else 0,
            bearing_after=0,
        )
    )
    return steps


def end_bearings(coords: NDArray[np.float64]) -> tuple[float, float]:
    """Bearing at the start and at the end of a line (its first / last non-empty segment)."""
    return _start_bearing(coords), _end_bearing(coords)
