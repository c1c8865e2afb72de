"""The release plan (pure): what an apply releases and the progress it leaves, from the progress alone."""

from __future__ import annotations

import pytest
from builders import change_set, entity_changes

from rostersync.changes import ChangeSet
from rostersync.model import STUDENTS, TERMS
from rostersync.pipeline.events import Progress
from rostersync.pipeline.release import plan_release


def held_on(*schools: str, **extra: object) -> Progress:
    return Progress.model_validate({"accepted_version": 4, "held_schools": list(schools), **extra})


def test_a_sync_with_invalid_files_cannot_be_released() -> None:
    with pytest.raises(ValueError, match="this sync cannot be released: its files are invalid"):
        plan_release(held_on("A", releasable=False), None)


def test_a_school_neither_held_nor_changed_without_a_hold_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^schools not on hold: X, Z$"):
        plan_release(held_on("A", "B", unheld_schools=["C"]), ["Z", "A", "X"])


def test_a_changed_school_without_a_hold_may_be_released_alone() -> None:
    plan = plan_release(held_on("A", unheld_schools=["C"]), ["C"])

    assert (plan.schools, plan.released, plan.complete) == (["C"], ["C"], False)


def test_naming_every_held_school_releases_everything() -> None:
    plan = plan_release(held_on("A", "B"), ["B", "A"])

    assert (plan.schools, plan.released, plan.complete, plan.status) == (None, ["A", "B"], True, "applied")


def test_naming_every_held_school_under_a_district_hold_stays_partial() -> None:
    plan = plan_release(held_on("A", "B", district_hold=True), ["B", "A"])

    assert (plan.schools, plan.complete, plan.status) == (["B", "A"], False, "partially_applied")


def test_a_partial_release_leaves_the_other_schools_held() -> None:
    plan = plan_release(held_on("A", "B", unheld_schools=["C"], applied_schools=["C"], applies=1), ["A"])

    after = plan.progress_after(5)

    assert after.model_dump() == {
        "accepted_version": 5,
        "applied_schools": ["A", "C"],
        "held_schools": ["B"],
        "district_hold": False,
        "releasable": True,
        "applies": 2,
        "unheld_schools": ["C"],
        "removals_held": [],
        "removals_only": False,
        "unheld_removals": "apply",
    }


def test_a_complete_release_leaves_nothing_held() -> None:
    plan = plan_release(held_on("A", "B", district_hold=True, unheld_schools=["C"]), None)

    after = plan.progress_after(5)

    assert (after.held_schools, after.unheld_schools, after.district_hold) == ([], [], False)
    assert (after.applied_schools, after.applies) == (["A", "B"], 1)


def test_only_a_first_complete_apply_reuses_the_diffs_change_set() -> None:
    first = plan_release(held_on("A"), None)
    after_partial = plan_release(held_on("A", applied_schools=["B"]), None)
    partial = plan_release(held_on("A", "B"), ["A"])

    assert (first.reuses_diff, after_partial.reuses_diff, partial.reuses_diff) == (True, False, False)


def test_a_version_is_promoted_when_something_changes_or_for_the_first_one() -> None:
    unchanged = {"added": 0, "removed": 0, "changed": 0}

    assert not plan_release(held_on(), None).promotes(unchanged)
    assert plan_release(held_on(), None).promotes({**unchanged, "removed": 3})
    assert plan_release(held_on(accepted_version=None), None).promotes(unchanged)


# --- "keep removals held" -------------------------------------------------------------------------


def removed_students(*schools: str) -> ChangeSet:
    rows = [{"person_id": f"S-{school}", "school_id": school} for school in schools]
    return change_set(entity_changes(STUDENTS, removed=rows))


def test_keeping_removals_of_a_complete_release_holds_their_schools_again() -> None:
    plan = plan_release(held_on("A", "B"), None, "keep_held")

    after = plan.progress_after(5, removed_students("A"))

    assert (after.held_schools, after.removals_held, after.removals_only) == (["A"], ["A"], True)
    assert (after.applied_schools, after.district_hold) == (["A", "B"], False)


def test_a_kept_removal_without_a_school_is_a_district_wide_hold() -> None:
    kept = change_set(entity_changes(TERMS, removed=[{"term_id": "T1", "school_id": None}]))

    after = plan_release(held_on("A"), None, "keep_held").progress_after(5, kept)

    assert (after.held_schools, after.district_hold, after.removals_only) == ([], True, True)


def test_keeping_removals_of_a_partial_release_keeps_the_other_schools_held() -> None:
    plan = plan_release(held_on("A", "B"), ["A"], "keep_held")

    after = plan.progress_after(5, removed_students("A"))

    assert (after.held_schools, after.removals_held, after.removals_only) == (["A", "B"], ["A"], False)


def test_releasing_kept_removals_clears_them() -> None:
    progress = held_on("A", applied_schools=["A", "B"], removals_held=["A"], removals_only=True)

    after = plan_release(progress, ["A"]).progress_after(6)

    assert (after.held_schools, after.removals_held, after.removals_only) == ([], [], True)


def test_a_release_keeping_removals_never_reuses_the_diffs_change_set() -> None:
    assert not plan_release(held_on("A"), None, "keep_held").reuses_diff
    assert not plan_release(held_on("A", removals_only=True), None).reuses_diff
