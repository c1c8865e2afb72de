"""submit_decision: one decision per hold, one resume, the errors the API maps to HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rostersync.pipeline.decisions import (
    AlreadyDecidedError,
    HoldExpiredError,
    InvalidDecisionError,
    NotOnHoldError,
    SyncNotFoundError,
    submit_decision,
)
from rostersync.pipeline.models import DecisionToken
from rostersync.pipeline.ports import Deps
from tests.support.pipeline_helpers import RecordingWorkflow

D, S = "d1", "d1-0123456789ab"


@pytest.fixture
def held(deps: Deps) -> Deps:
    """A sync held on schools A and B, its lock held and its decision token open."""
    now = deps.clock()
    deps.repo.acquire_lock(D, S, now)
    deps.repo.set_lock_state(D, S, "held")
    deps.repo.update_sync(D, S, now, status="held", hold_id="hold-1", held_schools=["A", "B"])
    deps.repo.put_token(
        DecisionToken(
            hold_id="hold-1", district_id=D, sync_id=S, task_token="tok", status="open", expires_at=2**40
        )
    )
    return deps


def test_a_second_decision_is_refused_and_resumes_nothing(held: Deps, workflow: RecordingWorkflow) -> None:
    submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="reject", actor="admin")

    with pytest.raises(AlreadyDecidedError):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="release", actor="other")
    assert workflow.successes == [
        ("tok", {"action": "reject", "schools": None, "actor": "admin", "removals": "apply"})
    ]


def test_a_release_names_only_held_schools(held: Deps, workflow: RecordingWorkflow) -> None:
    with pytest.raises(InvalidDecisionError):
        submit_decision(
            held.repo, held.workflow, district_id=D, sync_id=S, action="release", schools=["Z"], actor="a"
        )

    assert workflow.successes == []


def test_a_partial_release_resumes_with_the_schools_and_is_audited(
    held: Deps, workflow: RecordingWorkflow
) -> None:
    result = submit_decision(
        held.repo, held.workflow, district_id=D, sync_id=S, action="release", schools=["B"], actor="admin"
    )

    assert result.schools == ["B"]
    assert workflow.successes[0][1] == {
        "action": "release",
        "schools": ["B"],
        "actor": "admin",
        "removals": "apply",
    }
    lock = held.repo.get_lock(D)
    assert lock is not None and lock.state == "active"
    assert [(e.action, e.schools) for e in held.repo.list_audit(D)] == [("release", ["B"])]


def test_a_release_keeping_removals_held_resumes_with_the_option(
    held: Deps, workflow: RecordingWorkflow
) -> None:
    submit_decision(
        held.repo,
        held.workflow,
        district_id=D,
        sync_id=S,
        action="release",
        actor="admin",
        removals="keep_held",
    )

    assert workflow.successes[0][1]["removals"] == "keep_held"


def test_only_a_release_can_keep_removals_held(held: Deps, workflow: RecordingWorkflow) -> None:
    with pytest.raises(InvalidDecisionError, match="only a release can keep removals held"):
        submit_decision(
            held.repo,
            held.workflow,
            district_id=D,
            sync_id=S,
            action="reject",
            actor="a",
            removals="keep_held",
        )

    assert workflow.successes == []


def test_an_unknown_sync_is_not_found(deps: Deps) -> None:
    with pytest.raises(SyncNotFoundError):
        submit_decision(deps.repo, deps.workflow, district_id=D, sync_id="nope", action="reject", actor="a")


def test_a_running_sync_is_not_on_hold(deps: Deps) -> None:
    deps.repo.update_sync(D, S, deps.clock(), status="running")

    with pytest.raises(NotOnHoldError):
        submit_decision(deps.repo, deps.workflow, district_id=D, sync_id=S, action="reject", actor="a")


def test_a_timed_out_task_is_an_expired_hold(held: Deps, workflow: RecordingWorkflow) -> None:
    workflow.gone = True

    with pytest.raises(HoldExpiredError):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="reject", actor="a")


def test_a_superseded_sync_cannot_be_released(held: Deps, workflow: RecordingWorkflow) -> None:
    held.repo.take_over_lock(D, S, "newer", held.clock())

    with pytest.raises(NotOnHoldError):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="release", actor="a")
    assert workflow.successes == []


def test_retry_starts_a_new_attempt(held: Deps) -> None:
    submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="retry", actor="a")

    record = held.repo.get_sync(D, S)
    assert record is not None and record.attempt == 2


def _held_until(deps: Deps, deadline: datetime) -> None:
    deps.repo.update_sync(D, S, deps.clock(), hold_expires_at=deadline.isoformat())


def test_a_decision_after_the_tick_expired_the_token_is_gone_with_the_expiry_time(
    held: Deps, workflow: RecordingWorkflow
) -> None:
    """The gap: the tick marked the token expired, Finish has not run (the sync still says
    held, or is on its way to Finish): 410 naming when it expired, never 409."""
    _held_until(held, datetime(2026, 3, 1, 17, 0, tzinfo=UTC))
    held.repo.close_token("hold-1", "expired")
    held.repo.update_sync(D, S, held.clock(), status="running")

    with pytest.raises(HoldExpiredError, match=r"expired at 2026-03-01 17:00 UTC; nothing was applied"):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="reject", actor="a")
    assert workflow.successes == []


def test_a_decision_past_the_deadline_before_the_tick_came_is_gone(
    held: Deps, workflow: RecordingWorkflow
) -> None:
    deadline = held.clock() - timedelta(minutes=5)
    _held_until(held, deadline)

    with pytest.raises(HoldExpiredError, match=f"expired at {deadline:%Y-%m-%d %H:%M} UTC"):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="release", actor="a")
    assert workflow.successes == []
    token = held.repo.get_token("hold-1")
    assert token is not None and token.status == "open"  # the tick expires it and resumes the task


def test_a_superseded_hold_past_its_deadline_is_not_on_hold_rather_than_expired(held: Deps) -> None:
    _held_until(held, held.clock() - timedelta(minutes=5))
    held.repo.close_token("hold-1", "closed")
    held.repo.update_sync(D, S, held.clock(), status="superseded")

    with pytest.raises(NotOnHoldError):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="reject", actor="a")


def test_a_decision_that_never_reached_the_execution_is_sent_again_once(
    held: Deps, workflow: RecordingWorkflow
) -> None:
    # The deciding invocation died after deciding the token, before SendTaskSuccess.
    held.repo.decide_token("hold-1", "release", "admin", held.clock())

    submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="release", actor="admin")

    assert [output["action"] for _, output in workflow.successes] == ["release"]
    token = held.repo.get_token("hold-1")
    assert token is not None and token.sent_at is not None
    with pytest.raises(AlreadyDecidedError):  # it reached the execution now: a second is refused
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="release", actor="admin")
    assert len(workflow.successes) == 1


def test_another_decision_than_the_one_taken_is_not_sent(held: Deps, workflow: RecordingWorkflow) -> None:
    held.repo.decide_token("hold-1", "release", "admin", held.clock())

    with pytest.raises(AlreadyDecidedError):
        submit_decision(held.repo, held.workflow, district_id=D, sync_id=S, action="reject", actor="other")
    assert workflow.successes == []
