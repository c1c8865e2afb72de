"""Diff two stored snapshots one entity at a time: what the pipeline's diff step runs.

:func:`rostersync.diff.diff_rosters` needs both roster sets whole in memory as Arrow tables.
Here each entity's old and new Parquet files are read from the blob store (verified against
their manifests) and diffed by DuckDB straight from the files (:mod:`rostersync.duckdiff`), then
counted per school, before the next entity is read; neither version is ever held as Arrow
tables, only the changes (what the rest of the sync needs). Smaller entities (under
:data:`DUCKDB_MIN_ROWS` rows of both versions together, :data:`DUCKDB_MIN_ROWS_COMPOSITE` for a
composite key), a first sync and an entity one side has no rows for are diffed by
:func:`rostersync.diff.diff_table` on the two tables, as fast there without DuckDB's fixed
cost. An entity whose file is the same in both snapshots (the manifests' checksum and rows) has
no changes: it is neither joined nor diffed, only its staged file counted per school
(:func:`_unchanged`), so a nightly sync pays only for the entities that changed. DuckDB's
queries run on the calling thread and the Python side (verifying files, splitting
DuckDB's rows, the Arrow diffs) on one worker thread beside them (:class:`_Run`). Results are
those of ``diff_rosters`` and ``summarize`` on the same two sets whichever engine diffs an entity.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.diff import (
    CHANGED_FIELDS_TYPE,
    SUMMARY_METRICS,
    SUMMARY_SCHEMA,
    combine_summary,
    diff_table,
    entity_summary_parts,
    school_counts,
    suspected_id_changes,
)
from rostersync.duckdiff import DuckDiff, duck_diff, split_rows
from rostersync.model import ENTITIES, Entity
from rostersync.rekeys import rekey_summary_parts
from rostersync.snapshot import (
    SnapshotManifest,
    counts_by_code,
    entity_file,
    map_entity_encoded,
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


def _no_changes(entity: Entity) -> EntityChanges:
    """What :func:`rostersync.diff.diff_table` gives for an entity with no changes."""
    empty = entity.schema.empty_table()
    return EntityChanges(entity.name, empty, empty, empty, empty, pa.array([], CHANGED_FIELDS_TYPE))


def _missing(entity: Entity, old: _Side | None) -> Result:
    """An entity the source did not send: no changes, its accepted rows carried forward."""
    baseline = old.table(entity) if old is not None else None
    ch = _no_changes(entity)
    staged_rows = baseline.num_rows if baseline is not None else 0
    parts = entity_summary_parts(entity, baseline, baseline, ch)
    return ch, ID_CHANGE_SCHEMA.empty_table(), parts, staged_rows


def _identical(entity: Entity, old: _Side | None, new: _Side) -> bool:
    """Whether the entity's file is the same in both snapshots by their manifests (checksum,
    size and rows) and neither lists the entity as missing. Snapshot keys are unique and never
    null (:mod:`rostersync.duckdiff`), so such an entity has no changes, and none of its rows is
    removed, so unknown keys do not matter."""
    if old is None or entity.name in new.manifest.missing or entity.name in old.manifest.missing:
        return False
    name = f"{entity.name}.parquet"
    before, after = old.manifest.files.get(name), new.manifest.files.get(name)
    return before is not None and before == after


def _counts_by_code(column: pa.DictionaryArray) -> pa.Table:
    """Rows per value of one dictionary-encoded row group (``school_id``, ``count``), counted on
    the codes."""
    values, counted = counts_by_code(column)
    return pa.table({"school_id": values, "count": counted})


def _unchanged(entity: Entity, new: _Side) -> Result:
    """An entity whose file is the same in both snapshots (:func:`_identical`): no changes, and
    per school the staged rows are the baseline's. Only the staged file is read (verified), its
    ``school_id`` column alone, one row group at a time and counted on its dictionary codes;
    the parts per row group add up in :func:`rostersync.diff.combine_summary`."""
    if entity.school_scoped:
        groups, rows = map_entity_encoded(
            new.store, new.prefix, new.manifest, entity, "school_id", _counts_by_code
        )
    else:
        new.file(entity)  # verified like any file the diff reads
        groups, rows = None, new.manifest.files[f"{entity.name}.parquet"].rows
    if groups is None:  # not scoped to schools, or a file written before it had the column
        groups = [pa.table({"school_id": pa.nulls(1, pa.string()), "count": pa.array([rows], pa.int64())})]
    parts = [
        part
        for counts in groups
        for metric in ("baseline", "staged")
        for part in _count_part(entity, counts, metric)
    ]
    return _no_changes(entity), ID_CHANGE_SCHEMA.empty_table(), parts, rows


def _by_duckdb(entity: Entity, old: _Side | None, new: _Side, duckdb_rows: int | None) -> bool:
    """Whether the entity's rows (by the manifests) make it one for DuckDB."""
    if entity.name in new.manifest.missing or old is None or not old.rows(entity) or not new.rows(entity):
        return False
    if _identical(entity, old, new):
        return False
    if duckdb_rows is None:
        duckdb_rows = DUCKDB_MIN_ROWS if len(entity.key) == 1 else DUCKDB_MIN_ROWS_COMPOSITE
    return old.rows(entity) + new.rows(entity) >= duckdb_rows


