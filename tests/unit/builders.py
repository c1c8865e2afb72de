"""Builders of small canonical tables and change sets for unit tests of the rules and reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.model import ENTITIES, Entity

Row = dict[str, Any]


def table(entity: Entity, rows: Iterable[Row]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=entity.schema)


def entity_changes(
    entity: Entity,
    *,
    added: Sequence[Row] = (),
    removed: Sequence[Row] = (),
    changed: Sequence[tuple[Row, Row, list[str]]] = (),
) -> EntityChanges:
    """Changes of one entity; ``changed`` holds (old row, new row, changed fields)."""
    return EntityChanges(
        entity.name,
        added=table(entity, added),
        removed=table(entity, removed),
        changed_new=table(entity, [new for _, new, _ in changed]),
        changed_old=table(entity, [old for old, _, _ in changed]),
        changed_fields=pa.array([fields for _, _, fields in changed], pa.list_(pa.string())),
    )


def change_set(*items: EntityChanges, id_changes: Sequence[Row] = ()) -> ChangeSet:
    """A change set with every entity present (empty unless given)."""
    entities = {e.name: entity_changes(e) for e in ENTITIES}
    entities.update({item.entity: item for item in items})
    return ChangeSet(entities, pa.Table.from_pylist(list(id_changes), schema=ID_CHANGE_SCHEMA))
