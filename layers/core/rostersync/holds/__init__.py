"""Safety holds: pure rules over the diff, the staged set and the accepted snapshot.

Each rule counts with Arrow group-bys (per school where the entity has a ``school_id``,
district-wide otherwise) and returns :class:`~rostersync.records.Hold` records carrying the
numerator, denominator and threshold, a message an admin understands and up to 20 example IDs.
Python only loops over the few groups that tripped. :func:`prepare_staged` applies the district's
scoping settings (school IDs, excluded or dropped contact types) before the diff, and
:func:`evaluate_holds` runs every enabled rule in a deterministic order.

The package is split by responsibility: ``common`` (grouping, counting, thresholds, samples),
``removals`` (mass_removal, mass_update, stale_upload), ``idchange`` (id_change), ``rules``
(contacts, section reuse, files, schools), ``evaluate`` (every rule, ordering, summary rows) and
``scoping`` (prepare_staged), ``counts`` (the accepted set as records per school, all the rules
need of it) and ``stored`` (the holds step: the rules over stored snapshots, reading only the
columns they use).
"""

from rostersync.holds.common import NO_SCHOOL, SAMPLE_LIMIT, TrippedGroup, tripped_groups
from rostersync.holds.counts import RosterCounts
from rostersync.holds.evaluate import evaluate_holds, hold_summary_table, sort_holds
from rostersync.holds.idchange import id_change
from rostersync.holds.removals import ALWAYS_HELD_REMOVALS, mass_removal, mass_update, stale_upload
from rostersync.holds.rules import (
    class_id_reuse,
    emergency_contacts,
    invalid_files,
    schools_not_found,
    too_many_contacts,
)
from rostersync.holds.scoping import prepare_staged

__all__ = [
    "ALWAYS_HELD_REMOVALS",
    "NO_SCHOOL",
    "SAMPLE_LIMIT",
    "RosterCounts",
    "TrippedGroup",
    "class_id_reuse",
    "emergency_contacts",
    "evaluate_holds",
    "hold_summary_table",
    "id_change",
    "invalid_files",
    "mass_removal",
    "mass_update",
    "prepare_staged",
    "schools_not_found",
    "sort_holds",
    "stale_upload",
    "too_many_contacts",
    "tripped_groups",
]
