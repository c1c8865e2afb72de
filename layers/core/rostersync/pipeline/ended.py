"""An execution ended without finishing: the status-change handler, and the operator's "fail sync".

Step Functions puts a "Step Functions Execution Status Change" event on the default bus when an
execution of the sync state machine ends; the template's ``SyncExecutionEnded`` rule sends the
FAILED, TIMED_OUT and ABORTED ones to the holds function, which runs :func:`execution_ended`.
A sync that reached Finish (or RecordFailure) has already settled everything and is left alone
(a lock it still owns is released). Any other sync, e.g. one whose execution was stopped from the
console while it held schools, is failed with the reason through
:func:`rostersync.pipeline.finish.fail_stranded`: its lock is released, its schools get their
status back and the admins are emailed. The operator's "fail sync" is
:func:`rostersync.pipeline.stranded.fail_sync` (the API imports it without pyarrow).
"""

from __future__ import annotations

import json
import logging

from rostersync.pipeline.events import ExecutionEndedOutput, ExecutionStatusChangeEvent
from rostersync.pipeline.finish import fail_stranded
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import Deps

log = logging.getLogger(__name__)

_STATUS_WORDS = {
    "ABORTED": "was stopped",
    "FAILED": "failed",
    "TIMED_OUT": "timed out",
}


def _sync_of(event: ExecutionStatusChangeEvent, deps: Deps) -> SyncRecord | None:
    """The sync the execution ran: from its input, else by the execution's name (the sync id)."""
    detail = event.detail
    try:
        payload = json.loads(detail.input or "{}")
    except ValueError:
        payload = {}
    if isinstance(payload, dict) and payload.get("district_id") and payload.get("sync_id"):
        return deps.repo.get_sync(str(payload["district_id"]), str(payload["sync_id"]))
    return deps.repo.find_sync(detail.name)


def ended_reason(status: str, error: str | None, cause: str | None) -> str:
    """What an admin reads about an execution that ended without finishing."""
    words = _STATUS_WORDS.get(status, f"ended ({status})")
    text = f"the sync's execution {words} before it finished"
    detail = ": ".join(part for part in (error, cause) if part)
    return (f"{text} ({detail})" if detail else text)[:500]


def execution_ended(event: ExecutionStatusChangeEvent, deps: Deps) -> ExecutionEndedOutput:
    """Fail the sync of an execution that ended FAILED, TIMED_OUT or ABORTED without finishing."""
    detail = event.detail
    if deps.config.state_machine_arn and detail.stateMachineArn != deps.config.state_machine_arn:
        return ExecutionEndedOutput(reason=f"not the sync state machine: {detail.stateMachineArn}")
    if detail.status not in _STATUS_WORDS:
        return ExecutionEndedOutput(reason=f"execution {detail.status}: nothing to do")
    record = _sync_of(event, deps)
    if record is None:
        return ExecutionEndedOutput(reason=f"no sync for execution {detail.name}")
    lock = deps.repo.get_lock(record.district_id)
    owned = lock is not None and lock.owner == record.sync_id
    reason = record.stop_reason or ended_reason(detail.status, detail.error, detail.cause)
    failed = fail_stranded(
        deps, record.district_id, record.sync_id, reason=reason, actor="stepfunctions", release=True
    )
    log.info("execution %s %s: sync %s failed=%s", detail.name, detail.status, record.sync_id, failed)
    return ExecutionEndedOutput(
        district_id=record.district_id,
        sync_id=record.sync_id,
        failed=failed,
        lock_released=owned,
        reason=reason if failed else "the sync had already finished",
    )
