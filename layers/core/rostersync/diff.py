"""Diff a staged roster set against the accepted snapshot, count it per school, and apply it.

Everything here is column-at-a-time Arrow (and numpy for bit matrices): rows are matched by key
with a hash lookup (``index_in``), compared one value column at a time with null-aware masks, and
applied with ``is_in`` filters and concatenation. Python loops run over entities and columns,
never over rows, and entities are diffed on parallel threads, so a 6M-enrollment district diffs
in seconds. Two rules protect districts from
bad data: a key listed in the staged set's ``unknown`` table (its row failed validation) is never
a removal, and an entity in ``missing`` (the source did not supply it) has no changes at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.model import ENTITIES, KEY_SEPARATOR, Entity, conform, key_column
from rostersync.roster import RosterSet

CHANGED_FIELDS_TYPE = pa.list_(pa.string())

# id_changed: re-keyed people (rostersync.rekeys), counted in the new record's school and in
# neither added nor removed, as the feed publishes them.
SUMMARY_METRICS = ("baseline", "staged", "added", "removed", "changed", "id_changed")
SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string()),
        pa.field("school_id", pa.string()),
        *(pa.field(m, pa.int64()) for m in SUMMARY_METRICS),
    ]
)

MatchedOn = Literal["email", "name_birth_date"]

ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray


# --- helpers ------------------------------------------------------------------------------------


def _chunks(values: ArrayLike) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


def _concat(parts: Iterable[ArrayLike], type_: pa.DataType) -> pa.ChunkedArray:
    return pa.chunked_array([c for p in parts for c in _chunks(p)], type=type_)


def _array(values: ArrayLike) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _empty_changes(entity: Entity) -> EntityChanges:
    empty = entity.schema.empty_table()
    return EntityChanges(entity.name, empty, empty, empty, empty, pa.array([], CHANGED_FIELDS_TYPE))


def unknown_keys(roster: RosterSet, entity: Entity) -> pa.ChunkedArray:
    """Keys of ``entity`` whose state is unknown in ``roster`` (same form as ``key_column``)."""
    unknown = roster.unknown
    if unknown.num_rows == 0:
        return pa.chunked_array([], type=pa.string())
    return unknown.filter(pc.equal(unknown.column("entity"), entity.name)).column("key")


def _scalar_differs(a: ArrayLike, b: ArrayLike) -> pa.Array:
    """True where the values differ, nulls included (null vs value differs, null vs null not)."""
    ne = pc.not_equal(a, b)
    either_null = pc.xor(pc.is_null(a), pc.is_null(b))
    return _array(pc.fill_null(pc.or_kleene(ne, either_null), False))


def _list_differs(a: ArrayLike, b: ArrayLike) -> pa.Array:
    """Per row, whether two list arrays differ (order matters, null elements compared too).

    Rows whose lists have different lengths (or one is null) differ outright; the rest are
    compared element-wise on the flattened values and reduced to their rows through
    ``list_parent_indices``, which is exact whatever the values contain.
    """
    a, b = _array(a), _array(b)
    out = _scalar_differs(pc.list_value_length(a), pc.list_value_length(b))
    same_shape = pc.and_(pc.invert(out), pc.is_valid(a))
    positions = pc.indices_nonzero(same_shape)
    if len(positions) == 0:
        return out
    sub_a, sub_b = a.take(positions), b.take(positions)
    element_differs = _differs(pc.list_flatten(sub_a), pc.list_flatten(sub_b))
    parents = pc.list_parent_indices(sub_a).filter(element_differs)
    if len(parents) == 0:
        return out
    rows = positions.take(pc.unique(parents)).to_numpy()
    mask = out.to_numpy(zero_copy_only=False).copy()
    mask[rows] = True
    return pa.array(mask, pa.bool_())


def _differs(a: ArrayLike, b: ArrayLike) -> pa.Array:
    t = a.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _list_differs(a, b)
    return _scalar_differs(a, b)


def _changed_fields(masks: list[pa.Array], names: list[str]) -> tuple[np.ndarray, pa.Array]:
    """Rows with any difference and, per such row, the names of the differing columns.

    The masks form a rows x columns bit matrix; ``np.nonzero`` walks it row-major, which gives
    the flattened list values in order, and the per-row sums give the list offsets.
    """
    matrix = np.column_stack([m.to_numpy(zero_copy_only=False) for m in masks])
    rows = np.flatnonzero(matrix.any(axis=1))
    sub = matrix[rows]
    _, cols = np.nonzero(sub)
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(sub.sum(axis=1), out=offsets[1:])
    values = pa.array(names, pa.string()).take(pa.array(cols, pa.int64()))
    return rows, pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def _tuple_codes(old: pa.Table, new: pa.Table, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per row of ``old`` and of ``new`` that is equal exactly when the rows' values in
    ``columns`` are equal, and -1 (old) or -2 (new) where any of them is null, so a null never
    matches. Each column is dictionary-encoded over both sides at once (its values are hashed once,
    into a table of its distinct values: far smaller than one of whole composite keys), and the
    codes are combined positionally; an overflowing combination is re-encoded densely first.
    """
    combined_old = np.zeros(old.num_rows, dtype=np.int64)
    combined_new = np.zeros(new.num_rows, dtype=np.int64)
    valid_old = np.ones(old.num_rows, dtype=bool)
    valid_new = np.ones(new.num_rows, dtype=bool)
    span = 1
    for name in columns:
        both = _concat([old.column(name), new.column(name)], old.schema.field(name).type)
        encoded = pc.dictionary_encode(both)  # every chunk shares the one final dictionary
        distinct = len(encoded.chunks[0].dictionary) if encoded.num_chunks else 0
        codes = _concat([chunk.indices for chunk in encoded.chunks], pa.int32()).combine_chunks()
        valid = codes.is_valid().to_numpy(zero_copy_only=False)
        values = (codes.fill_null(0) if codes.null_count else codes).to_numpy().astype(np.int64)
        if span * max(distinct, 1) >= 2**62:  # re-encode the combination so far densely
            _, dense = np.unique(np.concatenate([combined_old, combined_new]), return_inverse=True)
            combined_old, combined_new = dense[: old.num_rows], dense[old.num_rows :]
            span = int(dense.max()) + 1 if len(dense) else 1
        combined_old = combined_old * max(distinct, 1) + values[: old.num_rows]
        combined_new = combined_new * max(distinct, 1) + values[old.num_rows :]
        valid_old &= valid[: old.num_rows]
        valid_new &= valid[old.num_rows :]
        span *= max(distinct, 1)
    combined_old[~valid_old] = -1
    combined_new[~valid_new] = -2
    return combined_old, combined_new


