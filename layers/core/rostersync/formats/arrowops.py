"""Vectorised Arrow helpers shared by the format readers and validation.

Everything here works on whole columns (Arrow compute kernels, or numpy on index arrays); none of it
loops over rows in Python, so a district of millions of rows costs seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray

EMPTY_STRING = pa.scalar("", pa.string())
NULL_STRING = pa.scalar(None, pa.string())


def as_array(values: ArrayLike) -> pa.Array:
    """One contiguous array (list and struct builders need it)."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def row_numbers(n: int, first: int = 2) -> pa.Array:
    """Spreadsheet row numbers of ``n`` data rows: the header is row 1."""
    return pa.array(np.arange(first, first + n, dtype=np.int64))


# Characters that show as nothing: zero-width spaces and joiners, the soft hyphen, word joiner,
# byte-order mark, and the bidirectional marks, embeddings, overrides and isolates. A copy of an ID
# or a name with one of them looks identical and must read identically.
INVISIBLE = "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"


def _all_ascii(values: ArrayLike) -> bool:
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        data = _string_data(chunk) if len(chunk) else np.zeros(0, dtype=np.uint8)
        if data is None:
            return bool(pc.all(pc.string_is_ascii(values)).as_py() is not False)
        # Bytes behind null slots count too: a false "no" only sends the column down the exact
        # Unicode passes, which leave ASCII text as it is.
        if len(data) and int(data.max()) >= 0x80:
            return False
    return True


def normalise_text(values: ArrayLike) -> tuple[ArrayLike, ArrayLike | None]:
    """Text as compared everywhere: Unicode NFC (a composed "é" and "e" + combining accent are
    one spelling), invisible characters (:data:`INVISIBLE`) removed, surrounding whitespace
    (NBSP included) trimmed, and a value that is then empty made null. Returns the values and,
    when some held invisible characters, a mask of those (else None).

    Plain ASCII columns (most of them) skip the Unicode passes after one cheap check, and a
    chunk in which no value starts or ends with a byte trimming could remove is passed on as it
    is, not copied (:func:`_trim_chunk`)."""
    marks: ArrayLike | None = None
    if len(values) and not _all_ascii(values):
        found = pc.fill_null(pc.match_substring_regex(values, INVISIBLE), False)
        if pc.any(found).as_py():
            marks = found
            values = pc.replace_substring_regex(values, INVISIBLE, "")
        values = pc.utf8_normalize(values, form="NFC")
    if isinstance(values, pa.ChunkedArray):
        return pa.chunked_array([_trim_chunk(c) for c in values.chunks], values.type), marks
    return _trim_chunk(values), marks


def clean(values: ArrayLike) -> ArrayLike:
    """:func:`normalise_text` without the marks."""
    return normalise_text(values)[0]


def null_where(values: ArrayLike, mask: ArrayLike) -> ArrayLike:
    """``values`` with the entries under ``mask`` (null counts as false) set to null."""
    out: ArrayLike = pc.if_else(pc.fill_null(mask, False), pa.scalar(None, values.type), values)
    return out


def column_or_nulls(table: pa.Table, column: str) -> ArrayLike:
    """The table's ``column``, or a string column of nulls when the file did not send it."""
    if column in table.column_names:
        out: ArrayLike = table.column(column)
        return out
    return pa.nulls(table.num_rows, pa.string())


