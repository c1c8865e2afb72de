"""Masking personal values in whole columns of row issues (the rules: :mod:`rostersync.redact`)."""

from __future__ import annotations

from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.redact import MAX_SHOWN, NOT_AN_ID

# Not rostersync.formats.arrowops.ArrayLike: the formats package imports issues, which imports this.
ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray


def _mask_text(length: ArrayLike) -> ArrayLike:
    text = pc.binary_join_element_wise("a value of ", length.cast(pa.string()), " characters", "")
    out: ArrayLike = pc.if_else(pc.equal(length, 1), pa.scalar("a value of 1 character"), text)
    return out


def masked(values: ArrayLike) -> ArrayLike:
    """The text "a value of N characters" for every value (null stays null)."""
    return _mask_text(pc.utf8_length(values))


def unsafe_values(values: ArrayLike) -> ArrayLike:
    """Per value: true when it does not look like one ID or code (see the module docstring)."""
    long = pc.greater(pc.utf8_length(values), MAX_SHOWN)
    odd = pc.match_substring_regex(values, NOT_AN_ID, ignore_case=True)
    out: ArrayLike = pc.fill_null(pc.or_(long, odd), False)
    return out


def redact_issues(issues: pa.Table) -> pa.Table:
    """``issues`` (the row issue schema) with every value that is not one ID or code masked
    (values of personal columns are masked where the issue is made: cleaning.column_issues)."""
    if issues.num_rows == 0:
        return issues
    values = issues.column("value")
    hide = unsafe_values(values)
    if not pc.any(hide).as_py():
        return issues
    shown = pc.if_else(hide, masked(values), values)
    return issues.set_column(issues.column_names.index("value"), "value", shown)
