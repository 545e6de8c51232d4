"""Tables of maintainers' change sets and of the published versions of the map.

A change set holds proposed changes (add / change / retire) with the published record
each was drafted against. Approving it publishes all its changes in one transaction as a
new **version**; every version's revisions (record before and after) are kept, so any
earlier version can be restored by publishing the reverse of what came after it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Enum, ForeignKey, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.db import Base
from stewardship.report import Action, Entity


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class ChangeSetStatus(enum.StrEnum):
    draft = "draft"  # waiting for a reviewer
    published = "published"  # approved and published as a version
    rejected = "rejected"  # a reviewer said no (with a reason)
    withdrawn = "withdrawn"  # its author took it back


class PublicationKind(enum.StrEnum):
    publish = "publish"  # a change set approved
    rollback = "rollback"  # an earlier version restored


class ChangeSet(Base):
    __tablename__ = "change_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[Entity] = mapped_column(_enum(Entity, "change_entity"))
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    """``upload:<file name>`` or ``edit``."""
    status: Mapped[ChangeSetStatus] = mapped_column(
        _enum(ChangeSetStatus, "change_set_status"), default=ChangeSetStatus.draft
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    """The upload's validation summary and warnings (rows left out when only good rows
    were accepted)."""
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    published_version: Mapped[int | None] = mapped_column(ForeignKey("publications.version"))

    __table_args__ = (Index("ix_change_sets_status", "status"),)


class Change(Base):
    """One proposed change of one record."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    change_set_id: Mapped[int] = mapped_column(
        ForeignKey("change_sets.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int | None] = mapped_column(Integer)
    """The row of the uploaded file it came from."""
    action: Mapped[Action] = mapped_column(_enum(Action, "change_action"))
    target_id: Mapped[int | None] = mapped_column(Integer)
    """The site/facility changed or retired; for an add, the new id once published."""
    base_version: Mapped[int | None] = mapped_column(Integer)
    """The target's version when the change was drafted: publishing refuses if it moved."""
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """The full record proposed (WGS-84 lon/lat); None for a retirement."""


class Publication(Base):
    """A published version of the map's sites and facilities."""

    __tablename__ = "publications"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[PublicationKind] = mapped_column(_enum(PublicationKind, "publication_kind"))
    change_set_id: Mapped[int | None] = mapped_column(Integer)
    restored_version: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict, server_default="{}")


class Revision(Base):
    """What one version did to one record: its state before and after (None = absent)."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(ForeignKey("publications.version"), index=True)
    entity: Mapped[Entity] = mapped_column(_enum(Entity, "change_entity"))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[Action] = mapped_column(_enum(Action, "change_action"))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (Index("ix_revisions_entity", "entity", "entity_id"),)
