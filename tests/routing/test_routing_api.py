"""The routing API, snapping and steps, on the Nanjing extract imported in the transaction."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.db import request_session
from routing import api, service
from routing.engine import Engine
from routing.errors import OutsideNetwork
from routing.holder import EngineHolder
from routing.models import NetworkVersion
from routing.osm import haversine_m
from routing.profiles import Mode

XINJIEKOU = (118.7787, 32.0426)
GUANGZHOU_LU = (118.7700, 32.0550)


@pytest.fixture
def client(routing_session: Session, nanjing: NetworkVersion) -> Iterator[TestClient]:
    """The whole web app, its requests served from the test session and a fresh engine holder."""
    from web.app import create_app

    app = create_app()
    holder = EngineHolder(check_interval_s=0)
    app.dependency_overrides[request_session] = lambda: routing_session
    app.dependency_overrides[api.get_holder] = lambda: holder

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def q(point: tuple[float, float]) -> str:
    return f"{point[0]},{point[1]}"


def test_route_answers_geojson_with_chinese_steps(client: TestClient) -> None:
    r = client.get(
        "/api/route", params={"from": "118.7800,32.0480", "to": "118.7700,32.0425", "mode": "drive"}
    )
    assert r.status_code == 200, r.text
    feature = r.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    props = feature["properties"]
    assert 100 < props["duration_s"] < 600 and 1200 < props["distance_m"] < 2500
    texts = [s["instruction"] for s in props["steps"]]
    assert any(t.startswith("沿中山路向南行驶") for t in texts), texts
    assert any("左转进入中山路" in t for t in texts) and any("进入汉中路" in t for t in texts)
    assert texts[-1] == "到达目的地" and "OpenStreetMap" in props["attribution"]
    lon, lat = feature["geometry"]["coordinates"][0]
    assert abs(lon - 118.78) < 0.001 and abs(lat - 32.048) < 0.001


def test_route_in_gcj02_and_bd09_is_the_same_route(client: TestClient) -> None:
    plain = client.get(
        "/api/route", params={"from": q(XINJIEKOU), "to": q(GUANGZHOU_LU), "mode": "walk"}
    ).json()
    for crs, convert in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        a, b = convert(*XINJIEKOU), convert(*GUANGZHOU_LU)
        shifted = client.get(
            "/api/route", params={"from": q(a), "to": q(b), "mode": "walk", "crs": crs}
        ).json()
        assert shifted["properties"]["duration_s"] == pytest.approx(
            plain["properties"]["duration_s"], abs=0.2
        )  # BD-09 round trip: < 0.1 m
        first = plain["geometry"]["coordinates"][0]
        assert shifted["geometry"]["coordinates"][0] == pytest.approx(
            list(convert(*first)), abs=2e-6
        )


def test_errors_name_the_field_and_the_fix(client: TestClient) -> None:
    bad_mode = client.get(
        "/api/route", params={"from": q(XINJIEKOU), "to": q(GUANGZHOU_LU), "mode": "fly"}
    )
    assert bad_mode.status_code == 422 and bad_mode.json()["field"] == "mode"
    bad_point = client.get("/api/route", params={"from": "32.04,118.77", "to": q(GUANGZHOU_LU)})
    assert bad_point.status_code == 422 and bad_point.json()["field"] == "from"
    far = client.get("/api/route", params={"from": q(XINJIEKOU), "to": "118.83,32.043"})
    assert (
        far.status_code == 422
        and far.json()["field"] == "to"
        and far.json()["code"] == "outside_network"
    )
    assert 2000 < far.json()["distance_m"] < 5000
    jinan = client.get("/api/route", params={"from": "117.0,36.65", "to": "117.01,36.66"})
    assert jinan.status_code == 409
    assert (
        "daofu roads import" in jinan.json()["detail"] and "--city 370100" in jinan.json()["detail"]
    )


def test_nearest_sites_and_isochrone(client: TestClient) -> None:
    r = client.get(
        "/api/nearest-sites", params={"at": q(XINJIEKOU), "mode": "walk", "k": 5, "max_minutes": 30}
    )
    assert r.status_code == 200, r.text
    features = r.json()["features"]
    assert len(features) == 5
    times = [f["properties"]["duration_s"] for f in features]
    assert times == sorted(times) and times[-1] <= 1800
    halls = client.get(
        "/api/nearest-sites",
        params={"at": q(XINJIEKOU), "level": "street", "k": 3, "max_minutes": 60},
    ).json()["features"]
    assert halls and all(f["properties"]["level"] == "street" for f in halls)
    iso = client.get(
        "/api/isochrone", params={"at": q(XINJIEKOU), "minutes": "5,10,15", "mode": "walk"}
    )
    assert iso.status_code == 200, iso.text
    areas = {
        f["properties"]["minutes"]: f["properties"]["area_km2"] for f in iso.json()["features"]
    }
    assert 0 < areas[5] < areas[10] < areas[15] < 4  # 15 min on foot stays within ~1.25 km
    assert iso.json()["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    bad = client.get("/api/isochrone", params={"at": q(XINJIEKOU), "minutes": "5,x"})
    assert bad.status_code == 422 and bad.json()["field"] == "minutes"


def test_snapping_projects_onto_the_nearest_usable_edge(
    routing_session: Session, nanjing: NetworkVersion
) -> None:
    engine = Engine(service.load_network(routing_session, nanjing))
    snap = engine.snap(*XINJIEKOU, Mode.drive)
    net = engine.network
    ends = [int(net.piece_u[snap.piece]), int(net.piece_v[snap.piece])]
    to_ends = haversine_m(
        np.full(2, XINJIEKOU[0]), np.full(2, XINJIEKOU[1]), net.node_lon[ends], net.node_lat[ends]
    )
    assert 0 < snap.distance_m < 30 and 0 < snap.along_m < net.piece_length_m[snap.piece]
    assert (
        snap.distance_m < to_ends.min() - 5
    )  # the foot of the perpendicular, not the nearest node
    walk = engine.snap(*XINJIEKOU, Mode.walk)
    assert walk.distance_m <= snap.distance_m  # footways and sidewalks count for walking
    drive_highways = {net.highways[net.piece_highway[p]] for p in [snap.piece]}
    assert not drive_highways & {"footway", "steps", "pedestrian", "path"}
    with pytest.raises(OutsideNetwork) as error:
        engine.snap(118.83, 32.043, Mode.drive, "to")
    assert error.value.field == "to" and error.value.detail["distance_m"] > 500
