"""Every rule in one call (:func:`evaluate_holds`), in the catalogue's order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rostersync.changes import ChangeSet
from rostersync.holds.counts import RosterCounts, as_counts
from rostersync.holds.idchange import id_change
from rostersync.holds.removals import mass_removal, mass_update, stale_upload
from rostersync.holds.rules import (
    class_id_reuse,
    emergency_contacts,
    invalid_files,
    schools_not_found,
    too_many_contacts,
)
from rostersync.issues import FileProblem
from rostersync.model import ENTITIES
from rostersync.records import HOLD_TYPES, Hold
from rostersync.rekeys import without_rekeys
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings

_ENTITY_RANK = {e.name: i for i, e in enumerate(ENTITIES)}


def _order(hold: Hold) -> tuple[int, bool, str, int, str]:
    return (
        HOLD_TYPES.index(hold.type),
        hold.school_id is not None,
        hold.school_id or "",
        _ENTITY_RANK.get(hold.entity or "", -1),
        hold.message,
    )


def sort_holds(holds: Sequence[Hold]) -> list[Hold]:
    """Catalogue order of hold types, then district-wide before schools, then school ID."""
    return sorted(holds, key=_order)


def evaluate_holds(
    changes: ChangeSet,
    staged: RosterSet | Callable[[], RosterSet],
    accepted: RosterSet | RosterCounts | None,
    settings: DistrictSettings,
    *,
    file_problems: Sequence[FileProblem] = (),
) -> list[Hold]:
    """Every enabled rule (rules read their own on/off settings), in :func:`sort_holds` order.

    The rules need of the accepted set only its records per school (:class:`RosterCounts`): a set
    in memory is counted once for all of them; the holds step passes counts of the stored
    snapshot (:func:`rostersync.holds.stored.evaluate_stored_holds`). ``staged`` may be a
    function giving the staged set (one still being read): it is called after the rules that
    read only the changes and the accepted counts have run."""
    accepted = as_counts(accepted)
    # The rules that leave the re-keys out (removals, new links) are given the set without them,
    # worked out once here: in it no re-key is left, so their own leaving out is a no-op.
    plain = without_rekeys(changes)
    holds = [
        *mass_removal(plain, accepted, settings),
        *mass_update(changes, accepted, settings),
        *id_change(changes, accepted, settings),
        *emergency_contacts(plain, settings),
        *class_id_reuse(changes, settings),
    ]
    staged = staged if isinstance(staged, RosterSet) else staged()
    holds += [
        *too_many_contacts(plain, staged, settings),
        *stale_upload(plain, staged, accepted, settings),
        *invalid_files(staged, accepted, file_problems),
        *schools_not_found(staged, settings),
    ]
    # Sorted, the holds do not depend on the order the rules ran in (each rule has its type).
    return sort_holds(holds)


def hold_summary_table(holds: Sequence[Hold]) -> list[dict[str, Any]]:
    """Rows for a readable table (CLI, email): school, hold, entity, numbers and message."""
    return [
        {
            "school": hold.school_id if hold.school_id is not None else "District",
            "hold": hold.type,
            "entity": hold.entity or "",
            "numerator": hold.numerator,
            "denominator": hold.denominator,
            "percent": None if hold.percent is None else round(hold.percent, 1),
            "threshold": hold.threshold,
            "message": hold.message,
        }
        for hold in sort_holds(holds)
    ]
