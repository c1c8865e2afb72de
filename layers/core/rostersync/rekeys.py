"""Re-keys: the suspected source-ID changes of a change set, as the feed publishes them.

The diff keeps a re-keyed person in ``removed`` (old ID) and ``added`` (new ID) and lists the pair
in ``ChangeSet.id_changes`` (:func:`rostersync.diff.suspected_id_changes`); applying the change
set either way gives the same roster. Published, a pair whose two halves are both in the set is
one ``id_changed`` record (the new record, its old ID, what matched and the fields that changed
besides the key) and neither a removal nor an addition. A re-key is not a removal for the hold
rules either (:func:`rekeyed_removals`), nor are the enrollments and contact links that only
follow their person to the new ID. Everything is column-at-a-time Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.diff import pair_changed_fields, school_counts
from rostersync.model import ENTITY_BY_NAME, KEY_SEPARATOR, PERSON_ENTITIES, Entity, conform, key_column

OLD_ID_COLUMN = "_old_id"
MATCHED_ON_COLUMN = "_matched_on"
FIELDS_COLUMN = "_changed_fields"
# How a message names what matched.
MATCH_WORDS = {"email": "email", "name_birth_date": "name + birth date"}

# Link entities whose key names people: a removed link whose people were re-keyed, and whose
# re-keyed twin is added, only follows its people to their new IDs.
_PERSON_COLUMNS = {"enrollments": ("person_id",), "contact_links": ("student_id", "contact_id")}


def present_pairs(changes: ChangeSet) -> pa.Table:
    """The ``id_changes`` rows (:data:`ID_CHANGE_SCHEMA`) whose old ID is removed and whose new ID
    is added in ``changes``: the re-keys this change set applies. A pair split by a partial
    release (one half in another school) is a removal and an addition."""
    ids = changes.id_changes
    parts = []
    for entity in PERSON_ENTITIES:
        ec = changes.entities.get(entity.name)
        if ec is None or not ids.num_rows or not ec.removed.num_rows or not ec.added.num_rows:
            continue
        mine = ids.filter(pc.equal(ids.column("entity"), entity.name))
        if not mine.num_rows:  # no pair of this entity: its keys need no lookup table
            continue
        both = pc.and_(
            pc.is_in(mine.column("old_id"), value_set=key_column(ec.removed, entity)),
            pc.is_in(mine.column("new_id"), value_set=key_column(ec.added, entity)),
        )
        parts.append(mine.filter(pc.fill_null(both, False)))
    if not parts:
        return ID_CHANGE_SCHEMA.empty_table()
    return pa.concat_tables(parts).cast(ID_CHANGE_SCHEMA)


def _mapped(values: pa.ChunkedArray, pairs: pa.Table, side: str) -> tuple[pa.Array, pa.Array]:
    """``values`` with re-keyed IDs of ``side`` ("old_id" or "new_id") replaced by the other side's,
    and where that happened."""
    other = "new_id" if side == "old_id" else "old_id"
    found = pc.index_in(values, value_set=pairs.column(side))
    return pc.coalesce(pc.take(pairs.column(other), found), values), pc.is_valid(found)


def _link_keys(table: pa.Table, entity: Entity, replace: dict[str, pa.Array]) -> pa.Array:
    parts = [replace.get(c, table.column(c)) for c in entity.key]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def _rekeyed(changes: ChangeSet, entity_name: str, pairs: pa.Table | None, side: str) -> pa.Array:
    """Per row of the entity's ``removed`` (``side`` "old_id") or ``added`` ("new_id"): whether it
    is a half of a re-key, or a link that only follows its re-keyed people (its twin under the
    other IDs is on the other side)."""
    ec = changes.entities[entity_name]
    mine, theirs = (ec.removed, ec.added) if side == "old_id" else (ec.added, ec.removed)
    entity = ENTITY_BY_NAME[entity_name]
    pairs = present_pairs(changes) if pairs is None else pairs
    if not mine.num_rows or not pairs.num_rows:
        return _falses(mine.num_rows)
    if entity.is_person:
        ids = pairs.filter(pc.equal(pairs.column("entity"), entity_name)).column(side)
        return pc.fill_null(pc.is_in(key_column(mine, entity), value_set=ids), False)
    columns = _PERSON_COLUMNS.get(entity_name)
    if columns is None or not theirs.num_rows:
        return _falses(mine.num_rows)
    return _following_links(mine, theirs, entity, columns, pairs, side)


def _following_links(
    mine: pa.Table, theirs: pa.Table, entity: Entity, columns: tuple[str, ...], pairs: pa.Table, side: str
) -> pa.Array:
    """Per row of ``mine``: whether one of its person ``columns`` holds a re-keyed ID of ``side``
    and the same link under the other IDs is in ``theirs``. Only the rows that name a re-keyed
    person are keyed and looked up, among the rows of ``theirs`` that could be their twins (a
    person column holding the other side's ID, or a null key part, which a null key matches)."""
    other = "new_id" if side == "old_id" else "old_id"
    moved = _falses(mine.num_rows)
    for column in columns:
        moved = pc.or_(moved, pc.is_valid(pc.index_in(mine.column(column), value_set=pairs.column(side))))
    if not pc.any(moved).as_py():
        return moved
    picked = mine.filter(moved)
    replace = {c: _mapped(picked.column(c), pairs, side)[0] for c in columns}
    candidate = _falses(theirs.num_rows)
    for column in columns:
        candidate = pc.or_(candidate, pc.is_in(theirs.column(column), value_set=pairs.column(other)))
    for column in entity.key:
        candidate = pc.or_(candidate, pc.is_null(theirs.column(column)))
    twins = theirs.filter(pc.fill_null(candidate, False))
    twin = pc.fill_null(
        pc.is_in(_link_keys(picked, entity, replace), value_set=_link_keys(twins, entity, {})), False
    )
    moved, twin = _array(moved), _array(twin)
    return pc.replace_with_mask(moved, moved, twin)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def rekeyed_removals(changes: ChangeSet, entity_name: str, pairs: pa.Table | None = None) -> pa.Array:
    """Per row of the entity's ``removed``: true when it is the old half of a re-key (a person),
    or a link that only follows its re-keyed people (the same link under the new IDs is added)."""
    return _rekeyed(changes, entity_name, pairs, "old_id")


def rekeyed_additions(changes: ChangeSet, entity_name: str, pairs: pa.Table | None = None) -> pa.Array:
    """Per row of the entity's ``added``: true when it is the new half of a re-key, or a link that
    only follows its re-keyed people (the same link under the old IDs is removed)."""
    return _rekeyed(changes, entity_name, pairs, "new_id")


def _falses(n: int) -> pa.Array:
    return pa.repeat(pa.scalar(False), n)


@dataclass(frozen=True)
class Published:
    """One entity's changes as the feed publishes them: ``added`` and ``removed`` without the
    re-keyed pairs, and the pairs as ``id_changed`` (the new records with ``_old_id``,
    ``_matched_on`` and ``_changed_fields``) and ``id_changed_old`` (the same records before, row
    for row)."""

    added: pa.Table
    removed: pa.Table
    id_changed: pa.Table
    id_changed_old: pa.Table


def id_changed_schema(entity: Entity) -> pa.Schema:
    """The columns of ``<entity>/id_changed.parquet``."""
    return (
        entity.schema.append(pa.field(OLD_ID_COLUMN, pa.string()))
        .append(pa.field(MATCHED_ON_COLUMN, pa.string()))
        .append(pa.field(FIELDS_COLUMN, pa.list_(pa.string())))
    )


def publish(ec: EntityChanges, pairs: pa.Table) -> Published:
    """``ec`` split into what the feed publishes (see :class:`Published`); ``pairs`` from
    :func:`present_pairs`."""
    entity = ENTITY_BY_NAME[ec.entity]
    added, removed = conform(ec.added, entity), conform(ec.removed, entity)
    mine = pairs.filter(pc.equal(pairs.column("entity"), ec.entity)) if pairs.num_rows else pairs
    if not entity.is_person or not mine.num_rows:
        empty = entity.schema.empty_table()
        return Published(added, removed, id_changed_schema(entity).empty_table(), empty)
    added_keys, removed_keys = key_column(added, entity), key_column(removed, entity)
    new = added.take(pc.index_in(mine.column("new_id"), value_set=added_keys))
    old = removed.take(pc.index_in(mine.column("old_id"), value_set=removed_keys))
    id_changed = (
        new.append_column(OLD_ID_COLUMN, mine.column("old_id"))
        .append_column(MATCHED_ON_COLUMN, mine.column("matched_on"))
        .append_column(FIELDS_COLUMN, pa.chunked_array([pair_changed_fields(entity, old, new)]))
    )
    return Published(
        added=added.filter(pc.invert(pc.is_in(added_keys, value_set=mine.column("new_id")))),
        removed=removed.filter(pc.invert(pc.is_in(removed_keys, value_set=mine.column("old_id")))),
        id_changed=id_changed,
        id_changed_old=old,
    )


def without_rekeyed_removals(changes: ChangeSet) -> ChangeSet:
    """``changes`` whose ``removed`` tables leave out the re-keys (:func:`rekeyed_removals`): the
    removals the removal holds count, and that "keep removals held" keeps."""
    pairs = present_pairs(changes)
    if not pairs.num_rows:
        return changes
    entities = {}
    for name, ec in changes.entities.items():
        removed = _without(ec.removed, rekeyed_removals(changes, name, pairs))
        entities[name] = EntityChanges(
            name, ec.added, removed, ec.changed_new, ec.changed_old, ec.changed_fields
        )
    return ChangeSet(entities=entities, id_changes=changes.id_changes)


def _without(table: pa.Table, rekeyed: pa.Array) -> pa.Table:
    """``table`` without its ``rekeyed`` rows; the table itself when there are none (most
    entities: no copy of their changes)."""
    return table.filter(pc.invert(rekeyed)) if pc.any(rekeyed).as_py() else table


def only_rekeyed_removals(changes: ChangeSet) -> dict[str, pa.Table]:
    """Per entity, the removed rows that are re-keys (what :func:`without_rekeyed_removals` left
    out); only entities that have some."""
    pairs = present_pairs(changes)
    if not pairs.num_rows:
        return {}
    out = {}
    for name, ec in changes.entities.items():
        mask = rekeyed_removals(changes, name, pairs)
        if ec.removed.num_rows and pc.any(mask).as_py():
            out[name] = ec.removed.filter(mask)
    return out


def without_rekeys(changes: ChangeSet) -> ChangeSet:
    """``changes`` without any re-key on either side (:func:`rekeyed_removals`,
    :func:`rekeyed_additions`): the removals and additions that are new facts, which the hold
    rules about new or removed records count."""
    pairs = present_pairs(changes)
    if not pairs.num_rows:
        return changes
    entities = {}
    for name, ec in changes.entities.items():
        entities[name] = EntityChanges(
            name,
            _without(ec.added, rekeyed_additions(changes, name, pairs)),
            _without(ec.removed, rekeyed_removals(changes, name, pairs)),
            ec.changed_new,
            ec.changed_old,
            ec.changed_fields,
        )
    return ChangeSet(entities=entities, id_changes=changes.id_changes)


def rekey_summary_parts(changes: ChangeSet) -> list[pa.Table]:
    """:data:`rostersync.diff.SUMMARY_SCHEMA` parts that count the re-keys of ``changes``
    (:func:`present_pairs`) as the feed publishes them: per pair, one ``id_changed`` and one
    addition fewer in the new record's school, and one removal fewer in the old record's school
    (a pair whose halves are in two schools is a re-key when both are in the change set). Added
    to the per-entity counts by :func:`rostersync.diff.combine_summary`."""
    pairs = present_pairs(changes)
    parts: list[pa.Table] = []
    if not pairs.num_rows:
        return parts
    for entity in PERSON_ENTITIES:
        ec = changes.entities.get(entity.name)
        if ec is None:
            continue
        new = ec.added.filter(rekeyed_additions(changes, entity.name, pairs))
        old = ec.removed.filter(rekeyed_removals(changes, entity.name, pairs))
        for part in (
            school_counts(entity, new, {"id_changed": 1, "added": -1}),
            school_counts(entity, old, {"removed": -1}),
        ):
            if part is not None:
                parts.append(part)
    return parts
