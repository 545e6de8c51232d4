"""Import, versions, rollback and clipping against the real PostGIS, with the real extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import RegionNotFound
from geo.models import Region
from geo.settings import PROJECT_ROOT
from routing import service
from routing.engine import Engine
from routing.errors import NothingToRollBack, OsmFileError
from routing.holder import EngineHolder
from routing.models import NetworkVersion
from routing.profiles import Mode

ROADS = PROJECT_ROOT / "data" / "roads"


def test_import_pbf_and_xml_give_the_same_network(routing_session: Session) -> None:
    pbf = service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm.pbf")
    xml = service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm")
    assert pbf.city_code == "320100000000"  # found from the Nanjing boundary
    assert (pbf.ways_read, pbf.node_count, pbf.edge_count) == (384, 617, 1576)
    assert pbf.length_km == pytest.approx(87.25, abs=0.01)  # SOURCE.md: 87.25 km of highway ways
    assert (xml.node_count, xml.edge_count, xml.length_km) == (
        pbf.node_count,
        pbf.edge_count,
        pbf.length_km,
    )
    assert not routing_session.get(NetworkVersion, pbf.id).active and xml.active  # type: ignore[union-attr]
    names = set(
        routing_session.scalars(
            text("SELECT DISTINCT name FROM road_edges WHERE version_id = :v"), {"v": xml.id}
        )
    )
    assert {"中山路", "汉中路", "长江路", "太平北路"} <= names
    oneway = routing_session.execute(
        text(
            "SELECT count(*) FILTER (WHERE drive), count(*) FILTER (WHERE walk) "
            "FROM road_edges WHERE version_id = :v"
        ),
        {"v": xml.id},
    ).one()
    assert 0 < oneway[0] < oneway[1]  # footways are walk-only


def test_rollback_reactivates_the_previous_version_and_keeps_the_newer(
    routing_session: Session,
) -> None:
    first = service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm.pbf")
    with pytest.raises(NothingToRollBack):
        service.rollback(routing_session, "320100")
    second = service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm")
    was, now = service.rollback(routing_session, "320100")
    assert (was.id, now.id) == (second.id, first.id)
    assert [(v.id, v.active) for v in service.list_versions(routing_session, "320100")] == [
        (first.id, True),
        (second.id, False),
    ]
    service.activate_version(routing_session, second.id)
    assert [v.id for v in service.active_versions(routing_session)] == [second.id]


def test_city_clips_to_the_region_boundary(routing_session: Session) -> None:
    version = service.import_network(
        routing_session, ROADS / "nanjing_xinjiekou_highways.osm.pbf", city="320102"
    )
    assert version.clipped and version.city_code == "320102000000"
    boundary = to_shape(routing_session.get(Region, "320102000000").boundary)  # type: ignore[union-attr]
    rows = routing_session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM road_nodes WHERE version_id = :v"),
        {"v": version.id},
    ).all()
    xy = np.array(rows)
    assert 50 < len(xy) < 617
    assert shapely.contains_xy(boundary, xy[:, 0], xy[:, 1]).all()  # 玄武区 only


def test_bad_inputs_are_typed_errors(routing_session: Session, tmp_path: Path) -> None:
    with pytest.raises(OsmFileError):
        service.import_network(routing_session, tmp_path / "missing.osm.pbf")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"not a pbf")
    with pytest.raises(OsmFileError):
        service.import_network(routing_session, broken)
    with pytest.raises(RegionNotFound):
        service.import_network(
            routing_session, ROADS / "nanjing_xinjiekou_highways.osm.pbf", city="110100"
        )


def test_holder_switches_to_a_new_version_while_the_old_engine_keeps_answering(
    routing_session: Session,
) -> None:
    from contextlib import nullcontext

    service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm.pbf")
    holder = EngineHolder(check_interval_s=0, sessions=lambda: nullcontext(routing_session))
    old = holder.engine_at(routing_session, 118.7787, 32.0426)
    assert old.hierarchy_loaded  # the hierarchies were stored at import, not built on load
    new_version = service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm")
    assert holder.engine_at(routing_session, 118.7787, 32.0426) is old  # loading in background
    holder.wait()
    new = holder.engine_at(routing_session, 118.7787, 32.0426)
    assert new.network.version_id == new_version.id and old is not new
    a, b = old.snap(118.7787, 32.0426, Mode.drive), old.snap(118.770, 32.055, Mode.drive)
    assert old.route(a, b, Mode.drive).duration_s == new.route(a, b, Mode.drive).duration_s


def test_versions_imported_without_hierarchies_get_them_built_and_stored(
    routing_session: Session,
) -> None:
    version = service.import_network(routing_session, ROADS / "nanjing_xinjiekou_highways.osm.pbf")
    stored = Engine(service.load_network(routing_session, version))
    assert stored.hierarchy_loaded
    routing_session.execute(
        text("DELETE FROM road_network_hierarchies WHERE version_id = :v"), {"v": version.id}
    )
    rebuilt = Engine(service.load_network(routing_session, version))  # still answers
    assert not rebuilt.hierarchy_loaded
    heard: list[tuple[str, int, int]] = []
    assert service.store_missing_hierarchies(routing_session, lambda *r: heard.append(r)) == [
        version.id
    ]
    assert service.store_missing_hierarchies(routing_session) == []
    # the contraction's progress bar moves forward to its end: each node weighed, then
    # contracted, in both modes
    assert {step for step, _, _ in heard} == {f"version {version.id}: contraction hierarchies"}
    done = [d for _, d, _ in heard]
    assert done == sorted(done) and heard[-1][1:] == (4 * version.node_count,) * 2
    loaded = Engine(service.load_network(routing_session, version))
    assert loaded.hierarchy_loaded
    for mode in Mode:
        a, b = loaded.snap(118.7787, 32.0426, mode), loaded.snap(118.770, 32.055, mode)
        assert loaded.route(a, b, mode).duration_s == stored.route(a, b, mode).duration_s
        assert rebuilt.route(a, b, mode).duration_s == stored.route(a, b, mode).duration_s
