"""Apply modes on the local stack (moto, the state machine of template.yaml): the district setting
``removals`` (a few removals at one school, under the mass_removal thresholds, apply with the
default mode and hold that school with ``hold_always``; the held school's release applies them),
and the release option ``removals: keep_held`` (additions and changes apply, the removals stay
held and a later release applies them)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.pipeline.decisions import submit_decision
from rostersync.roster import RosterSet
from rostersync_tools.local import LocalAws
from rostersync_tools.local.routing import serialized
from rostersync_tools.synthetic.days import make_day2

from .conftest import (
    DistrictData,
    accepted,
    accepted_version,
    awaiting_decision,
    decide,
    deps_of,
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


# --- the release option "apply adds and updates, keep removals held" ------------------------------


def _release(stack: LocalAws, sync_id: str, removals: str) -> None:
    deps = deps_of(stack)
    with serialized():
        submit_decision(
            deps.repo,
            deps.workflow,
            district_id=D,
            sync_id=sync_id,
            action="release",
            actor="integration-test",
            removals=removals,  # type: ignore[arg-type]
        )


def _students(roster: RosterSet, ids: list[str]) -> list[dict[str, object]]:
    table = roster.tables["students"]
    picked = table.filter(pc.is_in(table.column("person_id"), value_set=pa.array(ids, pa.string())))
    return picked.sort_by("person_id").to_pylist()  # type: ignore[no-any-return]


def _people(roster: RosterSet) -> set[str]:
    return set(roster.tables["students"].column("person_id").to_pylist())


def test_a_release_keeping_removals_applies_adds_and_updates_then_the_removals_on_their_own(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D, removals="hold_always"))
    day1 = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(day1["sync_id"]))["status"] == "SUCCEEDED"
    nightly = make_day2(data.district, seed=3, removed=0.02, added=0.03, changed=0.05)
    record = sync_set(stack, D, data.files(nightly, "day2-nightly"), {"held", "applied", "failed"})
    sync_id = str(record["sync_id"])
    held = awaiting_decision(stack, D, sync_id)
    before, wanted = _people(accepted(stack, D, 1)), _people(nightly)
    removed, added = before - wanted, wanted - before
    assert removed and added and held["held_schools"]

    _release(stack, sync_id, "keep_held")

    kept = awaiting_decision(stack, D, sync_id, rounds=2)
    assert kept["status"] == "partially_applied", kept
    assert kept["held_schools"]
    v2 = _people(accepted(stack, D, 2))
    assert v2 == before | added  # additions applied, every removal still held
    assert "mass_removal" in {h["type"] for h in kept["holds"]}
    states = {st.school_id: st.status for st in deps_of(stack).repo.list_school_status(D)}
    assert {states[school] for school in kept["held_schools"]} == {"on_hold"}

    _release(stack, sync_id, "apply")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "applied"  # type: ignore[index]
    v1, v2_set, v3 = accepted(stack, D, 1), accepted(stack, D, 2), accepted(stack, D, 3)
    assert _people(v3) == wanted
    # The changes were applied with the additions: the second release only removed.
    staying = sorted(before & wanted)
    assert _students(v2_set, staying) == _students(v3, staying) != _students(v1, staying)


def test_never_automatic_applies_adds_and_changes_at_once_and_waits_with_the_removals(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D, removals="never_automatic"))
    day1 = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(day1["sync_id"]))["status"] == "SUCCEEDED"
    nightly = make_day2(data.district, seed=4, removed=0.02, added=0.03, changed=0.05)
    record = sync_set(stack, D, data.files(nightly, "day2-never"), {"held", "partially_applied", "failed"})
    sync_id = str(record["sync_id"])
    before, wanted = _people(accepted(stack, D, 1)), _people(nightly)

    waiting = awaiting_decision(stack, D, sync_id)

    assert waiting["status"] == "partially_applied", waiting
    assert waiting["held_schools"]
    assert all("setting removals: never_automatic" in h["message"] for h in waiting["holds"])
    assert _people(accepted(stack, D, 2)) == before | wanted  # nothing removed automatically

    _release(stack, sync_id, "apply")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert _people(accepted(stack, D, 3)) == wanted
