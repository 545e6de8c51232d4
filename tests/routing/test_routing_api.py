"""The routing API, snapping and steps, on the Nanjing extract imported in the transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from geoalchemy2.shape import from_shape
from sqlalchemy.orm import Session

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.db import request_session
from geo.settings import PROJECT_ROOT
from routing import api, service, store
from routing.engine import Engine
from routing.errors import OutsideNetwork
from routing.holder import EngineHolder
from routing.models import NetworkVersion
from routing.network import RoadNetwork, arcs_of
from routing.osm import haversine_m, read_osm
from routing.profiles import Mode
from tests.routing.conftest import SHANGHAI_PBF, Gap

NANJING_XML = PROJECT_ROOT / "data" / "roads" / "nanjing_xinjiekou_highways.osm"
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


ZHONGSHAN_LU_N = (118.7790, 32.0475)
"""On 中山路, north of the 新街口 roundabout (arms: 汉中路 W, 中山南路 S, 中山东路 E)."""


@pytest.mark.parametrize(
    ("to", "exit_number", "road"),
    [
        ((118.7720, 32.0420), 1, "汉中路"),
        ((118.7788, 32.0375), 2, "中山南路"),
        ((118.7860, 32.0430), 3, "中山东路"),
    ],
    ids=["west", "south", "east"],
)
def test_roundabout_step_counts_the_exits(
    client: TestClient, to: tuple[float, float], exit_number: int, road: str
) -> None:
    """新街口 is driven anticlockwise (right-hand traffic): from the north the west arm is the
    first exit, the south arm the second, the east arm the third."""
    r = client.get("/api/route", params={"from": q(ZHONGSHAN_LU_N), "to": q(to), "mode": "drive"})
    assert r.status_code == 200, r.text
    steps = r.json()["properties"]["steps"]
    texts = [s["instruction"] for s in steps]
    assert texts[0].startswith("沿中山路向南行驶") and "进入" not in texts[0], texts
    roundabout = steps[1]
    assert roundabout["instruction"] == f"进入环岛，从第{exit_number}个出口驶出，进入{road}"
    assert roundabout["maneuver"] == "roundabout" and roundabout["exit"] == exit_number
    assert roundabout["road"] == "新街口转盘" and texts[2].startswith(f"沿{road}")


def test_a_request_during_a_version_switch_is_served_by_the_old_engine(
    routing_session: Session, nanjing: NetworkVersion
) -> None:
    """The request that notices a new version does not wait for its load: the old engine
    answers until the new one is built in the background, then the new one does."""
    from contextlib import nullcontext

    from web.app import create_app

    loaded, release = threading.Event(), threading.Event()

    def gated_loader(session: Session, version: NetworkVersion) -> RoadNetwork:
        network = service.load_network(session, version)
        loaded.set()
        assert release.wait(timeout=30)  # the switch waits here until the test lets it go
        return network

    holder = EngineHolder(
        check_interval_s=0, loader=gated_loader, sessions=lambda: nullcontext(routing_session)
    )
    app = create_app()
    app.dependency_overrides[request_session] = lambda: routing_session
    app.dependency_overrides[api.get_holder] = lambda: holder
    params = {"from": q(XINJIEKOU), "to": q(GUANGZHOU_LU), "mode": "drive"}
    with TestClient(app, raise_server_exceptions=False) as test_client:
        release.set()
        first = test_client.get("/api/route", params=params)  # no engine yet: loads in place
        assert first.json()["properties"]["network_version"] == nanjing.id
        release.clear()
        loaded.clear()
        newer = service.import_network(routing_session, NANJING_XML)
        noticing = test_client.get("/api/route", params=params)
        assert noticing.status_code == 200
        assert noticing.json()["properties"]["network_version"] == nanjing.id
        assert loaded.wait(timeout=30)  # the new version has been read, its load is held
        meanwhile = test_client.get("/api/route", params=params)
        assert meanwhile.json()["properties"]["network_version"] == nanjing.id
        release.set()
        holder.wait()
        after = test_client.get("/api/route", params=params)
        assert after.json()["properties"]["network_version"] == newer.id
        assert after.json()["properties"]["duration_s"] == first.json()["properties"]["duration_s"]
    assert holder.last_error is None


def test_unreachable_pair_on_a_network_with_gaps_is_a_404(
    routing_session: Session, shanghai_gap: Gap
) -> None:
    """Shanghai's extract is cut at its edges: some roads can't be reached by car from the
    main network. With snapping onto such fragments allowed, a route there is a 404."""
    graph = read_osm(SHANGHAI_PBF)  # written to PostGIS as a version, as an import would
    arcs = arcs_of(graph)
    version = NetworkVersion(
        city_code="310100000000",
        source_file=SHANGHAI_PBF.name,
        source_sha256="0" * 64,
        ways_read=graph.ways_read,
        node_count=graph.node_count,
        edge_count=len(arcs.piece),
        length_km=float(graph.piece_length_m.sum()) / 1000,
        active=True,
        extent=from_shape(shapely.box(*graph.coords.min(axis=0), *graph.coords.max(axis=0)), 4326),
    )
    routing_session.add(version)
    routing_session.flush()
    store.write_graph(routing_session, version.id, graph, arcs, lambda *_: None)
    origin, destination = shanghai_gap.origin, shanghai_gap.destination
    holder = EngineHolder(check_interval_s=0, engine_options={"snap_islands": True})
    from web.app import create_app

    app = create_app()
    app.dependency_overrides[request_session] = lambda: routing_session
    app.dependency_overrides[api.get_holder] = lambda: holder
    with TestClient(app, raise_server_exceptions=False) as test_client:
        r = test_client.get(
            "/api/route", params={"from": q(origin), "to": q(destination), "mode": "drive"}
        )
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "unreachable" and r.json()["type"] == "urn:daofu:problem:unreachable"
    assert "drive" in r.json()["detail"]
