"""The real state machine definition on moto's interpreter, with the real handlers (rostersync_tools.local).

Each test uploads Clever CSV sets into a district's inbox as SFTP would, delivers the S3 events as
EventBridge would, and checks one behaviour of docs/architecture.md through what the stack leaves
behind: sync records, the lock, accepted snapshot versions, events and emails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rostersync.pipeline.decisions import AlreadyDecidedError
from rostersync_tools.local import LocalAws
from rostersync_tools.synthetic import drop_school_students

from .conftest import (
    ADMIN,
    SENDER,
    DistrictData,
    accepted,
    accepted_version,
    awaiting_decision,
    decide,
    deps_of,
    district_settings,
    lock_item,
    paused_today,
    processing_sync,
    put_settings,
    raw_keys,
    snapshots,
    student_ids,
    sync_set,
    upload,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"


def _applied_day1(stack: LocalAws, data: DistrictData) -> dict[str, Any]:
    put_settings(stack, district_settings(D))
    record = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert record["status"] == "applied", record
    # "applied" is recorded by the apply step; the lock goes in the finish step, at the end.
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    return record


def _held_day2(stack: LocalAws, data: DistrictData, *schools: str) -> dict[str, Any]:
    """Day 1 applied, then day 2 without half the students of ``schools``: held, waiting."""
    _applied_day1(stack, data)
    day2 = data.files(data.without_students_of(*schools), "day2-" + "-".join(schools))
    record = sync_set(stack, D, day2, {"held", "applied", "failed"})
    assert record["status"] == "held", record
    return awaiting_decision(stack, D, str(record["sync_id"]))


# ------------------------------------------------------------------------------- day 1


def test_a_complete_first_upload_is_applied_as_version_1(stack: LocalAws, data: DistrictData) -> None:
    record = _applied_day1(stack, data)

    assert accepted_version(stack, D) == 1
    assert record["versions"] == [1]
    v1 = accepted(stack, D, 1)
    assert v1.tables["students"].num_rows == data.district.table("students").num_rows
    assert lock_item(stack, D) is None


def test_one_sync_processes_a_set_delivered_file_by_file(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    sync_ids = upload(stack, D, data.day1, each=True)

    processing = processing_sync(stack, D, sync_ids)

    assert len(sync_ids) == len(data.day1) == len(set(sync_ids))
    assert wait_ended(stack, processing)["status"] == "SUCCEEDED"
    statuses = sorted(str((stack.sync_record(D, s) or {}).get("status")) for s in sync_ids)
    assert statuses == ["applied"] + ["coalesced"] * (len(sync_ids) - 1)
    assert accepted_version(stack, D) == 1


def test_an_applied_sync_emits_roster_changes_applied(stack: LocalAws, data: DistrictData) -> None:
    record = _applied_day1(stack, data)

    (event,) = stack.captured_events("RosterChangesApplied")
    assert event["source"] == "rostersync"
    assert event["detail"]["district_id"] == D
    assert event["detail"]["sync_id"] == record["sync_id"]
    assert event["detail"]["version"] == 1
    assert event["detail"]["counts"]["added"] > 0


# ------------------------------------------------------------------------------- holds


def test_mass_removal_at_one_school_holds_the_sync(stack: LocalAws, data: DistrictData) -> None:
    school = data.schools[0]

    record = _held_day2(stack, data, school)

    assert record["status"] == "held"
    assert record["held_schools"] == [school]
    removal = next(h for h in record["holds"] if h["type"] == "mass_removal" and h["entity"] == "students")
    before = len(student_ids(data.district, school))
    assert removal["school_id"] == school
    assert removal["numerator"] == before - len(student_ids(data.without_students_of(school), school))
    assert removal["denominator"] == before
    assert removal["threshold"] == 10
    assert accepted_version(stack, D) == 1  # nothing applied
    assert lock_item(stack, D)["state"] == "held"  # type: ignore[index]


def test_a_held_sync_emails_the_admins_with_the_numbers(stack: LocalAws, data: DistrictData) -> None:
    school = data.schools[0]
    record = _held_day2(stack, data, school)

    holds_mail = [m for m in stack.sent_emails() if str(record["sync_id"]) in (m.text or "")]
    assert len(holds_mail) == 1, [m.subject for m in stack.sent_emails()]
    (mail,) = holds_mail
    assert mail.source == SENDER
    assert mail.to == [ADMIN]
    removal = next(h for h in record["holds"] if h["type"] == "mass_removal" and h["entity"] == "students")
    assert school in (mail.text or "")
    assert f"{removal['numerator']:,} of {removal['denominator']:,}" in (mail.text or "")


def test_releasing_the_held_school_applies_version_2(stack: LocalAws, data: DistrictData) -> None:
    school = data.schools[0]
    record = _held_day2(stack, data, school)
    sync_id = str(record["sync_id"])

    decide(stack, D, sync_id, "release", [school])

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "applied"  # type: ignore[index]
    assert accepted_version(stack, D) == 2
    assert student_ids(accepted(stack, D, 2), school) == student_ids(data.without_students_of(school), school)
    assert lock_item(stack, D) is None
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1, 2]


def test_a_second_decision_on_the_same_hold_is_refused(stack: LocalAws, data: DistrictData) -> None:
    record = _held_day2(stack, data, data.schools[0])
    decide(stack, D, str(record["sync_id"]), "reject")

    with pytest.raises(AlreadyDecidedError):
        decide(stack, D, str(record["sync_id"]), "release")


def test_rejecting_applies_nothing_and_releases_the_lock(stack: LocalAws, data: DistrictData) -> None:
    record = _held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])

    decide(stack, D, sync_id, "reject")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "rejected"  # type: ignore[index]
    assert accepted_version(stack, D) == 1
    assert lock_item(stack, D) is None
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1]


def test_an_undecided_hold_expires_and_applies_nothing(
    make_stack: Callable[..., LocalAws], data: DistrictData
) -> None:
    # HoldExpirySeconds below the template's MinValue: the local stack does not enforce it.
    stack = make_stack(HoldExpirySeconds=2)
    record = _held_day2(stack, data, data.schools[0])
    sync_id = str(record["sync_id"])

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"

    assert stack.sync_record(D, sync_id)["status"] == "expired"  # type: ignore[index]
    assert accepted_version(stack, D) == 1
    assert lock_item(stack, D) is None
    token = stack.table_item(f"HOLD#{record['hold_id']}", "TOKEN")
    assert token is not None and token["status"] == "expired"


def test_releasing_one_of_two_held_schools_applies_only_that_school(
    stack: LocalAws, data: DistrictData
) -> None:
    released, still_held = data.schools[0], data.schools[1]
    record = _held_day2(stack, data, released, still_held)
    sync_id = str(record["sync_id"])
    assert record["held_schools"] == sorted([released, still_held])

    decide(stack, D, sync_id, "release", [released])

    after = awaiting_decision(stack, D, sync_id, rounds=2)  # applied one school, waiting again
    assert after["status"] == "partially_applied", after
    assert after["applied_schools"] == [released]
    assert after["held_schools"] == [still_held]
    assert accepted_version(stack, D) == 2
    v2 = accepted(stack, D, 2)
    day2 = data.without_students_of(released, still_held)
    assert student_ids(v2, released) == student_ids(day2, released)
    assert student_ids(v2, still_held) == student_ids(data.district, still_held)
    assert (
        stack.client("stepfunctions").describe_execution(executionArn=stack.execution_arn(sync_id))["status"]
        == "RUNNING"
    )


def test_schools_without_a_hold_apply_while_another_school_waits(stack: LocalAws, data: DistrictData) -> None:
    held_school, other = data.schools[0], data.schools[1]
    _applied_day1(stack, data)
    # Day 2: half of one school's students gone (held), and a few leavers elsewhere (under 10 %).
    day2 = drop_school_students(data.district, held_school, 0.5, seed=0)
    day2 = drop_school_students(day2, other, 0.05, seed=1)
    record = sync_set(stack, D, data.files(day2, "day2-unheld"), {"partially_applied", "applied", "failed"})
    sync_id = str(record["sync_id"])

    waiting = awaiting_decision(stack, D, sync_id)
    assert waiting["held_schools"] == [held_school]
    assert other in waiting["applied_schools"] and held_school not in waiting["applied_schools"]
    v2 = accepted(stack, D, 2)
    assert student_ids(v2, other) == student_ids(day2, other) != student_ids(data.district, other)
    assert student_ids(v2, held_school) == student_ids(data.district, held_school)

    decide(stack, D, sync_id, "reject")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "rejected"  # type: ignore[index]
    assert accepted_version(stack, D) == 2
    schools = {s.school_id: s for s in deps_of(stack).repo.list_school_status(D)}
    assert schools[other].last_applied_sync_id == sync_id
    assert schools[held_school].last_applied_sync_id not in (None, sync_id)


# ------------------------------------------------------------------------------- arrivals


def test_a_newer_upload_supersedes_a_held_sync(stack: LocalAws, data: DistrictData) -> None:
    held = _held_day2(stack, data, data.schools[0])
    held_id = str(held["sync_id"])

    # The district fixes its export and sends the whole set again (day 1 plus one removal).
    fixed = data.files(data.without_students_of(data.schools[2], fraction=0.01), "fixed")
    newer = processing_sync(stack, D, upload(stack, D, fixed))

    assert wait_ended(stack, held_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, held_id)["status"] == "superseded"  # type: ignore[index]
    assert wait_ended(stack, newer)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, newer)["status"] == "applied"  # type: ignore[index]
    assert accepted_version(stack, D) == 2
    assert student_ids(accepted(stack, D, 2), data.schools[0]) == student_ids(data.district, data.schools[0])


def test_a_duplicated_s3_event_starts_one_execution(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    bucket = stack.env("RAW_BUCKET")
    (key,) = stack.upload_files(D, {"schools.csv": data.day1["schools.csv"]})
    first = stack.deliver_object_created(bucket, key)

    again = stack.deliver_event(first.event)

    sync_id = first.results["IngestFunction"]["sync_id"]
    assert again.results["IngestFunction"]["sync_id"] == sync_id
    assert [e["name"] for e in stack.executions(f"{D}-")] == [sync_id]


def test_an_incomplete_file_set_waits_and_processes_nothing(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    partial = {name: data.day1[name] for name in ("schools.csv", "students.csv")}
    sync_ids = upload(stack, D, partial, each=True)

    for sync_id in sync_ids:
        assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    records = [stack.sync_record(D, s) or {} for s in sync_ids]
    assert {r.get("status") for r in records} <= {"waiting", "coalesced"}, records
    waiting = [r for r in records if r["status"] == "waiting"]
    assert waiting
    assert all("missing" in r["reason"] and "enrollments.csv" in r["reason"] for r in waiting)
    assert raw_keys(stack, f"syncs/{D}/") == []
    assert snapshots(stack).list(f"syncs/{D}/") == []
    assert lock_item(stack, D) is None


def test_a_paused_district_keeps_the_files_and_ends_paused(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, paused_today(D))

    record = sync_set(stack, D, data.day1, {"paused", "applied", "failed"})

    assert record["status"] == "paused", record
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"  # finished: lock released
    assert raw_keys(stack, f"inbox/{D}/") == sorted(f"inbox/{D}/{name}" for name in data.day1)
    assert raw_keys(stack, f"syncs/{D}/") == []
    assert accepted_version(stack, D) is None
    assert lock_item(stack, D) is None


# ------------------------------------------------------------------------------- failures


def test_a_handler_error_fails_the_sync_with_a_reason(stack: LocalAws, data: DistrictData) -> None:
    _applied_day1(stack, data)
    # Corrupt the accepted snapshot: the diff's checksum check raises in the diff function.
    store = snapshots(stack)
    (students,) = [k for k in store.list(f"districts/{D}/v000001/") if k.endswith("/students.parquet")]
    store.put(students, b"not parquet")
    day2 = data.files(data.without_students_of(data.schools[2], fraction=0.01), "day2-small")

    record = sync_set(stack, D, day2, {"failed", "applied", "held"})

    assert record["status"] == "failed", record
    assert "SnapshotError" in record["reason"]
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "FAILED"
    assert lock_item(stack, D) is None
    assert accepted_version(stack, D) == 1
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1]
