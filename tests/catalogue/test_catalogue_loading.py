"""The catalogue as ``daofu data load`` leaves it: real items, sample content, bundles, links.

Expectations are read from the shipped files with csv/json here, not from the loader.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from catalogue.models import Bundle, BundleItem, Item, SiteItem
from geo import loading
from geo.errors import DataFileError
from geo.models import DatasetLoad, Site
from geo.settings import get_settings
from web.datasets import ALL_DATASETS

DATA = get_settings().data_dir
ITEMS_CSV = DATA / "items" / "guangan_district_items.csv"
SAMPLE_JSON = DATA / "items" / "sample_content.json"
BUNDLES_JSON = DATA / "items" / "bundles.json"

# The department a sub-centre serves, by the topic in its name (the CSV's department names).
SUB_CENTRE_TOPICS = {
    "公安": "区公安分局",
    "社会保险": "区人社局",
    "医疗保障": "区医疗保障局",
    "税务": "广安区税务局",
    "市场监管": "区市监局",
    "不动产登记": "区自然资源和规划局",
}


def csv_items() -> list[dict[str, str]]:
    with ITEMS_CSV.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def entries(path: Path) -> list[dict[str, Any]]:
    """The file's entries without its ``_note`` header."""
    return [e for e in json.loads(path.read_text(encoding="utf-8")) if "_note" not in e]


def handled_by(session: Session, site_id: int) -> set[str]:
    return set(session.scalars(select(SiteItem.item_code).where(SiteItem.site_id == site_id)))


def test_every_real_item_is_loaded_with_its_code_name_and_department(session: Session) -> None:
    rows = csv_items()
    assert len(rows) == 1135
    expected = {(r["item_code"], r["item_name"].strip(), r["department"].strip()) for r in rows}
    loaded = {
        (c, n, d) for c, n, d in session.execute(select(Item.code, Item.name, Item.department))
    }
    assert loaded == expected
    assert len({r["department"] for r in rows}) == 34
    identity = session.get(Item, "513A0011200068-511602000000-000-1151130000877869M-1-00")
    assert identity is not None and identity.name == "居民身份证办理（包括临时）"
    assert identity.department == "区公安分局" and "广安" in identity.source


def test_sample_content_gives_materials_process_and_limits(session: Session) -> None:
    written = entries(SAMPLE_JSON)
    assert len(written) >= 150
    for entry in written:
        item = session.get(Item, entry["item_code"])
        assert item is not None and item.sample_content, entry["item_code"]
        assert item.materials == entry["materials"] and item.materials
        assert all(m["name"] for m in item.materials)
        assert item.process == entry["process"] and item.process
        assert item.legal_limit_days == entry.get("legal_limit_days")
        assert item.promised_limit_days == entry.get("promised_limit_days")
        assert "示例内容" in item.source
    with_limits = session.scalar(
        select(func.count()).where(
            Item.sample_content.is_(True),
            func.jsonb_array_length(Item.materials) > 0,
            func.jsonb_array_length(Item.process) > 0,
            (Item.legal_limit_days.is_not(None)) | (Item.promised_limit_days.is_not(None)),
        )
    )
    assert with_limits is not None and with_limits >= 150
    flagged = session.scalar(select(func.count()).where(Item.sample_content.is_(True)))
    assert flagged == len(written)
    # the items without sample content say nothing they do not know
    plain = session.scalars(select(Item).where(Item.sample_content.is_(False)).limit(50)).all()
    assert plain and all(i.materials == [] and i.conditions is None for i in plain)


def test_bundles_are_real_items_across_departments_in_order(session: Session) -> None:
    written = entries(BUNDLES_JSON)
    assert len(written) >= 10
    assert set(session.scalars(select(Bundle.code))) == {b["code"] for b in written}
    department = {c: d for c, d in session.execute(select(Item.code, Item.department))}
    for bundle in written:
        steps = session.scalars(
            select(BundleItem)
            .where(BundleItem.bundle_code == bundle["code"])
            .order_by(BundleItem.position)
        ).all()
        ordered = sorted(bundle["items"], key=lambda s: s["order"])
        assert [s.item_code for s in steps] == [s["item_code"] for s in ordered], bundle["code"]
        assert [s.service_minutes for s in steps] == [
            s["service_minutes_per_visit"] for s in ordered
        ]
        assert all(s.item_code in department for s in steps)
        assert len({department[s.item_code] for s in steps}) >= 2, bundle["code"]


