"""Per-school status rows the stages write (no stage of its own): on hold, connected, paused, failed.

The decide stage marks held schools ``on_hold``, the release stage marks applied schools
``connected`` (with the last applied counts), and finish settles what a sync leaves behind.
"""

from __future__ import annotations

from rostersync.pipeline.models import SchoolState, SchoolStatus
from rostersync.pipeline.ports import Deps


def set_school_states(
    deps: Deps, district_id: str, sync_id: str, schools: list[str], state: SchoolState
) -> None:
    """Put ``schools`` in ``state`` for ``sync_id``, keeping what each last applied."""
    known = {s.school_id: s for s in deps.repo.list_school_status(district_id)}
    for school in schools:
        previous = known.get(school)
        deps.repo.put_school_status(
            SchoolStatus(
                district_id=district_id,
                school_id=school,
                status=state,
                sync_id=sync_id,
                last_applied_sync_id=previous.last_applied_sync_id if previous else None,
                last_applied_at=previous.last_applied_at if previous else None,
                counts=previous.counts if previous else {},
            )
        )
