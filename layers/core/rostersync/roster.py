"""A complete roster set in canonical form, plus what is known about where it came from.

``RosterSet`` is what a reader produces after validation and what a snapshot stores: one table
per entity (every entity present, possibly empty), the keys whose state is unknown, and metadata
(format, when each entity's data was received, which entities the source did not supply at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from rostersync.model import ENTITIES, ENTITY_BY_NAME, UNKNOWN_SCHEMA, conform

FORMAT_CLEVER_CSV = "clever_csv"
FORMAT_ONEROSTER_11_CSV = "oneroster_1.1_csv"
FORMAT_ONEROSTER_12_CSV = "oneroster_1.2_csv"
FORMAT_SDS_21_CSV = "sds_2.1_csv"  # Microsoft School Data Sync v2.1 CSV


@dataclass
class RosterSet:
    """Canonical tables of one sync (staged) or one accepted snapshot version.

    ``missing`` names entities the source did not supply (e.g. no ``staff.csv``): their records
    are carried forward from the accepted snapshot, never removed. ``received_at`` is when each
    entity's data last arrived, used by the ``stale_upload`` hold.
    """

    tables: dict[str, pa.Table]
    format: str
    unknown: pa.Table = field(default_factory=UNKNOWN_SCHEMA.empty_table)
    missing: frozenset[str] = frozenset()
    received_at: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entity in ENTITIES:
            if entity.name not in self.tables:
                self.tables[entity.name] = entity.schema.empty_table()

    def table(self, name: str) -> pa.Table:
        return self.tables[name]

    def counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}

    def canonical(self) -> RosterSet:
        """The same set with every table conformed to its schema (helper columns dropped)."""
        return RosterSet(
            tables={n: conform(t, ENTITY_BY_NAME[n]) for n, t in self.tables.items()},
            format=self.format,
            unknown=self.unknown,
            missing=self.missing,
            received_at=dict(self.received_at),
        )
