"""The catalogue's HTTP API on real PostGIS, with the real Nanjing network active.

Free text goes through catalogue.search (jieba, pinyin, synonyms): only 办身份证 is
relied on here; the search module's own tests cover the rest.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy.orm import Session

from catalogue.models import SiteItem
from geo.settings import get_settings

ID_CARD = "513A0011200068-511602000000-000-1151130000877869M-1-00"
XINJIEKOU = "118.7787,32.0426"
QUANCHENG_SQUARE = (117.0185, 36.6628)
GEOD = Geod(ellps="WGS84")
PROBLEM = "application/problem+json"


def plain_item_code() -> str:
    """An item of the real list that has no sample content."""
    import json

    data = get_settings().data_dir / "items"
    written = {e.get("item_code") for e in json.loads((data / "sample_content.json").read_text())}
    with (data / "guangan_district_items.csv").open(encoding="utf-8-sig") as f:
        return next(r["item_code"] for r in csv.DictReader(f) if r["item_code"] not in written)


def match(client: TestClient, **params: str | int) -> dict:
    r = client.get("/api/match", params={"from": XINJIEKOU, "mode": "walk", **params})
    assert r.status_code == 200, r.text
    return r.json()


def handled(session: Session, site_id: int, code: str) -> bool:
    return session.get(SiteItem, (site_id, code)) is not None


def test_match_by_code_gives_routes_ordered_by_when_served(
    nanjing_client: TestClient, session: Session
) -> None:
    answer = match(nanjing_client, item=ID_CARD, at="2026-11-24T10:00", k=10)
    assert answer["item"]["code"] == ID_CARD and answer["routed"] and answer["reason"] is None
    results = answer["results"]
    assert len(results) == 10
    ready = [datetime.fromisoformat(r["ready_at"]) for r in results]
    assert ready == sorted(ready)
    depart = datetime.fromisoformat(answer["depart_at"])
    assert depart == datetime.fromisoformat("2026-11-24T10:00:00+08:00")
    for result in results:
        assert not result["estimate"] and result["duration_s"] > 0
        arrive = datetime.fromisoformat(result["arrive_at"])
        assert abs(arrive - depart - timedelta(seconds=result["duration_s"])) < timedelta(seconds=1)
        assert handled(session, result["site"]["id"], ID_CARD)
        route = result["route"]
        assert route["geometry"]["type"] == "LineString" and route["properties"]["steps"]
        assert route["properties"]["duration_s"] == pytest.approx(result["duration_s"], abs=1)
    reasons = {e["reason"] for e in answer["left_out"]}
    assert "not_handled" in reasons
    assert all(
        not handled(session, e["site_id"], ID_CARD)
        for e in answer["left_out"]
        if e["reason"] == "not_handled"
    )


def test_match_by_what_a_citizen_types(nanjing_client: TestClient) -> None:
    by_text = match(nanjing_client, item="办身份证", at="2026-11-24T10:00")
    by_code = match(nanjing_client, item=ID_CARD, at="2026-11-24T10:00")
    assert by_text["item"]["code"] == ID_CARD
    assert [r["site"]["id"] for r in by_text["results"]] == [
        r["site"]["id"] for r in by_code["results"]
    ]
    assert ID_CARD not in {a["code"] for a in by_text["alternatives"]}


def test_a_lunch_break_departure_waits_until_the_afternoon(nanjing_client: TestClient) -> None:
    answer = match(nanjing_client, item=ID_CARD, at="2026-11-24T11:55", k=20)
    waiting = [r for r in answer["results"] if r["wait_s"] > 0]
    assert waiting
    for result in waiting:
        arrive = datetime.fromisoformat(result["arrive_at"])
        ready = datetime.fromisoformat(result["ready_at"])
        assert ready.strftime("%H:%M:%S") in ("13:00:00", "13:30:00")
        assert result["wait_s"] == pytest.approx((ready - arrive).total_seconds(), abs=0.01)
        assert result["open_on_arrival"] is False and result["opens_at"] == result["ready_at"]
        hours = result["site"]["properties"]["opening_hours"]
        assert f"12:00,{ready:%H:%M}" in hours
    # the 24-hour zone does not make anyone wait
    zones = [r for r in answer["results"] if r["site"]["properties"]["opening_hours"] == "24/7"]
    assert zones and all(r["wait_s"] == 0 and r["open_on_arrival"] for r in zones)


def test_jinan_without_roads_answers_by_straight_line(nanjing_client: TestClient) -> None:
    origin = f"{QUANCHENG_SQUARE[0]},{QUANCHENG_SQUARE[1]}"
    r = nanjing_client.get(
        "/api/match", params={"item": ID_CARD, "from": origin, "at": "2026-11-24T10:00"}
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["routed"] is False and "daofu roads import" in answer["reason"]
    assert answer["results"]
    distances = []
    for result in answer["results"]:
        assert result["estimate"] is True and result["duration_s"] is None
        assert result["arrive_at"] is None and result["ready_at"] is None
        assert result["route"] is None
        lon, lat = result["site"]["geometry"]["coordinates"]
        distance = GEOD.inv(*QUANCHENG_SQUARE, lon, lat)[2]
        assert result["distance_m"] == pytest.approx(distance, abs=0.5)
        distances.append(distance)
    assert distances == sorted(distances)


def test_match_errors_name_what_to_fix(nanjing_client: TestClient) -> None:
    nothing = nanjing_client.get(
        "/api/match", params={"item": "量子纠缠签证办理", "from": XINJIEKOU}
    )
    assert nothing.status_code == 404
    assert nothing.headers["content-type"].startswith(PROBLEM)
    assert nothing.json()["code"] == "nothing_fits"
    for params, field in (
        ({"at": "next tuesday"}, "at"),
        ({"at": "2026-13-40T10:00"}, "at"),
        ({"mode": "fly"}, "mode"),
    ):
        r = nanjing_client.get("/api/match", params={"item": ID_CARD, "from": XINJIEKOU, **params})
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["field"] == field
    # in Nanjing, which has a network, but ~3 km east of the imported extract
    off = nanjing_client.get("/api/match", params={"item": ID_CARD, "from": "118.83,32.043"})
    assert off.status_code == 422, off.text
    assert off.json()["field"] == "from" and off.json()["code"] == "outside_network"
    itinerary = nanjing_client.get("/api/bundles/B001/itinerary", params={"from": "118.83,32.043"})
    assert itinerary.status_code == 422 and itinerary.json()["field"] == "from"


def test_unknown_bundles_and_items_are_404(nanjing_client: TestClient) -> None:
    for path in ("/api/bundles/B999", "/api/bundles/B999/itinerary", "/api/items/NO-SUCH-ITEM"):
        r = nanjing_client.get(path, params={"from": XINJIEKOU})
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith(PROBLEM)
    assert nanjing_client.get("/api/bundles/B999").json()["code"] == "bundle_not_found"


def test_an_item_shows_the_notice_and_its_sample_content_flag(nanjing_client: TestClient) -> None:
    sample = nanjing_client.get(f"/api/items/{ID_CARD}").json()
    assert sample["sample_content"] is True and sample["materials"] and sample["process"]
    assert "广安" in sample["notice"] and "示例内容" in sample["notice"]
    plain = nanjing_client.get(f"/api/items/{plain_item_code()}").json()
    assert plain["sample_content"] is False and plain["materials"] == []
    assert plain["notice"] == sample["notice"]
    flagged = nanjing_client.get("/api/items", params={"sample_content": "true", "limit": 500})
    assert len(flagged.json()) >= 150 and all(i["sample_content"] for i in flagged.json())
    bundles = nanjing_client.get("/api/bundles").json()
    assert len(bundles) >= 10 and all(len(b["steps"]) >= 2 for b in bundles)


def test_matched_sites_handle_the_item_in_the_answer_even_by_text(
    nanjing_client: TestClient, session: Session
) -> None:
    answer = match(nanjing_client, item="办身份证", at="2026-10-08T10:00", k=20)
    assert answer["results"]
    assert answer["item"]["code"] == ID_CARD
    assert all(handled(session, r["site"]["id"], ID_CARD) for r in answer["results"])
    # 2026-10-08, the first working day after National Day: the halls are open on arrival
    assert any(r["site"]["properties"]["kind"] == "hall" for r in answer["results"])
    assert all(r["open_on_arrival"] for r in answer["results"])
