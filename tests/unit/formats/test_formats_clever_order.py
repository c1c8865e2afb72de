"""The Clever reader's shortcut for IDs listed in order gives what hashing the IDs gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from rostersync.formats import read_raw
from rostersync.formats.arrowops import encode
from rostersync.formats.clever import _codes, split_name


@pytest.mark.parametrize(
    "values",
    [
        ["a", "a", "b", "c", "c", "c"],  # sorted: no hashing
        ["b", "b", "a", "c", "a"],  # unsorted: a value comes back after another
        ["a", None, "a", "b"],  # nulls keep their own code, -1
        ["only"],
        [],
    ],
)
def test_codes_number_values_in_order_of_first_appearance(values: list[str | None]) -> None:
    column = pa.chunked_array([pa.array(values, pa.string())])

    assert _codes(column).tolist() == encode(column).codes.tolist()


def test_sorted_values_across_chunks_get_the_same_codes_as_hashing() -> None:
    column = pa.chunked_array([["S1", "S1", "S2"], ["S2", "S3"]])

    assert _codes(column).tolist() == [0, 0, 1, 1, 2]


def test_names_with_and_without_gaps_split_alike() -> None:
    full = pa.array(["Maria Rivera", "Rivera, Jorge", "Ana"])
    gapped = pa.array(["Maria Rivera", None, "Rivera, Jorge", "Ana"])

    first, last = split_name(full)
    first_gapped, last_gapped = split_name(gapped)

    assert first.to_pylist() == ["Maria", "Jorge", "Ana"]
    assert last.to_pylist() == ["Rivera", "Rivera", None]
    assert first_gapped.to_pylist() == ["Maria", None, "Jorge", "Ana"]
    assert last_gapped.to_pylist() == ["Rivera", None, "Rivera", None]


def _rows(directory: Path) -> dict[str, list[dict[str, object]]]:
    raw = read_raw(directory)
    return {
        name: sorted(raw.table(name).drop_columns(["_row"]).to_pylist(), key=repr)
        for name in ("students", "contacts", "contact_links")
    }


def test_students_sorted_or_not_give_the_same_records(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    students = directory / "students.csv"
    header, *rows = students.read_text(encoding="utf-8").splitlines()
    ordered = sorted(rows, key=lambda row: row.split(",")[1])
    students.write_text("\n".join([header, *ordered]) + "\n", encoding="utf-8")
    sorted_rows = _rows(directory)
    students.write_text("\n".join([header, *reversed(ordered)]) + "\n", encoding="utf-8")
    reversed_rows = _rows(directory)

    assert [r["person_id"] for r in sorted_rows["students"]] == [
        r["person_id"] for r in reversed_rows["students"]
    ]
    assert sorted_rows["contact_links"] == reversed_rows["contact_links"]
    assert {r["person_id"] for r in sorted_rows["contacts"]} == {
        r["person_id"] for r in reversed_rows["contacts"]
    }
