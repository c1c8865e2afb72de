"""Text normalisation as read: trimming, emptied-to-null, and the byte check that skips the copy."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rostersync.formats.arrowops import normalise_text


def _values(column: pa.Array | pa.ChunkedArray) -> list[str | None]:
    return normalise_text(column)[0].to_pylist()


def test_only_the_values_with_surrounding_whitespace_change() -> None:
    column = pa.array(["Ada", " Grace", "Alan\u00a0", None, "Mary Ann", "\tKatherine\r\n"])

    assert _values(column) == ["Ada", "Grace", "Alan", None, "Mary Ann", "Katherine"]


def test_a_whitespace_only_value_becomes_null() -> None:
    assert _values(pa.array(["a", "   ", "\u00a0", "b"])) == ["a", None, None, "b"]


def test_an_empty_value_becomes_null_in_a_column_without_whitespace() -> None:
    assert _values(pa.array(["a", "", None, "b"])) == ["a", None, None, "b"]


def test_a_column_without_surrounding_whitespace_is_not_copied() -> None:
    column = pa.array(["S1001", "Mary Ann", None, "x"])

    out = normalise_text(column)[0]

    assert out.to_pylist() == column.to_pylist()
    assert out.buffers()[2].address == column.buffers()[2].address


def test_only_the_sliced_values_are_looked_at() -> None:
    values = pa.array([" left", "a", "b", "right "])

    assert _values(values.slice(1, 2)) == ["a", "b"]
    assert _values(values.slice(2, 2)) == ["b", "right"]
    assert _values(values.slice(0, 2)) == ["left", "a"]


def test_each_chunk_is_trimmed_on_its_own() -> None:
    column = pa.chunked_array([["clean", "also clean"], ["  padded  ", "plain"], [None, ""]])

    out = normalise_text(column)[0]

    assert out.num_chunks == 3
    assert out.to_pylist() == ["clean", "also clean", "padded", "plain", None, None]


@pytest.mark.parametrize(
    "space", ["\t", "\n", "\r", "\x0b", "\x0c", "\x1c", " ", "\u0085", "\u00a0", "\u2003", "\u2028", "\u3000"]
)
def test_every_space_the_trimming_kernel_knows_is_trimmed(space: str) -> None:
    column = pa.array([f"{space}a{space}", "b"])

    assert normalise_text(column)[0].equals(pc.utf8_trim_whitespace(column))


def test_a_quoted_line_break_inside_a_value_is_kept() -> None:
    assert _values(pa.array(["line one\nline two", "x"])) == ["line one\nline two", "x"]


def test_other_string_layouts_go_through_the_kernel() -> None:
    assert _values(pa.array([" a ", "b"], pa.large_string())) == ["a", "b"]


def test_a_space_past_the_first_mebibyte_of_a_column_is_found() -> None:
    # The byte scan steps through a column 1 MiB at a time: a value padded only near the end of
    # a larger column is still trimmed.
    filler = ["x" * 1000] * 1100
    column = pa.array([*filler, "tail "])

    assert _values(column)[-1] == "tail"
    assert _values(pa.array([*filler, "tail"]))[-1] == "tail"