def _first_positions(old_codes: np.ndarray, new_codes: np.ndarray) -> pa.Array:
    """For each new code, the position of its first occurrence in ``old_codes`` (null if none):
    ``index_in`` by a stable sort and a binary search, which beats a hash table of millions."""
    if len(old_codes) == 0:
        return pa.nulls(len(new_codes), pa.int64())
    order = np.argsort(old_codes, kind="stable")
    ordered = old_codes[order]
    at = np.minimum(np.searchsorted(ordered, new_codes), len(ordered) - 1)
    hit = ordered[at] == new_codes
    return pa.array(order[at], pa.int64(), mask=~hit)


def _removal_positions(
    entity: Entity,
    old: pa.Table,
    old_keys: ArrayLike,
    new_keys: ArrayLike,
    old_pos: pa.Array,
    unknown: ArrayLike | None,
) -> pa.Array:
    """Positions of old rows whose key is neither in new nor unknown.

    Old rows that no new row matched are the candidates (a scatter, no hashing). A candidate's
    key can still be in new when old holds that key twice, since the match points at the first
    occurrence only, so new is probed against the candidates (hashing the few candidates instead
    of the whole new key column). Unknown keys are compared in their stored text form, built for
    the candidates only.
    """
    hit = np.zeros(len(old_keys), dtype=bool)
    hit[old_pos.to_numpy()] = True
    candidates = pa.array(np.flatnonzero(~hit), pa.int64())
    if len(candidates) == 0:
        return candidates
    candidate_keys = old_keys.take(candidates)
    in_new = new_keys.filter(pc.is_in(new_keys, value_set=candidate_keys, skip_nulls=True))
    kept = pc.is_in(candidate_keys, value_set=in_new, skip_nulls=True)
    if unknown is not None and len(unknown):
        text = key_column(old.select(list(entity.key)).take(candidates), entity)
        kept = pc.or_(kept, pc.fill_null(pc.is_in(text, value_set=unknown, skip_nulls=True), False))
    return candidates.filter(pc.invert(kept))


