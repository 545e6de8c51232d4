"""Column names as maintainers write them (Chinese or English) → the canonical fields.

Shared by the reader (to find the header row below a title row) and the validator.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

ALIASES = {
    "id": "id 编号 站点编号 场所编号 设施编号 记录编号",
    "action": "action 操作 操作类型",
    "name": "name 名称 场所名称 站点名称 设施名称 网点名称",
    "address": "address 地址 详细地址",
    "lon": "lon lng long longitude x 经度",
    "lat": "lat latitude y 纬度",
    "lonlat": "lonlat lnglat coordinates 经纬度 坐标",
    "phone": "phone tel telephone 电话 联系电话 咨询电话",
    "opening_hours": "opening_hours hours 办公时间 开放时间 营业时间 服务时间 工作时间",
    "level": "level 层级 级别",
    "kind": "kind type 类型 场所类型 站点类型",
    "region_code": "region_code division_code adcode 区划代码 行政区划代码 统计用区划代码",
    "department": "department 部门 所属部门 主管部门",
    "category": "category 类别 设施类别",
    "subcategory": "subcategory 子类 子类别",
}


def lookup_key(text: str) -> str:
    """A word or header for look-up: NFKC, case-folded, without spaces, '_', '-', '()'."""
    return re.sub(r"[\s_\-()]+", "", unicodedata.normalize("NFKC", text).casefold())


def lookup_table(table: dict[Any, str]) -> dict[str, Any]:
    return {lookup_key(word): value for value, words in table.items() for word in words.split()}


FIELD_OF: dict[str, str] = lookup_table(ALIASES)
_UNIT_SUFFIX = re.compile(r"\s*[(\[【](.*?)[)\]】]\s*$")


def header_field(header: str) -> tuple[str | None, str | None]:
    """(canonical field or None, the parenthesised suffix if any) of a header as written."""
    text = unicodedata.normalize("NFKC", header).strip().strip("*").strip()
    suffix = None
    match = _UNIT_SUFFIX.search(text)
    if match and match.start() > 0:
        suffix, text = match.group(1), text[: match.start()]
    return FIELD_OF.get(lookup_key(text)), suffix


def looks_like_header(cells: list[str | None]) -> bool:
    """Whether a row names at least two known fields (a title row above it does not)."""
    return sum(header_field(c)[0] is not None for c in cells if c and c.strip()) >= 2


def header_aliases() -> dict[str, list[str]]:
    """The headers each canonical field is recognised by."""
    return {name: words.split() for name, words in ALIASES.items()}
