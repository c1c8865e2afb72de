"""The hold rules over stored snapshots, reading only what the rules use (the holds step).

The rules need of the staged set the contact links and students (``too_many_contacts``), the
school IDs (``schools_not_found``), every entity's row count (its manifest's: the file is not
read) and the unreadable keys (``invalid_files``) and the receive times (``stale_upload``); of
the accepted set, only its records per school (:class:`~rostersync.holds.counts.RosterCounts`),
counted from the ``school_id`` column of each entity a rule asks about, one entity at a time. So
the step reads a few columns, never both sets whole, and finds the same holds as
:func:`~rostersync.holds.evaluate.evaluate_holds` over the full sets.
"""

from __future__ import annotations

import pyarrow as pa

from rostersync.changes import ChangeSet
from rostersync.holds.counts import RosterCounts, encoded_school_counts, school_counts
from rostersync.holds.evaluate import evaluate_holds
from rostersync.model import ENTITIES, Entity
from rostersync.records import Hold
from rostersync.settings import DistrictSettings
from rostersync.snapshot import read_entity, read_entity_encoded, read_manifest, read_snapshot
from rostersync.storage import BlobStore

# The staged columns the rules read; every other entity is read for its row count only.
STAGED_COLUMNS: dict[str, list[str]] = {
    "schools": ["school_id"],
    "students": ["person_id", "school_id"],
    "contact_links": ["student_id", "contact_id", "school_id"],
}


def stored_counts(store: BlobStore, prefix: str) -> RosterCounts:
    """The per-school counts of the snapshot under ``prefix``: each entity's ``school_id``
    column is read (and verified) when a rule first needs it, counted by its dictionary codes
    as stored and dropped."""
    manifest = read_manifest(store, prefix)

    def count(entity: Entity) -> pa.Table:
        if "school_id" not in entity.schema.names:
            return school_counts(read_entity(store, prefix, manifest, entity, columns=[]), entity)
        school, rows = read_entity_encoded(store, prefix, manifest, entity, "school_id")
        return encoded_school_counts(school, rows, entity)

    return RosterCounts(count, manifest.received_at, rows=manifest.counts)


def evaluate_stored_holds(
    store: BlobStore,
    changes: ChangeSet,
    staged_prefix: str,
    accepted_prefix: str | None,
    settings: DistrictSettings,
) -> list[Hold]:
    """The holds of ``changes`` from the accepted snapshot under ``accepted_prefix`` (None: a
    first sync) to the staged one under ``staged_prefix``, as :func:`evaluate_holds` finds them
    over the two sets whole."""
    columns = {e.name: STAGED_COLUMNS.get(e.name, []) for e in ENTITIES}
    staged = read_snapshot(store, staged_prefix, columns=columns)
    accepted = stored_counts(store, accepted_prefix) if accepted_prefix is not None else None
    return evaluate_holds(changes, staged, accepted, settings)
