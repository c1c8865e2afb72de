"""The result of a diff: per entity, the added, removed and changed records.

Produced by :func:`rostersync.diff.diff_rosters`, read by the hold rules, the changes CSV and
:func:`rostersync.diff.apply_changes`. Tables keep the canonical schema of their entity so they can
be written as Parquet change sets and counted per school with Arrow group-bys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

ID_CHANGE_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string()),
        pa.field("school_id", pa.string()),
        pa.field("old_id", pa.string()),
        pa.field("new_id", pa.string()),
        pa.field("matched_on", pa.string()),  # "email" or "name_birth_date"
    ]
)


@dataclass
class EntityChanges:
    """Changes of one entity type.

    ``changed_new`` and ``changed_old`` are aligned row by row (same key at the same position);
    ``changed_fields`` is a list<string> array aligned with them naming the columns that differ.
    """

    entity: str
    added: pa.Table
    removed: pa.Table
    changed_new: pa.Table
    changed_old: pa.Table
    changed_fields: pa.Array

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.added.num_rows, self.removed.num_rows, self.changed_new.num_rows

    @property
    def is_empty(self) -> bool:
        return self.counts == (0, 0, 0)


@dataclass
class ChangeSet:
    """All changes of one sync, keyed by entity name (every entity present)."""

    entities: dict[str, EntityChanges]
    id_changes: pa.Table = field(default_factory=ID_CHANGE_SCHEMA.empty_table)

    def __getitem__(self, name: str) -> EntityChanges:
        return self.entities[name]

    @property
    def total(self) -> int:
        return sum(sum(c.counts) for c in self.entities.values())