def _match_keys(entity: Entity, old: pa.Table, new: pa.Table) -> tuple[ArrayLike, ArrayLike, pa.Array]:
    """Comparable keys of old and new, and for each new row the position of its key in old (the
    first one if duplicated; null if none). A single key column is matched with one hash lookup;
    a composite key by its tuple codes (:func:`_tuple_codes`), never by building key strings."""
    if len(entity.key) == 1:
        old_keys, new_keys = key_column(old, entity), key_column(new, entity)
        return old_keys, new_keys, _array(pc.index_in(new_keys, value_set=old_keys, skip_nulls=True))
    old_codes, new_codes = _tuple_codes(old, new, entity.key)
    index = _first_positions(old_codes, new_codes)
    return pa.array(old_codes), pa.array(new_codes), index


# --- diff ---------------------------------------------------------------------------------------


def diff_table(
    entity: Entity,
    old: pa.Table | None,
    new: pa.Table,
    *,
    unknown: ArrayLike | None = None,
) -> EntityChanges:
    """Changes of one entity from ``old`` (None: nothing accepted yet) to ``new``.

    ``unknown`` holds keys whose state is unknown in ``new``: old records with those keys are
    kept, never removed. Null keys never match (validation rejects them before the diff).
    """
    new = conform(new, entity)
    if old is None or old.num_rows == 0:
        empty = entity.schema.empty_table()
        return EntityChanges(entity.name, new, empty, empty, empty, pa.array([], CHANGED_FIELDS_TYPE))
    old = conform(old, entity)
    # For each new row, the position of its key in old (the first one if duplicated). This is
    # the one lookup over a full key column; everything else probes small sets.
    old_keys, new_keys, index = _match_keys(entity, old, new)
    matched = pc.is_valid(index)
    added = new.filter(pc.invert(matched))
    old_pos = _array(pc.drop_null(index))
    removed = old.take(_removal_positions(entity, old, old_keys, new_keys, old_pos, unknown))

    value_columns = entity.value_columns
    if not value_columns or new.num_rows == added.num_rows:
        empty = entity.schema.empty_table()
        return EntityChanges(entity.name, added, removed, empty, empty, pa.array([], CHANGED_FIELDS_TYPE))
    new_pos = _array(pc.indices_nonzero(matched))
    masks = [
        # filter() on the new side is a sequential copy; only the old side needs a gather.
        _differs(old.column(c).take(old_pos), new.column(c).filter(matched))
        for c in value_columns
    ]
    rows, fields = _changed_fields(masks, value_columns)
    picked = pa.array(rows, pa.int64())
    return EntityChanges(
        entity.name,
        added=added,
        removed=removed,
        changed_new=new.take(new_pos.take(picked)),
        changed_old=old.take(old_pos.take(picked)),
        changed_fields=fields,
    )


def _diff_entity(entity: Entity, old: RosterSet | None, new: RosterSet) -> tuple[EntityChanges, pa.Table]:
    if entity.name in new.missing:
        return _empty_changes(entity), ID_CHANGE_SCHEMA.empty_table()
    changes = diff_table(
        entity,
        old.table(entity.name) if old is not None else None,
        new.table(entity.name),
        unknown=unknown_keys(new, entity),
    )
    return changes, suspected_id_changes(entity, changes.removed, changes.added)


def diff_rosters(old: RosterSet | None, new: RosterSet, *, threads: int | None = None) -> ChangeSet:
    """Added, removed and changed records of every entity, and suspected source-ID changes.

    ``old`` None is a first sync: everything is added. Entities in ``new.missing`` have no
    changes; keys in ``new.unknown`` are never removed. Entities are diffed concurrently on
    ``threads`` threads (default: Arrow's CPU count; Arrow releases the GIL), largest first, since
    each Arrow kernel used here runs on one core and a Lambda has several.
    """
    workers: int = max(1, threads if threads is not None else pa.cpu_count())

    def size(entity: Entity) -> int:
        old_rows: int = old.table(entity.name).num_rows if old is not None else 0
        new_rows: int = new.table(entity.name).num_rows
        return old_rows + new_rows

    results: dict[str, tuple[EntityChanges, pa.Table]] = {}
    if workers == 1:
        for entity in ENTITIES:
            results[entity.name] = _diff_entity(entity, old, new)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diff") as pool:
            futures = {
                e.name: pool.submit(_diff_entity, e, old, new)
                for e in sorted(ENTITIES, key=size, reverse=True)
            }
            results = {name: future.result() for name, future in futures.items()}
    return ChangeSet(
        entities={e.name: results[e.name][0] for e in ENTITIES},
        id_changes=pa.concat_tables([results[e.name][1] for e in ENTITIES]),
    )


