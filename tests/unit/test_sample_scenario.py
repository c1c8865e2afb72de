"""``rostersync sample`` writes the demo's scenario at any size: several schools, a first sync
that applies, a second one held at two schools for two different reasons."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rostersync_tools.cli import EXIT_CLEAN, EXIT_HELD, main
from rostersync_tools.synthetic.scenario import MIN_SCHOOLS, school_count


@pytest.mark.parametrize(("students", "schools"), [(10, 4), (300, 4), (3000, 4), (9000, 6)])
def test_every_size_has_several_schools(students: int, schools: int) -> None:
    assert school_count(students) == schools


def test_a_tiny_district_has_one_school_per_student_at_most() -> None:
    assert school_count(2) == 2


def test_sample_of_300_students_writes_four_schools(tmp_path: Path) -> None:
    assert main(["sample", str(tmp_path), "--students", "300"]) == EXIT_CLEAN

    with (tmp_path / "day1" / "schools.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == MIN_SCHOOLS


def test_the_first_sync_applies_and_the_second_is_held_at_two_schools(tmp_path: Path) -> None:
    main(["sample", str(tmp_path), "--students", "300"])

    assert main(["check", str(tmp_path / "day1")]) == EXIT_CLEAN
    assert main(["snapshot", str(tmp_path / "day1"), str(tmp_path / "accepted")]) == EXIT_CLEAN
    out = tmp_path / "out"
    code = main(
        ["check", str(tmp_path / "day2"), "--previous", str(tmp_path / "accepted"), "--out", str(out)]
    )

    assert code == EXIT_HELD
    holds = json.loads((out / "holds.json").read_text())
    assert {(h["school_id"], h["type"]) for h in holds} == {
        ("SCH0001", "mass_removal"),
        ("SCH0002", "emergency_contacts"),
    }
