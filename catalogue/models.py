"""Tables of the catalogue: items (事项), which sites handle them, and bundles (一件事)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base


class Item(Base):
    """A government service item with the standard elements (domain.md, 003 §2).

    ``sample_content`` marks items whose conditions, materials, process, limits and
    fees were written for the demo (示例内容), not taken from an official guide.
    """

    __tablename__ = "items"

    code: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(Text, index=True)
    category: Mapped[str | None] = mapped_column(Text)
    item_type: Mapped[str | None] = mapped_column(Text)
    implementing_body: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[str | None] = mapped_column(Text)
    applicants: Mapped[str | None] = mapped_column(Text)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    process: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    legal_limit_days: Mapped[int | None] = mapped_column(Integer)
    promised_limit_days: Mapped[int | None] = mapped_column(Integer)
    fees: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    levels: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    """Service levels that handle it: city / district / street / community."""
    colloquial: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    popularity_rank: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    sample_content: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class SiteItem(Base):
    """A site handles an item, at a window, with notes (e.g. 需预约)."""

    __tablename__ = "site_items"

    site_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    item_code: Mapped[str] = mapped_column(
        String(80), ForeignKey("items.code", ondelete="CASCADE"), primary_key=True
    )
    window: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)

    # (item_code, site_id): "which sites handle X" is an index-only scan
    __table_args__ = (Index("ix_site_items_item_code", "item_code", "site_id"),)


class Bundle(Base):
    """一件事一次办: related items across departments, done together in order."""

    __tablename__ = "bundles"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    sample_content: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


class BundleItem(Base):
    __tablename__ = "bundle_items"

    bundle_code: Mapped[str] = mapped_column(
        String(20), ForeignKey("bundles.code", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_code: Mapped[str] = mapped_column(String(80), ForeignKey("items.code"))
    service_minutes: Mapped[int] = mapped_column(Integer, default=20, server_default="20")
    note: Mapped[str | None] = mapped_column(Text)
