"""Diff two stored snapshots one entity at a time: what the pipeline's diff step runs.

:func:`rostersync.diff.diff_rosters` needs both roster sets whole in memory. Here each entity's
old and new tables are read from the blob store, diffed, counted per school and dropped before
the next entity is read, so the step holds at most ``threads`` entities of both versions plus
the changes (which are what the rest of the sync needs). Results are those of ``diff_rosters``
and ``summarize`` on the same two sets.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.diff import (
    combine_summary,
    diff_table,
    entity_summary_parts,
    suspected_id_changes,
)
from rostersync.model import ENTITIES, Entity
from rostersync.snapshot import SnapshotManifest, read_entity, read_manifest, read_unknown
from rostersync.storage import BlobStore

# One entity at a time: memory is what limits the largest district a Lambda takes. At 600k
# students two at a time peaked at 1.65 GiB against 1.29 GiB for one, for the same CPU seconds
# (Arrow's Parquet reader already uses every core).
DEFAULT_THREADS = 1


@dataclass
class SnapshotDiff:
    """The changes between two snapshots and their per-school summary (``SUMMARY_SCHEMA``)."""

    changes: ChangeSet
    summary: pa.Table
    staged_counts: dict[str, int]


@dataclass(frozen=True)
class _Side:
    store: BlobStore
    prefix: str
    manifest: SnapshotManifest

    def table(self, entity: Entity) -> pa.Table:
        return read_entity(self.store, self.prefix, self.manifest, entity)

    def rows(self, entity: Entity) -> int:
        return self.manifest.counts.get(entity.name, 0)


def _entity(
    entity: Entity, old: _Side | None, new: _Side, unknown: pa.Table
) -> tuple[EntityChanges, pa.Table, list[pa.Table], int]:
    baseline = old.table(entity) if old is not None else None
    if entity.name in new.manifest.missing:
        empty = entity.schema.empty_table()
        ch = EntityChanges(entity.name, empty, empty, empty, empty, pa.array([], pa.list_(pa.string())))
        staged_rows = baseline.num_rows if baseline is not None else 0
        parts = entity_summary_parts(entity, baseline, baseline, ch)
        return ch, ID_CHANGE_SCHEMA.empty_table(), parts, staged_rows
    staged = new.table(entity)
    keys = unknown.filter(pc.equal(unknown.column("entity"), entity.name)).column("key")
    ch = diff_table(entity, baseline, staged, unknown=keys)
    parts = entity_summary_parts(entity, baseline, staged, ch)
    return ch, suspected_id_changes(entity, ch.removed, ch.added), parts, staged.num_rows


def diff_snapshots(
    store: BlobStore, old_prefix: str | None, new_prefix: str, *, threads: int = DEFAULT_THREADS
) -> SnapshotDiff:
    """Changes from the snapshot at ``old_prefix`` (None: a first sync) to the one at
    ``new_prefix``, entity by entity, largest first, on ``threads`` threads."""
    new = _Side(store, new_prefix, read_manifest(store, new_prefix))
    old = _Side(store, old_prefix, read_manifest(store, old_prefix)) if old_prefix is not None else None
    unknown = read_unknown(store, new_prefix, new.manifest)

    def size(entity: Entity) -> int:
        return new.rows(entity) + (old.rows(entity) if old is not None else 0)

    order = sorted(ENTITIES, key=size, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="snapdiff") as pool:
        futures = {e.name: pool.submit(_entity, e, old, new, unknown) for e in order}
        results = {name: future.result() for name, future in futures.items()}
    changes = ChangeSet(
        entities={e.name: results[e.name][0] for e in ENTITIES},
        id_changes=pa.concat_tables([results[e.name][1] for e in ENTITIES]),
    )
    summary = combine_summary([part for e in ENTITIES for part in results[e.name][2]])
    return SnapshotDiff(changes, summary, {e.name: results[e.name][3] for e in ENTITIES})