Files = tuple[Path | bytes, Path | bytes] | None


def _files(entity: Entity, old: _Side, new: _Side) -> Files:
    """Both verified files of an entity for DuckDB; None when a file is absent or not of the
    entity's schema (then Arrow diffs it)."""
    old_file, new_file = old.file(entity), new.file(entity)
    if old_file is None or new_file is None:
        return None
    if not (_as_schema(old_file, entity) and _as_schema(new_file, entity)):
        return None
    return old_file, new_file


def staged_moves(entity: Entity, rows: pa.Table) -> list[pa.Table]:
    """What turns the old file's rows per school into the new file's (``staged``
    :data:`SUMMARY_SCHEMA` parts): the rows of :func:`rostersync.duckdiff.diff_sql` present on
    the new side count once for their new school, those present on the old side take one off
    their old school. A row the diff leaves out is in both files with the same values, school
    included, so the new file is counted without reading it again."""
    parts = []
    for side, position, weight in (("n.", "_new_pos", 1), ("o.", "_old_pos", -1)):
        present = pc.is_valid(rows.column(position))
        if entity.school_scoped:
            table = pa.table({"school_id": pc.filter(rows.column(f"{side}school_id"), present)})
        else:  # one group for the whole entity: the rows alone
            table = pa.table({"rows": pc.filter(rows.column(position), present)})
        part = school_counts(entity, table, {"staged": weight})
        if part is not None:
            parts.append(part)
    return parts


def _from_rows(
    entity: Entity, keys: pa.ChunkedArray, found: tuple[pa.Table, pa.Table], staged_rows: int
) -> Result:
    """An entity's result from DuckDB's rows (:meth:`DuckDiff.rows`); ``staged_rows``: the new
    file's rows (its manifest's count)."""
    rows, old_counts = found
    ch = split_rows(entity, rows, keys)
    parts = _count_part(entity, old_counts, "baseline") + _count_part(entity, old_counts, "staged")
    parts += staged_moves(entity, rows)
    del rows
    parts += entity_summary_parts(entity, None, None, ch)
    return ch, suspected_id_changes(entity, ch.removed, ch.added), parts, staged_rows


