"""The district setting ``removals`` on the local stack (moto, the state machine of template.yaml):
a few removals at one school, under the mass_removal thresholds, apply with the default mode and
hold that school with ``hold_always``; the held school's release applies them."""

from __future__ import annotations

from rostersync_tools.local import LocalAws

from .conftest import (
    DistrictData,
    accepted,
    accepted_version,
    awaiting_decision,
    decide,
    district_settings,
    put_settings,
    student_ids,
    sync_set,
    wait_ended,
)

D = "d1"
# 2 % of a school's students (3 of 150): under the default 10 % and 5-removal thresholds.
FEW = 0.02


def _day2(stack: LocalAws, data: DistrictData, removals: str) -> dict[str, object]:
    put_settings(stack, district_settings(D, removals=removals))
    day1 = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert day1["status"] == "applied", day1
    assert wait_ended(stack, str(day1["sync_id"]))["status"] == "SUCCEEDED"
    day2 = data.files(data.without_students_of(data.schools[0], fraction=FEW), f"day2-few-{removals}")
    return sync_set(stack, D, day2, {"held", "applied", "failed"})


def test_a_few_removals_apply_under_the_default_mode(stack: LocalAws, data: DistrictData) -> None:
    record = _day2(stack, data, "hold_over_threshold")

    assert record["status"] == "applied", record
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    assert accepted_version(stack, D) == 2


def test_hold_always_holds_the_school_with_a_few_removals_until_released(
    stack: LocalAws, data: DistrictData
) -> None:
    school = data.schools[0]
    record = _day2(stack, data, "hold_always")
    sync_id = str(record["sync_id"])

    held = awaiting_decision(stack, D, sync_id)
    assert held["status"] == "held", held
    assert held["held_schools"] == [school]
    holds = held["holds"]
    assert isinstance(holds, list) and holds
    assert {(h["type"], h["school_id"]) for h in holds} == {("mass_removal", school)}
    assert all("setting removals: hold_always" in h["message"] for h in holds)
    assert {h["entity"] for h in holds} >= {"students", "enrollments"}
    assert accepted_version(stack, D) == 1
    before = student_ids(accepted(stack, D, 1), school)

    decide(stack, D, sync_id, "release")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    after = student_ids(accepted(stack, D, 2), school)
    assert len(before - after) == round(len(before) * FEW)
    assert after < before