@dataclass(frozen=True)
class Codes:
    """A column as dense integer codes: ``codes[i]`` indexes ``dictionary`` (-1 for null).

    Codes are numbered in order of first appearance, which makes "first row of each value" and
    "values used more than once" plain numpy operations on integers. When the column was encoded
    with a ``known`` value set (see :func:`encode`), those values were numbered first: the first
    ``known`` codes are theirs, ``known_codes`` holds the code of each of them (in the set's
    order), and ``ordered`` is False (codes then no longer follow the column's own order).
    Codes are int32 (Arrow's dictionary indices, shared without a copy where possible): treat
    them as read-only.
    """

    codes: np.ndarray
    dictionary: pa.Array
    known: int = 0
    known_set: ArrayLike | None = None
    ordered: bool = True
    known_codes: np.ndarray | None = None

    def member_of(self, value_set: ArrayLike) -> np.ndarray:
        """Boolean per row: the value is in ``value_set`` (null rows: False). Free when
        ``value_set`` is the set the column was encoded with; otherwise looks up each distinct
        value once, not each row."""
        if self.known_set is not None and value_set is self.known_set:
            out: np.ndarray = (self.codes >= 0) & (self.codes < self.known)
            return out
        found = pc.is_in(self.dictionary, value_set=as_array(value_set))
        lookup_table = np.append(found.to_numpy(zero_copy_only=False).astype(bool), False)
        out = lookup_table[self.codes]  # code -1 picks the appended False
        return out

    def member_where(self, chosen: np.ndarray) -> np.ndarray:
        """Boolean per row: the value is one of the known values that ``chosen`` (a mask over
        the known set the column was encoded with) picks; null rows: False. No hashing: the
        known values already have their codes, so this is two numpy lookups.

        Validation encodes a reference column with every key of the entity it names, before
        knowing which of those records will be kept, then asks with the kept rows' mask."""
        if self.known_codes is None:
            raise ValueError("member_where needs codes encoded with a known set")
        lookup_table = np.zeros(len(self.dictionary) + 1, dtype=bool)
        picked = self.known_codes[chosen]
        lookup_table[picked[picked >= 0]] = True
        out: np.ndarray = lookup_table[self.codes]  # code -1 picks the last entry, always False
        return out

    def repeated(self) -> np.ndarray:
        """Boolean per row: this (non-null) value occurs on more than one row."""
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.dictionary))
        out: np.ndarray = np.append(counts > 1, False)[self.codes]
        return out


# Columns shorter than this are hashed row by row: finding runs would not pay.
RUN_MIN_ROWS = 65_536
RUN_SAMPLE_ROWS = 4_096


def _run_starts(values: ArrayLike) -> np.ndarray | None:
    """Boolean per row: the row starts a run of equal values (a null row always does); None when
    most rows start one, as a first sample shows or the whole column then does (hashing every
    row then costs less than finding the runs). Files are often grouped by a key (enrollments by
    student), and comparing neighbours is far cheaper than hashing every row."""
    n = len(values)
    if n < RUN_MIN_ROWS:
        return None
    for rows in (RUN_SAMPLE_ROWS, n):
        sample = values.slice(0, rows)
        same = pc.fill_null(pc.equal(sample.slice(1), sample.slice(0, rows - 1)), False)
        starts = np.ones(rows, dtype=bool)
        starts[1:] = ~same.to_numpy(zero_copy_only=False)
        if np.count_nonzero(starts) * 2 > rows:
            return None
    return starts


def _chunk_codes(chunk: pa.DictionaryArray) -> np.ndarray:
    """A dictionary chunk's indices as int32, -1 for null (no copy when it holds no null)."""
    indices = chunk.indices
    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    out: np.ndarray = indices.to_numpy(zero_copy_only=False)
    return out


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)


