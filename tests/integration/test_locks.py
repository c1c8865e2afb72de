"""A lock never strands a district (docs/holds.md, "Locks"), on the local stack.

Executions are stopped from outside with StopExecution, as an operator in the console (or a
crash) would; the stack delivers Step Functions' status-change event to the template's rule.
The wait bound is reached by advancing the functions' clock, not by sleeping.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rostersync.api import openapi_document
from rostersync_tools.local import LocalAws, routing
from rostersync_tools.local.apigw import proxy_event

from .conftest import (
    ADMIN,
    FAST,
    TEMPLATE,
    TIMEOUT,
    DistrictData,
    accepted_version,
    awaiting_decision,
    deps_of,
    district_settings,
    lock_item,
    put_settings,
    sync_set,
    upload,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"
OPERATOR = {
    "sub": "0000aaaa-1111-4222-8333-444455556666",
    "email": "ops@example.org",
    "cognito:groups": ["operator"],
}
D1_ADMIN = {"sub": "1111", "email": ADMIN, "cognito:groups": ["district_admin"], "custom:districts": D}


def _held_day2(stack: LocalAws, data: DistrictData) -> dict[str, Any]:
    put_settings(stack, district_settings(D))
    day1 = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(day1["sync_id"]))["status"] == "SUCCEEDED"
    day2 = data.files(data.without_students_of(data.schools[0]), "day2-locks")
    record = sync_set(stack, D, day2, {"held", "applied", "failed"})
    assert record["status"] == "held", record
    return awaiting_decision(stack, D, str(record["sync_id"]))


def _school(stack: LocalAws, school: str) -> dict[str, Any]:
    item = stack.table_item(f"DISTRICT#{D}", f"SCHOOL#{school}")
    assert item is not None
    return item


def _stop(stack: LocalAws, sync_id: str) -> None:
    stack.client("stepfunctions").stop_execution(executionArn=stack.execution_arn(sync_id), cause="console")


def _day3(stack: LocalAws, data: DistrictData) -> dict[str, Any]:
    files = data.files(data.without_students_of(data.schools[2], fraction=0.02), "day3-locks")
    return sync_set(stack, D, files, {"applied", "failed", "held"})


def test_stopping_a_held_execution_fails_the_sync_and_frees_the_district(
    stack: LocalAws, data: DistrictData
) -> None:
    record = _held_day2(stack, data)
    sync_id = str(record["sync_id"])
    assert _school(stack, data.schools[0])["status"] == "on_hold"

    _stop(stack, sync_id)

    failed = stack.wait_for_sync(D, sync_id, {"failed"}, timeout=TIMEOUT)
    assert failed["reason"] == "the sync's execution was stopped before it finished"
    assert lock_item(stack, D) is None
    school = _school(stack, data.schools[0])
    assert (school["status"], school["last_applied_sync_id"]) == ("connected", school["sync_id"])
    failed_mail = [m for m in stack.sent_emails() if (m.subject or "").endswith(f"{sync_id} failed")]
    assert len(failed_mail) == 1
    assert "execution was stopped before it finished" in (failed_mail[0].text or "")
    assert _day3(stack, data)["status"] == "applied"


def test_a_sync_takes_over_a_lock_whose_execution_ended_unreported(
    stack: LocalAws, data: DistrictData
) -> None:
    record = _held_day2(stack, data)
    stranded = str(record["sync_id"])
    # A decision set the lock back to active, then the execution was stopped and its
    # status-change event was lost: nothing but the next sync can notice.
    deps_of(stack).repo.set_lock_state(D, stranded, "active")
    routing.on_execution_ended(stack.account_id, stack.region, None)
    _stop(stack, stranded)
    assert wait_ended(stack, stranded)["status"] == "ABORTED"

    day3 = _day3(stack, data)

    assert day3["status"] == "applied"
    old = stack.sync_record(D, stranded)
    assert old is not None and old["status"] == "failed"
    assert old["reason"] == (
        "stranded: its execution ended (ABORTED) without finishing; "
        f"sync {day3['sync_id']} took over the lock"
    )
    assert accepted_version(stack, D) == 2


@pytest.fixture
def late_stack() -> Iterator[LocalAws]:
    """A stack whose functions' clock runs 25 hours ahead of the executions' start times."""
    ahead = timedelta(hours=25)
    stack = LocalAws(
        TEMPLATE,
        parameters=FAST,
        stack_name="it",
        adapt=lambda deps: dataclasses.replace(deps, clock=lambda: datetime.now(UTC) + ahead),
    )
    with stack:
        yield stack


def test_a_sync_waiting_past_the_bound_gives_up_with_a_reason(
    late_stack: LocalAws, data: DistrictData
) -> None:
    stack = late_stack
    record = _held_day2(stack, data)
    owner = str(record["sync_id"])
    deps_of(stack).repo.set_lock_state(D, owner, "active")  # a running owner that is not held

    (waiting,) = upload(stack, D, data.files(data.district, "day3-wait"))

    assert wait_ended(stack, waiting)["status"] == "SUCCEEDED"
    ended = stack.sync_record(D, waiting)
    assert ended is not None and ended["status"] == "failed"
    assert ended["reason"].startswith(f"waited 25.0 h for sync {owner} to finish and gave up")
    assert len(stack.history(waiting, "TaskScheduled")) == 3  # settle, lock once, finish


def _call(stack: LocalAws, path: str, claims: dict[str, Any], body: Any = None) -> tuple[int, Any]:
    event = proxy_event(
        "POST",
        path,
        headers={"Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None,
        claims=claims,
        resources=list(openapi_document()["paths"]),
    )
    result = stack.invoke("ApiFunction", event)
    return result["statusCode"], json.loads(result.get("body") or "{}")


def test_an_operator_fails_a_stuck_sync_through_the_api(stack: LocalAws, data: DistrictData) -> None:
    record = _held_day2(stack, data)
    sync_id = str(record["sync_id"])

    refused, _ = _call(stack, f"/syncs/{sync_id}/fail", D1_ADMIN)
    status, body = _call(stack, f"/syncs/{sync_id}/fail", OPERATOR, {"comment": "stuck since Monday"})

    assert (refused, status, body["outcome"]) == (403, 202, "stopping")
    failed = stack.wait_for_sync(D, sync_id, {"failed"}, timeout=TIMEOUT)
    assert failed["reason"] == "failed by operator ops@example.org: stuck since Monday"
    assert lock_item(stack, D) is None
    audit = [(a.actor, a.action) for a in deps_of(stack).repo.list_audit(D) if a.sync_id == sync_id]
    assert audit == [("ops@example.org", "fail"), ("stepfunctions", "failed")]
