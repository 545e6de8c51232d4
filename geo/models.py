"""Tables of the store: regions, service sites, facilities, holiday calendar, audit log."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """A PostgreSQL enum storing the members' values (the API's words), not their names."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class RegionLevel(enum.StrEnum):
    """Levels of the statistical division code (统计用区划代码), 12 digits in all."""

    province = "province"
    city = "city"
    district = "district"
    street = "street"
    community = "community"


class SiteLevel(enum.StrEnum):
    """The four levels of the service system (四级政务服务体系)."""

    city = "city"
    district = "district"
    street = "street"
    community = "community"


class SiteKind(enum.StrEnum):
    hall = "hall"  # 政务服务中心 / 便民服务中心 / 便民服务站
    sub_centre = "sub_centre"  # 分中心 of a department
    self_service_terminal = "self_service_terminal"  # 自助终端
    self_service_zone_24h = "self_service_zone_24h"  # 24小时自助服务区
    bank_outlet = "bank_outlet"  # 政银合作网点
    post_outlet = "post_outlet"  # 政邮合作网点
    park_station = "park_station"  # 园区服务站


class SiteStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class FacilityCategory(enum.StrEnum):
    """The seven categories of convenience facilities (000 §五.3)."""

    medical = "medical"  # 医疗卫生
    commerce = "commerce"  # 便民商业
    culture_tourism = "culture_tourism"  # 文体旅游
    parking = "parking"  # 停车设施
    education = "education"  # 教育机构
    emergency_shelter = "emergency_shelter"  # 应急避难
    elderly_care = "elderly_care"  # 养老服务


class CalendarDayKind(enum.StrEnum):
    holiday = "holiday"  # 法定节假日 (day off)
    workday = "workday"  # 调休上班日 (make-up working day on a weekend)


class Region(Base):
    """A division of the statistical code tree; a city is the subtree under its code."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[RegionLevel] = mapped_column(_enum(RegionLevel, "region_level"))
    parent_code: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("regions.code"), index=True
    )
    boundary: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )
    centre: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    source: Mapped[str] = mapped_column(Text)
    boundary_source: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{12}$'", name="region_code_12_digits"),
        Index("ix_regions_code_prefix", "code", postgresql_ops={"code": "text_pattern_ops"}),
        Index("ix_regions_level", "level"),
    )


class Site(Base):
    """A government service site: a hall of one of four levels, a terminal or an outlet."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[SiteLevel] = mapped_column(_enum(SiteLevel, "site_level"))
    kind: Mapped[SiteKind] = mapped_column(_enum(SiteKind, "site_kind"))
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"))
    department: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True, nullable=False)
    )
    opening_hours: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    status: Mapped[SiteStatus] = mapped_column(
        _enum(SiteStatus, "site_status"), default=SiteStatus.draft, server_default="draft"
    )
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    source: Mapped[str] = mapped_column(Text)
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index(
            "ix_sites_region_code_prefix",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index("ix_sites_level_kind_status", "level", "kind", "status"),
        Index("ix_sites_geog", text("(geom::geography)"), postgresql_using="gist"),
    )


class Facility(Base):
    """A convenience facility near the halls: one of the seven categories."""

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[FacilityCategory] = mapped_column(_enum(FacilityCategory, "facility_category"))
    subcategory: Mapped[str | None] = mapped_column(Text)
    region_code: Mapped[str | None] = mapped_column(String(12), ForeignKey("regions.code"))
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True, nullable=False)
    )
    opening_hours: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    status: Mapped[SiteStatus] = mapped_column(
        _enum(SiteStatus, "site_status"), default=SiteStatus.published, server_default="published"
    )
    """published or retired (a maintainer's change set retired it)."""
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    source: Mapped[str] = mapped_column(Text)
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    __table_args__ = (
        Index(
            "ix_facilities_region_code_prefix",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index("ix_facilities_category", "category"),
        Index("ix_facilities_geog", text("(geom::geography)"), postgresql_using="gist"),
    )


class CalendarDay(Base):
    """A day that breaks the weekday rule: a public holiday or a make-up working day (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[CalendarDayKind] = mapped_column(_enum(CalendarDayKind, "calendar_day_kind"))
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """Who did what to which record, when: written by every state change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    entity: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)


class DatasetLoad(Base):
    """One loaded data file: its checksum lets ``daofu data load`` skip what is already in."""

    __tablename__ = "dataset_loads"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
