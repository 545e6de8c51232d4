"""Chinese turn-by-turn instructions from the pieces a route follows.

Consecutive stretches of the same road are one step; a step says where to go
and how to leave the road: "沿中山路向北行驶850米，右转进入汉中路". Turns are
read from the change of bearing where two roads meet:

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
class Stretch:
    """A part of the route along one piece of road, oriented as travelled."""

    name: str | None
    coords: NDArray[np.float64]
    distance_m: float
    duration_ms: float


@dataclass
class Step:
    instruction: str
    road: str | None
    distance_m: float
    duration_s: float
    maneuver: str
    """depart, turn, continue, uturn or arrive."""
    modifier: str | None
    """left, slight left, straight, slight right, right (OSRM's words)."""
    location: tuple[float, float]
    bearing_before: int
    bearing_after: int


def bearing_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Initial compass bearing from lon/lat ``a`` to ``b`` (0 = north, clockwise)."""
    dx = (b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    dy = b[1] - a[1]
    return math.degrees(math.atan2(dx, dy)) % 360.0


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
    name: str | None
    stretches: list[Stretch]

    @property
    def distance_m(self) -> float:
        return sum(s.distance_m for s in self.stretches)

    @property
    def duration_ms(self) -> float:
        return sum(s.duration_ms for s in self.stretches)


def _groups(stretches: list[Stretch]) -> list[_Group]:
    groups: list[_Group] = []
    for stretch in stretches:
        if stretch.distance_m <= 0 and groups:
            continue
        if groups and groups[-1].name == stretch.name:
            groups[-1].stretches.append(stretch)
        else:
            groups.append(_Group(stretch.name, [stretch]))
    # a short link between two stretches (a junction piece) is no step of its own
    merged: list[_Group] = []
    for i, group in enumerate(groups):
        is_link = 0 < i < len(groups) - 1 and group.distance_m < MERGE_BELOW_M
        if is_link and merged:
            merged[-1].stretches.extend(group.stretches)
            continue
        if merged and merged[-1].name == group.name:
            merged[-1].stretches.extend(group.stretches)
            continue
        merged.append(group)
    return merged


def build_steps(stretches: list[Stretch], mode: Mode) -> list[Step]:
    """Steps for a route; the last one arrives."""
    verb = "步行" if mode is Mode.walk else "行驶"
    groups = _groups(stretches)
    steps: list[Step] = []
    for i, group in enumerate(groups):
        coords = np.concatenate([s.coords for s in group.stretches])
        start = _start_bearing(coords)
        end = _end_bearing(coords)
        road = group.name or UNNAMED
        text = f"沿{road}向{direction_word(start)}{verb}{distance_text(group.distance_m)}"
        if i + 1 < len(groups):
            nxt = groups[i + 1]
            next_coords = np.concatenate([s.coords for s in nxt.stretches])
            words, _, _ = turn_of(end, _start_bearing(next_coords))
            text += f"，{words}进入{nxt.name or UNNAMED}"
        else:
            text += "，到达目的地"
        if i == 0:
            maneuver, modifier = "depart", None
        else:
            previous = np.concatenate([s.coords for s in groups[i - 1].stretches])
            _, maneuver, modifier_word = turn_of(_end_bearing(previous), start)
            modifier = modifier_word
        steps.append(
            Step(
                instruction=text,
                road=group.name,
                distance_m=round(group.distance_m, 1),
                duration_s=round(group.duration_ms / 1000.0, 1),
                maneuver=maneuver,
                modifier=modifier,
                location=(float(coords[0][0]), float(coords[0][1])),
                bearing_before=round(_end_bearing(previous)) if i else 0,
                bearing_after=round(start),
            )
        )
    if stretches:
        last = stretches[-1].coords[-1]
        steps.append(
            Step(
                instruction="到达目的地",
                road=None,
                distance_m=0.0,
                duration_s=0.0,
                maneuver="arrive",
                modifier=None,
                location=(float(last[0]), float(last[1])),
                bearing_before=round(_end_bearing(np.concatenate([s.coords for s in stretches]))),
                bearing_after=0,
            )
        )
    return steps
