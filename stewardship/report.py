"""What reading and validating an upload gives: good rows ready for a change set, and a
report naming every bad row by number, field and reason."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Entity(enum.StrEnum):
    sites = "sites"
    facilities = "facilities"


class Action(enum.StrEnum):
    """What a row asks for: a new record, a change to one (by id), or retiring one."""

    add = "add"
    change = "change"
    retire = "retire"


class Severity(enum.StrEnum):
    error = "error"  # the row cannot be taken
    warning = "warning"  # the row is taken; the maintainer should look


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row (or with the file when ``row`` is None)."""

    row: int | None
    """The row number as the maintainer sees it: the spreadsheet line (header = 1) for
    CSV/XLSX, the 1-based feature number for GeoJSON/GeoPackage/Shapefile."""
    field: str | None
    """The column as written in the file (e.g. '经度'), or the canonical field name."""
    code: str
    """Stable machine code: missing_field, bad_coordinate, swapped_coordinates, …"""
    message: str
    """Chinese first, English after: what is wrong and, where possible, how to fix it."""
    severity: Severity = Severity.error
    value: str | None = None
    suggestion: str | None = None


@dataclass
class CleanRow:
    """A row that passed: canonical fields, coordinates already WGS-84."""

    row: int
    action: Action
    target_id: int | None
    """The existing site/facility a change or retirement applies to."""
    values: dict[str, Any]
    """Canonical fields. Sites: name, level, kind, region_code, department, address, phone,
    opening_hours, lon, lat. Facilities: name, category, subcategory, region_code, address,
    opening_hours, lon, lat. Absent optional fields are None."""


@dataclass
class UploadReport:
    file_name: str
    entity: Entity
    format: str
    crs: str
    encoding: str | None = None
    rows_total: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    """Header as written → canonical field."""
    columns_ignored: list[str] = field(default_factory=list)
    good: list[CleanRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == Severity.error]

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.errors if p.row is not None})

    @property
    def file_errors(self) -> list[Problem]:
        return [p for p in self.errors if p.row is None]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.file_name,
            "entity": self.entity.value,
            "format": self.format,
            "encoding": self.encoding,
            "crs": self.crs,
            "rows_total": self.rows_total,
            "rows_good": len(self.good),
            "rows_bad": len(self.bad_rows),
            "errors": len(self.errors),
            "warnings": len(self.problems) - len(self.errors),
        }

    def to_json(self) -> dict[str, Any]:
        """The report as the API returns it (good rows by number only, not their data)."""
        return {
            **self.summary(),
            "ok": self.ok,
            "columns": self.columns,
            "columns_ignored": self.columns_ignored,
            "bad_rows": self.bad_rows,
            "problems": [
                {k: v for k, v in asdict(p).items() if v is not None} for p in self.problems
            ],
        }