def _split_codes(encoded: pa.ChunkedArray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes of the first ``count`` values, codes of the rest) of a dictionary-encoded column.
    Encoding keeps the input's chunk boundaries (dropping empty chunks), so the known prefix
    ends on a chunk boundary."""
    head: list[np.ndarray] = []
    rest: list[np.ndarray] = []
    seen = 0
    for chunk in encoded.chunks:
        (head if seen < count else rest).append(_chunk_codes(chunk))
        seen += len(chunk)
    return _joined(head), _joined(rest)


def encode(values: ArrayLike, known: ArrayLike | None = None) -> Codes:
    """Dictionary-encode a column (one hash pass, chunk by chunk) into :class:`Codes`.

    ``known`` (such as the keys a reference must name) is encoded first in the same pass, so
    membership in it costs nothing more: a row's value is one of them exactly when its code is
    below :attr:`Codes.known` (:meth:`Codes.member_of` with that same array), and one of a chosen
    subset of them by :meth:`Codes.member_where`. A column made of runs of equal values hashes
    only the first row of each run.
    """
    starts = _run_starts(values)
    body = values if starts is None else values.filter(pa.array(starts))
    chunks = list(body.chunks) if isinstance(body, pa.ChunkedArray) else [body]
    prefix: list[pa.Array] = []
    if known is not None and len(known):
        cast = known if known.type == values.type else known.cast(values.type)
        prefix = list(cast.chunks) if isinstance(cast, pa.ChunkedArray) else [cast]
    encoded = pc.dictionary_encode(pa.chunked_array(prefix + chunks, type=values.type))
    # The dictionary only grows from chunk to chunk: the longest one holds every code.
    dictionaries = [chunk.dictionary for chunk in encoded.chunks]
    dictionary = max(dictionaries, key=len) if dictionaries else pa.array([], values.type)
    count = sum(len(part) for part in prefix)
    known_codes, codes = _split_codes(encoded, count)
    # The prefix has codes 0 .. distinct - 1 (-1 for a null among them).
    known_count = int(known_codes.max()) + 1 if count else 0
    if starts is not None:
        heads = np.flatnonzero(starts)
        codes = np.repeat(codes, np.diff(heads, append=len(starts)))
    if not prefix:
        return Codes(codes, dictionary)
    return Codes(codes, dictionary, known_count, known, ordered=False, known_codes=known_codes)


def _sortedness(codes: np.ndarray) -> int:
    """How many neighbouring rows are in ascending code order."""
    return int(np.count_nonzero(codes[1:] >= codes[:-1]))


def combine_codes(parts: Sequence[Codes]) -> np.ndarray:
    """One int64 per row identifying its composite key; -1 if any part is null.

    The part whose codes are most in row order leads, so a file grouped by one key column (say
    enrollments by student) gives codes that are nearly sorted already, which the stable sort of
    :func:`first_mask` runs through in close to one pass. One int64 array is built and updated in
    place (a fresh array per step would be faulted in again each time)."""
    ranked = sorted(parts, key=lambda part: _sortedness(part.codes), reverse=True)
    if len(ranked) == 1:
        return ranked[0].codes
    combined = ranked[0].codes.astype(np.int64)
    for part in ranked[1:]:
        size = max(len(part.dictionary), 1)
        null = combined < 0
        null |= part.codes < 0
        if combined.max(initial=0) >= np.iinfo(np.int64).max // size - 1:
            # Re-number densely before the product could overflow.
            combined = np.unique(combined, return_inverse=True)[1].astype(np.int64)
        combined *= size
        combined += part.codes
        combined[null] = -1
    return combined


def repeated_mask(codes: np.ndarray) -> np.ndarray:
    """Boolean per row: its (non-null) code occurs on more than one row."""
    valid = codes >= 0
    _, inverse, counts = np.unique(codes[valid], return_inverse=True, return_counts=True)
    out = np.zeros(len(codes), dtype=bool)
    out[valid] = counts[inverse] > 1
    return out


def _repeats_after_first(codes: np.ndarray, first: np.ndarray) -> None:
    """Clear ``first`` on every row whose (non-null) code an earlier row has."""
    valid = codes >= 0
    present = None if valid.all() else np.flatnonzero(valid)  # no copy when nothing is null
    values = codes if present is None else codes[present]
    # Stable (a merge sort) runs through codes already in near order in about one pass.
    ranked = np.sort(values, kind="stable")
    again = ranked[1:] == ranked[:-1]
    repeats = int(np.count_nonzero(again))
    if repeats == 0:
        return
    if repeats * 20 < len(values):
        # A handful of repeats: order only the rows that share a code.
        shared = pa.array(np.unique(ranked[1:][again]))
        suspects = np.flatnonzero(pc.is_in(pa.array(values), value_set=shared).to_numpy(zero_copy_only=False))
        if present is not None:
            suspects = present[suspects]
        order = suspects[np.argsort(codes[suspects], kind="stable")]
        sorted_codes = codes[order]
        first[order[1:][sorted_codes[1:] == sorted_codes[:-1]]] = False
    else:
        # Repeats are the norm: one stable sort finds each code's first row.
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        later = np.empty(len(values), dtype=bool)
        later[0] = False
        later[1:] = sorted_values[1:] == sorted_values[:-1]
        first[(order if present is None else present[order])[later]] = False


def first_mask(codes: np.ndarray, ordered: bool = False) -> np.ndarray:
    """Boolean per row: first occurrence of its code (null codes, -1, always count as first).

    ``ordered`` says codes are numbered in order of first appearance (as :func:`encode` does):
    then a first occurrence is simply a new running maximum.
    """
    n = len(codes)
    first = np.ones(n, dtype=bool)
    if n == 0:
        return first
    if ordered:
        running = np.maximum.accumulate(codes)
        first[1:] = codes[1:] > running[:-1]
    else:
        _repeats_after_first(codes, first)
    first |= codes < 0
    return first


def first_rows(table: pa.Table, keys: Sequence[str]) -> pa.Array:
    """Sorted indices of the first row of each distinct key.

    Rows with a null key part are all kept: they are not repeats of each other, they are rows
    validation will reject for the missing value.
    """
    if len(keys) == 1:
        mask = first_mask(encode(table.column(keys[0])).codes, ordered=True)
    else:
        mask = first_mask(combine_codes([encode(table.column(key)) for key in keys]))
    return pa.array(np.flatnonzero(mask).astype(np.int64))


def take_first_rows(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """``table`` without the repeats of a key (the first row of each key is kept)."""
    if table.num_rows == 0:
        return table
    return table.take(first_rows(table, keys))


def lookup(keys: ArrayLike, key_values: ArrayLike, values: ArrayLike) -> ArrayLike:
    """For each of ``keys``, the entry of ``values`` at the position of that key in
    ``key_values`` (first occurrence), or null when the key is absent."""
    positions = pc.index_in(keys, value_set=as_array(key_values))
    out: ArrayLike = pc.take(values, positions)
    return out


def split_list(values: ArrayLike, sep: str = ",") -> pa.Array:
    """A quoted comma list ("s1, s2") as a list of trimmed, non-empty items (null -> [])."""
    arr = as_array(values)
    parts = pc.split_pattern(arr, sep)  # a null value has no items
    parents = pc.list_parent_indices(parts)
    items = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    keep = pc.not_equal(items, EMPTY_STRING)
    return build_lists(pc.filter(parents, keep), pc.filter(items, keep), len(arr))


def build_lists(parents: ArrayLike, values: ArrayLike, n: int) -> pa.Array:
    """A list array of ``n`` rows: row i holds the ``values`` whose parent index is i, in their
    original order (stable)."""
    parent_np = as_array(parents).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    order = np.argsort(parent_np, kind="stable")
    counts = np.bincount(parent_np, minlength=n) if len(parent_np) else np.zeros(n, np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    ordered = pc.take(as_array(values), pa.array(order))
    return pa.ListArray.from_arrays(pa.array(offsets), ordered)


def lists_from_columns(columns: Sequence[ArrayLike], labels: Sequence[str]) -> tuple[pa.Array, pa.Array]:
    """Row-wise lists of the non-null values of ``columns`` (in column order), and aligned lists
    naming the column (``labels``) each value came from."""
    n = len(columns[0])
    k = len(columns)
    stacked = pa.concat_arrays([as_array(c) for c in columns])
    # Column-major -> row-major positions: row r, column j is at j * n + r.
    order = (np.arange(k, dtype=np.int64) * n)[None, :] + np.arange(n, dtype=np.int64)[:, None]
    row_major = pc.take(stacked, pa.array(order.ravel()))
    valid = pc.is_valid(row_major).to_numpy(zero_copy_only=False)
    parents = np.repeat(np.arange(n, dtype=np.int64), k)[valid]
    label_values = pa.array(np.tile(np.asarray(labels, dtype=object), n)[valid], pa.string())
    values = pc.filter(row_major, pa.array(valid))
    return build_lists(pa.array(parents), values, n), build_lists(pa.array(parents), label_values, n)


def explode(lists: ArrayLike) -> tuple[pa.Array, pa.Array]:
    """(parent row index, item) for every item of a list column."""
    arr = as_array(lists)
    return pc.list_parent_indices(arr).cast(pa.int64()), pc.list_flatten(arr)


def filter_lists(lists: ArrayLike, keep: ArrayLike) -> pa.Array:
    """``lists`` with only the items where the flat mask ``keep`` is true."""
    arr = as_array(lists)
    parents, items = explode(arr)
    keep = pc.fill_null(keep, False)
    return build_lists(pc.filter(parents, keep), pc.filter(items, keep), len(arr))


def first_item(lists: ArrayLike) -> ArrayLike:
    """The first item of each list, or null for an empty list."""
    arr = as_array(lists)
    lengths = pc.list_value_length(arr)
    has = pc.greater(pc.fill_null(lengths, 0), 0)
    safe = pc.if_else(has, arr, pa.scalar([None], arr.type))
    out: ArrayLike = pc.list_element(safe, 0)
    return out


def scatter(parents: ArrayLike | np.ndarray, values: ArrayLike, n: int) -> ArrayLike:
    """An ``n``-row column holding ``values[i]`` at row ``parents[i]`` (parents are distinct) and
    null elsewhere."""
    positions = np.full(n, -1, dtype=np.int64)
    if isinstance(parents, np.ndarray):
        parent_np = parents.astype(np.int64, copy=False)
    else:
        parent_np = as_array(parents).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    positions[parent_np] = np.arange(len(parent_np), dtype=np.int64)
    out: ArrayLike = pc.take(values, pa.array(positions, mask=positions < 0))
    return out


def _string_data(chunk: pa.Array) -> np.ndarray | None:
    """The UTF-8 bytes of a ``string`` chunk's values (null slots included), zero-copy; None for
    other string layouts."""
    if not pa.types.is_string(chunk.type):
        return None
    offsets_buffer, data_buffer = chunk.buffers()[1:3]
    if data_buffer is None:
        return np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)
    start, end = int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)])
    return np.frombuffer(data_buffer, dtype=np.uint8)[start:end]


def _value_bytes(values: ArrayLike) -> Iterator[np.ndarray | None]:
    """The data buffer bytes of each chunk of a string column that holds a non-null value (None
    for a chunk whose bytes cannot be read as one buffer: large or view strings)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        if len(chunk) and chunk.null_count < len(chunk):
            yield _string_data(chunk)


