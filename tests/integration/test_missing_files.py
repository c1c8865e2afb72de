"""Missing files are a hold, not silence (local stack, the real state machine, the clock advanced).

An incomplete upload waits through its grace period; the scheduled tick then starts the sync that
holds it as ``invalid_files`` naming each missing file, and emails the admins. The missing file's
upload completes the set and supersedes the hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from rostersync_tools.local import LocalAws

from .conftest import (
    ADMIN,
    DistrictData,
    accepted,
    accepted_version,
    awaiting_decision,
    decide,
    district_settings,
    put_settings,
    raw_keys,
    sync_set,
    upload,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"
MISSING = "enrollments.csv"


def _partial_upload(stack: LocalAws, data: DistrictData) -> dict[str, bytes]:
    put_settings(stack, district_settings(D))
    partial = {n: b for n, b in data.day1.items() if n != MISSING}
    (sync_id,) = upload(stack, D, partial)
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "waiting"  # type: ignore[index]
    return partial


def _held_for_missing_files(stack: LocalAws, data: DistrictData) -> dict[str, Any]:
    _partial_upload(stack, data)
    stack.clock.advance(timedelta(minutes=61))
    (sync_id,) = stack.tick()["started"]
    return awaiting_decision(stack, D, sync_id)


def test_an_incomplete_set_within_its_grace_period_is_not_held(stack: LocalAws, data: DistrictData) -> None:
    _partial_upload(stack, data)
    stack.clock.advance(timedelta(minutes=59))

    out = stack.tick()

    assert out["started"] == []
    assert [m.subject for m in stack.sent_emails()] == []


def test_after_the_grace_period_an_incomplete_set_is_an_invalid_files_hold(
    stack: LocalAws, data: DistrictData
) -> None:
    record = _held_for_missing_files(stack, data)

    assert record["status"] == "held"
    assert record["releasable"] is False
    (hold,) = [h for h in record["holds"] if h["type"] == "invalid_files"]
    assert MISSING in hold["message"]
    (mail,) = stack.sent_emails()
    assert mail.to == [ADMIN]
    assert MISSING in (mail.text or "")
    # The partial set stays in the inbox for the missing file to complete.
    assert len(raw_keys(stack, f"inbox/{D}/")) == len(data.day1) - 1
    assert accepted_version(stack, D) is None


def test_a_second_tick_holds_nothing_twice(stack: LocalAws, data: DistrictData) -> None:
    _held_for_missing_files(stack, data)

    again = stack.tick()

    assert again["started"] == [] and again["emailed"] == []
    assert len(stack.sent_emails()) == 1


def test_the_missing_files_upload_completes_the_set_and_supersedes_the_hold(
    stack: LocalAws, data: DistrictData
) -> None:
    held = _held_for_missing_files(stack, data)

    record = sync_set(stack, D, {MISSING: data.day1[MISSING]}, {"applied", "failed", "held"})

    assert record["status"] == "applied", record
    assert accepted_version(stack, D) == 1
    held_id = str(held["sync_id"])
    assert wait_ended(stack, held_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, held_id)["status"] == "superseded"  # type: ignore[index]
    superseded = [m for m in stack.sent_emails() if "superseded" in (m.subject or "")]
    assert len(superseded) == 1 and held_id in (superseded[0].subject or "")
    assert raw_keys(stack, f"inbox/{D}/") == []


def test_a_rejected_missing_files_hold_moves_its_files_to_the_archive(
    stack: LocalAws, data: DistrictData
) -> None:
    held = _held_for_missing_files(stack, data)
    sync_id = str(held["sync_id"])

    decide(stack, D, sync_id, "reject")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "rejected"  # type: ignore[index]
    assert raw_keys(stack, f"inbox/{D}/") == []
    archived = sorted(k.rsplit("/", 1)[-1] for k in raw_keys(stack, f"archive/{D}/{sync_id}/"))
    assert archived == sorted(n for n in data.day1 if n != MISSING)


def test_after_an_expired_missing_files_hold_the_next_upload_is_not_mixed_with_its_files(
    stack: LocalAws, data: DistrictData
) -> None:
    """The partial set had staff.csv (optional); the next complete upload has none: its sync
    must read only its own files, not the expired set's staff."""
    assert "staff.csv" in data.day1
    held = _held_for_missing_files(stack, data)
    sync_id = str(held["sync_id"])
    stack.clock.advance(
        datetime.fromisoformat(str(held["hold_expires_at"])) - stack.clock() + timedelta(minutes=1)
    )
    assert stack.tick()["expired"] == [sync_id]
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert raw_keys(stack, f"inbox/{D}/") == []
    assert len(raw_keys(stack, f"archive/{D}/{sync_id}/")) == len(data.day1) - 1

    complete = {n: b for n, b in data.day1.items() if n != "staff.csv"}
    record = sync_set(stack, D, complete, {"applied", "failed", "held"})

    assert record["status"] == "applied", record
    taken = sorted(k.rsplit("/", 1)[-1] for k in raw_keys(stack, f"syncs/{D}/{record['sync_id']}/"))
    assert "staff.csv" not in taken and "students.csv" in taken
    assert accepted(stack, D, 1).table("staff").num_rows == 0
