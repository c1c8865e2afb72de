"""A sync that cannot finish by itself: settle it as ``failed`` (no stage of its own, no pyarrow).

:func:`settle_stranded` is what the lock step (taking over a lock whose execution ended), the
status-change handler (:mod:`rostersync.pipeline.ended`) and an operator's "fail sync" share:
the sync becomes ``failed`` with the reason and a finish time, its open hold is closed, the
schools it held get back the status they had before it, the action is audited and the lock is
released. :func:`fail_sync` is the operator's action through the API: a running execution is
stopped with the operator's reason (its status-change event then settles and emails), a sync
whose execution has already ended is settled at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from rostersync.pipeline.models import FINAL_STATUSES, AuditEntry, SchoolState, SchoolStatus
from rostersync.pipeline.ports import Repository, Workflow

# A sync in one of these has finished; "waiting" is final for a sync that never took the lock,
# but a waiting sync whose execution ended did not finish.
FINISHED_STATUSES = FINAL_STATUSES - {"waiting"}


def restore_schools(repo: Repository, district_id: str, sync_id: str, schools: list[str]) -> None:
    """``schools`` (those ``sync_id`` held) get back what they were before it: connected to their
    last applied sync (the board points at it), or not connected when nothing was ever applied."""
    wanted = set(schools)
    for school in repo.list_school_status(district_id):
        if school.school_id not in wanted and not (school.sync_id == sync_id and school.status == "on_hold"):
            continue
        status: SchoolState = "connected" if school.last_applied_sync_id else "not_connected"
        repo.put_school_status(
            SchoolStatus.model_validate(
                school.model_dump() | {"status": status, "sync_id": school.last_applied_sync_id}
            )
        )


def settle_stranded(
    repo: Repository,
    district_id: str,
    sync_id: str,
    now: datetime,
    *,
    reason: str,
    actor: str,
    release: bool = True,
    actor_id: str | None = None,
) -> bool:
    """Fail a sync that cannot finish by itself; True if it was failed now (False: it had
    already finished, and only a lock it still owns is released).

    Records ``failed`` with ``reason`` and the finish time, closes its open hold, restores the
    status of the schools it held, writes an audit entry with ``actor`` and, when ``release``,
    deletes the lock if the sync still owns it. Sends nothing (:func:`fail_stranded` emails).
    """
    record = repo.get_sync(district_id, sync_id)
    if record is None or record.status in FINISHED_STATUSES:
        if release:
            repo.release_lock(district_id, sync_id)
        return False
    repo.update_sync(
        district_id,
        sync_id,
        now,
        status="failed",
        reason=reason,
        finished_at=now.isoformat(),
        held_schools=[],
        releasable=False,
    )
    if record.hold_id:
        repo.close_token(record.hold_id, "closed")
    pending = sorted(set(record.held_schools) - set(record.applied_schools))
    restore_schools(repo, district_id, sync_id, pending)
    repo.put_audit(
        AuditEntry(
            district_id=district_id,
            at=now,
            actor=actor,
            actor_id=actor_id,
            action="failed",
            sync_id=sync_id,
            details={"reason": reason},
        )
    )
    if release:
        repo.release_lock(district_id, sync_id)
    return True


class SyncNotStuckError(Exception):
    """The sync has finished: there is nothing to fail."""


def fail_sync(
    repo: Repository,
    workflow: Workflow,
    now: datetime,
    *,
    district_id: str,
    sync_id: str,
    actor: str,
    comment: str | None,
    actor_id: str | None = None,
) -> Literal["stopping", "failed"]:
    """An operator fails a stuck sync; what happened: ``"stopping"`` or ``"failed"``.

    A sync whose execution still runs is stopped with the operator's reason as the cause: its
    status-change event then fails the sync, restores its schools, releases the lock and emails
    the admins (:func:`rostersync.pipeline.ended.execution_ended`). A sync whose execution has
    already ended (its event was missed) is failed here at once, without an email.
    :class:`SyncNotStuckError` if the sync has finished."""
    record = repo.get_sync(district_id, sync_id)
    if record is None:
        raise KeyError(sync_id)
    if record.status in FINISHED_STATUSES:
        raise SyncNotStuckError(f"sync {sync_id} is {record.status}: it has finished, nothing to fail")
    reason = f"failed by operator {actor}" + (f": {comment}" if comment else "")
    repo.put_audit(
        AuditEntry(
            district_id=district_id,
            at=now,
            actor=actor,
            actor_id=actor_id,
            action="fail",
            sync_id=sync_id,
            details={"comment": comment} if comment else {},
        )
    )
    if record.execution_arn and workflow.execution_status(record.execution_arn) == "RUNNING":
        repo.update_sync(district_id, sync_id, now, stop_reason=reason)
        workflow.stop(record.execution_arn, cause=reason)
        return "stopping"
    settle_stranded(repo, district_id, sync_id, now, reason=reason, actor=actor, actor_id=actor_id)
    return "failed"