def may_hold_controls(values: ArrayLike, allowed: Sequence[int] = ()) -> bool:
    """Whether any value of a string column may hold a C0 control character or DEL (bytes 0x00 to
    0x1f and 0x7f) other than those in ``allowed``.

    Two vectorised comparisons over the column's data buffers, many times faster than a regular
    expression over every value. In UTF-8 a byte below 0x80 is always that ASCII character, so
    False is exact: no value holds one. True may also come from bytes behind null slots, so the
    caller then finds the rows with the exact kernel.
    """
    for data in _value_bytes(values):
        if data is None:
            return True  # large or view strings: the caller's kernel decides
        if (data == 0x7F).any():
            return True
        low = data[data < 0x20]
        if len(low) and not np.isin(low, np.array(allowed, dtype=np.uint8)).all():
            return True
    return False


def free_of_controls(values: ArrayLike) -> bool:
    """True when no value of a string column holds a C0 control character or DEL: every byte of
    its data buffers is 0x20 or above and, as no byte is above 0x7e, none is 0x7f. Two reductions
    per chunk (min and max) with no temporary arrays, cheaper than :func:`may_hold_controls`;
    False only says that function must look closer (non-ASCII text, bytes behind null slots)."""
    for data in _value_bytes(values):
        if data is None:
            return False
        if len(data) and (int(data.min()) < 0x20 or int(data.max()) >= 0x7F):
            return False
    return True


