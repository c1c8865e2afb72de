"""Dictionary codes (arrowops.Codes): the integer form of key columns that the duplicate and
reference checks of validation work on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rostersync.formats.arrowops import _run_starts, combine_codes, composite_first_mask, encode, first_mask


def test_codes_are_numbered_in_order_of_first_appearance_across_chunks() -> None:
    codes = encode(pa.chunked_array([["b", None, "a"], [], ["b", "c", "a"]]))

    assert codes.codes.tolist() == [0, -1, 1, 0, 2, 1]
    assert codes.dictionary.to_pylist() == ["b", "a", "c"]
    assert codes.ordered


def test_a_column_encoded_with_a_known_set_tells_membership_from_its_codes() -> None:
    known = pa.array(["k1", "k2", "k3"])
    codes = encode(pa.chunked_array([["k2", "x", None], ["k3", "x"]]), known)

    assert codes.member_of(known).tolist() == [True, False, False, True, False]
    assert not codes.ordered


def test_membership_in_a_known_set_with_repeats_counts_each_value_once() -> None:
    known = pa.array(["k1", "k1", "k2"])
    codes = encode(pa.array(["k2", "k3", "k1"]), known)

    assert codes.known == 2
    assert codes.member_of(known).tolist() == [True, False, True]


def test_membership_in_another_set_is_looked_up() -> None:
    codes = encode(pa.array(["a", "b", None]), pa.array(["a"]))

    assert codes.member_of(pa.array(["b"])).tolist() == [False, True, False]


def test_codes_encoded_with_a_known_set_still_find_first_rows_and_repeats() -> None:
    codes = encode(pa.array(["z", "a", "z", None, None, "a"]), pa.array(["a", "q"]))

    assert first_mask(codes.codes, ordered=codes.ordered).tolist() == [True, True, False, True, True, False]
    assert codes.repeated().tolist() == [True, True, True, False, False, True]


def test_composite_first_rows_keep_the_earliest_row_whatever_the_column_order() -> None:
    section = encode(pa.array(["s2", "s1", "s2", "s1", "s1", None, None]))
    person = encode(pa.array(["p1", "p1", "p1", "p2", "p1", "p1", "p1"]))

    expected = [True, True, False, True, False, True, True]
    assert first_mask(combine_codes([section, person])).tolist() == expected
    assert first_mask(combine_codes([person, section])).tolist() == expected


def test_first_rows_of_many_repeats_in_shuffled_order() -> None:
    rng = np.random.default_rng(7)
    codes = rng.integers(-1, 50, size=2000)

    first = first_mask(codes)

    seen: set[int] = set()
    expected = []
    for code in codes.tolist():
        expected.append(code < 0 or code not in seen)
        seen.add(code)
    assert first.tolist() == expected


def _runs(n_runs: int, seed: int) -> pa.ChunkedArray:
    """A column of runs of equal values (nulls among them), in two chunks that split a run."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, size=n_runs)
    labels = rng.integers(0, n_runs // 2, size=n_runs)
    values = [None if label % 97 == 0 else f"id{label}" for label in np.repeat(labels, lengths).tolist()]
    half = len(values) // 2 + 1
    return pa.chunked_array([values[:half], values[half:]])


def test_a_column_of_runs_gets_the_codes_of_hashing_every_row() -> None:
    column = _runs(20_000, seed=3)
    assert _run_starts(column) is not None  # large and grouped enough for the run path

    codes = encode(column)

    plain = column.combine_chunks().dictionary_encode()
    assert codes.codes.tolist() == plain.indices.fill_null(-1).to_pylist()
    assert codes.dictionary.equals(plain.dictionary)


def test_a_column_of_runs_encoded_with_a_known_set_tells_membership() -> None:
    column = _runs(20_000, seed=5)
    known = pa.array([f"id{i}" for i in range(0, 10_000, 3)])

    codes = encode(column, known)

    expected = pc.fill_null(pc.is_in(column, value_set=known, skip_nulls=True), False)
    assert codes.member_of(known).tolist() == expected.to_pylist()


def test_first_rows_without_nulls_with_few_and_with_many_repeats() -> None:
    few = np.arange(1000, dtype=np.int64)
    few[[500, 900]] = [3, 499]
    many = np.tile(np.arange(10, dtype=np.int64), 50)

    assert np.flatnonzero(~first_mask(few)).tolist() == [500, 900]
    assert np.flatnonzero(first_mask(many)).tolist() == list(range(10))


def test_membership_in_chosen_known_values_needs_only_their_mask() -> None:
    # Known values with a repeat and a null; the column holds known and other values.
    known = pa.array(["k1", "k2", None, "k1", "k3"])
    codes = encode(pa.chunked_array([["k3", "x", None], ["k1", "k2"]]), known)
    chosen = np.array([False, True, True, True, False])  # k1 only at its second row; k2; the null

    assert codes.member_where(chosen).tolist() == [False, False, False, True, True]


def test_membership_in_chosen_values_needs_a_known_set() -> None:
    codes = encode(pa.array(["a"]))

    with pytest.raises(ValueError, match="known set"):
        codes.member_where(np.array([True]))


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("nulls", [False, True])
def test_composite_first_rows_are_those_of_the_combined_codes(repeats: bool, nulls: bool) -> None:
    rng = np.random.default_rng(11)
    n = 5000
    people = np.repeat(np.arange(n // 10), 10)  # grouped, as enrollments by student
    sections = rng.permutation(n) % 700 if repeats else np.arange(n)
    values = [f"s{s}" for s in sections.tolist()]
    if nulls:
        values[17] = values[4000] = None
    parts = [encode(pa.array([f"p{p}" for p in people.tolist()])), encode(pa.array(values))]

    mask = composite_first_mask(parts)

    assert mask.tolist() == first_mask(combine_codes(parts)).tolist()
    assert bool((~mask).any()) == repeats
