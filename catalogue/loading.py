"""The catalogue's datasets for ``daofu data load``: items, bundles, site↔item links.

Items: the real Guang'an district list (names, departments, official codes) is the
base; ``sample_content.json`` adds the elements it lacks for the items asked about
most, flagged ``sample_content`` (示例内容). Links: demo sites get the items of
their level and department by the rules in :func:`load_site_items`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from catalogue.calendar import SEED_DATASET_VERSION, load_holiday_calendar
from catalogue.models import Bundle, BundleItem, Item, SiteItem
from geo.errors import DataFileError
from geo.loading import Dataset, Report

ITEMS_CSV = "items/guangan_district_items.csv"
SAMPLE_JSON = "items/sample_content.json"
BUNDLES_JSON = "items/bundles.json"
ITEM_SOURCE = "四川政务服务网 广安区事项清单 (via v-luobo/zwfw) — not Jinan's own list"
SAMPLE_SOURCE = "daofu 示例内容 (sample content written for the demo)"
LINK_SOURCE = "daofu demo links by level and department (示例数据)"

LEVELS = ("city", "district", "street", "community")
CHANNELS = ("online", "app", "window", "terminal", "nearby", "cross_region")
SAMPLE_FIELDS = (
    "item_type",
    "implementing_body",
    "legal_basis",
    "conditions",
    "applicants",
    "materials",
    "process",
    "legal_limit_days",
    "promised_limit_days",
    "fees",
    "result",
)


def _read_json_list(data_dir: Path, file: str) -> list[tuple[int, dict[str, Any]]]:
    """The file's entries with their index in the JSON list (so errors name the right one),
    without headers such as ``{"_note": …}``."""
    path = data_dir / file
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFileError(file, f"not valid JSON: {exc.msg}", exc.lineno) from exc
    if not isinstance(content, list):
        raise DataFileError(file, "expected a JSON list of entries")
    return [
        (index, e)
        for index, e in enumerate(content)
        if isinstance(e, dict) and not any(k.startswith("_") for k in e)
    ]


def _sample_entries(data_dir: Path, known: set[str]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for index, entry in _read_json_list(data_dir, SAMPLE_JSON):
        code = entry.get("item_code")
        if code not in known:
            raise DataFileError(
                SAMPLE_JSON, f"item_code {code!r} is not in {ITEMS_CSV}", index, "item_code"
            )
        if code in entries:
            raise DataFileError(SAMPLE_JSON, f"item_code {code} appears twice", index, "item_code")
        for field, allowed in (("levels", LEVELS), ("channels", CHANNELS)):
            bad = [v for v in entry.get(field, []) if v not in allowed]
            if bad:
                raise DataFileError(
                    SAMPLE_JSON, f"unknown {field} {bad}; allowed: {allowed}", index, field
                )
        entries[str(code)] = entry
    return entries


def load_items(session: Session, data_dir: Path, report: Report) -> int:
    with (data_dir / ITEMS_CSV).open(encoding="utf-8-sig", newline="") as f:
        base = list(enumerate(csv.DictReader(f), start=2))
    for number, row in base:
        for field in ("item_code", "item_name", "department"):
            if not (row.get(field) or "").strip():
                raise DataFileError(ITEMS_CSV, f"{field} is empty", number, field)
    sample = _sample_entries(data_dir, {row["item_code"] for _, row in base})
    rows = [_item_row(row, sample.get(row["item_code"])) for _, row in base]
    for start in range(0, len(rows), 500):
        stmt = insert(Item).values(rows[start : start + 500])
        columns = {c: stmt.excluded[c] for c in rows[0] if c != "code"}
        session.execute(stmt.on_conflict_do_update(index_elements=[Item.code], set_=columns))
        report("items", min(start + 500, len(rows)), len(rows))
    return len(rows)


def _item_row(row: dict[str, str], entry: dict[str, Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "code": row["item_code"].strip(),
        "name": row["item_name"].strip(),
        "department": row["department"].strip(),
        "category": None if row.get("category") in (None, "", "未分类") else row["category"],
        "source": ITEM_SOURCE,
        "source_url": row.get("detail_url") or None,
        "sample_content": entry is not None,
        "channels": ["window"],
        "levels": ["district"],
        "colloquial": [],
        "popularity_rank": None,
        **{field: None for field in SAMPLE_FIELDS},
        "materials": [],
        "process": [],
    }
    if entry is not None:
        item.update({field: entry.get(field, item[field]) for field in SAMPLE_FIELDS})
        item["channels"] = list(entry.get("channels") or ["window"])
        item["levels"] = list(entry.get("levels") or ["district"])
        item["colloquial"] = list(entry.get("colloquial") or [])
        item["popularity_rank"] = entry.get("rank")
        item["source"] = f"{ITEM_SOURCE}; elements: {SAMPLE_SOURCE}"
    return item


def load_bundles(session: Session, data_dir: Path, report: Report) -> int:
    known = set(session.scalars(select(Item.code)))
    bundles = _read_json_list(data_dir, BUNDLES_JSON)
    session.execute(delete(Bundle).where(Bundle.source == SAMPLE_SOURCE))
    for done, (index, entry) in enumerate(bundles, start=1):
        for field in ("code", "name", "items"):
            if not entry.get(field):
                raise DataFileError(BUNDLES_JSON, f"{field} is missing", index, field)
        bundle = Bundle(
            code=entry["code"],
            name=entry["name"],
            source=SAMPLE_SOURCE,
            description=entry.get("description"),
            sample_content=True,
        )
        session.add(bundle)
        session.flush()
        for position, step in enumerate(sorted(entry["items"], key=lambda s: s.get("order", 0)), 1):
            if step.get("item_code") not in known:
                raise DataFileError(
                    BUNDLES_JSON,
                    f"bundle {entry['code']}: unknown item_code {step.get('item_code')!r}",
                    index,
                    "items",
                )
            session.add(
                BundleItem(
                    bundle_code=entry["code"],
                    position=position,
                    item_code=step["item_code"],
                    service_minutes=int(step.get("service_minutes_per_visit") or 20),
                    note=step.get("note"),
                )
            )
        report("bundles", done, len(bundles))
    session.flush()
    return len(bundles)


# Which departments' items each demo sub-centre handles (its topic is in its name).
SUB_CENTRE_DEPARTMENTS = (
    ("公安", "区公安分局"),
    ("社会保险", "区人社局"),
    ("医疗保障", "区医疗保障局"),
    ("税务", "广安区税务局"),
    ("市场监管", "区市监局"),
    ("不动产登记", "区自然资源和规划局"),
)

_LINK_RULES = """
WITH dept(topic, department) AS (
    SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:departments AS text[])))
