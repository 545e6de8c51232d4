"""What a user may write: a subtree of the division code tree, and optionally departments."""

from __future__ import annotations

from dataclasses import dataclass

from geo.divisions import full_code, subtree_prefix


@dataclass(frozen=True)
class Scope:
    """A region subtree (by 12-digit division code; ``None`` means everywhere) and the
    departments within it (empty means all departments)."""

    region_code: str | None = None
    departments: tuple[str, ...] = ()

    @classmethod
    def of(cls, region_code: str | None, departments: tuple[str, ...] | list[str] = ()) -> Scope:
        code = full_code(region_code, "scope") if region_code else None
        return cls(code, tuple(d.strip() for d in departments if d.strip()))

    @property
    def prefix(self) -> str:
        """Every division code inside the scope starts with this ('' for everywhere)."""
        return subtree_prefix(self.region_code) if self.region_code else ""

    def covers_region(self, code: str | None) -> bool:
        if self.region_code is None:
            return True
        return code is not None and code.startswith(self.prefix)

    def covers_department(self, department: str | None) -> bool:
        return not self.departments or department in self.departments

    def covers(self, region_code: str | None, department: str | None) -> bool:
        return self.covers_region(region_code) and self.covers_department(department)

    def describe(self) -> str:
        """The scope in words, for messages: '区划 370102000000 及下级; 部门: 区公安分局'."""
        where = f"区划 {self.region_code} 及下级" if self.region_code else "全部区划"
        if self.departments:
            return f"{where}; 部门: {'、'.join(self.departments)}"
        return f"{where}; 全部部门"
