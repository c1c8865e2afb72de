"""An execution that ended without finishing (status-change handler) and an operator's "fail sync"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rostersync.pipeline import ended, stranded
from rostersync.pipeline.events import ExecutionStatusChangeEvent
from rostersync.pipeline.models import DecisionToken, SchoolStatus
from rostersync.pipeline.ports import Deps
from tests.support.pipeline_helpers import D, RecordingWorkflow, sent_emails

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:unused"
ARN = "arn:aws:states:us-east-1:123456789012:execution:unused:"


def status_event(sync_id: str, status: str, **detail: Any) -> ExecutionStatusChangeEvent:
    return ExecutionStatusChangeEvent.model_validate(
        {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": ARN + sync_id,
                "stateMachineArn": SM,
                "name": sync_id,
                "status": status,
                "input": json.dumps({"district_id": D, "sync_id": sync_id}),
                **detail,
            },
        }
    )


def held(deps: Deps, sync_id: str = "s1") -> None:
    now = deps.clock()
    deps.repo.acquire_lock(D, sync_id, now, ARN + sync_id)
    deps.repo.set_lock_state(D, sync_id, "held")
    deps.repo.update_sync(
        D, sync_id, now, status="held", held_schools=["S1"], hold_id="h1", execution_arn=ARN + sync_id
    )
    deps.repo.put_token(
        DecisionToken(
            hold_id="h1", district_id=D, sync_id=sync_id, task_token="t", status="open", expires_at=2**40
        )
    )
    deps.repo.put_school_status(
        SchoolStatus(district_id=D, school_id="S1", status="on_hold", sync_id=sync_id)
    )
    deps.repo.put_settings(deps.repo.get_settings(D).model_copy(update={"admin_emails": ["a@example.org"]}))


def test_a_stopped_held_sync_is_failed_its_schools_restored_and_the_lock_released(deps: Deps) -> None:
    held(deps)

    out = ended.execution_ended(status_event("s1", "ABORTED"), deps)

    assert out.failed and out.lock_released
    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.status == "failed"
    assert record.reason == "the sync's execution was stopped before it finished"
    assert deps.repo.get_lock(D) is None
    (school,) = deps.repo.list_school_status(D)
    assert school.status == "not_connected"
    token = deps.repo.get_token("h1")
    assert token is not None and token.status == "closed"
    assert [m.subject for m in sent_emails()] == [f"[rostersync] {D}: sync s1 failed"]


def test_a_sync_that_finished_itself_is_left_alone(deps: Deps) -> None:
    deps.repo.update_sync(D, "s1", deps.clock(), status="failed", reason="SnapshotError: bad")

    out = ended.execution_ended(status_event("s1", "FAILED", error="SnapshotError"), deps)

    assert not out.failed
    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.reason == "SnapshotError: bad"
    assert sent_emails() == []


def test_a_timed_out_execution_names_the_cause() -> None:
    assert ended.ended_reason("TIMED_OUT", "States.Timeout", None) == (
        "the sync's execution timed out before it finished (States.Timeout)"
    )


def test_an_operator_stops_a_running_sync_with_the_reason(deps: Deps, workflow: RecordingWorkflow) -> None:
    held(deps)
    workflow.statuses[ARN + "s1"] = "RUNNING"

    outcome = stranded.fail_sync(
        deps.repo,
        workflow,
        deps.clock(),
        district_id=D,
        sync_id="s1",
        actor="ops@example.org",
        comment="stuck",
    )
    out = ended.execution_ended(status_event("s1", "ABORTED"), deps)

    assert (outcome, workflow.statuses[ARN + "s1"]) == ("stopping", "ABORTED")
    assert out.reason == "failed by operator ops@example.org: stuck"


def test_an_operator_fails_a_stranded_sync_at_once(deps: Deps, workflow: RecordingWorkflow) -> None:
    held(deps)
    workflow.statuses[ARN + "s1"] = "ABORTED"

    outcome = stranded.fail_sync(
        deps.repo, workflow, deps.clock(), district_id=D, sync_id="s1", actor="ops@example.org", comment=None
    )

    record = deps.repo.get_sync(D, "s1")
    assert outcome == "failed"
    assert record is not None and (record.status, record.reason) == (
        "failed",
        "failed by operator ops@example.org",
    )
    assert deps.repo.get_lock(D) is None


def test_an_operator_cannot_fail_a_finished_sync(deps: Deps, workflow: RecordingWorkflow) -> None:
    deps.repo.update_sync(D, "s1", deps.clock(), status="applied")

    with pytest.raises(stranded.SyncNotStuckError):
        stranded.fail_sync(
            deps.repo, workflow, deps.clock(), district_id=D, sync_id="s1", actor="ops", comment=None
        )
