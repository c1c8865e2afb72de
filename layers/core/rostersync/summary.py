"""The diff preview of a sync: per entity and school, what the accepted and the staged sets hold
and what the sync would add, remove, change and re-key (``summary.json``, the API's
``SyncDetail.changes``, a first sync's ``changes.csv``).

Apart from :mod:`rostersync.diff` because it counts re-keys as the feed publishes them
(:mod:`rostersync.rekeys`), which builds on the diff.
"""

from __future__ import annotations

import pyarrow as pa

from rostersync.changes import ChangeSet
from rostersync.diff import combine_summary, entity_summary_parts
from rostersync.model import ENTITIES
from rostersync.records import EntityCounts
from rostersync.rekeys import rekey_summary_parts
from rostersync.roster import RosterSet


def summarize(changes: ChangeSet, old: RosterSet | None, new: RosterSet) -> pa.Table:
    """Per entity and school (null for records without one): baseline, staged, added, removed,
    changed and id_changed, as a :data:`SUMMARY_SCHEMA` table sorted by entity then school.

    Removals count in the old record's school, additions and changes in the new one's. A re-key
    (:func:`rostersync.rekeys.present_pairs`) is one id_changed in the new record's school and
    neither an addition nor a removal, as the feed publishes it. An entity in ``new.missing`` is
    carried forward, so its staged count is its baseline.
    """
    parts: list[pa.Table] = []
    for entity in ENTITIES:
        name = entity.name
        baseline = old.table(name) if old is not None else None
        staged = baseline if name in new.missing else new.table(name)
        parts += entity_summary_parts(entity, baseline, staged, changes[name])
    return combine_summary(parts + rekey_summary_parts(changes))


def summary_records(summary: pa.Table) -> list[EntityCounts]:
    """The rows of a :func:`summarize` table as pydantic records (one per entity and school)."""
    return [EntityCounts.model_validate(row) for row in summary.to_pylist()]
