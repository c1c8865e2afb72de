"""Small vectorised helpers of the synthetic generator and writers (no loop over rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_tools.synthetic.vocab import FEMALE_NAMES, GRADE_CODES, LAST_NAMES, MALE_NAMES, Bools, Ints

# ---------------------------------------------------------------------------------------------
# Small vectorised helpers


def _rng(*seeds: int) -> np.random.Generator:
    if any(s < 0 for s in seeds):
        raise ValueError("seeds must be non-negative integers")
    return np.random.default_rng(np.random.SeedSequence(list(seeds)))


def _strings(values: Sequence[str]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _pick(values: Sequence[str] | pa.Array, idx: npt.ArrayLike) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else _strings(values)
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _weights(weights: Sequence[float]) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


def _choice(rng: np.random.Generator, n: int, weights: Sequence[float]) -> Ints:
    return rng.choice(len(weights), size=n, p=_weights(weights)).astype(np.int64)


def _choice_by_position(rng: np.random.Generator, position: Ints, table: Sequence[Sequence[float]]) -> Ints:
    """Draw a category per row, with weights depending on the row's position (capped)."""
    out = np.zeros(len(position), dtype=np.int64)
    capped = np.minimum(position, len(table) - 1)
    for p, weights in enumerate(table):  # a handful of positions, not rows
        rows = np.flatnonzero(capped == p)
        out[rows] = _choice(rng, len(rows), weights)
    return out


def _digits(numbers: npt.ArrayLike, width: int = 0) -> pa.Array:
    s = pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string())
    return pc.utf8_lpad(s, width=width, padding="0") if width else s


def _ids(prefix: str, numbers: npt.ArrayLike, width: int) -> pa.Array:
    return pc.binary_join_element_wise(prefix, _digits(numbers, width), "")


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _slug(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_lower(values), pattern="[^a-z0-9]", replacement="")


def _within(counts: Ints) -> Ints:
    """For groups of the given sizes laid out one after another: each row's index in its group."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def _offsets(counts: Ints) -> Ints:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _single_lists(values: pa.Array) -> pa.Array:
    offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def _dates(days: npt.ArrayLike) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32)).cast(pa.date32())


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _null_unless(values: pa.Array, keep: Bools) -> pa.Array:
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _phones(rng: np.random.Generator, n: int, area_codes: Sequence[str]) -> pa.Array:
    """Ten-digit US numbers, digits only (the canonical form validation produces)."""
    area = _pick(area_codes, rng.integers(0, len(area_codes), n))
    exchange = _digits(rng.integers(200, 1000, n), 3)
    line = _digits(rng.integers(0, 10000, n), 4)
    return _join(area, exchange, line)


def _dashed(phones: pa.Array | pa.ChunkedArray) -> pa.Array:
    """512-555-0123, as SIS exports print them."""
    part = pc.utf8_slice_codeunits
    return _join(part(phones, 0, 3), part(phones, 3, 6), part(phones, 6, 10), sep="-")


def _first_names(rng: np.random.Generator, female: Bools) -> pa.Array:
    n = len(female)
    f = _pick(FEMALE_NAMES, rng.integers(0, len(FEMALE_NAMES), n))
    m = _pick(MALE_NAMES, rng.integers(0, len(MALE_NAMES), n))
    return pc.if_else(pa.array(female), f, m)


def _last_names(rng: np.random.Generator, n: int) -> pa.Array:
    return _pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n))


def _level_of(codes: pa.Array | pa.ChunkedArray) -> Ints:
    idx = pc.index_in(codes, value_set=_strings(GRADE_CODES))
    return np.asarray(pc.fill_null(idx, 1).to_numpy(zero_copy_only=False), dtype=np.int64) - 1


def _index_of(values: pa.Array | pa.ChunkedArray, value_set: pa.Array | pa.ChunkedArray) -> Ints:
    """Row index in ``value_set`` of each value (-1 where absent)."""
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    idx = pc.fill_null(pc.index_in(values, value_set=value_set), -1)
    return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)


def _col(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()