class _Run:
    """One diff: DuckDB's queries on the calling thread, everything else (verifying the next
    entity's files, the entities Arrow diffs, splitting and counting DuckDB's rows) on one
    worker thread meanwhile: DuckDB's joins release the GIL, so the Python side runs beside
    them instead of after them. Results do not depend on the order."""

    def __init__(self, old: _Side | None, new: _Side, unknown: pa.Table, pool: ThreadPoolExecutor) -> None:
        self.old, self.new, self.unknown, self.pool = old, new, unknown, pool
        self.results: dict[str, Future[Result]] = {}

    def keys(self, entity: Entity) -> pa.ChunkedArray:
        return self.unknown.filter(pc.equal(self.unknown.column("entity"), entity.name)).column("key")

    def on_arrow(self, entity: Entity) -> None:
        """Diff the entity on the worker, by Arrow (or not at all when it is unchanged)."""
        if entity.name in self.new.manifest.missing:
            self.results[entity.name] = self.pool.submit(_missing, entity, self.old)
        elif _identical(entity, self.old, self.new):
            self.results[entity.name] = self.pool.submit(_unchanged, entity, self.new)
        else:
            self.results[entity.name] = self.pool.submit(
                _on_tables, entity, self.old, self.new, self.keys(entity)
            )

    def verified(self, old: _Side, entities: list[Entity]) -> Iterator[tuple[Entity, Files]]:
        """Each of ``entities`` with its verified files, the next one's verified on the worker
        while the caller diffs this one."""
        upcoming = self.pool.submit(_files, entities[0], old, self.new)
        for i, entity in enumerate(entities):
            pair = upcoming.result()
            if i + 1 < len(entities):
                upcoming = self.pool.submit(_files, entities[i + 1], old, self.new)
            yield entity, pair

    def on_duckdb(self, old: _Side, entities: list[Entity], engine: DuckDiff, then: list[Entity]) -> None:
        """Diff ``entities`` (largest first; at least one) by DuckDB, and ``then`` by Arrow
        beside the last (smallest) join, so they never add to a large join's memory."""
        last = entities[-1].name
        for entity, pair in self.verified(old, entities):
            if entity.name == last:
                for later in then:
                    self.on_arrow(later)
            if pair is None:
                self.on_arrow(entity)
            else:
                # No name here holds DuckDB's rows: the worker's task is their only holder, so
                # they are freed once split, not kept through the next join.
                self.results[entity.name] = self.pool.submit(
                    _from_rows, entity, self.keys(entity), engine.rows(entity, *pair), self.new.rows(entity)
                )
                del pair


def diff_snapshots(
    store: BlobStore,
    old_prefix: str | None,
    new_prefix: str,
    *,
    threads: int | None = None,
    duckdb_rows: int | None = None,
    engine: DuckDiff | None = None,
) -> SnapshotDiff:
    """Changes from the snapshot at ``old_prefix`` (None: a first sync) to the one at
    ``new_prefix``, entity by entity; ``threads``: DuckDB's (None: every core); ``duckdb_rows``:
    from how many rows of both versions an entity goes to DuckDB (None: :data:`DUCKDB_MIN_ROWS`
    for one-column keys, :data:`DUCKDB_MIN_ROWS_COMPOSITE` for composite ones); ``engine``: the
    :class:`DuckDiff` to join on, left open (None: one of its own with ``threads``, closed at the
    end)."""
    new = _Side(store, new_prefix, read_manifest(store, new_prefix))
    old = _Side(store, old_prefix, read_manifest(store, old_prefix)) if old_prefix is not None else None
    unknown = read_unknown(store, new_prefix, new.manifest)

    def size(entity: Entity) -> int:
        return new.rows(entity) + (old.rows(entity) if old is not None else 0)

    # Largest first: the largest join then runs while the process holds the least.
    ordered = sorted(ENTITIES, key=size, reverse=True)
    duckdb = [e for e in ordered if _by_duckdb(e, old, new, duckdb_rows)]
    with ExitStack() as stack:
        own = engine is None
        if engine is None:
            engine = stack.enter_context(duck_diff(threads))
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="diff"))
        run = _Run(old, new, unknown, pool)
        if old is None or not duckdb:
            for entity in ordered:
                run.on_arrow(entity)
        else:
            run.on_duckdb(old, duckdb, engine, then=[e for e in ordered if e not in duckdb])
        if own:
            # The joins are done: DuckDB is closed (its memory given back) while the worker
            # still splits the last join's rows, not after.
            engine.close()
        results = {name: future.result() for name, future in run.results.items()}
    changes = ChangeSet(
        entities={e.name: results[e.name][0] for e in ENTITIES},
        id_changes=pa.concat_tables([results[e.name][1] for e in ENTITIES]),
    )
    parts = [part for e in ENTITIES for part in results[e.name][2]]
    summary = combine_summary(parts + rekey_summary_parts(changes))
    return SnapshotDiff(changes, summary, {e.name: results[e.name][3] for e in ENTITIES})
