"""store foundation

Revision ID: d95fec77fbaf
Revises:
Create Date: 2026-11-23 12:46:51.975712
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"], unique=False)
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.Enum("holiday", "workday", name="calendar_day_kind"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "dataset_loads",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_geospatial_table(
        "regions",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "level",
            sa.Enum("province", "city", "district", "street", "community", name="region_level"),
            nullable=False,
        ),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column(
            "boundary",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "centre",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("boundary_source", sa.Text(), nullable=True),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name="region_code_12_digits"),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["regions.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_geospatial_index(
        "idx_regions_boundary",
        "regions",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_regions_code_prefix",
        "regions",
        ["code"],
        unique=False,
        postgresql_ops={"code": "text_pattern_ops"},
    )
    op.create_index("ix_regions_level", "regions", ["level"], unique=False)
    op.create_index(op.f("ix_regions_parent_code"), "regions", ["parent_code"], unique=False)
    op.create_geospatial_table(
        "facilities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "medical",
                "commerce",
                "culture_tourism",
                "parking",
                "education",
                "emergency_shelter",
                "elderly_care",
                name="facility_category",
            ),
            nullable=False,
        ),
        sa.Column("subcategory", sa.Text(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("opening_hours", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("demo", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["regions.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_facilities_geom",
        "facilities",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_facilities_category", "facilities", ["category"], unique=False)
    op.create_index(
        "ix_facilities_geog",
        "facilities",
        [sa.text("(geom::geography)")],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        "ix_facilities_region_code_prefix",
        "facilities",
        ["region_code"],
        unique=False,
        postgresql_ops={"region_code": "text_pattern_ops"},
    )
    op.create_geospatial_table(
        "sites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "level",
            sa.Enum("city", "district", "street", "community", name="site_level"),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "hall",
                "sub_centre",
                "self_service_terminal",
                "self_service_zone_24h",
                "bank_outlet",
                "post_outlet",
                "park_station",
                name="site_kind",
            ),
            nullable=False,
        ),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("opening_hours", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("draft", "published", "retired", name="site_status"),
            server_default="draft",
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("demo", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["regions.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_sites_geom",
        "sites",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_sites_level_kind_status", "sites", ["level", "kind", "status"], unique=False
    )
    op.create_index(
        "ix_sites_geog",
        "sites",
        [sa.text("(geom::geography)")],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        "ix_sites_region_code_prefix",
        "sites",
        ["region_code"],
        unique=False,
        postgresql_ops={"region_code": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_sites_region_code_prefix",
        table_name="sites",
        postgresql_ops={"region_code": "text_pattern_ops"},
    )
    op.drop_index("ix_sites_level_kind_status", table_name="sites")
    op.drop_geospatial_index(
        "idx_sites_geom", table_name="sites", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("sites")
    op.drop_index(
        "ix_facilities_region_code_prefix",
        table_name="facilities",
        postgresql_ops={"region_code": "text_pattern_ops"},
    )
    op.drop_index("ix_facilities_category", table_name="facilities")
    op.drop_geospatial_index(
        "idx_facilities_geom", table_name="facilities", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("facilities")
    op.drop_index(op.f("ix_regions_parent_code"), table_name="regions")
    op.drop_index("ix_regions_level", table_name="regions")
    op.drop_index(
        "ix_regions_code_prefix", table_name="regions", postgresql_ops={"code": "text_pattern_ops"}
    )
    op.drop_geospatial_index(
        "idx_regions_boundary",
        table_name="regions",
        postgresql_using="gist",
        column_name="boundary",
    )
    op.drop_geospatial_table("regions")
    op.drop_table("dataset_loads")
    op.drop_table("calendar_days")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    for enum_type in (
        "site_status",
        "site_kind",
        "site_level",
        "facility_category",
        "region_level",
        "calendar_day_kind",
    ):
        op.execute(f"DROP TYPE IF EXISTS {enum_type}")
