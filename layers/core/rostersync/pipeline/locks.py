"""The district's lock: one sync at a time, and never a lock that strands the district.

:func:`lock` is the state machine's Lock step. It takes the district's lock with a conditional
write that records the execution (``$$.Execution.Id``). When another sync owns it, the step
supersedes that sync if it waits on a hold (:func:`_supersede`), takes the lock over if the
owner's execution is no longer running (:func:`_take_over_stranded`: stopped from outside,
crashed, timed out; the stranded sync is failed with the reason first), or else waits. The wait
is bounded (:func:`wait_bound_seconds`): the Lock/Wait loop writes about 9 history events per
round, and a standard execution dies at 25,000; a sync still waiting at the bound ends
``failed`` with a reason naming the owner. The lock also reports a pause window of today.
"""

from __future__ import annotations

import logging
from datetime import datetime

from rostersync.pipeline.events import LockInput, LockOutput
from rostersync.pipeline.finish import fail_stranded
from rostersync.pipeline.models import AuditEntry, Lock
from rostersync.pipeline.ports import Deps, TaskGoneError
from rostersync.settings import DistrictSettings

log = logging.getLogger(__name__)

# Rounds of the Lock/Wait loop one execution may make: ~9 history events each, well under the
# 25,000-event limit of a standard execution (with room for the rest of the sync).
MAX_LOCK_ROUNDS = 2000
# However short the retry interval, a sync gives up waiting after this long.
MAX_LOCK_WAIT_SECONDS = 24 * 3600


def hold_timeout_seconds(settings: DistrictSettings, default_seconds: int) -> int:
    """The district's ``hold_expiry_days`` when it set one, else the deployment's default."""
    if "hold_expiry_days" in settings.model_fields_set:
        return settings.hold_expiry_days * 86400
    return default_seconds


def wait_bound_seconds(lock_retry_seconds: int) -> int:
    """How long a sync may wait for the lock: ``MAX_LOCK_ROUNDS`` rounds of the retry interval,
    at most ``MAX_LOCK_WAIT_SECONDS``."""
    return min(MAX_LOCK_WAIT_SECONDS, MAX_LOCK_ROUNDS * max(lock_retry_seconds, 1))


def _supersede(inp: LockInput, deps: Deps, held_owner: str, now: datetime) -> bool:
    """Take the lock from a *held* sync: decide its token as ``superseded`` (conditional, so an
    admin's concurrent decision wins or loses cleanly), move the lock, resume its execution."""
    record = deps.repo.get_sync(inp.district_id, held_owner)
    if record is None or record.hold_id is None:
        return False
    if not deps.repo.decide_token(record.hold_id, "superseded", f"sync:{inp.sync_id}", now):
        return False  # decided meanwhile: that sync is moving on, wait for it
    token = deps.repo.get_token(record.hold_id)
    taken = deps.repo.take_over_lock(inp.district_id, held_owner, inp.sync_id, now, inp.execution_arn)
    if token is not None:
        try:
            deps.workflow.send_success(
                token.task_token,
                {
                    "action": "superseded",
                    "schools": None,
                    "actor": f"sync:{inp.sync_id}",
                    # Every decision names what it does with removals (the state machine reads it).
                    "removals": "apply",
                },
            )
        except TaskGoneError:
            log.info("held sync %s had already timed out", held_owner)
    deps.repo.put_audit(
        AuditEntry(
            district_id=inp.district_id,
            at=now,
            actor=f"sync:{inp.sync_id}",
            action="superseded",
            sync_id=held_owner,
        )
    )
    return taken


def _take_over_stranded(inp: LockInput, deps: Deps, current: Lock, now: datetime) -> bool:
    """Take the lock of a sync whose execution no longer runs (DescribeExecution): fail that sync
    with the reason, restore its schools, then move the lock (conditional on its owner)."""
    if current.execution_arn is None or current.execution_arn == inp.execution_arn:
        return False
    status = deps.workflow.execution_status(current.execution_arn)
    if status == "RUNNING":
        return False
    ended = f"its execution ended ({status})" if status else "its execution no longer exists"
    fail_stranded(
        deps,
        inp.district_id,
        current.owner,
        reason=f"stranded: {ended} without finishing; sync {inp.sync_id} took over the lock",
        actor=f"sync:{inp.sync_id}",
        release=False,
    )
    return deps.repo.take_over_stranded_lock(
        inp.district_id, current.owner, inp.sync_id, now, inp.execution_arn
    )


def _acquire(inp: LockInput, deps: Deps, now: datetime) -> tuple[bool, str, str | None]:
    """(acquired, owner, superseded sync id) after trying every way to take the lock."""
    if deps.repo.acquire_lock(inp.district_id, inp.sync_id, now, inp.execution_arn):
        return True, inp.sync_id, None
    current = deps.repo.get_lock(inp.district_id)
    if current is None:
        acquired = deps.repo.acquire_lock(inp.district_id, inp.sync_id, now, inp.execution_arn)
        return acquired, inp.sync_id, None
    if current.state == "held" and _supersede(inp, deps, current.owner, now):
        return True, inp.sync_id, current.owner
    if _take_over_stranded(inp, deps, current, now):
        return True, inp.sync_id, None
    return False, current.owner, None


def lock(inp: LockInput, deps: Deps) -> LockOutput:
    """Take the district's lock (conditional write); supersede a held sync or take over a
    stranded one; give up after the wait bound; check the pause."""
    now = deps.clock()
    settings = deps.repo.get_settings(inp.district_id)
    timeout = hold_timeout_seconds(settings, deps.config.hold_expiry_seconds)
    acquired, owner, superseded = _acquire(inp, deps, now)
    if not acquired:
        waited = (now - inp.started_at).total_seconds() if inp.started_at is not None else 0.0
        bound = wait_bound_seconds(deps.config.lock_retry_seconds)
        if waited >= bound:
            reason = (
                f"waited {waited / 3600:.1f} h for sync {owner} to finish and gave up; "
                "fail that sync through the API if it is stuck, then send the files again"
            )
            return LockOutput(
                acquired=False, gave_up=True, reason=reason, owner=owner, hold_timeout_seconds=timeout
            )
        deps.repo.update_sync(
            inp.district_id, inp.sync_id, now, status="waiting", reason=f"waiting for sync {owner} to finish"
        )
        return LockOutput(acquired=False, owner=owner, hold_timeout_seconds=timeout)
    window = settings.paused_at(now)
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status="running",
        reason=None,
        trigger=inp.trigger,
        upload=inp.object_key,
        **({"execution_arn": inp.execution_arn} if inp.execution_arn else {}),
    )
    return LockOutput(
        acquired=True,
        paused=window is not None,
        owner=inp.sync_id,
        superseded_sync_id=superseded,
        hold_timeout_seconds=timeout,
    )
