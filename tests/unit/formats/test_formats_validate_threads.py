"""Validation on two threads (rostersync.validate schedules rostersync.rowchecks): the result,
issues in their order included, is the same whatever the number of threads, and references are
resolved against the kept rows of the entity they name even when the reader set rows aside."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import FIXTURES, issues, rows_by_key

from rostersync import validate as validation
from rostersync.formats import read_raw
from rostersync.formats.raw import RawRoster

Copy = Callable[[str], Path]
# Fixtures with errors and alerts of most kinds, in each format.
WITH_ISSUES = (
    "clever_messy",
    "oneroster_reference_truth",
    "oneroster_ragged",
    "sds21_basic",
    "values_gaps",
    "values_phones_dates",
    "values_vocabulary",
)


def _run(raw: RawRoster, workers: int) -> validation.LoadResult:
    return validation.validate(raw, workers=workers)


@pytest.mark.parametrize("fixture", WITH_ISSUES)
def test_two_threads_give_the_issues_and_tables_of_one(fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every entity's columns are encoded as tasks of their own, however small the fixture.
    monkeypatch.setattr(validation, "SPLIT_ROWS", 0)
    raw = read_raw(FIXTURES / fixture)

    one, two = _run(raw, 1), _run(raw, 2)

    assert one.issues.num_rows > 0
    assert two.issues.to_pylist() == one.issues.to_pylist()
    assert two.roster.unknown.to_pylist() == one.roster.unknown.to_pylist()
    assert two.roster.tables.keys() == one.roster.tables.keys()
    for name, table in one.roster.tables.items():
        assert two.roster.tables[name].equals(table), name


def test_a_reference_to_a_row_the_reader_set_aside_names_that_row(fixture_copy: Copy) -> None:
    # Given a sections.csv whose first row has a value too many (the reader sets it aside), so
    # that every later section sits one row further in the file than in the table validated
    directory = fixture_copy("clever_basic")
    path = directory / "sections.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    ragged = "S1,SEC9,T1,,,Extra,EX,3,Extra 3,EX-3,1,Math,Fall 2024,08/15/2024,12/20/2024,surplus"
    path.write_text("\n".join([header, ragged, *rows]) + "\n", encoding="utf-8")
    with (directory / "enrollments.csv").open("a", encoding="utf-8") as handle:
        handle.write("S1,SEC9,ST1\n")

    result = validation.validate(read_raw(directory), workers=2)

    # Then the enrollment in the set-aside section is an error naming its row
    [error] = issues(result, severity="error", file="enrollments.csv")
    assert error["value"] == "SEC9"
    assert error["message"] == (
        "Refers to a section that was left out because of the error on row 2 of sections.csv; "
        "the enrollment was left out."
    )
    # And the enrollments in the sections after it still find them
    kept = {(r["section_id"], r["person_id"]) for r in result.roster.tables["enrollments"].to_pylist()}
    assert ("SEC1", "ST1") in kept
    assert "SEC9" not in rows_by_key(result, "sections", "section_id")


@pytest.mark.parametrize(("parallel_rows", "expected"), [(10**9, 1), (0, validation.WORKERS)])
def test_a_second_thread_is_used_only_from_parallel_rows(
    parallel_rows: int, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[int] = []
    run_tasks = validation.run_tasks

    def recording(*args: Any, workers: int, **kwargs: Any) -> Any:
        used.append(workers)
        return run_tasks(*args, workers=workers, **kwargs)

    monkeypatch.setattr(validation, "run_tasks", recording)
    monkeypatch.setattr(validation, "PARALLEL_ROWS", parallel_rows)

    validation.validate(read_raw(FIXTURES / "clever_basic"))

    assert used == [expected]
