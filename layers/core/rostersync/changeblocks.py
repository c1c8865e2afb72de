"""The changes of a sync in the order ``changes.csv`` lists them, in blocks of whole schools.

Rows come entity by entity in registry order (schools first), and within an entity sorted by
school, change and ID. An entity's rows are planned in blocks of whole schools
(:func:`entity_blocks`): sorting each block and putting the blocks in school order gives the
entity sorted, so blocks can be rendered (:mod:`rostersync.changerows`) on threads (Arrow
releases the GIL) and written as they come, and no more than a few blocks of text are held at
once, even for a first sync that adds every record of a district.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changerows import (
    ADDED,
    CHANGES_SCHEMA,
    REMOVED,
    SUMMARY_FIELDS,
    Column,
    as_text,
    changed_part,
    changes_part,
    display_key,
    id_changed_part,
    record_summary,
    school_column,
    stored_key,
)
from rostersync.changes import ChangeSet, EntityChanges
from rostersync.model import ENTITIES, ENTITY_BY_NAME, Entity
from rostersync.rekeys import present_pairs

# About this many rows per block: the 600k-student first sync's 6M enrollments make 24 blocks of
# ~30 MiB of CSV each.
BLOCK_ROWS = 250_000

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
    summary, schools = record_summary(block, entity), school_column(block)
    order = _by_school_and_id(ranks, ids)
    if order is not None:
        summary, schools, ids = summary.take(order), schools.take(order), ids.take(order)
    values = {"new_values": summary} if change == ADDED else {"old_values": summary}
    return changes_part(entity, change, schools, ids, **values)


def _sorted(part: pa.Table, ranks: pa.Array) -> pa.Table:
    """A rendered part (rows in school order, their school ``ranks``) sorted by school and ID."""
    order = _by_school_and_id(ranks, part.column("id"))
    return part if order is None else part.take(order)


def _records(table: pa.Table, entity: Entity) -> pa.Table:
    """The columns an added or removed row shows, in one chunk (takes of a block are then cheap
    and copy only those)."""
    wanted = {*entity.key, "school_id", *SUMMARY_FIELDS.get(entity.name, ())}
    return table.select([c for c in table.column_names if c in wanted]).combine_chunks()


def _record_kind(entity: Entity, change: str, records: pa.Table) -> _Kind:
    return _Kind(school_column(records), partial(_sorted_records_part, entity, change, records))


def _changed_kind(entity: Entity, ec: EntityChanges) -> _Kind:
    new, old = ec.changed_new.combine_chunks(), ec.changed_old.combine_chunks()
    fields = ec.changed_fields

    def render(rows: Rows) -> pa.Table:
        at, ranks = rows
        return _sorted(changed_part(entity, new.take(at), old.take(at), fields.take(at)), ranks)

    return _Kind(school_column(new), render)


def _id_changed_kind(entity: Entity, ec: EntityChanges, id_changes: pa.Table) -> _Kind:
    old = ec.removed.take(pc.index_in(id_changes.column("old_id"), value_set=stored_key(ec.removed, entity)))
    new = ec.added.take(pc.index_in(id_changes.column("new_id"), value_set=stored_key(ec.added, entity)))

    def render(rows: Rows) -> pa.Table:
        at, ranks = rows
        return _sorted(id_changed_part(entity, id_changes.take(at), old.take(at), new.take(at)), ranks)

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
        removed = removed.filter(pc.invert(pc.is_in(stored_key(removed, entity), value_set=old_ids)))
        added = added.filter(pc.invert(pc.is_in(stored_key(added, entity), value_set=new_ids)))
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
    """The rows of one block (from :func:`entity_blocks`), sorted by school, change and ID: each
    kind's rows come sorted by school and ID, so a stable sort by school rank and change (the
    kinds' ranks, in school order already) interleaves them."""
    present = [(k, rows) for k, rows in zip(kinds, block, strict=True) if len(rows[0])]
    parts = [k.render(rows) for k, rows in present]
    if len(parts) == 1:
        return parts[0]
    table = pa.concat_tables(parts)
    keys = pa.table(
        {"rank": pa.concat_arrays([rows[1] for _, rows in present]), "change": table.column("change")}
    )
    return table.take(pc.sort_indices(keys, sort_keys=[("rank", "ascending"), ("change", "ascending")]))


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