def test_a_community_station_does_less_than_its_district_centre(session: Session) -> None:
    district_only_licences = set(
        session.scalars(
            select(Item.code).where(Item.item_type == "行政许可", Item.levels == ["district"])
        )
    )
    assert len(district_only_licences) >= 10
    centres = {
        s.region_code: s
        for s in session.scalars(select(Site).where(Site.kind == "hall", Site.level == "district"))
    }
    stations = session.scalars(select(Site).where(Site.kind == "hall", Site.level == "community"))
    checked = 0
    for station in stations:
        centre = centres[station.region_code[:6] + "000000"]
        at_station, at_centre = handled_by(session, station.id), handled_by(session, centre.id)
        assert at_station and len(at_station) < len(at_centre), station.name
        assert at_station <= at_centre, station.name
        assert not at_station & district_only_licences, station.name
        assert district_only_licences <= at_centre, centre.name
        checked += 1
    assert checked >= 30  # Jinan's sampled stations and Nanjing's


def test_sub_centres_handle_only_their_departments_items(session: Session) -> None:
    by_department: dict[str, set[str]] = {}
    sample_levels = {e["item_code"]: e.get("levels") or ["district"] for e in entries(SAMPLE_JSON)}
    for row in csv_items():
        if "district" in sample_levels.get(row["item_code"], ["district"]):
            by_department.setdefault(row["department"], set()).add(row["item_code"])
    sub_centres = session.scalars(select(Site).where(Site.kind == "sub_centre")).all()
    assert len(sub_centres) >= 6
    for site in sub_centres:
        (topic,) = [t for t in SUB_CENTRE_TOPICS if t in site.name]
        assert handled_by(session, site.id) == by_department[SUB_CENTRE_TOPICS[topic]], site.name


def test_a_second_load_of_unchanged_files_is_skipped(session: Session) -> None:
    results = {
        r.name: r for r in loading.load_all(session, DATA, lambda *_: None, datasets=ALL_DATASETS)
    }
    for name in ("items", "bundles", "site_items", "holiday_calendar"):
        assert results[name].skipped, name
    assert results["items"].rows == 1135
    assert results["bundles"].rows == len(entries(BUNDLES_JSON))
    assert results["site_items"].rows == session.scalar(select(func.count()).select_from(SiteItem))


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def test_a_changed_bundle_file_reloads_bundles_but_not_items(
    session: Session, data_copy: Path
) -> None:
    path = data_copy / "items" / "bundles.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    first = next(i for i, e in enumerate(content) if e.get("code") == "B001")
    content[first]["name"] = "出生一件事（改）"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    links = session.scalar(select(func.count()).select_from(SiteItem))
    results = {
        r.name: r
        for r in loading.load_all(session, data_copy, lambda *_: None, datasets=ALL_DATASETS)
    }
    assert results["items"].skipped and not results["bundles"].skipped
    bundle = session.get(Bundle, "B001")
    assert bundle is not None
    session.refresh(bundle)
    assert bundle.name == "出生一件事（改）"
    assert session.scalar(select(func.count()).select_from(SiteItem)) == links


def test_an_unknown_item_code_in_sample_content_names_file_row_and_field_and_writes_nothing(
    session: Session, data_copy: Path
) -> None:
    path = data_copy / "items" / "sample_content.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    assert "_note" in content[0]  # element 0 is the header; entries are elements 1…
    victim = content[5]["item_code"]
    content[5]["item_code"] = "999X-NOT-A-REAL-CODE"
    content[5]["conditions"] = "changed"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    before = session.execute(
        text("SELECT count(*), count(*) FILTER (WHERE sample_content) FROM items")
    ).one()
    stamp = session.get(DatasetLoad, "items")
    assert stamp is not None
    sha_before = stamp.sha256
    with pytest.raises(DataFileError) as error, session.begin_nested():
        loading.load_all(session, data_copy, lambda *_: None, datasets=ALL_DATASETS)
    message = str(error.value)
    assert "items/sample_content.json" in message and "999X-NOT-A-REAL-CODE" in message
    assert error.value.detail["field"] == "item_code" and "field item_code" in message
    assert error.value.detail["row"] == 5 and "row 5," in message  # the element's index in the list
    session.expire_all()
    after = session.execute(
        text("SELECT count(*), count(*) FILTER (WHERE sample_content) FROM items")
    ).one()
    assert tuple(after) == tuple(before)
    kept = session.get(Item, victim)
    assert kept is not None and kept.sample_content and kept.conditions != "changed"
    stamp = session.get(DatasetLoad, "items")
    assert stamp is not None and stamp.sha256 == sha_before
