"""Statistical division codes (统计用区划代码): 12 digits, a prefix per level.

``37`` province · ``3701`` city · ``370102`` district (the GB/T 2260 code) ·
``370102001`` street/town · ``370102001002`` community/village. A region's
subtree is every code that starts with its prefix, so a city is a subtree.
"""

from __future__ import annotations

import re

from geo.errors import InvalidInput
from geo.models import RegionLevel

PREFIX_LENGTH = {
    RegionLevel.province: 2,
    RegionLevel.city: 4,
    RegionLevel.district: 6,
    RegionLevel.street: 9,
    RegionLevel.community: 12,
}

_CODE = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$")


def full_code(code: str, field: str = "code") -> str:
    """Pad a 2/4/6/9/12-digit division code to 12 digits; reject anything else."""
    code = code.strip()
    if not _CODE.match(code):
        raise InvalidInput(
            field,
            f"区划代码无效 '{code}': a division code has 2, 4, 6 (GB/T 2260), 9 or 12 digits",
        )
    return code.ljust(12, "0")


def level_of(code: str) -> RegionLevel:
    """The level a 12-digit code stands for, read from where its trailing zeros start."""
    for level, length in PREFIX_LENGTH.items():
        if set(code[length:]) <= {"0"}:
            return level
    return RegionLevel.community


def subtree_prefix(code: str) -> str:
    """The prefix every code under (and including) ``code`` starts with."""
    return code[: PREFIX_LENGTH[level_of(code)]]


def parent_code(code: str) -> str | None:
    level = level_of(code)
    order = list(PREFIX_LENGTH)
    index = order.index(level)
    if index == 0:
        return None
    return code[: PREFIX_LENGTH[order[index - 1]]].ljust(12, "0")


def adcode(code: str) -> str | None:
    """The 6-digit GB/T 2260 code for divisions at district level and above."""
    if level_of(code) in (RegionLevel.street, RegionLevel.community):
        return None
    return code[:6]
