"""A :class:`~rostersync.changes.ChangeSet` stored as Parquet under a blob-store prefix.

Layout: ``<prefix>/<entity>/{added,removed,changed,changed_old}.parquet`` for each entity with
changes (``changed`` carries the list of changed columns in ``_changed_fields``), and for people
``id_changed.parquet`` / ``id_changed_old.parquet`` (the re-keys: :mod:`rostersync.rekeys`; a
re-keyed pair is in neither ``added`` nor ``removed``), ``<prefix>/id_changes.parquet`` (the
pairs) and ``<prefix>/index.json`` (counts per entity), written last. Consumers read the Parquet
files; the pipeline reads the set back (a re-key as the removal and addition it is in memory) to
evaluate and apply it.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.model import ENTITIES, ENTITY_BY_NAME, Entity, conform
from rostersync.rekeys import (
    id_changed_schema,
    only_rekeyed_removals,
    present_pairs,
    publish,
    without_rekeyed_removals,
)
from rostersync.snapshot import join_key
from rostersync.storage import BlobNotFoundError, BlobStore

INDEX = "index.json"
FIELDS_COLUMN = "_changed_fields"
_KINDS = ("added", "removed", "changed", "changed_old")
_REKEY_KINDS = ("id_changed", "id_changed_old")
# Threads storing a change set's files while the next is encoded. The encoding itself stays on
# the caller's thread: at 600k students (day 2, 21 files) on 2 cores, beside the changes CSV's
# thread, encoding on two threads made the diff step's write 0.04-0.10 s slower than one after
# another (the CSV is the longer, both CPU-bound); storing beside the encoding measured as
# fast as one after another there, and against a store's latency (a put delayed 30 ms, as an
# S3 PUT's round trip) the writes overlap: 0.93 s one after another, 0.53 s on two threads. At
# most this many encoded files are held waiting (a first sync's peak measured as main's).
STORE_THREADS = 2


def _bytes(table: pa.Table) -> bytes:
    # Column statistics stay on (unlike a snapshot's files): change sets are published to the
    # district's consumers (docs/events.md), whose readers may filter them by min/max.
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _read(store: BlobStore, key: str) -> pa.Table:
    return pq.read_table(pa.BufferReader(store.get(key)))


def _published_tables(entity: Entity, ec: EntityChanges, pairs: pa.Table) -> dict[str, pa.Table]:
    """The files of one entity with changes, by kind, as the feed publishes them."""
    fields = ec.changed_fields
    if not isinstance(fields, pa.ChunkedArray):
        fields = pa.chunked_array([fields], pa.list_(pa.string()))
    changed = conform(ec.changed_new, entity).append_column(FIELDS_COLUMN, fields)
    published = publish(ec, pairs)
    tables = {
        "added": published.added,
        "removed": published.removed,
        "changed": changed,
        "changed_old": conform(ec.changed_old, entity),
    }
    if entity.is_person:
        tables |= {"id_changed": published.id_changed, "id_changed_old": published.id_changed_old}
    return tables


def write_change_set(store: BlobStore, prefix: str, changes: ChangeSet) -> dict[str, dict[str, int]]:
    """Write ``changes`` as the feed publishes them (re-keys as ``id_changed``); returns
    ``{entity: {"added": n, "removed": n, "changed": n, "id_changed": n}}``.

    Each Parquet file is encoded on this thread and stored on one of :data:`STORE_THREADS`
    threads while the next is encoded (a store's write, an S3 PUT's round trip or a local
    file's fsync, then overlaps the encoding); ``index.json`` is stored only once every file is,
    and not at all if one fails: a reader never finds an index before its files."""
    index: dict[str, dict[str, int]] = {}
    pairs = present_pairs(changes)
    with ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="change-set") as pool:
        storing: deque[Future[None]] = deque()

        def store_file(key: str, table: pa.Table) -> None:
            # At most STORE_THREADS encoded files wait or are stored at once: a first sync's
            # files (every record) are not all held encoded while a slow store catches up.
            if len(storing) >= STORE_THREADS:
                storing.popleft().result()
            storing.append(pool.submit(store.put, key, _bytes(table)))

        for entity in ENTITIES:
            ec = changes.entities.get(entity.name)
            if ec is None or ec.is_empty:
                continue
            tables = _published_tables(entity, ec, pairs)
            for kind, table in tables.items():
                store_file(join_key(prefix, f"{entity.name}/{kind}.parquet"), table)
            index[entity.name] = {
                "added": tables["added"].num_rows,
                "removed": tables["removed"].num_rows,
                "changed": tables["changed"].num_rows,
                "id_changed": tables["id_changed"].num_rows if entity.is_person else 0,
            }
        store_file(join_key(prefix, "id_changes.parquet"), pairs)
        while storing:
            storing.popleft().result()
    store.put(join_key(prefix, INDEX), json.dumps({"entities": index}, sort_keys=True).encode())
    return index


def _empty_kinds(entity: Entity) -> dict[str, pa.Table]:
    empty = entity.schema.empty_table()
    return {
        "added": empty,
        "removed": empty,
        "changed": empty.append_column(FIELDS_COLUMN, pa.array([], pa.list_(pa.string()))),
        "changed_old": empty,
        "id_changed": id_changed_schema(entity).empty_table(),
        "id_changed_old": empty,
    }


def read_index(store: BlobStore, prefix: str) -> dict[str, dict[str, int]]:
    """The change set's ``index.json``: per entity with changes, its counts as written
    (``added``, ``removed``, ``changed``, ``id_changed``); FileNotFoundError if there is none."""
    try:
        index: dict[str, dict[str, int]] = json.loads(store.get(join_key(prefix, INDEX)))["entities"]
    except BlobNotFoundError:
        raise FileNotFoundError(f"no change set at {prefix!r}") from None
    return index


def _published_keys(prefix: str, index: dict[str, dict[str, int]]) -> list[tuple[str, str, str]]:
    """(entity, kind, key) of every Parquet file the index says the change set has."""
    found = []
    for entity in ENTITIES:
        if entity.name not in index:
            continue
        kinds = _KINDS + (_REKEY_KINDS if entity.is_person and "id_changed" in index[entity.name] else ())
        found += [(entity.name, k, join_key(prefix, f"{entity.name}/{k}.parquet")) for k in kinds]
    return found


def read_published(
    store: BlobStore,
    prefix: str,
    *,
    executor: Executor | None = None,
    index: dict[str, dict[str, int]] | None = None,
) -> tuple[dict[str, dict[str, pa.Table]], pa.Table]:
    """The change set under ``prefix`` as written: per entity, each kind (``added``, ``removed``,
    ``changed``, ``changed_old``, ``id_changed``, ``id_changed_old``; empty where the entity or
    the kind is absent), and the ``id_changes`` pairs. With ``executor`` the files are fetched
    and parsed on it side by side (the same tables); without, one after another. ``index``: its
    :func:`read_index`, when the caller has read it already (None: read here)."""
    keys = _published_keys(prefix, read_index(store, prefix) if index is None else index)
    pairs_key = join_key(prefix, "id_changes.parquet")
    if executor is None:
        read = {key: _read(store, key) for _, _, key in keys}
        id_changes = _read(store, pairs_key)
    else:
        pending = {key: executor.submit(_read, store, key) for _, _, key in keys}
        pairs_read = executor.submit(_read, store, pairs_key)
        read = {key: future.result() for key, future in pending.items()}
        id_changes = pairs_read.result()
    out = {entity.name: _empty_kinds(entity) for entity in ENTITIES}
    for name, kind, key in keys:
        out[name][kind] = read[key]
    return out, id_changes.cast(ID_CHANGE_SCHEMA)


def read_change_set(
    store: BlobStore,
    prefix: str,
    *,
    executor: Executor | None = None,
    index: dict[str, dict[str, int]] | None = None,
) -> ChangeSet:
    """The change set under ``prefix`` (every entity present, empty where nothing changed), each
    re-key back as the removal and addition the pipeline applies. ``executor`` and ``index``: as
    :func:`read_published`."""
    published, id_changes = read_published(store, prefix, executor=executor, index=index)
    entities: dict[str, EntityChanges] = {}
    for name, tables in published.items():
        spec = ENTITY_BY_NAME[name]
        changed = tables["changed"]
        rekeyed = conform(tables["id_changed"].select(spec.schema.names), spec)
        entities[name] = EntityChanges(
            name,
            pa.concat_tables([conform(tables["added"], spec), rekeyed]),
            pa.concat_tables([conform(tables["removed"], spec), conform(tables["id_changed_old"], spec)]),
            conform(changed.drop_columns([FIELDS_COLUMN]), spec),
            conform(tables["changed_old"], spec),
            changed.column(FIELDS_COLUMN).combine_chunks(),
        )
    return ChangeSet(entities=entities, id_changes=id_changes)


def _filter(changes: ChangeSet, keep: Callable[[pa.Table], pa.ChunkedArray]) -> ChangeSet:
    entities = {}
    for name, ec in changes.entities.items():
        changed_mask = keep(ec.changed_new)
        entities[name] = EntityChanges(
            name,
            ec.added.filter(keep(ec.added)),
            ec.removed.filter(keep(ec.removed)),
            ec.changed_new.filter(changed_mask),
            ec.changed_old.filter(changed_mask),
            pc.filter(ec.changed_fields, changed_mask),
        )
    return ChangeSet(entities=entities, id_changes=changes.id_changes)


def without_schools(changes: ChangeSet, schools: list[str]) -> ChangeSet:
    """``changes`` minus the records of ``schools`` (already applied by a partial release).

    Uses the same school of each record as :func:`rostersync.diff.apply_changes` (removals by the
    old record's, additions and changes by the new one's); records without a school stay.
    """
    if not schools:
        return changes
    done = pa.array(sorted(schools), pa.string())
    return _filter(
        changes,
        lambda t: pc.invert(pc.fill_null(pc.is_in(t.column("school_id"), value_set=done), False)),
    )


def only_schools(changes: ChangeSet, schools: list[str]) -> ChangeSet:
    """The records of ``schools`` only: what ``apply_changes(..., schools=...)`` applies."""
    selected = pa.array(sorted(schools), pa.string())
    return _filter(
        changes, lambda t: pc.fill_null(pc.is_in(t.column("school_id"), value_set=selected), False)
    )


def _empty_like(table: pa.Table) -> pa.Table:
    return table.schema.empty_table()


def only_removals(changes: ChangeSet) -> ChangeSet:
    """The removals of ``changes`` alone (additions and changes emptied); a re-key is not a
    removal (:mod:`rostersync.rekeys`) and is left out with the additions."""
    removals = without_rekeyed_removals(changes)
    return ChangeSet(
        entities={
            name: EntityChanges(
                name,
                _empty_like(ec.added),
                ec.removed,
                _empty_like(ec.changed_new),
                _empty_like(ec.changed_old),
                ec.changed_fields.slice(0, 0),
            )
            for name, ec in removals.entities.items()
        },
        id_changes=changes.id_changes,
    )


def without_removals(changes: ChangeSet) -> ChangeSet:
    """``changes`` with every removal left out: what "apply adds and updates, keep removals
    held" applies. Re-keys stay: their old halves go with their additions."""
    rekeyed = only_rekeyed_removals(changes)
    return ChangeSet(
        entities={
            name: EntityChanges(
                name,
                ec.added,
                rekeyed.get(name, _empty_like(ec.removed)),
                ec.changed_new,
                ec.changed_old,
                ec.changed_fields,
            )
            for name, ec in changes.entities.items()
        },
        id_changes=changes.id_changes,
    )


def with_removals_of(changes: ChangeSet, extra: ChangeSet) -> ChangeSet:
    """``changes`` plus the removals of ``extra`` (records the two do not share)."""
    entities = dict(changes.entities)
    for name, ec in extra.entities.items():
        if not ec.removed.num_rows:
            continue
        mine = entities[name]
        removed = pa.concat_tables([mine.removed, ec.removed.cast(mine.removed.schema)])
        entities[name] = EntityChanges(
            name, mine.added, removed, mine.changed_new, mine.changed_old, mine.changed_fields
        )
    return ChangeSet(entities=entities, id_changes=changes.id_changes)


def has_removals(changes: ChangeSet) -> bool:
    """Whether ``changes`` removes anything (a re-key is no removal)."""
    return any(ec.removed.num_rows for ec in without_rekeyed_removals(changes).entities.values())


def removal_schools(changes: ChangeSet) -> tuple[set[str], bool]:
    """The schools of the removals in ``changes`` (re-keys are no removals), and whether a
    removal has no school."""
    changes = without_rekeyed_removals(changes)
    found: set[str] = set()
    unscoped = False
    for ec in changes.entities.values():
        table = ec.removed
        if not table.num_rows or "school_id" not in table.column_names:
            unscoped = unscoped or bool(table.num_rows)
            continue
        schools = pc.unique(table.column("school_id")).to_pylist()
        found.update(s for s in schools if s is not None)
        unscoped = unscoped or None in schools
    return found, unscoped


def change_counts(changes: ChangeSet) -> dict[str, int]:
    """Totals over every entity as the feed publishes them: records added, removed and changed,
    and re-keys (``id_changed``), which are neither added nor removed."""
    rekeys = present_pairs(changes).num_rows
    totals = {"added": -rekeys, "removed": -rekeys, "changed": 0, "id_changed": rekeys}
    for ec in changes.entities.values():
        added, removed, changed = ec.counts
        totals["added"] += added
        totals["removed"] += removed
        totals["changed"] += changed
    return totals


def change_schools(changes: ChangeSet) -> set[str]:
    """Every school named by a change (the school each record would be applied under)."""
    found: set[str] = set()
    for ec in changes.entities.values():
        for table in (ec.added, ec.removed, ec.changed_new):
            if table.num_rows and "school_id" in table.column_names:
                found.update(s for s in pc.unique(table.column("school_id")).to_pylist() if s is not None)
    return found
