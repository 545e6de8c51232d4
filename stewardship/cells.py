"""What maintainers type into cells, read as they mean it: degrees (decimal, full-width or
degrees-minutes-seconds), placeholders for "nothing" ('-', '无', 'N/A'), text a spreadsheet
would run as a formula, and common Chinese opening hours offered in OSM form."""

from __future__ import annotations

import math
import re
import unicodedata

from catalogue.errors import InvalidOpeningHours
from catalogue.hours import validate_hours

_EMPTY_WORDS = {"-", "--", "—", "——", "/", "无", "n/a", "#n/a", "na"}
FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
"""``str.translate`` table: full-width ASCII (１２３，ＡＢＣ) and the ideographic space to ASCII."""
_DMS = re.compile(
    r"""^(?P<h1>[NSEW]|东经|西经|北纬|南纬)?\s*(?P<sign>[-+])?\s*
    (?P<deg>\d+(?:\.\d+)?)\s*(?:°|º|˚|度)\s*
    (?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|’|分)\s*)?
    (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:"|″|”|′′|''|秒)?\s*)?
    (?P<h2>[NSEW])?$""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_degrees(text: str) -> float | None:
    """Decimal degrees from '117.025', full-width '１１７．０２５' or DMS like 117°01'30"."""
    text = text.translate(FULL_WIDTH).strip()
    try:
        value = float(text)
    except ValueError:
        match = _DMS.match(text)
        if not match:
            return None
        minutes, seconds = float(match["min"] or 0), float(match["sec"] or 0)
        if minutes >= 60 or seconds >= 60:
            return None
        value = float(match["deg"]) + minutes / 60 + seconds / 3600
        hemisphere = (match["h1"] or match["h2"] or "").upper()
        if match["sign"] == "-" or hemisphere in ("S", "W", "西经", "南纬"):
            value = -value
    return value if math.isfinite(value) else None


def clean_cell(value: str | None) -> str | None:
    """Trimmed cell text; None for blank and for placeholders like '-', '/', '无', 'N/A'."""
    if value is None:
        return None
    text = value.strip()
    if not text or text.casefold() in _EMPTY_WORDS:
        return None
    return text


_PHONE = re.compile(r"^\+?[\d\s\-()（）/,，;；、转]+$")


def formula_like(field_name: str, text: str) -> bool:
    """Text a spreadsheet would run as a formula; a phone number like '+86 531 …' is not
    (coordinates such as '-1.5' are numbers, never checked here)."""
    if text[0] not in "=+-@":
        return False
    return not (field_name == "phone" and _PHONE.match(text))


# -- opening hours written in Chinese

_DAY_CHARS = "一二三四五六日天七"
_DAY_OSM = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su", "Su", "Su")
_DAY_SPEC = re.compile(
    rf"(?:(?:周|星期|礼拜)[{_DAY_CHARS}](?:\s*(?:至|到|-|~|—)\s*(?:周|星期|礼拜)?[{_DAY_CHARS}])?"
    r"(?:\s*[、,和及]\s*(?=周|星期|礼拜))?)+|工作日|每天|每日|全天|天天|周末|双休日|"
    r"法定节假日|节假日"
)
_TIME_RANGE = re.compile(
    r"(上午|下午|中午|晚上)?\s*(\d{1,2})[:.](\d{2})\s*(?:-|~|至|到|—|–)\s*"
    r"(上午|下午|中午|晚上)?\s*(\d{1,2})[:.](\d{2})"
)
_CLOSED = re.compile(r"休息|闭馆|不办公|不对外|关闭|休假|不开放")
_ALWAYS = re.compile(r"\s*(全天|7\s*[x×*]\s*24|24\s*小时|24h)\s*(营业|开放|服务|办公)?\s*")


def suggest_osm_hours(text: str) -> str | None:
    """The OSM form of common Chinese hours ('周一至周五 9:00-17:00' → 'Mo-Fr 09:00-17:00';
    '工作日 …' adds 'PH off'), or None when the text is not in a form recognised here."""
    text = unicodedata.normalize("NFKC", text)
    if _ALWAYS.fullmatch(text):
        return "24/7"
    specs = list(_DAY_SPEC.finditer(text))
    if not specs:
        return None
    rules: list[str] = []
    for index, spec in enumerate(specs):
        end = specs[index + 1].start() if index + 1 < len(specs) else len(text)
        days, clause = _osm_days(spec.group(0)), text[spec.end() : end]
        times = [_osm_range(m) for m in _TIME_RANGE.finditer(clause)]
        if times:
            rules.append(f"{days} {','.join(times)}")
        elif _CLOSED.search(clause):
            rules.append(f"{days} off")
        elif re.search(r"24\s*小时", clause):
            rules.append(f"{days} 00:00-24:00")
        else:
            return None
    if "工作日" in text and not any(rule.startswith("PH") for rule in rules):
        rules.append("PH off")
    suggestion = "; ".join(rules)
    try:
        validate_hours(suggestion)
    except InvalidOpeningHours:
        return None
    return suggestion


def _osm_days(spec: str) -> str:
    fixed = {"工作日": "Mo-Fr", "每天": "Mo-Su", "每日": "Mo-Su", "全天": "Mo-Su", "天天": "Mo-Su"}
    fixed |= {"周末": "Sa,Su", "双休日": "Sa,Su", "法定节假日": "PH", "节假日": "PH"}
    if spec in fixed:
        return fixed[spec]
    parts = []
    for item in re.split(r"[、,和及]", spec):
        names = [_DAY_OSM[_DAY_CHARS.index(c)] for c in item if c in _DAY_CHARS]
        if names:
            parts.append("-".join(names[:2]) if len(names) > 1 else names[0])
    return ",".join(parts)


def _osm_range(match: re.Match[str]) -> str:
    def hhmm(part: str | None, hour: str, minute: str) -> str:
        h = int(hour) + (12 if part in ("下午", "晚上") and int(hour) < 12 else 0)
        return f"{h:02d}:{minute}"

    return f"{hhmm(match[1], match[2], match[3])}-{hhmm(match[4] or match[1], match[5], match[6])}"
