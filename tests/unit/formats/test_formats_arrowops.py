"""The byte scan that spares validation a regular expression over every value, and the
columns of nulls that hold no memory."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rostersync.cleaning import STRAY_ALLOWED
from rostersync.formats.arrowops import free_of_controls, may_hold_controls
from rostersync.formats.compact import untouched_nulls
from rostersync.formats.csvio import FileSpec, read_csv


@pytest.mark.parametrize("value", ["nul\x00", "bell\x07", "esc\x1b", "del\x7f", "tab\t", "cr\r"])
def test_a_control_character_is_found(value: str) -> None:
    assert may_hold_controls(pa.chunked_array([["plain", None], ["also plain", value]]))


def test_plain_text_with_non_ascii_letters_holds_none() -> None:
    # The UTF-8 bytes of é, ß, 漢 and an emoji are all 0x80 or above.
    assert not may_hold_controls(pa.array(["José", None, "Straße", "漢字", "🙂", ""]))


def test_tab_and_line_breaks_can_be_allowed() -> None:
    values = pa.array(["line one\r\nline two", "a\tb"])

    assert not may_hold_controls(values, allowed=STRAY_ALLOWED)
    assert may_hold_controls(pa.array(["a\tb\x01"]), allowed=STRAY_ALLOWED)


def test_only_the_sliced_values_are_scanned() -> None:
    values = pa.array(["bad\x00", "good", "worse\x1f"])

    assert not may_hold_controls(values.slice(1, 1))
    assert may_hold_controls(values.slice(1, 2))


def test_other_string_layouts_are_left_to_the_exact_kernel() -> None:
    assert may_hold_controls(pa.array(["plain"], pa.large_string()))


def test_plain_ascii_text_is_free_of_controls() -> None:
    assert free_of_controls(pa.chunked_array([["S1", None, "a b~"], [], ["SEC-1/2"]]))


@pytest.mark.parametrize("value", ["nul\x00", "tab\t", "del\x7f", "José"])
def test_a_control_character_or_non_ascii_text_is_left_to_the_closer_look(value: str) -> None:
    # Non-ASCII bytes are 0x80 or above: the max test cannot rule out a DEL beside them.
    assert not free_of_controls(pa.chunked_array([["plain"], [value]]))


def test_untouched_nulls_are_the_nulls_of_a_string_column_without_arrow_memory() -> None:
    before = pa.total_allocated_bytes()
    column = untouched_nulls(1_000_000)
    assert pa.total_allocated_bytes() == before
    column.validate(full=True)
    assert column.equals(pa.nulls(1_000_000, pa.string()))
    assert pa.concat_arrays([column.slice(999_998), pa.array(["x"])]).to_pylist() == [None, None, "x"]


def test_a_column_left_blank_in_every_row_is_read_as_nulls(tmp_path: Path) -> None:
    path = tmp_path / "enrollments.csv"
    path.write_text("id,status,role\n1,,student\n2,,teacher\n3,,student\n", encoding="utf-8")
    spec = FileSpec("enrollments.csv", columns={"id": "id", "status": "status", "role": "role"})

    read = read_csv(path, spec)

    assert read.file is not None
    assert read.file.table.column("status").to_pylist() == [None, None, None]
    assert read.file.table.column("role").to_pylist() == ["student", "teacher", "student"]