# --- suspected source-ID changes ----------------------------------------------------------------


def _normalized(values: ArrayLike) -> pa.ChunkedArray | pa.Array:
    """Lowercased, trimmed text; empty becomes null so it can never match."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _natural_key(table: pa.Table, how: MatchedOn) -> pa.ChunkedArray | pa.Array:
    if how == "email":
        return _normalized(table.column("email"))
    # binary_join_element_wise is null when any part is null: no match without all three.
    return pc.binary_join_element_wise(
        _normalized(table.column("first_name")),
        _normalized(table.column("last_name")),
        table.column("birth_date").cast(pa.string()),
        KEY_SEPARATOR,
    )


def _unambiguous(table: pa.Table) -> pa.Table:
    """Rows whose natural key ``nk`` is non-null and occurs once."""
    table = table.filter(pc.is_valid(table.column("nk")))
    counts = pc.value_counts(table.column("nk"))
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table.column("nk"), value_set=repeated)))


def _match(entity: Entity, removed: pa.Table, added: pa.Table, how: MatchedOn) -> pa.Table:
    key = entity.key[0]
    left = _unambiguous(
        pa.table(
            {
                "nk": _natural_key(removed, how),
                "old_id": removed.column(key),
                "old_school_id": removed.column("school_id"),
            }
        )
    )
    right = _unambiguous(
        pa.table(
            {
                "nk": _natural_key(added, how),
                "new_id": added.column(key),
                "new_school_id": added.column("school_id"),
            }
        )
    )
    if left.num_rows == 0 or right.num_rows == 0:
        return ID_CHANGE_SCHEMA.empty_table()
    joined = left.join(right, keys="nk", join_type="inner").sort_by("old_id")
    n = joined.num_rows
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(entity.name), n),
            pc.coalesce(joined.column("new_school_id"), joined.column("old_school_id")),
            joined.column("old_id"),
            joined.column("new_id"),
            pa.repeat(pa.scalar(how), n),
        ],
        schema=ID_CHANGE_SCHEMA,
    )


def suspected_id_changes(entity: Entity, removed: pa.Table, added: pa.Table) -> pa.Table:
    """Removed/added pairs of one person entity that look like the same person re-keyed.

    Matched first on lowercased trimmed email, then (among the rest) on lowercased first and last
    name plus birth date. A natural key that is null, or shared by several removed or several
    added records (a family email), is ambiguous and matches nothing.
    """
    if not entity.is_person or removed.num_rows == 0 or added.num_rows == 0:
        return ID_CHANGE_SCHEMA.empty_table()
    key = entity.key[0]
    by_email = _match(entity, removed, added, "email")
    if by_email.num_rows:
        removed = removed.filter(pc.invert(pc.is_in(removed.column(key), by_email.column("old_id"))))
        added = added.filter(pc.invert(pc.is_in(added.column(key), by_email.column("new_id"))))
    by_name = _match(entity, removed, added, "name_birth_date")
    return pa.concat_tables([by_email, by_name])


def pair_changed_fields(entity: Entity, old: pa.Table, new: pa.Table) -> pa.Array:
    """Per row of two aligned tables of ``entity`` (a re-keyed record before and after), the value
    columns that differ (``list<string>``, empty when only the key changed); the key itself and
    ``*_raw`` columns are not listed, as in a change's ``_changed_fields``."""
    columns = entity.value_columns
    if old.num_rows == 0 or not columns:
        none = pa.array(np.zeros(old.num_rows + 1, dtype=np.int32), pa.int32())
        return pa.ListArray.from_arrays(none, pa.array([], pa.string()))
    old, new = conform(old, entity), conform(new, entity)
    masks = [_differs(old.column(c), new.column(c)) for c in columns]
    matrix = np.column_stack([m.to_numpy(zero_copy_only=False) for m in masks])
    _, cols = np.nonzero(matrix)
    offsets = np.zeros(old.num_rows + 1, dtype=np.int32)
    np.cumsum(matrix.sum(axis=1), out=offsets[1:])
    values = pa.array(columns, pa.string()).take(pa.array(cols, pa.int64()))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


# --- summary ------------------------------------------------------------------------------------


def _school_counts(entity: Entity, table: pa.Table | None, metric: str) -> pa.Table | None:
    return school_counts(entity, table, {metric: 1})


