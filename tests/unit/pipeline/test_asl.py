"""The sync state machine definition keeps the contract of docs/architecture.md."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.pipeline_helpers import ROOT

ASL_PATH = ROOT / "statemachine" / "sync.asl.json"
ASL_TEXT = ASL_PATH.read_text(encoding="utf-8")
ASL: dict[str, Any] = json.loads(ASL_TEXT)
STATES: dict[str, dict[str, Any]] = ASL["States"]
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
TASKS = {name: s for name, s in STATES.items() if s["Type"] == "Task"}


def test_only_the_three_function_arns_are_substituted() -> None:
    assert set(re.findall(r"\$\{([^}]+)\}", ASL_TEXT)) == {
        "IngestFunctionArn",
        "DiffFunctionArn",
        "HoldsFunctionArn",
    }


def test_the_definition_is_jsonpath_only() -> None:
    assert "QueryLanguage" not in ASL_TEXT and "{%" not in ASL_TEXT
    assert all("Assign" not in s and "Arguments" not in s for s in STATES.values())


def test_every_task_invokes_lambda_retries_service_errors_and_catches_everything() -> None:
    for name, state in TASKS.items():
        assert state["Resource"].startswith("arn:aws:states:::lambda:invoke"), name
        assert set(state["Parameters"]) == {"FunctionName", "Payload"}, name
        assert "step" in state["Parameters"]["Payload"], name
        retry = state["Retry"][0]
        assert set(retry["ErrorEquals"]) == LAMBDA_ERRORS, name
        assert (retry["IntervalSeconds"], retry["BackoffRate"], retry["MaxAttempts"]) == (2, 2, 3), name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
        assert "ResultPath" in state and "ResultSelector" in state, name


def test_the_decision_wait_has_a_timeout_and_an_expiry_branch_first() -> None:
    wait = STATES["AwaitDecision"]

    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["TimeoutSecondsPath"] == "$.hold_timeout_seconds"
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["Catch"][0]["ErrorEquals"] == ["States.Timeout"]
    assert STATES[wait["Catch"][0]["Next"]]["Result"]["status"] == "expired"


# After the commit (Apply promoted a version), a delivery failure is not a failed sync.
AFTER_COMMIT = {"Notify", "DeliveryFailed"}


def test_every_failure_path_records_the_failure_and_ends_failed() -> None:
    failure_targets = {
        c["Next"]
        for name, s in TASKS.items()
        if name not in AFTER_COMMIT
        for c in s["Catch"]
        if c["ErrorEquals"] == ["States.ALL"]
    }

    assert failure_targets <= {"RecordFailure", "Failed"}
    assert STATES["RecordFailure"]["Parameters"]["Payload"]["status"] == "failed"
    assert STATES[STATES["RecordFailure"]["Next"]]["Type"] == "Fail"


def test_waits_read_their_durations_from_the_execution_input() -> None:
    waits = {name: s for name, s in STATES.items() if s["Type"] == "Wait"}

    assert {s["SecondsPath"] for s in waits.values()} == {"$.quiet_seconds", "$.lock_retry_seconds"}


def test_every_next_names_a_state() -> None:
    targets = {s.get("Next") for s in STATES.values()} | {
        c["Next"] for s in TASKS.values() for c in s["Catch"]
    }
    targets |= {c["Next"] for s in STATES.values() for c in s.get("Choices", [])}
    targets |= {s.get("Default") for s in STATES.values()}

    assert targets - {None} <= set(STATES)


def test_a_delivery_failing_after_the_commit_is_recorded_not_failed() -> None:
    notify = STATES["Notify"]

    assert [r["ErrorEquals"] for r in notify["Retry"]][-1] == ["States.ALL"]
    assert notify["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.delivery_error", "Next": "DeliveryFailed"}
    ]
    assert STATES["DeliveryFailed"]["Parameters"]["Payload"]["step"] == "delivery_failed"
    assert STATES["DeliveryFailed"]["Next"] == "TrackAppliedProgress"


def test_a_sync_gives_up_waiting_for_the_lock_as_failed() -> None:
    choice = STATES["LockOutcome"]["Choices"][0]

    assert (choice["Variable"], choice["Next"]) == ("$.lock.gave_up", "GaveUpWaiting")
    assert STATES["GaveUpWaiting"]["Parameters"]["status"] == "failed"


# Every step of a sync retries any error once or twice (1 s, 2 s), as each is idempotent: a
# one-off crash does not cost the district its sync (docs/reliability.md). RecordFailure (the
# failure path itself) and DeliveryFailed (Notify's fallback) retry Lambda's errors only.
RETRIED_ON_ANY_ERROR = {
    "Settle",
    "Lock",
    "Fetch",
    "EvaluateFetch",
    "Normalize",
    "Diff",
    "Evaluate",
    "AwaitDecision",
    "Apply",
    "Notify",
    "Finish",
}


def test_every_sync_step_retries_any_error_after_lambdas_own() -> None:
    retried = {name for name, s in TASKS.items() if s["Retry"][-1]["ErrorEquals"] == ["States.ALL"]}

    assert retried == RETRIED_ON_ANY_ERROR
    for name in RETRIED_ON_ANY_ERROR - {"Notify"}:
        last = STATES[name]["Retry"][-1]
        assert (last["IntervalSeconds"], last["BackoffRate"], last["MaxAttempts"]) == (1, 2, 2), name


def test_the_decision_wait_never_retries_its_expiry() -> None:
    # States.ALL matches States.Timeout: the hold's expiry must reach the Expired branch, not
    # start a new wait. A retrier with MaxAttempts 0 matched first stops it.
    retry = STATES["AwaitDecision"]["Retry"]

    assert retry[1] == {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0}
    assert retry[2]["ErrorEquals"] == ["States.ALL"]