def _trim_chunk(chunk: pa.Array) -> pa.Array:
    """One chunk trimmed, and values then empty made null (:func:`normalise_text`).

    The first and last byte of every value are read from the offsets and data buffers; when
    none of them could be whitespace the trimming kernel (a copy of the whole chunk) is skipped.
    The bytes looked at may include some of neighbouring or null values: that can only send a
    chunk to the exact kernel, never let surrounding whitespace through."""
    if len(chunk) == 0 or chunk.null_count == len(chunk):
        return chunk
    data = _string_data(chunk)
    if data is None or _may_need_trim(chunk, data):
        trimmed: pa.Array = pc.utf8_trim_whitespace(chunk)
        # The reader already turns "" into null, so only whitespace-only cells are left to
        # catch; test cheaply before paying for a second pass.
        if pc.min(pc.binary_length(trimmed)).as_py() == 0:
            trimmed = pc.if_else(pc.equal(trimmed, EMPTY_STRING), NULL_STRING, trimmed)
        return trimmed
    if _has_empty(chunk):
        out: pa.Array = pc.if_else(pc.equal(chunk, EMPTY_STRING), NULL_STRING, chunk)
        return out
    return chunk


def _offsets(chunk: pa.Array) -> np.ndarray:
    """The chunk's ``len + 1`` value offsets, relative to its first value's bytes."""
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    relative: np.ndarray = offsets - offsets[0]
    return relative


def _may_need_trim(chunk: pa.Array, data: np.ndarray) -> bool:
    # One pass over the bytes (most ID columns hold no space at all), then only if need be the
    # first and last byte of each value.
    if not _may_trim(data):
        return False
    offsets = _offsets(chunk)
    firsts = np.take(data, offsets[:-1], mode="clip")
    lasts = np.take(data, offsets[1:] - 1, mode="clip")
    return _may_trim(firsts) or _may_trim(lasts)


_SCAN = 1 << 20  # bytes per step of _may_trim


