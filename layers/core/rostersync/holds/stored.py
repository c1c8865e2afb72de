"""The hold rules over stored snapshots, reading only what the rules use (the holds step).

The rules need of the staged set the contact links and students (``too_many_contacts``), the
school IDs (``schools_not_found``), every entity's row count (its manifest's: the file is not
read) and the unreadable keys (``invalid_files``) and the receive times (``stale_upload``); of
the accepted set, only its records per school (:class:`~rostersync.holds.counts.RosterCounts`),
counted from the ``school_id`` column of each entity a rule asks about. So the step reads a few
columns, never both sets whole, and finds the same holds as
:func:`~rostersync.holds.evaluate.evaluate_holds` over the full sets.

The reads are independent and mostly inside Arrow (which releases the GIL): the change set, the
staged columns and the accepted counts of the entities the rules can ask about are read side by
side on a few threads; the rules that need only the change set and the counts run while the
staged columns are still being read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pyarrow as pa

from rostersync.changes import ChangeSet
from rostersync.holds.counts import RosterCounts, code_counts, encoded_school_counts, school_counts
from rostersync.holds.evaluate import evaluate_holds
from rostersync.model import ENTITIES, ENTITY_BY_NAME, PERSON_ENTITIES, Entity
from rostersync.pipeline.changesets import read_change_set, read_index
from rostersync.records import Hold
from rostersync.settings import DistrictSettings
from rostersync.snapshot import map_entity_encoded, read_entity, read_manifest, read_snapshot
from rostersync.storage import BlobStore

# The staged columns the rules read; every other entity is read for its row count only.
STAGED_COLUMNS: dict[str, list[str]] = {
    "schools": ["school_id"],
    "students": ["person_id", "school_id"],
    "contact_links": ["student_id", "contact_id", "school_id"],
}
# Threads reading side by side: the change set, the staged columns, the accepted counts.
READERS = 3


def stored_counts(
    store: BlobStore, prefix: str, *, executor: Executor | None = None, prefetch: Iterable[str] = ()
) -> RosterCounts:
    """The per-school counts of the snapshot under ``prefix``: each entity's ``school_id``
    column is read (and verified) one row group at a time, counted by its dictionary codes as
    stored and dropped. The entities named in ``prefetch`` are counted on ``executor`` from now
    on (a rule asking for one waits for it; one that failed fails then); any other entity when a
    rule first asks for it."""
    manifest = read_manifest(store, prefix)

    def count(entity: Entity) -> pa.Table:
        if "school_id" not in entity.schema.names:
            return school_counts(read_entity(store, prefix, manifest, entity, columns=[]), entity)
        parts, rows = map_entity_encoded(store, prefix, manifest, entity, "school_id", code_counts)
        return encoded_school_counts(parts, rows, entity)

    started: dict[str, Future[pa.Table]] = {}
    if executor is not None and prefetch:
        # One after another in one task, largest file first (the others are quick): the reads
        # that run beside it get the other threads.
        names = sorted(set(prefetch), key=lambda n: manifest.counts.get(n, 0), reverse=True)
        started = {name: Future() for name in names}
        executor.submit(_count_each, count, dict(started))  # a copy: asking pops from started

    def counted(entity: Entity) -> pa.Table:
        found = started.pop(entity.name, None)
        return count(entity) if found is None else found.result()

    return RosterCounts(counted, manifest.received_at, rows=manifest.counts)


def _count_each(count: Callable[[Entity], pa.Table], pending: Mapping[str, Future[pa.Table]]) -> None:
    """Each pending entity's count, in order, into its future (or what failed)."""
    for name, future in pending.items():
        try:
            future.set_result(count(ENTITY_BY_NAME[name]))
        except Exception as exc:  # handed to the rule that asks for this count
            future.set_exception(exc)


def _counted(changed: Collection[str], rekeys: bool) -> set[str]:
    # The ratio rules and stale_upload count an entity's removals and changes against its
    # accepted records, id_change the re-keys against every person entity's; invalid_files
    # takes row counts from the manifest.
    return set(changed) | ({e.name for e in PERSON_ENTITIES} if rekeys else set())


def counted_of_changes(changes: ChangeSet) -> set[str]:
    """The entities whose accepted counts the rules can ask for over ``changes`` (those with
    removals or changes, and every person entity when the set has re-keys)."""
    changed = {n for n, ec in changes.entities.items() if ec.removed.num_rows or ec.changed_old.num_rows}
    return _counted(changed, bool(changes.id_changes.num_rows))


def counted_of_index(index: Mapping[str, Mapping[str, int]]) -> set[str]:
    """:func:`counted_of_changes` of a stored change set, from its index
    (:func:`~rostersync.pipeline.changesets.read_index`) before its files are read: a re-key's
    old half is removed when read back."""
    rekeyed = {n for n, kinds in index.items() if kinds.get("id_changed")}
    changed = {n for n, kinds in index.items() if kinds.get("removed") or kinds.get("changed")}
    return _counted(changed | rekeyed, bool(rekeyed))


def _evaluate(
    store: BlobStore,
    changes: Callable[[Executor], ChangeSet],
    counted: set[str],
    staged_prefix: str,
    accepted_prefix: str | None,
    settings: DistrictSettings,
) -> tuple[ChangeSet, list[Hold]]:
    """The change set (``changes``, which may read it on the executor it is given) and its holds.

    In the order the rules need them: the accepted counts start first (the first rules ask for
    them) beside the change set, the staged columns once the change set is in, read while the
    rules that need only the changes and the counts run."""
    columns = {e.name: STAGED_COLUMNS.get(e.name, []) for e in ENTITIES}
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="holds") as pool:
        accepted = None
        if accepted_prefix is not None:
            accepted = stored_counts(store, accepted_prefix, executor=pool, prefetch=counted)
        found = changes(pool)
        staged = pool.submit(read_snapshot, store, staged_prefix, columns=columns)
        return found, evaluate_holds(found, staged.result, accepted, settings)


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
    counted = counted_of_changes(changes)
    return _evaluate(store, lambda _: changes, counted, staged_prefix, accepted_prefix, settings)[1]


def evaluate_stored_change_set(
    store: BlobStore,
    changes_prefix: str,
    staged_prefix: str,
    accepted_prefix: str | None,
    settings: DistrictSettings,
) -> tuple[ChangeSet, list[Hold]]:
    """The change set stored under ``changes_prefix`` (read as
    :func:`~rostersync.pipeline.changesets.read_change_set` reads it) and its holds, as
    :func:`evaluate_stored_holds` finds them; the change set is read beside the snapshots, and
    the entities whose counts to start are those its index lists with removals, changes or
    re-keys."""
    index = read_index(store, changes_prefix)
    counted = counted_of_index(index)

    def changes(pool: Executor) -> ChangeSet:
        return read_change_set(store, changes_prefix, executor=pool, index=index)

    return _evaluate(store, changes, counted, staged_prefix, accepted_prefix, settings)
