"""The ``id_change`` hold on the local stack (moto, the state machine of template.yaml): a school
whose students were re-keyed in the SIS past the default thresholds (5 % of its people, at least
5) is held with the pairs explained; released, the pairs are applied as re-keys (``id_changed``
records in the change set and in ``RosterChangesApplied``'s counts, in neither ``removed`` nor
``added``); rejected, nothing is applied. The held sync's preview (``summary.json``) already
counts the pairs as re-keys."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.consumer import read_changes
from rostersync.records import load_summary
from rostersync_tools.local import LocalAws
from rostersync_tools.synthetic import SyntheticDistrict
from tests.support.feed_events import schema_errors

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
SCHOOL = "SCH0002"  # 80 students, 221 people: 20 re-keyed students are 9 %
COUNT = 20


def rekeyed(district: SyntheticDistrict, school: str, count: int) -> tuple[SyntheticDistrict, list[str]]:
    """``district`` with the first ``count`` students of ``school`` under new ids: the same people,
    enrollments and contact links."""
    students = district.tables["students"]
    mine = students.filter(pc.equal(students.column("school_id"), school))
    old = mine.column("person_id").slice(0, count).combine_chunks()
    new = pc.binary_join_element_wise(old, pa.scalar("-new"), "")

    def swap(table: pa.Table, column: str) -> pa.Table:
        values = table.column(column)
        found = pc.index_in(values, value_set=old)
        replaced = pc.if_else(pc.is_null(found), values, pc.take(new, found))
        return table.set_column(table.schema.get_field_index(column), column, replaced)

    day2 = district.replace_tables(
        students=swap(students, "person_id"),
        enrollments=swap(district.tables["enrollments"], "person_id"),
        contact_links=swap(district.tables["contact_links"], "student_id"),
    )
    return day2, sorted(old.to_pylist())


def _held(stack: LocalAws, data: DistrictData, name: str) -> tuple[str, list[str]]:
    put_settings(stack, district_settings(D))
    day1 = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert day1["status"] == "applied", day1
    assert wait_ended(stack, str(day1["sync_id"]))["status"] == "SUCCEEDED"
    day2, old_ids = rekeyed(data.district, SCHOOL, COUNT)
    record = sync_set(stack, D, data.files(day2, name), {"held", "applied", "failed"})
    return str(record["sync_id"]), old_ids


def test_rekeyed_students_past_the_threshold_hold_their_school_with_the_pairs_explained(
    stack: LocalAws, data: DistrictData
) -> None:
    sync_id, old_ids = _held(stack, data, "day2-rekeyed-held")

    held = awaiting_decision(stack, D, sync_id)

    assert held["held_schools"] == [SCHOOL]
    (hold,) = held["holds"]
    assert (hold["type"], hold["school_id"], hold["numerator"], hold["denominator"]) == (
        "id_change",
        SCHOOL,
        COUNT,
        221,
    )
    assert f"{old_ids[0]} → {old_ids[0]}-new (email)" in hold["message"]
    assert accepted_version(stack, D) == 1


def test_the_held_syncs_preview_counts_the_pairs_as_rekeys_not_removals(
    stack: LocalAws, data: DistrictData
) -> None:
    sync_id, _ = _held(stack, data, "day2-rekeyed-preview")
    held = awaiting_decision(stack, D, sync_id)

    summary = load_summary(deps_of(stack).snapshots, held["keys"]["summary"])

    (students,) = [c for c in summary if (c.entity, c.school_id) == ("students", SCHOOL)]
    assert (students.id_changed, students.added, students.removed) == (COUNT, 0, 0)


def test_a_released_id_change_hold_applies_the_pairs_as_rekeys(stack: LocalAws, data: DistrictData) -> None:
    sync_id, old_ids = _held(stack, data, "day2-rekeyed-release")
    awaiting_decision(stack, D, sync_id)

    decide(stack, D, sync_id, "release")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    feed = read_changes(2, district_id=D, location=f"s3://{stack.env('SNAPSHOT_BUCKET')}")
    students = feed.entities["students"]
    rekeys = students.id_changed
    pairs = zip(rekeys.column("_old_id").to_pylist(), rekeys.column("person_id").to_pylist(), strict=True)
    assert sorted(pairs) == [(old, f"{old}-new") for old in old_ids]
    assert (students.removed.num_rows, students.added.num_rows) == (0, 0)
    (event,) = [e for e in stack.captured_events("RosterChangesApplied") if e["detail"]["version"] == 2]
    assert event["detail"]["counts"]["id_changed"] == COUNT
    assert schema_errors(event) == []
    assert event["detail"]["entities"]["students"] == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "id_changed": COUNT,
    }
    (board,) = [s for s in deps_of(stack).repo.list_school_status(D) if s.school_id == SCHOOL]
    assert board.counts["id_changed"] == COUNT
    assert student_ids(accepted(stack, D, 2), SCHOOL) == (
        student_ids(accepted(stack, D, 1), SCHOOL) - set(old_ids)
    ) | {f"{old}-new" for old in old_ids}


def test_a_rejected_id_change_hold_applies_nothing(stack: LocalAws, data: DistrictData) -> None:
    sync_id, _ = _held(stack, data, "day2-rekeyed-reject")
    awaiting_decision(stack, D, sync_id)

    decide(stack, D, sync_id, "reject")

    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, sync_id)["status"] == "rejected"
    assert accepted_version(stack, D) == 1


def test_never_automatic_applies_rekeys_at_once_and_keeps_only_true_removals_held(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D, removals="never_automatic"))
    day1 = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(day1["sync_id"]))["status"] == "SUCCEEDED"
    day2, old_ids = rekeyed(data.without_students_of(SCHOOL, fraction=0.05), SCHOOL, 2)
    record = sync_set(
        stack, D, data.files(day2, "day2-rekeyed-never"), {"held", "partially_applied", "failed"}
    )
    sync_id = str(record["sync_id"])
    source = f"s3://{stack.env('SNAPSHOT_BUCKET')}"

    waiting = awaiting_decision(stack, D, sync_id)

    assert {h["type"] for h in waiting["holds"]} == {"mass_removal"}
    first = read_changes(2, district_id=D, location=source).entities["students"]
    assert sorted(first.id_changed.column("_old_id").to_pylist()) == old_ids
    assert first.removed.num_rows == 0
    decide(stack, D, sync_id, "release")
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    second = read_changes(3, district_id=D, location=source).entities["students"]
    assert second.removed.num_rows and second.id_changed.num_rows == 0
    assert not set(old_ids) & set(second.removed.column("person_id").to_pylist())