def school_counts(entity: Entity, table: pa.Table | None, weights: dict[str, int]) -> pa.Table | None:
    """A :data:`SUMMARY_SCHEMA` part from the rows of ``table`` per school: each metric in
    ``weights`` is the school's row count times its weight (negative to take rows out of a
    metric), the others 0; None for no rows."""
    if table is None or table.num_rows == 0:
        return None
    if entity.school_scoped and "school_id" in table.column_names:
        schools = table.column("school_id")
    else:
        schools = pa.nulls(table.num_rows, pa.string())
    grouped = pa.table({"school_id": schools}).group_by("school_id").aggregate([([], "count_all")])
    n = grouped.num_rows
    zeros = pa.repeat(pa.scalar(0, pa.int64()), n)
    columns = [pa.repeat(pa.scalar(entity.name), n), grouped.column("school_id")]
    count = grouped.column("count_all")
    columns += [pc.multiply(count, weights[m]) if m in weights else zeros for m in SUMMARY_METRICS]
    return pa.Table.from_arrays(columns, schema=SUMMARY_SCHEMA)


def entity_summary_parts(
    entity: Entity, baseline: pa.Table | None, staged: pa.Table | None, ch: EntityChanges
) -> list[pa.Table]:
    """One entity's per-school counts, before :func:`combine_summary` adds them up: ``staged`` is
    the table the entity has after the sync (its baseline when the source did not supply it)."""
    parts: list[pa.Table] = []
    # id_changed moves re-keys out of added and removed, over the whole change set
    # (rostersync.rekeys.rekey_summary_parts).
    sources = (baseline, staged, ch.added, ch.removed, ch.changed_new, None)
    for metric, table in zip(SUMMARY_METRICS, sources, strict=True):
        counted = _school_counts(entity, table, metric)
        if counted is not None:
            parts.append(counted)
    return parts


def combine_summary(parts: list[pa.Table]) -> pa.Table:
    """The :data:`SUMMARY_SCHEMA` table of :func:`entity_summary_parts` of every entity."""
    if not parts:
        return SUMMARY_SCHEMA.empty_table()
    grouped = (
        pa.concat_tables(parts)
        .group_by(["entity", "school_id"])
        .aggregate([(m, "sum") for m in SUMMARY_METRICS])
    )
    summary = pa.Table.from_arrays(
        [grouped.column(f) for f in ("entity", "school_id")]
        + [grouped.column(f"{m}_sum").cast(pa.int64()) for m in SUMMARY_METRICS],
        schema=SUMMARY_SCHEMA,
    )
    order = pc.index_in(summary.column("entity"), value_set=pa.array([e.name for e in ENTITIES]))
    return (
        summary.append_column("_order", order)
        .sort_by([("_order", "ascending"), ("school_id", "ascending")])  # nulls sort last by default
        .drop_columns(["_order"])
    )


# --- apply --------------------------------------------------------------------------------------


def _in_schools(table: pa.Table, schools: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table.column("school_id"), value_set=schools))


def apply_changes(
    old: RosterSet | None,
    changes: ChangeSet,
    *,
    schools: set[str] | None = None,
    staged: RosterSet | None = None,
) -> RosterSet:
    """``old`` minus removed records, plus added ones, with changed records replaced.

    With ``schools``, only changes in those schools apply (a partial release of a hold): removals
    by the old record's school, additions and changes by the new record's; records without a
    school then wait for a full release. The result is an accepted set: no unknown keys, nothing
    missing, its format from ``staged`` (else ``old``) and receive times merged, staged winning.
    """
    selected = pa.array(sorted(schools), pa.string()) if schools is not None else None
    tables: dict[str, pa.Table] = {}
    for entity in ENTITIES:
        name = entity.name
        base = conform(old.table(name), entity) if old is not None else entity.schema.empty_table()
        ch = changes.entities.get(name)
        if ch is None or ch.is_empty:
            tables[name] = base
            continue
        added, removed, changed = ch.added, ch.removed, ch.changed_new
        if selected is not None:
            added, removed, changed = (_in_schools(t, selected) for t in (added, removed, changed))
        dropped = _concat([key_column(removed, entity), key_column(changed, entity)], pa.string())
        if len(dropped) and base.num_rows:
            base = base.filter(pc.invert(pc.is_in(key_column(base, entity), value_set=dropped)))
        tables[name] = pa.concat_tables([base, conform(changed, entity), conform(added, entity)])

    received_at = dict(old.received_at) if old is not None else {}
    if staged is not None:
        received_at.update(staged.received_at)
        fmt = staged.format
    else:
        fmt = old.format if old is not None else ""
    return RosterSet(tables=tables, format=fmt, received_at=received_at)
