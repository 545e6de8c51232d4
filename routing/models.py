"""Tables of the road network: versions, junction nodes and directed edges.

Every import writes a new :class:`NetworkVersion` with its own nodes and edges;
at most one version per city is active (a partial unique index says so), and
switching is one UPDATE inside the import's transaction. Node and edge ids are
dense indices within their version (0..n-1), so the engine loads them straight
into arrays.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base


class NetworkVersion(Base):
    """One import of an OSM file for a city; the active one is what the engine serves."""

    __tablename__ = "road_network_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    city_code: Mapped[str] = mapped_column(String(12))
    source_file: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    clipped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    ways_read: Mapped[int] = mapped_column(Integer)
    node_count: Mapped[int] = mapped_column(Integer)
    edge_count: Mapped[int] = mapped_column(Integer)
    length_km: Mapped[float] = mapped_column(Float)
    extent: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    attribution: Mapped[str] = mapped_column(
        Text,
        default="© OpenStreetMap contributors (ODbL 1.0)",
        server_default="© OpenStreetMap contributors (ODbL 1.0)",
    )

    __table_args__ = (
        Index(
            "uq_road_network_versions_active_city",
            "city_code",
            unique=True,
            postgresql_where=text("active"),
        ),
    )


class RoadNode(Base):
    """A junction or dead end of the road graph (OSM node)."""

    __tablename__ = "road_nodes"

    version_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("road_network_versions.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    osm_id: Mapped[int] = mapped_column(BigInteger)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))


class RoadEdge(Base):
    """A directed edge; a two-way road is two edges sharing ``piece_id`` and reversed geometry."""

    __tablename__ = "road_edges"

    version_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("road_network_versions.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    piece_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[int] = mapped_column(Integer)
    target: Mapped[int] = mapped_column(Integer)
    osm_way_id: Mapped[int] = mapped_column(BigInteger)
    highway: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    oneway: Mapped[int] = mapped_column(SmallInteger)
    maxspeed_kph: Mapped[float | None] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    walk: Mapped[bool] = mapped_column(Boolean)
    drive: Mapped[bool] = mapped_column(Boolean)
    walk_speed_kph: Mapped[float] = mapped_column(Float)
    drive_speed_kph: Mapped[float] = mapped_column(Float)
    walk_ms: Mapped[int | None] = mapped_column(Integer)
    drive_ms: Mapped[int | None] = mapped_column(Integer)
    roundabout: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False))

    __table_args__ = (Index("ix_road_edges_geom", "geom", postgresql_using="gist"),)


class NetworkHierarchy(Base):
    """A version's contraction hierarchy for one mode, built at import so that loading a
    network does not contract it again (see ``routing.hierarchy``), in parts of a few MB:
    libpq keeps its input buffer as large as the largest row it has read."""

    __tablename__ = "road_network_hierarchies"

    version_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("road_network_versions.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(Text, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    arcs: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    method: Mapped[str] = mapped_column(Text)
