"""The changes of a sync as the rows an admin reads in ``changes.csv``: one row per added,
removed, changed or re-keyed record, rendered as text with vectorised Arrow kernels.

Rows come entity by entity in registry order (schools first), and within an entity sorted by
school, change and ID. An entity's rows are rendered in blocks of whole schools
(:func:`entity_blocks`): sorting each block and putting the blocks in school order gives the
entity sorted, so blocks can be rendered on threads (Arrow releases the GIL) and written as they
come, and no more than a few blocks of text are held at once, even for a first sync that adds
every record of a district.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial, reduce
from itertools import pairwise
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet, EntityChanges
from rostersync.model import ENTITIES, ENTITY_BY_NAME, KEY_SEPARATOR, Entity
from rostersync.rekeys import present_pairs

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
ID_CHANGED = "id_changed"

# Composite keys are shown as "S1/P9": readable, and "/" does not start a formula.
DISPLAY_KEY_SEPARATOR = "/"
FIELD_SEPARATOR = "; "
BLANK = "(blank)"
NULL_STRING = pa.scalar(None, pa.string())

CHANGES_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string()),
        pa.field("school_id", pa.string()),
        pa.field("id", pa.string()),
        pa.field("change", pa.string()),
        pa.field("changed_fields", pa.string()),
        pa.field("old_values", pa.string()),
        pa.field("new_values", pa.string()),
    ]
)
# The columns whose text comes from the district's data. The others are built by this module and
# always start with a fixed word: an entity name, a change name or a field name.
SOURCE_TEXT_COLUMNS = ("school_id", "id")
SORT_KEYS = [("school_id", "ascending"), ("change", "ascending"), ("id", "ascending")]
# About this many rows per block: the 600k-student first sync's 6M enrollments make 24 blocks of
# ~30 MiB of CSV each.
BLOCK_ROWS = 250_000

# The fields that describe an added or removed record well enough to recognise it; the full
# record is in the snapshot. Keys and school_id have their own columns.
SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "schools": ("name", "school_number", "low_grade", "high_grade"),
    "terms": ("name", "type", "start_date", "end_date"),
    "courses": ("name", "course_code", "subject"),
    "students": ("sis_id", "first_name", "last_name", "grade", "email"),
    "teachers": ("sis_id", "first_name", "last_name", "email", "title"),
    "staff": ("sis_id", "first_name", "last_name", "email", "title"),
    "contacts": ("first_name", "last_name", "email", "phone"),
    "contact_links": ("relationship", "contact_type"),
    "sections": ("name", "course_id", "term_id", "period", "teacher_ids"),
    "enrollments": ("role",),
}

Column: TypeAlias = "pa.Array | pa.ChunkedArray"


# -- vectorised string helpers -------------------------------------------------------------------


def join_skip_nulls(pieces: Sequence[Column], separator: str, length: int) -> Column:
    """Element-wise join of ``pieces`` skipping nulls; a row where every piece is null gives "".

    pyarrow's ``binary_join_element_wise(..., null_handling="skip")`` drops rows whose inputs
    are all null (the output comes back shorter than the input: seen on pyarrow 26), so a
    non-null empty piece leads every row and its separator's bytes are cut off afterwards
    (``binary_replace_slice``: bytes, not characters, several times faster than a UTF-8 slice).
    """
    if len(pieces) == 1:
        return pc.fill_null(pieces[0], "")
    lead = pa.repeat(pa.scalar("", pa.string()), length)
    joined = pc.binary_join_element_wise(lead, *pieces, separator, null_handling="skip")
    return pc.binary_replace_slice(joined, 0, len(separator.encode()), "")


def _empty_to_null(values: Column) -> Column:
    return pc.if_else(pc.equal(values, ""), NULL_STRING, values)


def as_text(column: Column) -> Column:
    """A column rendered as strings: lists joined with ", ", dates as ISO dates."""
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return pc.binary_join(pc.cast(column, pa.list_(pa.string())), ", ")
    if pa.types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())


def display_key(table: pa.Table, entity: Entity) -> Column:
    """The record key as an admin reads it: the key column, or composite parts joined by "/"
    (a null part shows as empty)."""
    parts = [as_text(table.column(c)) for c in entity.key]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(
        *parts, DISPLAY_KEY_SEPARATOR, null_handling="replace", null_replacement=""
    )


def _display_id(keys: Column) -> Column:
    """A stored key string (composite parts joined by KEY_SEPARATOR) as an admin reads it."""
    return pc.replace_substring(keys, KEY_SEPARATOR, DISPLAY_KEY_SEPARATOR)


def _labelled(name: str, values: Column, *, blank: bool) -> Column:
    """Label each value as "name: value"; a null value gives "name: (blank)" when ``blank`` else null.
    (The label is inserted as the first bytes of each value: ~3x faster than joining it on.)"""
    text = as_text(values)
    if blank:
        text = pc.fill_null(text, BLANK)
    return pc.binary_replace_slice(text, 0, 0, f"{name}: ")


def _column_or_nulls(table: pa.Table, name: str, type_: pa.DataType) -> Column:
    if name in table.column_names:
        return table.column(name)
    return pa.nulls(table.num_rows, type_)


def _school_column(table: pa.Table) -> Column:
    return as_text(_column_or_nulls(table, "school_id", pa.string()))


def _fields_mask(fields_text: Column, name: str) -> Column:
    """Rows whose wrapped changed-field list (\x1fa\x1fb\x1f) names ``name``."""
    return pc.match_substring(fields_text, f"{KEY_SEPARATOR}{name}{KEY_SEPARATOR}")


def _stored_key(table: pa.Table, entity: Entity) -> Column:
    """Keys as the diff stores them in ``id_changes`` (composite parts joined by KEY_SEPARATOR)."""
    parts = [as_text(table.column(c)) for c in entity.key]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


# -- one kind of change rendered -----------------------------------------------------------------


def _part(
    entity: Entity,
    change: str,
    schools: Column,
    ids: Column,
    *,
    changed_fields: Column | None = None,
    old_values: Column | None = None,
    new_values: Column | None = None,
) -> pa.Table:
    n = len(ids)
    none = pa.nulls(n, pa.string())
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(entity.name), n),
            schools,
            ids,
            pa.repeat(pa.scalar(change), n),
            none if changed_fields is None else changed_fields,
            none if old_values is None else old_values,
            none if new_values is None else new_values,
        ],
        schema=CHANGES_SCHEMA,
    )


def _summary(table: pa.Table, entity: Entity) -> Column:
    """The main fields of each record ("first_name: Ann; grade: 4"), null where it has none."""
    fields = [f for f in SUMMARY_FIELDS.get(entity.name, ()) if f in table.column_names]
    pieces = [_labelled(f, table.column(f), blank=False) for f in fields]
    if len(pieces) <= 1:
        return pieces[0] if pieces else pa.nulls(table.num_rows, pa.string())
    joined = join_skip_nulls(pieces, FIELD_SEPARATOR, table.num_rows)
    some = reduce(pc.or_, [pc.is_valid(p) for p in pieces])
    return joined if pc.all(some).as_py() else pc.if_else(some, joined, NULL_STRING)


def _changed_part(entity: Entity, new: pa.Table, old: pa.Table, fields: Column) -> pa.Table:
    """Changed records (``new`` and ``old`` aligned, ``fields`` naming what differs): the changed
    fields with their old and new values."""
    n = new.num_rows
    fields_list = pc.cast(fields, pa.list_(pa.string()))
    wrapped = pc.binary_join_element_wise(
        pa.scalar(KEY_SEPARATOR),
        pc.fill_null(pc.binary_join(fields_list, KEY_SEPARATOR), ""),
        pa.scalar(KEY_SEPARATOR),
        "",
    )
    old_pieces, new_pieces = [], []
    for name in entity.value_columns:
        if name not in new.column_names:
            continue
        mask = _fields_mask(wrapped, name)
        before = _column_or_nulls(old, name, new.schema.field(name).type)
        old_pieces.append(pc.if_else(mask, _labelled(name, before, blank=True), NULL_STRING))
        new_pieces.append(pc.if_else(mask, _labelled(name, new.column(name), blank=True), NULL_STRING))
    return _part(
        entity,
        CHANGED,
        _school_column(new),
        display_key(new, entity),
        changed_fields=_empty_to_null(pc.fill_null(pc.binary_join(fields_list, FIELD_SEPARATOR), "")),
        old_values=_empty_to_null(join_skip_nulls(old_pieces, FIELD_SEPARATOR, n)),
        new_values=_empty_to_null(join_skip_nulls(new_pieces, FIELD_SEPARATOR, n)),
    )


def _id_changed_part(entity: Entity, id_changes: pa.Table, old: pa.Table, new: pa.Table) -> pa.Table:
    """One row per suspected source-ID change (``old`` and ``new`` the removed and added records,
    aligned with ``id_changes``), showing the key and every other field that differs."""
    old_ids = id_changes.column("old_id")
    new_ids = id_changes.column("new_id")
    n = id_changes.num_rows
    key_name = DISPLAY_KEY_SEPARATOR.join(entity.key)
    names = [pa.repeat(pa.scalar(key_name), n)]
    old_pieces = [_labelled(key_name, _display_id(old_ids), blank=True)]
    new_pieces = [_labelled(key_name, _display_id(new_ids), blank=True)]
    for name in entity.value_columns:
        if name not in new.column_names or name not in old.column_names:
            continue
        before, after = as_text(old.column(name)), as_text(new.column(name))
        differs = pc.fill_null(pc.not_equal(before, after), False)
        differs = pc.or_(differs, pc.not_equal(pc.is_valid(before), pc.is_valid(after)))
        names.append(pc.if_else(differs, pa.scalar(name), NULL_STRING))
        old_pieces.append(pc.if_else(differs, _labelled(name, before, blank=True), NULL_STRING))
        new_pieces.append(pc.if_else(differs, _labelled(name, after, blank=True), NULL_STRING))
    return _part(
        entity,
        ID_CHANGED,
        as_text(id_changes.column("school_id")),
        _display_id(new_ids),
        changed_fields=_empty_to_null(join_skip_nulls(names, FIELD_SEPARATOR, n)),
        old_values=_empty_to_null(join_skip_nulls(old_pieces, FIELD_SEPARATOR, n)),
        new_values=_empty_to_null(join_skip_nulls(new_pieces, FIELD_SEPARATOR, n)),
    )


# -- an entity's changes, in blocks of whole schools ---------------------------------------------


# The rows of one kind of change in a block: their positions, and the school rank of each.
Rows = tuple[pa.Array, pa.Array]


@dataclass(frozen=True)
class _Kind:
    """One kind of change of an entity, not yet rendered: the school of each of its rows, and
    how to render the rows at some positions, sorted by school and ID."""

    schools: Column
    render: Callable[[Rows], pa.Table]


def _by_school_and_id(ranks: pa.Array, ids: Column) -> pa.Array | None:
    """The order of rows by school rank, then ID (stable); None when they are in that order
    already (``ranks`` never decrease: a block's rows come in school order), as exports sorted
    by ID are, checked in one pass."""
    if len(ids) > 1 and ids.null_count == 0:
        n = len(ids)
        same_school = pc.equal(ranks.slice(0, n - 1), ranks.slice(1))
        if not pc.any(pc.and_(same_school, pc.greater(ids.slice(0, n - 1), ids.slice(1)))).as_py():
            return None
    keys = pa.table({"rank": ranks, "id": ids})
    return pc.sort_indices(keys, sort_keys=[("rank", "ascending"), ("id", "ascending")])


def _sorted_records_part(entity: Entity, change: str, records: pa.Table, rows: Rows) -> pa.Table:
    """Added (or removed) records sorted by school and ID, with their main fields in new_values
    (or old_values). Only the three columns that vary are put in order, not the whole rows."""
    positions, ranks = rows
    block = records.take(positions)
    ids = display_key(block, entity)
    summary, schools = _summary(block, entity), _school_column(block)
    order = _by_school_and_id(ranks, ids)
    if order is not None:
        summary, schools, ids = summary.take(order), schools.take(order), ids.take(order)
    values = {"new_values": summary} if change == ADDED else {"old_values": summary}
    return _part(entity, change, schools, ids, **values)


def _sorted(part: pa.Table) -> pa.Table:
    return part.sort_by([("school_id", "ascending"), ("id", "ascending")])


def _records(table: pa.Table, entity: Entity) -> pa.Table:
    """The columns an added or removed row shows, in one chunk (takes of a block are then cheap
    and copy only those)."""
    wanted = {*entity.key, "school_id", *SUMMARY_FIELDS.get(entity.name, ())}
    return table.select([c for c in table.column_names if c in wanted]).combine_chunks()


def _record_kind(entity: Entity, change: str, records: pa.Table) -> _Kind:
    return _Kind(_school_column(records), partial(_sorted_records_part, entity, change, records))


def _changed_kind(entity: Entity, ec: EntityChanges) -> _Kind:
    new, old = ec.changed_new.combine_chunks(), ec.changed_old.combine_chunks()
    fields = ec.changed_fields

    def render(rows: Rows) -> pa.Table:
        at = rows[0]
        return _sorted(_changed_part(entity, new.take(at), old.take(at), fields.take(at)))

    return _Kind(_school_column(new), render)


def _id_changed_kind(entity: Entity, ec: EntityChanges, id_changes: pa.Table) -> _Kind:
    old = ec.removed.take(pc.index_in(id_changes.column("old_id"), value_set=_stored_key(ec.removed, entity)))
    new = ec.added.take(pc.index_in(id_changes.column("new_id"), value_set=_stored_key(ec.added, entity)))

    def render(rows: Rows) -> pa.Table:
        at = rows[0]
        return _sorted(_id_changed_part(entity, id_changes.take(at), old.take(at), new.take(at)))

    return _Kind(as_text(id_changes.column("school_id")), render)


def _kinds(ec: EntityChanges, id_changes: pa.Table | None) -> list[_Kind]:
    """The kinds of change of one entity that have rows. A removal and an addition that the diff
    paired as a suspected source-ID change (``id_changes`` rows of this entity) are shown once,
    as ``id_changed``."""
    entity = ENTITY_BY_NAME[ec.entity]
    kinds = []
    added, removed = ec.added, ec.removed
    if id_changes is not None:
        id_changes = id_changes.filter(pc.equal(id_changes.column("entity"), entity.name))
    if id_changes is not None and id_changes.num_rows:
        old_ids = pc.drop_null(id_changes.column("old_id"))
        new_ids = pc.drop_null(id_changes.column("new_id"))
        kinds.append(_id_changed_kind(entity, ec, id_changes))
        removed = removed.filter(pc.invert(pc.is_in(_stored_key(removed, entity), value_set=old_ids)))
        added = added.filter(pc.invert(pc.is_in(_stored_key(added, entity), value_set=new_ids)))
    if added.num_rows:
        kinds.append(_record_kind(entity, ADDED, _records(added, entity)))
    if removed.num_rows:
        kinds.append(_record_kind(entity, REMOVED, _records(removed, entity)))
    if ec.changed_new.num_rows:
        kinds.append(_changed_kind(entity, ec))
    return kinds


def _school_ranks(kinds: Sequence[_Kind]) -> tuple[list[pa.Array], list[pa.Array], int]:
    """Each kind's rows ordered by school (stable), the school rank of each of those rows (the
    position of its school among the sorted school IDs; rows without a school rank last) and the
    number of ranks."""
    chunks = [pa.chunked_array([k.schools]) if isinstance(k.schools, pa.Array) else k.schools for k in kinds]
    values = pc.drop_null(pc.unique(pa.chunked_array([c for s in chunks for c in s.chunks], pa.string())))
    values = values.take(pc.sort_indices(values))
    orders, ranks = [], []
    for kind in kinds:
        rank = pc.fill_null(pc.index_in(kind.schools, value_set=values), len(values))
        if isinstance(rank, pa.ChunkedArray):
            rank = rank.combine_chunks()
        order = pc.sort_indices(rank)
        orders.append(order)
        ranks.append(rank.take(order))
    return ranks, orders, len(values) + 1


def entity_blocks(kinds: Sequence[_Kind], rows: int | None = None) -> Iterator[list[Rows]]:
    """The rows of each kind in blocks of whole schools of about ``rows`` rows, in school order
    (rows without a school last; None: :data:`BLOCK_ROWS`): one list per block, one :data:`Rows`
    per kind. A school larger than ``rows`` is one block of its own."""
    if not kinds:
        return
    ranks, orders, count = _school_ranks(kinds)
    sorted_ranks = [r.to_numpy() for r in ranks]
    per_rank = sum(np.bincount(r, minlength=count) for r in sorted_ranks)
    starts = np.cumsum(per_rank) - per_rank
    block = starts // (rows or BLOCK_ROWS)  # a school's block: where its first row falls
    bounds = [*np.flatnonzero(np.diff(block, prepend=-1)).tolist(), count]
    for low, high in pairwise(bounds):
        cuts = [np.searchsorted(r, [low, high]).tolist() for r in sorted_ranks]
        found = [
            (order.slice(a, b - a), rank.slice(a, b - a))
            for order, rank, (a, b) in zip(orders, ranks, cuts, strict=True)
        ]
        if any(len(positions) for positions, _ in found):
            yield found


def render_block(kinds: Sequence[_Kind], block: Sequence[Rows]) -> pa.Table:
    """The rows of one block (from :func:`entity_blocks`), sorted by school, change and ID."""
    parts = [k.render(rows) for k, rows in zip(kinds, block, strict=True) if len(rows[0])]
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts).sort_by(SORT_KEYS)


def _entity_plan(ec: EntityChanges, pairs: pa.Table, rows: int | None) -> list[Callable[[], pa.Table]]:
    kinds = _kinds(ec, pairs)
    return [partial(render_block, kinds, block) for block in entity_blocks(kinds, rows)]


def entity_tasks(
    changes: ChangeSet, rows: int | None = None, planner: Executor | None = None
) -> Iterator[Callable[[], pa.Table]]:
    """Every change of ``changes`` as tasks that each render one block (:func:`render_block`), in
    the order of the rows: entities in registry order, then blocks in school order. With a
    ``planner``, the next entity's blocks are planned on it while this entity's are handed out
    (one entity ahead: its records are copied into one chunk); without, as the iteration
    reaches it."""
    pairs = present_pairs(changes)
    found = [changes.entities[e.name] for e in ENTITIES if e.name in changes.entities]
    if planner is None:
        for ec in found:
            yield from _entity_plan(ec, pairs, rows)
        return
    plans = [planner.submit(_entity_plan, ec, pairs, rows) for ec in found[:1]]
    for following in found[1:]:
        current = plans.pop().result()
        plans.append(planner.submit(_entity_plan, following, pairs, rows))
        yield from current
    for last in plans:
        yield from last.result()


def entity_changes_table(ec: EntityChanges, id_changes: pa.Table | None = None) -> pa.Table:
    """The changes of one entity, one row per change, sorted by school, change and ID."""
    kinds = _kinds(ec, id_changes)
    tables = [render_block(kinds, block) for block in entity_blocks(kinds)]
    return pa.concat_tables(tables) if tables else CHANGES_SCHEMA.empty_table()


def changes_table(changes: ChangeSet) -> pa.Table:
    """Every change of a sync, one row each, entities in registry order (schools first).

    Columns: entity, school_id, id (composite keys as "S1/P9"), change (added, removed, changed,
    id_changed), changed_fields ("first_name; email"), old_values and new_values ("first_name:
    Ann; email: a@x.org", only the changed fields for changed rows; the main fields of the record
    for added and removed rows).
    """
    tables = [task() for task in entity_tasks(changes)]
    return pa.concat_tables(tables) if tables else CHANGES_SCHEMA.empty_table()
