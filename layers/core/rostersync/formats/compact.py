"""Columns held compactly as they are read: blank ones on untouched pages, categorical ones
dictionary-encoded (``FileSpec.categorical``), cleaned like any other and decoded where a table
needs plain strings."""

from __future__ import annotations

import mmap

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array, normalise_text


def untouched_nulls(n: int) -> pa.Array:
    """``n`` null strings whose validity and offsets are pages of zeros no one has written.

    A column a file leaves blank everywhere (``status`` in a bulk OneRoster set, ``sms``) would
    otherwise hold ``4 * n`` bytes of zero offsets: 24 MiB for 6M enrollments. An anonymous
    mapping reads as zeros without being given memory, so the column costs nothing until it is
    written to, which an Arrow array never is."""
    zeros = pa.py_buffer(mmap.mmap(-1, 4 * (n + 1)))
    return pa.Array.from_buffers(pa.string(), n, [zeros, zeros, pa.py_buffer(b"")], null_count=n)


def normalise_categories(values: ArrayLike) -> tuple[pa.DictionaryArray, ArrayLike | None]:
    """:func:`normalise_text` of a dictionary-encoded column, done on its few distinct values
    (the chunks' dictionaries unified into one): a value that becomes empty is null in the
    result, and the marks of invisible characters are per row, as for a plain column."""
    column = as_array(values)
    assert isinstance(column, pa.DictionaryArray)
    text, marks = normalise_text(column.dictionary)
    text = as_array(text)
    row_marks = pc.take(marks, column.indices) if marks is not None else None
    if text is column.dictionary:
        return column, row_marks
    indices = column.indices
    if text.null_count:
        emptied = pc.fill_null(pc.take(pc.is_null(text), indices), False)
        indices = pc.if_else(emptied, pa.scalar(None, indices.type), indices)
    return pa.DictionaryArray.from_arrays(indices, text), row_marks


def plain_strings(values: ArrayLike) -> ArrayLike:
    """``values`` as plain strings: a dictionary-encoded column (``FileSpec.categorical``)
    decoded, any other returned as it is."""
    if pa.types.is_dictionary(values.type):
        return values.cast(pa.string())
    return values
