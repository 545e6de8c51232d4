"""road network: versions, nodes, directed edges (routing)

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "road_network_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("city_code", sa.String(length=12), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("clipped", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("ways_read", sa.Integer(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("edge_count", sa.Integer(), nullable=False),
        sa.Column("length_km", sa.Float(), nullable=False),
        sa.Column(
            "extent",
            Geometry(
                geometry_type="POLYGON",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.Column(
            "attribution",
            sa.Text(),
            server_default="© OpenStreetMap contributors (ODbL 1.0)",
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_road_network_versions_active_city",
        "road_network_versions",
        ["city_code"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "road_nodes",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("osm_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["version_id"], ["road_network_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "id"),
    )
    op.create_table(
        "road_edges",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("piece_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("osm_way_id", sa.BigInteger(), nullable=False),
        sa.Column("highway", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("oneway", sa.SmallInteger(), nullable=False),
        sa.Column("maxspeed_kph", sa.Float(), nullable=True),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("walk", sa.Boolean(), nullable=False),
        sa.Column("drive", sa.Boolean(), nullable=False),
        sa.Column("walk_speed_kph", sa.Float(), nullable=False),
        sa.Column("drive_speed_kph", sa.Float(), nullable=False),
        sa.Column("walk_ms", sa.Integer(), nullable=True),
        sa.Column("drive_ms", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["version_id"], ["road_network_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "id"),
    )
    op.create_index(
        "ix_road_edges_geom", "road_edges", ["geom"], unique=False, postgresql_using="gist"
    )


def downgrade() -> None:
    op.drop_index("ix_road_edges_geom", table_name="road_edges", postgresql_using="gist")
    op.drop_table("road_edges")
    op.drop_table("road_nodes")
    op.drop_index(
        "uq_road_network_versions_active_city",
        table_name="road_network_versions",
        postgresql_where=sa.text("active"),
    )
    op.drop_table("road_network_versions")
