"""The release API against a real local run: holds created by the state machine on moto (the
local stack of template.yaml) are read, released, partially released, rejected, retried and
rolled back through ApiFunction's handler (invoked as API Gateway would, with the Cognito
authorizer's claims), and the executions end accordingly."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from rostersync.api import openapi_document
from rostersync_tools.local import LocalAws
from rostersync_tools.local.apigw import proxy_event

from .conftest import (
    ADMIN,
    TIMEOUT,
    DistrictData,
    accepted,
    accepted_version,
    awaiting_decision,
    district_settings,
    lock_item,
    put_settings,
    student_ids,
    sync_set,
    wait_ended,
)

D = "d1"
RESOURCES = list(openapi_document()["paths"])
D1_ADMIN = {
    "sub": "11111111-2222-4333-8444-555555555555",
    "email": ADMIN,
    "cognito:groups": ["district_admin"],
    "custom:districts": D,
}
OTHER_ADMIN = {
    "sub": "99999999-0000-4000-8000-000000000000",
    "cognito:groups": ["district_admin"],
    "custom:districts": "d2",
}


def call(
    stack: LocalAws,
    method: str,
    path: str,
    body: Any = None,
    claims: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    event = proxy_event(
        method,
        path,
        query=query,
        headers={"Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None,
        claims=claims or D1_ADMIN,
        resources=RESOURCES,
    )
    result = stack.invoke("ApiFunction", event)
    text = result.get("body") or ""
    return result["statusCode"], json.loads(text) if text.startswith(("{", "[")) else text


def applied_day1(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    record = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert record["status"] == "applied", record
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"


def held_day2(stack: LocalAws, data: DistrictData, *schools: str) -> dict[str, Any]:
    applied_day1(stack, data)
    day2 = data.files(data.without_students_of(*schools), "day2-" + "-".join(schools))
    record = sync_set(stack, D, day2, {"held", "applied", "failed"})
    assert record["status"] == "held", record
    return awaiting_decision(stack, D, str(record["sync_id"]))


def open_hold(stack: LocalAws) -> dict[str, Any]:
    status, body = call(stack, "GET", f"/districts/{D}/holds")
    assert status == 200, body
    (found,) = body["holds"]
    return found  # type: ignore[no-any-return]


def test_a_release_through_the_api_applies_the_held_sync(stack: LocalAws, data: DistrictData) -> None:
    school = data.schools[0]
    record = held_day2(stack, data, school)
    sync_id = str(record["sync_id"])
    hold = open_hold(stack)
    assert hold["sync_id"] == sync_id and hold["held_schools"] == [school]

    status, body = call(stack, "POST", f"/syncs/{sync_id}/release", {"hold_types": hold["hold_types"]})

    assert status == 202, body
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "applied"  # type: ignore[index]
    assert accepted_version(stack, D) == 2
    assert lock_item(stack, D) is None
    assert any("applied" in m.subject and sync_id in m.subject for m in stack.sent_emails())
    status, audit = call(stack, "GET", f"/districts/{D}/audit")
    assert [(e["action"], e["actor"], e["actor_id"]) for e in audit["entries"]] == [
        ("release", ADMIN, D1_ADMIN["sub"])
    ]


def test_a_partial_release_applies_one_school_and_keeps_the_other_held(
    stack: LocalAws, data: DistrictData
) -> None:
    released, still_held = data.schools[0], data.schools[1]
    record = held_day2(stack, data, released, still_held)
    sync_id = str(record["sync_id"])
    hold_types = open_hold(stack)["hold_types"]

    status, _ = call(
        stack, "POST", f"/syncs/{sync_id}/release", {"schools": [released], "hold_types": hold_types}
    )

    assert status == 202
    after = awaiting_decision(stack, D, sync_id, rounds=2)
    assert after["status"] == "partially_applied", after
    assert (after["applied_schools"], after["held_schools"]) == ([released], [still_held])
    assert student_ids(accepted(stack, D, 2), still_held) == student_ids(data.district, still_held)
    status, detail = call(stack, "GET", f"/syncs/{sync_id}")
    assert {s["school_id"]: s["state"] for s in detail["schools"] if s["school_id"]} == {
        released: "applied",
        still_held: "held",
    }

    # The rest, released in a second decision on the new hold, finishes the sync.
    status, _ = call(stack, "POST", f"/syncs/{sync_id}/release", {"hold_types": hold_types})
    assert status == 202
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "applied"  # type: ignore[index]
    assert accepted_version(stack, D) == 3


def test_a_reject_through_the_api_applies_nothing_and_emails_the_admins(
    stack: LocalAws, data: DistrictData
) -> None:
    record = held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])

    status, body = call(stack, "POST", f"/syncs/{sync_id}/reject", {"comment": "wrong export"})

    assert status == 202, body
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "rejected"  # type: ignore[index]
    assert accepted_version(stack, D) == 1
    (mail,) = [m for m in stack.sent_emails() if "rejected" in m.subject]
    assert mail.to == [ADMIN] and ADMIN in (mail.text or "")


def test_a_second_decision_is_409_and_the_execution_resumes_once(stack: LocalAws, data: DistrictData) -> None:
    record = held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])
    hold_types = open_hold(stack)["hold_types"]

    first, _ = call(stack, "POST", f"/syncs/{sync_id}/release", {"hold_types": hold_types})
    second, body = call(stack, "POST", f"/syncs/{sync_id}/release", {"hold_types": hold_types})

    assert (first, second) == (202, 409), body
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1, 2]


def test_a_retry_reads_the_inbox_again_and_holds_afresh(stack: LocalAws, data: DistrictData) -> None:
    record = held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])

    status, _ = call(stack, "POST", f"/syncs/{sync_id}/retry")

    assert status == 202
    again = awaiting_decision(stack, D, sync_id, rounds=2)
    assert again["status"] == "held" and again["attempt"] == 2
    status, _ = call(stack, "POST", f"/syncs/{sync_id}/reject")
    assert status == 202
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "rejected"  # type: ignore[index]


def test_another_districts_admin_cannot_see_or_decide_the_hold(stack: LocalAws, data: DistrictData) -> None:
    record = held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])

    assert call(stack, "GET", f"/syncs/{sync_id}", claims=OTHER_ADMIN)[0] == 404
    assert call(stack, "POST", f"/syncs/{sync_id}/reject", claims=OTHER_ADMIN)[0] == 404
    assert call(stack, "GET", f"/districts/{D}/holds", claims=OTHER_ADMIN)[0] == 403
    assert stack.sync_record(D, sync_id)["status"] == "held"  # type: ignore[index]


def test_downloads_are_presigned_urls_of_the_syncs_csvs(stack: LocalAws, data: DistrictData) -> None:
    record = held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])

    status, link = call(stack, "GET", f"/syncs/{sync_id}/changes.csv")

    assert status == 200, link
    bucket = stack.env("SNAPSHOT_BUCKET")
    key = unquote(urlsplit(link["url"]).path).lstrip("/").removeprefix(f"{bucket}/")
    assert key == stack.sync_record(D, sync_id)["keys"]["changes_csv"]  # type: ignore[index]
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body.decode("utf-8-sig").splitlines()[0]  # a header row


@pytest.mark.parametrize("timeout", [TIMEOUT])
def test_a_rollback_resyncs_an_earlier_version_through_diff_and_holds(
    stack: LocalAws, data: DistrictData, timeout: float
) -> None:
    school = data.schools[2]
    applied_day1(stack, data)
    # Day 2 removes a few students of one school (under the removal threshold): applied as v2.
    day2 = data.files(data.without_students_of(school, fraction=0.02), "day2-small")
    record = sync_set(stack, D, day2, {"applied", "held", "failed"})
    assert record["status"] == "applied", record
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    status, versions = call(stack, "GET", f"/districts/{D}/versions")
    assert [v["version"] for v in versions["versions"]] == [2, 1]

    status, body = call(stack, "POST", f"/districts/{D}/rollback", {"version": 1})

    assert status == 202, body
    rollback_id = body["sync_id"]
    assert wait_ended(stack, rollback_id)["status"] == "SUCCEEDED"
    rolled = stack.sync_record(D, rollback_id)
    assert rolled is not None and rolled["status"] == "applied", rolled
    assert rolled["trigger"] == "rollback" and rolled["source_version"] == 1
    assert accepted_version(stack, D) == 3
    assert student_ids(accepted(stack, D, 3), school) == student_ids(accepted(stack, D, 1), school)
