"""Diff two stored snapshots one entity at a time: what the pipeline's diff step runs.

:func:`rostersync.diff.diff_rosters` needs both roster sets whole in memory as Arrow tables.
Here each entity's old and new Parquet files are read from the blob store (verified against
their manifests) and diffed by DuckDB straight from the files (:mod:`rostersync.duckdiff`), then
counted per school, before the next entity is read; neither version is ever held as Arrow
tables, only the changes (what the rest of the sync needs). Smaller entities (under
:data:`DUCKDB_MIN_ROWS` rows of both versions together, :data:`DUCKDB_MIN_ROWS_COMPOSITE` for a
composite key), a first sync and an entity one side has no rows for are diffed by
:func:`rostersync.diff.diff_table` on the two tables, as fast there without DuckDB's fixed
cost. Results are those of ``diff_rosters`` and ``summarize`` on the same two sets whichever
engine diffs an entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.diff import (
    SUMMARY_METRICS,
    SUMMARY_SCHEMA,
    combine_summary,
    diff_table,
    entity_summary_parts,
    suspected_id_changes,
)
from rostersync.duckdiff import DuckDiff, duck_diff
from rostersync.model import ENTITIES, Entity
from rostersync.rekeys import rekey_summary_parts
from rostersync.snapshot import (
    SnapshotManifest,
    entity_file,
    read_entity,
    read_manifest,
    read_unknown,
)
from rostersync.storage import BlobStore

# Rows of both versions together from which an entity goes to DuckDB, measured per entity at 3k,
# 20k and 600k students: for one-column keys a few hundred thousand (at 600k students DuckDB
# was faster for sections, 300k rows, and about even for students, 1.2M; Arrow for teachers,
# 70k, and for the 40k students of a 20k district); for composite keys fewer (the Arrow plan
# builds tuple codes), but enough to pay for loading DuckDB (~0.15 CPU s), which a small
# district then never does.
DUCKDB_MIN_ROWS = 250_000
DUCKDB_MIN_ROWS_COMPOSITE = 200_000


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

    def file(self, entity: Entity) -> Path | bytes | None:
        return entity_file(self.store, self.prefix, self.manifest, entity)

    def rows(self, entity: Entity) -> int:
        return self.manifest.counts.get(entity.name, 0)


def _count_part(entity: Entity, counts: pa.Table, metric: str) -> list[pa.Table]:
    """A :data:`SUMMARY_SCHEMA` part from rows per school (``school_id``, ``count``)."""
    n = counts.num_rows
    if n == 0:
        return []
    zeros = pa.repeat(pa.scalar(0, pa.int64()), n)
    columns = [pa.repeat(pa.scalar(entity.name), n), counts.column("school_id").cast(pa.string())]
    columns += [counts.column("count").cast(pa.int64()) if m == metric else zeros for m in SUMMARY_METRICS]
    return [pa.Table.from_arrays(columns, schema=SUMMARY_SCHEMA)]


def _as_schema(data: Path | bytes, entity: Entity) -> bool:
    """Whether a stored Parquet file (its path or bytes) has exactly the entity's columns and
    types (read from its footer). A file written before a column was added to the model is
    diffed by Arrow, which conforms it (the new column null) as every reader of snapshots does."""
    stored = pq.read_schema(data if isinstance(data, Path) else pa.BufferReader(data))
    if stored.names != entity.schema.names:
        return False
    for found, expected in zip(stored.types, entity.schema.types, strict=True):
        if pa.types.is_list(expected):
            if not pa.types.is_list(found) or found.value_type != expected.value_type:
                return False
        elif found != expected:
            return False
    return True


Result = tuple[EntityChanges, pa.Table, list[pa.Table], int]


def _on_tables(entity: Entity, old: _Side | None, new: _Side, keys: pa.ChunkedArray) -> Result:
    baseline = old.table(entity) if old is not None else None
    staged = new.table(entity)
    ch = diff_table(entity, baseline, staged, unknown=keys)
    parts = entity_summary_parts(entity, baseline, staged, ch)
    return ch, suspected_id_changes(entity, ch.removed, ch.added), parts, staged.num_rows


def _entity(
    entity: Entity,
    old: _Side | None,
    new: _Side,
    unknown: pa.Table,
    engine: DuckDiff,
    duckdb_rows: int | None,
) -> Result:
    if entity.name in new.manifest.missing:
        baseline = old.table(entity) if old is not None else None
        empty = entity.schema.empty_table()
        ch = EntityChanges(entity.name, empty, empty, empty, empty, pa.array([], pa.list_(pa.string())))
        staged_rows = baseline.num_rows if baseline is not None else 0
        parts = entity_summary_parts(entity, baseline, baseline, ch)
        return ch, ID_CHANGE_SCHEMA.empty_table(), parts, staged_rows
    keys = unknown.filter(pc.equal(unknown.column("entity"), entity.name)).column("key")
    if old is None or not old.rows(entity) or not new.rows(entity):
        return _on_tables(entity, old, new, keys)
    if duckdb_rows is None:
        duckdb_rows = DUCKDB_MIN_ROWS if len(entity.key) == 1 else DUCKDB_MIN_ROWS_COMPOSITE
    if old.rows(entity) + new.rows(entity) < duckdb_rows:
        return _on_tables(entity, old, new, keys)
    old_file, new_file = old.file(entity), new.file(entity)
    if (
        old_file is None
        or new_file is None
        or not (_as_schema(old_file, entity) and _as_schema(new_file, entity))
    ):
        return _on_tables(entity, old, new, keys)
    ch, old_counts, new_counts = engine.diff(entity, old_file, new_file, keys)
    del old_file, new_file
    parts = _count_part(entity, old_counts, "baseline") + _count_part(entity, new_counts, "staged")
    parts += entity_summary_parts(entity, None, None, ch)
    staged_rows = int(pc.sum(new_counts.column("count")).as_py() or 0)
    return ch, suspected_id_changes(entity, ch.removed, ch.added), parts, staged_rows


def diff_snapshots(
    store: BlobStore,
    old_prefix: str | None,
    new_prefix: str,
    *,
    threads: int | None = None,
    duckdb_rows: int | None = None,
) -> SnapshotDiff:
    """Changes from the snapshot at ``old_prefix`` (None: a first sync) to the one at
    ``new_prefix``, entity by entity; ``threads``: DuckDB's (None: every core); ``duckdb_rows``:
    from how many rows of both versions an entity goes to DuckDB (None: :data:`DUCKDB_MIN_ROWS`
    for one-column keys, :data:`DUCKDB_MIN_ROWS_COMPOSITE` for composite ones)."""
    new = _Side(store, new_prefix, read_manifest(store, new_prefix))
    old = _Side(store, old_prefix, read_manifest(store, old_prefix)) if old_prefix is not None else None
    unknown = read_unknown(store, new_prefix, new.manifest)

    def size(entity: Entity) -> int:
        return new.rows(entity) + (old.rows(entity) if old is not None else 0)

    # Largest first: the largest join then runs while the process holds the least.
    with duck_diff(threads) as engine:
        results = {
            e.name: _entity(e, old, new, unknown, engine, duckdb_rows)
            for e in sorted(ENTITIES, key=size, reverse=True)
        }
    changes = ChangeSet(
        entities={e.name: results[e.name][0] for e in ENTITIES},
        id_changes=pa.concat_tables([results[e.name][1] for e in ENTITIES]),
    )
    parts = [part for e in ENTITIES for part in results[e.name][2]]
    summary = combine_summary(parts + rekey_summary_parts(changes))
    return SnapshotDiff(changes, summary, {e.name: results[e.name][3] for e in ENTITIES})