INSERT INTO site_items (site_id, item_code, "window", notes, source)
SELECT DISTINCT ON (s.id, i.code) s.id, i.code,
       CASE WHEN s.kind IN ('self_service_terminal', 'self_service_zone_24h') THEN '自助终端'
            WHEN s.kind IN ('bank_outlet', 'post_outlet') THEN '合作网点窗口'
            WHEN s.level IN ('city', 'district')
            THEN regexp_replace(regexp_replace(i.department, '^(广安)?区', ''), '(分局|局)$', '')
                 || '窗口'
            ELSE '综合受理窗口' END,
       CASE WHEN s.kind = 'hall' AND s.level = 'community' THEN '社区代办，部分事项需转报街道' END,
       :source
FROM sites s JOIN items i ON (
     -- halls: the items of their level
     (s.kind = 'hall' AND i.levels ? CAST(s.level AS text))
     -- department sub-centres: their department's items handled at district level
  OR (s.kind = 'sub_centre' AND i.levels ? 'district' AND EXISTS (
        SELECT 1 FROM dept d WHERE strpos(s.name, d.topic) > 0 AND d.department = i.department))
     -- self-service terminals and 24-hour zones: the items that can be done at a terminal
  OR (s.kind IN ('self_service_terminal', 'self_service_zone_24h') AND i.channels ? 'terminal')
     -- bank outlets (政银合作): social security and medical insurance at terminals, sole traders
  OR (s.kind = 'bank_outlet' AND ((i.channels ? 'terminal'
        AND i.department IN ('区人社局', '区医疗保障局')) OR i.name LIKE '个体工商户%'))
     -- post outlets (政邮合作): nearby-service items of police and transport
  OR (s.kind = 'post_outlet' AND i.channels ? 'nearby'
        AND i.department IN ('区公安分局', '区交通运输局'))
     -- park stations: enterprise items of the district
  OR (s.kind = 'park_station' AND i.levels ? 'district' AND i.name LIKE '%企业%'))
WHERE {which_sites}
"""


def _link_by_rules(session: Session, which_sites: str, params: dict[str, Any]) -> int:
    topics, departments = zip(*SUB_CENTRE_DEPARTMENTS, strict=True)
    result = session.execute(
        text(_LINK_RULES.format(which_sites=which_sites)),
        {"topics": list(topics), "departments": list(departments), "source": LINK_SOURCE} | params,
    )
    return int(getattr(result, "rowcount", 0) or 0)


def load_site_items(session: Session, data_dir: Path, report: Report) -> int:
    session.execute(delete(SiteItem).where(SiteItem.source == LINK_SOURCE))
    rows = _link_by_rules(session, "s.demo", {})
    report("site_items", rows, rows)
    return rows


def link_sites_by_rules(session: Session, site_ids: list[int]) -> int:
    """(Re)link the given sites to the items of their level, kind and department.

    For sites a maintainer publishes: until departments upload which items each hall
    handles, the same sample rules as for the demo sites apply (flagged as sample links).
    """
    session.execute(
        delete(SiteItem).where(SiteItem.site_id.in_(site_ids), SiteItem.source == LINK_SOURCE)
    )
    return _link_by_rules(session, "s.id = ANY(:ids)", {"ids": site_ids})


ITEMS = Dataset("items", (ITEMS_CSV, SAMPLE_JSON), load_items)
BUNDLES = Dataset("bundles", (BUNDLES_JSON,), load_bundles)
SITE_ITEMS = Dataset("site_items", (), load_site_items)
HOLIDAYS = Dataset("holiday_calendar", (), load_holiday_calendar, version=SEED_DATASET_VERSION)
DATASETS = (ITEMS, BUNDLES, SITE_ITEMS, HOLIDAYS)