def _may_trim(bytes_: np.ndarray) -> bool:
    """Whether any of these bytes could be trimmed whitespace: ASCII whitespace and the controls
    below it (0x00-0x20), or a byte of a non-ASCII character (NBSP, U+2028, U+3000...). Printable
    ASCII, 0x21-0x7f, is the one range that wraps below 0x5f once 0x21 is taken off.

    Scanned 1 MiB at a time through two buffers used again at each step: two temporaries the
    size of a column's bytes (tens of MB, each page a fault when first touched) made the scan
    ~3x slower."""
    if not len(bytes_):
        return False
    step = min(len(bytes_), _SCAN)
    shifted = np.empty(step, dtype=np.uint8)
    found = np.empty(step, dtype=bool)
    for start in range(0, len(bytes_), step):
        piece = bytes_[start : start + step]
        n = len(piece)
        np.subtract(piece, np.uint8(0x21), out=shifted[:n])
        if np.greater_equal(shifted[:n], np.uint8(0x5F), out=found[:n]).any():
            return True
    return False


def _has_empty(chunk: pa.Array) -> bool:
    """Whether a (non-null) value of a ``string`` chunk is the empty string."""
    offsets = _offsets(chunk)
    empty = offsets[1:] == offsets[:-1]
    if not empty.any():
        return False
    validity = chunk.buffers()[0]
    if validity is not None and chunk.null_count:
        bits = np.unpackbits(
            np.frombuffer(validity, dtype=np.uint8), count=chunk.offset + len(chunk), bitorder="little"
        )
        empty &= bits[chunk.offset :].astype(bool)
    return bool(empty.any())


def _may_hold_whitespace(values: pa.Array) -> bool:
    """Whether any value of a string column may hold whitespace: a byte up to 0x20 (the ASCII
    spaces and controls) or a non-ASCII byte (Unicode spaces). False is exact."""
    data = _string_data(values)
    if data is None:
        return True
    return bool(len(data)) and _may_trim(data)


def split_items(values: ArrayLike, sep: str = ",") -> tuple[np.ndarray, pa.Array]:
    """``explode(split_list(values))`` without building the lists: (row of each item, item), the
    items trimmed and non-empty, in row order. The trim pass is skipped when no value holds a
    byte that could be whitespace."""
    arr = as_array(values)
    parts = pc.split_pattern(arr, sep)  # a null value has no items
    parents = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    items = as_array(pc.list_flatten(parts))
    if _may_hold_whitespace(arr):
        items = as_array(pc.utf8_trim_whitespace(items))
    keep = pc.not_equal(items, EMPTY_STRING)
    if pc.all(keep).as_py() is not False:
        return parents, items
    keep_np = keep.to_numpy(zero_copy_only=False)
    return parents[keep_np], items.filter(keep)


def map_distinct(values: ArrayLike, mapping: Callable[[pa.Array], ArrayLike]) -> ArrayLike:
    """``mapping(values)`` computed once per distinct value (nulls included) and looked up per
    row: for a long column of few values, e.g. the org of six million enrollments. ``mapping``
    must map each value independently of the others."""
    return map_distinct_each(values, [mapping])[0]


def map_distinct_each(
    values: ArrayLike, mappings: Sequence[Callable[[pa.Array], ArrayLike]]
) -> list[ArrayLike]:
    """:func:`map_distinct` of several mappings over one encoding of ``values``. A mapping that
    maps every distinct value to itself returns ``values`` as they are, without a copy."""
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks or any(not c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]):
        return [mapping(as_array(values)) for mapping in mappings]
    out: list[ArrayLike] = []
    for mapping in mappings:
        mapped = as_array(mapping(chunks[0].dictionary))
        if mapped.equals(chunks[0].dictionary):
            out.append(values)  # every value maps to itself (e.g. orgs that are schools)
            continue
        taken = [pc.take(mapped, c.indices) for c in chunks]
        out.append(pa.chunked_array(taken, mapped.type) if isinstance(encoded, pa.ChunkedArray) else taken[0])
    return out


def composite_first_mask(parts: Sequence[Codes]) -> np.ndarray:
    """``first_mask(combine_codes(parts))``, without a sorted copy of the combined codes in the
    usual case where no key repeats: the combined array (built for this call alone) is sorted in
    place to find out, and built again only when there are repeats to locate. A sorted copy of
    millions of int64 is a fresh allocation whose pages cost more to fault in than the sort."""
    combined = combine_codes(parts)
    if len(parts) < 2:
        return first_mask(combined)
    valid = combined >= 0
    ranked = combined if valid.all() else combined[valid]
    ranked.sort(kind="stable")  # in place: combined is ours
    if not np.any(ranked[1:] == ranked[:-1]):
        return np.ones(len(combined), dtype=bool)
    return first_mask(combine_codes(parts))
