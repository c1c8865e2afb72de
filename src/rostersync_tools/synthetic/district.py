"""The synthetic district: canonical tables plus what deriving the next day needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from rostersync.model import ENTITY_BY_NAME, conform
from rostersync.roster import RosterSet


@dataclass(frozen=True)
class SyntheticDistrict:
    """A synthetic district: canonical tables (plus a few format-only extra columns) and what is
    needed to derive the next day deterministically (ID counters, email domain, area codes)."""

    district_id: str
    name: str
    seed: int
    school_year: int  # the autumn year: 2025 means the 2025-2026 school year
    domain: str
    area_codes: tuple[str, ...]
    tables: Mapping[str, pa.Table]
    next_student_number: int
    next_contact_number: int
    generation: int = 0  # 0 for generate_district, +1 for each derived day

    def table(self, name: str) -> pa.Table:
        return self.tables[name]

    def counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}

    def to_roster(self, fmt: str = "synthetic") -> RosterSet:
        """The district as a canonical :class:`RosterSet` (extra columns dropped)."""
        return RosterSet(
            tables={name: conform(t, ENTITY_BY_NAME[name]) for name, t in self.tables.items()},
            format=fmt,
        )

    def replace_tables(self, **tables: pa.Table) -> SyntheticDistrict:
        return dataclasses.replace(self, tables={**self.tables, **tables})
