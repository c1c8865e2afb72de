"""Hold deadlines that mean what they say (local stack, the real state machine, the clock advanced).

The expiry is absolute from when the hold was placed: a partial release a day later keeps it.
The scheduled tick reminds the admins ``hold_reminder_hours`` before it (once) and expires the
hold at it; the admins are emailed that it expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from rostersync_tools.local import LocalAws

from .conftest import (
    DistrictData,
    accepted_version,
    awaiting_decision,
    decide,
    district_settings,
    lock_item,
    put_settings,
    sync_set,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"


def _held_two_schools(stack: LocalAws, data: DistrictData) -> dict[str, Any]:
    # A cadence longer than the hold's 14 days: the tick's overdue email (test_sync_cadence.py)
    # is not what these tests count.
    put_settings(stack, district_settings(D, expected_sync_hours=31 * 24))
    first = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(first["sync_id"]))["status"] == "SUCCEEDED"
    day2 = data.files(data.without_students_of(data.schools[0], data.schools[1]), "day2-two-held")
    record = sync_set(stack, D, day2, {"held", "applied", "failed"})
    assert record["status"] == "held", record
    return awaiting_decision(stack, D, str(record["sync_id"]))


def _expires(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["hold_expires_at"]))


def test_a_partial_release_keeps_the_deadline(stack: LocalAws, data: DistrictData) -> None:
    held = _held_two_schools(stack, data)
    sync_id = str(held["sync_id"])
    stack.clock.advance(timedelta(days=1))

    decide(stack, D, sync_id, "release", [data.schools[0]])

    after = awaiting_decision(stack, D, sync_id, rounds=2)
    assert after["status"] == "partially_applied"
    assert _expires(after) == _expires(held)
    assert _expires(held) - datetime.fromisoformat(str(held["hold_placed_at"])) == timedelta(days=14)


def test_admins_are_reminded_once_before_the_hold_expires(stack: LocalAws, data: DistrictData) -> None:
    held = _held_two_schools(stack, data)
    before = len(stack.sent_emails())
    stack.clock.advance(_expires(held) - stack.clock() - timedelta(hours=49))
    early = stack.tick()
    stack.clock.advance(timedelta(hours=2))

    reminded = stack.tick()
    again = stack.tick()

    assert early["emailed"] == []
    assert reminded["emailed"] == [f"hold-reminder-{held['sync_id']}-{int(_expires(held).timestamp())}"]
    assert again["emailed"] == []
    (mail,) = stack.sent_emails()[before:]
    assert "expires" in (mail.subject or "") and str(held["sync_id"]) in (mail.subject or "")


def test_the_reminder_names_the_held_schools_by_their_roster_names(
    stack: LocalAws, data: DistrictData
) -> None:
    held = _held_two_schools(stack, data)
    before = len(stack.sent_emails())
    stack.clock.advance(_expires(held) - stack.clock() - timedelta(hours=47))

    stack.tick()

    (mail,) = stack.sent_emails()[before:]
    table = data.district.table("schools")
    names = dict(zip(table.column("school_id").to_pylist(), table.column("name").to_pylist(), strict=True))
    held_text = ", ".join(f"{names[s]} ({s})" for s in sorted(data.schools[:2]))
    assert f"is still on hold (schools: {held_text})." in (mail.text or "")


def test_the_tick_expires_a_hold_at_its_deadline_after_a_partial_release(
    stack: LocalAws, data: DistrictData
) -> None:
    held = _held_two_schools(stack, data)
    sync_id = str(held["sync_id"])
    decide(stack, D, sync_id, "release", [data.schools[0]])
    awaiting_decision(stack, D, sync_id, rounds=2)
    stack.clock.advance(_expires(held) - stack.clock() + timedelta(minutes=1))

    out = stack.tick()

    assert out["expired"] == [sync_id]
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    record = stack.sync_record(D, sync_id)
    assert record is not None and record["status"] == "expired"
    assert record["applied_schools"] == [data.schools[0]]
    assert accepted_version(stack, D) == 2  # the released school's version stays
    assert lock_item(stack, D) is None
    expired = [m for m in stack.sent_emails() if "expired" in (m.subject or "")]
    assert len(expired) == 1 and data.schools[0] in (expired[0].text or "")
    assert stack.tick()["expired"] == []
