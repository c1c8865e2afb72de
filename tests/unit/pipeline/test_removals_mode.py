"""The release progress a judgement starts under the district's removals mode (pure)."""

from __future__ import annotations

from rostersync.pipeline.decide import Judgement, progress_of
from rostersync.records import Hold


def hold(kind: str, school: str | None) -> Hold:
    return Hold(type=kind, school_id=school, message=f"{kind} at {school}")  # type: ignore[arg-type]


def judged(mode: str, *found: Hold) -> Judgement:
    return Judgement(
        found=list(found),
        base=1,
        prefix="p",
        releasable=True,
        changed_schools={"A", "B", "C"},
        removals_mode=mode,
    )


def test_never_automatic_applies_schools_held_for_removals_only_first_keeping_removals() -> None:
    progress = progress_of(judged("never_automatic", hold("mass_removal", "A"), hold("stale_upload", "A")))

    assert progress.held_schools == ["A"]
    assert (progress.unheld_schools, progress.unheld_removals) == (["A", "B", "C"], "keep_held")


def test_never_automatic_keeps_a_school_with_another_hold_waiting() -> None:
    progress = progress_of(judged("never_automatic", hold("mass_removal", "A"), hold("mass_update", "A")))

    assert (progress.held_schools, progress.unheld_schools) == (["A"], ["B", "C"])


def test_never_automatic_applies_nothing_first_under_a_district_wide_hold() -> None:
    progress = progress_of(judged("never_automatic", hold("mass_removal", "A"), hold("mass_removal", None)))

    assert (progress.unheld_schools, progress.district_hold) == ([], True)


def test_other_modes_apply_only_the_unheld_schools_first_with_their_removals() -> None:
    for mode in ("hold_over_threshold", "hold_always"):
        progress = progress_of(judged(mode, hold("mass_removal", "A")))

        assert (progress.unheld_schools, progress.unheld_removals) == (["B", "C"], "apply")
