"""One truthful state (docs/holds.md, "One truthful state"), on the local stack through the API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rostersync.api import openapi_document
from rostersync_tools.local import LocalAws
from rostersync_tools.local.apigw import proxy_event

from .conftest import (
    DistrictData,
    awaiting_decision,
    decide,
    district_settings,
    put_settings,
    snapshots,
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


def get(stack: LocalAws, path: str, query: dict[str, str] | None = None) -> Any:
    event = proxy_event(
        "GET", path, query=query, claims=OPERATOR, resources=list(openapi_document()["paths"])
    )
    result = stack.invoke("ApiFunction", event)
    assert result["statusCode"] == 200, result
    return json.loads(result["body"])


def _day1(stack: LocalAws, data: DistrictData) -> str:
    put_settings(stack, district_settings(D))
    record = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    return str(record["sync_id"])


def test_a_reject_after_a_partial_release_leaves_one_truthful_state(
    stack: LocalAws, data: DistrictData
) -> None:
    day1 = _day1(stack, data)
    released, rejected = data.schools[0], data.schools[1]
    day2 = data.files(data.without_students_of(released, rejected), "day2-truth")
    sync_id = str(sync_set(stack, D, day2, {"held", "applied", "failed"})["sync_id"])
    awaiting_decision(stack, D, sync_id)
    decide(stack, D, sync_id, "release", [released])
    awaiting_decision(stack, D, sync_id, rounds=2)

    decide(stack, D, sync_id, "reject")
    wait_ended(stack, sync_id)

    detail = get(stack, f"/syncs/{sync_id}")
    assert (detail["status"], detail["releasable"], detail["held_schools"]) == ("rejected", False, [])
    assert detail["reason"] == f"rejected by an admin; nothing more applied (already applied: {released})"
    board = {s["school_id"]: s for s in get(stack, f"/districts/{D}/schools")["schools"]}
    assert (board[rejected]["status"], board[rejected]["sync_id"]) == ("connected", day1)
    assert board[released]["last_applied_sync_id"] == sync_id


def test_coalesced_uploads_finish_and_are_hidden_from_the_default_list(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D))
    sync_ids = upload(stack, D, data.day1, each=True)
    for sync_id in sync_ids:
        wait_ended(stack, sync_id)

    listed = [s["sync_id"] for s in get(stack, f"/districts/{D}/syncs")["syncs"]]
    coalesced = get(stack, f"/districts/{D}/syncs", {"status": "coalesced"})["syncs"]

    assert len(listed) == 1 and len(coalesced) == len(sync_ids) - 1
    assert all(s["finished_at"] is not None for s in coalesced)


def test_a_sync_that_fails_before_any_hold_shows_on_the_board(stack: LocalAws, data: DistrictData) -> None:
    _day1(stack, data)
    store = snapshots(stack)
    (students,) = [k for k in store.list(f"districts/{D}/v000001/") if k.endswith("/students.parquet")]
    store.put(students, b"not parquet")
    day2 = data.files(data.without_students_of(data.schools[2], fraction=0.01), "day2-broken")
    failed = sync_set(stack, D, day2, {"failed", "applied", "held"})
    assert failed["status"] == "failed"

    board = get(stack, f"/districts/{D}/schools")

    assert board["failed_sync"]["sync_id"] == failed["sync_id"]
    assert "SnapshotError" in board["failed_sync"]["reason"]


def test_a_partial_release_sends_one_email_naming_the_schools(stack: LocalAws, data: DistrictData) -> None:
    _day1(stack, data)
    released, still_held = data.schools[0], data.schools[1]
    day2 = data.files(data.without_students_of(released, still_held), "day2-one-email")
    sync_id = str(sync_set(stack, D, day2, {"held", "applied", "failed"})["sync_id"])
    awaiting_decision(stack, D, sync_id)
    before = len(stack.sent_emails())

    decide(stack, D, sync_id, "release", [released])
    awaiting_decision(stack, D, sync_id, rounds=2)

    (mail,) = stack.sent_emails()[before:]
    names = dict(
        zip(
            data.district.table("schools").column("school_id").to_pylist(),
            data.district.table("schools").column("name").to_pylist(),
            strict=True,
        )
    )
    assert mail.subject == (
        f"[rostersync] {D}: {names[released]} ({released}) applied; "
        f"{names[still_held]} ({still_held}) still on hold"
    )
    assert "still on hold until" in (mail.text or "")
