"""Routing operations on a Session: import and version networks, find nearest sites.

Functions flush, never commit: the CLI command or the request owns the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import box
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from geo.divisions import full_code, subtree_prefix
from geo.errors import InvalidInput, RegionNotFound
from geo.models import Region, Site, SiteKind, SiteLevel, SiteStatus
from routing.engine import Engine, Snap
from routing.errors import NetworkVersionNotFound, NothingToRollBack
from routing.hierarchy import build_hierarchies
from routing.models import NetworkVersion
from routing.network import RoadNetwork, arcs_of
from routing.osm import Report, RoadGraph, read_osm
from routing.profiles import Mode
from routing.store import (
    read_network,
    versions_without_hierarchies,
    write_graph,
    write_hierarchies,
)


def _quiet(step: str, done: int, total: int) -> None:
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def city_at(session: Session, lon: float, lat: float) -> str | None:
    """The code of the city-level region whose boundary contains the point, if any."""
    return session.scalar(
        text(
            "SELECT code FROM regions WHERE level = 'city' "
            "AND ST_Contains(boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) LIMIT 1"
        ),
        {"lon": lon, "lat": lat},
    )


def active_import_of(session: Session, path: Path, city: str) -> NetworkVersion | None:
    """The city's active version if it was imported, clipped, from this very file."""
    city_code = full_code(city, "city")
    return session.scalars(
        select(NetworkVersion).where(
            NetworkVersion.city_code == city_code,
            NetworkVersion.active.is_(True),
            NetworkVersion.clipped.is_(True),
            NetworkVersion.source_sha256 == _sha256(path),
        )
    ).first()


def import_network(
    session: Session, path: Path, city: str | None = None, report: Report | None = None
) -> NetworkVersion:
    """Import an OSM file as a new network version and make it the city's active one.

    With ``city`` (a division code) the roads are clipped to that region's
    boundary; without it the city is the one containing the network's centre.
    """
    report = report or _quiet
    clip = None
    city_code = None
    if city:
        city_code = full_code(city, "city")
        region = session.get(Region, city_code)
        if region is None:
            raise RegionNotFound(
                f"区划 {city_code} 不存在 / no region {city_code}: run `daofu data load` first"
            )
        if region.boundary is None:
            raise InvalidInput(
                "city", f"区划 {city_code} 没有边界 / region {city_code} has no boundary to clip to"
            )
        clip = to_shape(region.boundary)
    graph = read_osm(path, clip, report)
    if city_code is None:
        centre_lon, centre_lat = float(np.median(graph.node_lon)), float(np.median(graph.node_lat))
        city_code = city_at(session, centre_lon, centre_lat)
        if city_code is None:
            raise InvalidInput(
                "city",
                f"无法判断路网所属城市 / no city boundary contains the network's centre "
                f"({centre_lon:.5f}, {centre_lat:.5f}): pass --city CODE",
            )
    version = store_graph(session, graph, city_code, path.name, _sha256(path), clip is not None,
                          report)  # fmt: skip
    activate_version(session, version.id)
    return version


def store_graph(
    session: Session,
    graph: RoadGraph,
    city_code: str,
    source_file: str,
    source_sha256: str,
    clipped: bool,
    report: Report | None = None,
) -> NetworkVersion:
    """Write a read network as a new (inactive) version with its contraction hierarchies."""
    report = report or _quiet
    arcs = arcs_of(graph)
    version = NetworkVersion(
        city_code=city_code,
        source_file=source_file,
        source_sha256=source_sha256,
        clipped=clipped,
        ways_read=graph.ways_read,
        node_count=graph.node_count,
        edge_count=len(arcs.piece),
        length_km=round(float(graph.piece_length_m.sum()) / 1000.0, 3),
        extent=from_shape(
            box(
                graph.node_lon.min(),
                graph.node_lat.min(),
                graph.node_lon.max(),
                graph.node_lat.max(),
            ),
            srid=4326,
        ),
    )
    session.add(version)
    session.flush()
    write_graph(session, version.id, graph, arcs, report)
    hierarchies = build_hierarchies(
        arcs.source,
        arcs.target,
        arcs.walk_ms,
        arcs.drive_ms,
        graph.node_count,
        partial(report, "contraction hierarchies"),
    )
    write_hierarchies(session, version.id, hierarchies)
    return version


def activate_version(session: Session, version_id: int) -> NetworkVersion:
    """Make a version its city's active network, in the caller's transaction."""
    version = session.get(NetworkVersion, version_id)
    if version is None:
        raise NetworkVersionNotFound(
            f"路网版本 {version_id} 不存在 / no network version {version_id}"
        )
    session.execute(
        update(NetworkVersion)
        .where(NetworkVersion.city_code == version.city_code, NetworkVersion.id != version_id)
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    version.active = True
    session.flush()
    return version


def list_versions(session: Session, city: str | None = None) -> list[NetworkVersion]:
    query = select(NetworkVersion).order_by(NetworkVersion.city_code, NetworkVersion.id)
    if city:
        query = query.where(NetworkVersion.city_code == full_code(city, "city"))
    return list(session.scalars(query))


def active_versions(session: Session) -> list[NetworkVersion]:
    return list(
        session.scalars(
            select(NetworkVersion).where(NetworkVersion.active).order_by(NetworkVersion.id)
        )
    )


def rollback(session: Session, city: str | None = None) -> tuple[NetworkVersion, NetworkVersion]:
    """Re-activate the version imported before the active one; returns (was active, now active)."""
    actives = active_versions(session)
    if city:
        code = full_code(city, "city")
        actives = [v for v in actives if v.city_code == code]
    if not actives:
        raise NothingToRollBack("没有启用的路网 / no active road network to roll back")
    if len(actives) > 1:
        cities = ", ".join(v.city_code for v in actives)
        raise InvalidInput("city", f"several cities have networks ({cities}): pass --city CODE")
    current = actives[0]
    previous = session.scalar(
        select(NetworkVersion)
        .where(NetworkVersion.city_code == current.city_code, NetworkVersion.id < current.id)
        .order_by(NetworkVersion.id.desc())
        .limit(1)
    )
    if previous is None:
        raise NothingToRollBack(
            f"城市 {current.city_code} 只有一个路网版本 / version {current.id} is the only one of "
            f"city {current.city_code}"
        )
    activate_version(session, previous.id)
    session.refresh(current)
    return current, previous


def store_missing_hierarchies(session: Session, report: Report | None = None) -> list[int]:
    """Build and store the hierarchies of versions imported without them; returns their ids."""
    report = report or _quiet
    done = []
    for version_id in versions_without_hierarchies(session):
        version = session.get(NetworkVersion, version_id)
        assert version is not None
        net = load_network(session, version)
        told = partial(report, f"version {version_id}: contraction hierarchies")
        write_hierarchies(
            session,
            version_id,
            build_hierarchies(
                net.arc_source,
                net.arc_target,
                net.arc_walk_ms,
                net.arc_drive_ms,
                net.node_count,
                told,
            ),
        )
        done.append(version_id)
    return done


def load_network(session: Session, version: NetworkVersion) -> RoadNetwork:
    """The version's arrays, read from PostGIS (the engine's only database read)."""
    return read_network(session, version.id, version.city_code)


@dataclass
class SiteReach:
    site: Site
    duration_s: float
    snapped_distance_m: float


def nearest_sites(
    session: Session,
    engine: Engine,
    origin: Snap,
    mode: Mode,
    k: int,
    limit_s: float,
    level: SiteLevel | None = None,
    kind: SiteKind | None = None,
    region: str | None = None,
) -> list[SiteReach]:
    """The k published sites reached first from ``origin``, by travel time, within ``limit_s``."""
    west, south, east, north = engine.network.extent
    query = select(Site).where(
        Site.status == SiteStatus.published,
        func.ST_Intersects(Site.geom, func.ST_MakeEnvelope(west, south, east, north, 4326)),
    )
    if level is not None:
        query = query.where(Site.level == level)
    if kind is not None:
        query = query.where(Site.kind == kind)
    if region:
        query = query.where(
            Site.region_code.startswith(subtree_prefix(full_code(region, "region")))
        )
    sites = list(session.scalars(query.order_by(Site.id)))
    if not sites:
        return []
    points = np.array([to_shape(s.geom).coords[0] for s in sites], dtype=np.float64)
    targets = engine.snap_points(points[:, 0], points[:, 1], mode)
    found = engine.nearest(origin, targets, mode, k, round(limit_s * 1000))
    return [SiteReach(sites[i], ms / 1000.0, float(targets.distance_m[i])) for i, ms in found]
