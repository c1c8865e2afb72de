"""What a district admin downloads: the CSV of changes (gzip-compressed as well on a first sync)
and the CSV of row errors.

The rows are built with vectorised Arrow kernels (:mod:`rostersync.changerows`, in the order
:mod:`rostersync.changeblocks` plans) and written with
:func:`pyarrow.csv.write_csv`. Every cell that holds the district's own text is neutralised
against spreadsheet formula injection first (OWASP "CSV injection": a cell starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``), and the header row is
readable. Files start with a UTF-8 byte-order mark by default so that Excel shows accented names
correctly.

The changes of a sync are written in blocks of whole schools rendered on threads (Arrow releases
the GIL) and written in order as they are ready: a first sync adds every record of a district
(9M rows at 600k students), and its full list is written in a few seconds without ever holding
its whole text.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import isal_zlib
from numpy.typing import NDArray

from rostersync import changeblocks
from rostersync.changeblocks import changes_table  # imported from here too
from rostersync.changerows import (  # display_key: imported from here too
    CHANGES_SCHEMA,
    SOURCE_TEXT_COLUMNS,
    display_key,
)
from rostersync.changes import ChangeSet
from rostersync.issues import ISSUE_SCHEMA

__all__ = [
    "CHANGES_SCHEMA",
    "changes_table",
    "display_key",
    "neutralize",
    "write_changes_csv",
    "write_changes_csv_gz",
    "write_changes_summary_csv",
    "write_errors_csv",
]

BOM = "\ufeff".encode()

# Each a single byte in UTF-8 (and never part of a longer character), so the first byte tells.
FORMULA_STARTS = b"=+-@\t\r"
_STARTS_FORMULA = np.zeros(256, dtype=bool)
_STARTS_FORMULA[list(FORMULA_STARTS)] = True

CHANGES_HEADERS = {
    "entity": "Record type",
    "school_id": "School ID",
    "id": "ID",
    "change": "Change",
    "changed_fields": "Changed fields",
    "old_values": "Old values",
    "new_values": "New values",
}

# A first sync's changes.csv: per entity and school, the counts of rostersync.summary.summarize.
SUMMARY_HEADERS = {
    "entity": "Record type",
    "school_id": "School ID",
    "baseline": "Before",
    "staged": "After",
    "added": "Added",
    "removed": "Removed",
    "changed": "Changed",
    "id_changed": "Re-keyed",
}
# The full list of a first sync (830 MiB of CSV at 600k students) is compressed by ISA-L (the
# isal package: zlib-compatible deflate, ~1.2 GB/s a core at its level 1 against ~0.3 GB/s for
# zlib's fastest level on a changes CSV, and a smaller file) as one ordinary gzip stream (wbits 31: the gzip
# header and trailer, modification time 0).
GZIP_LEVEL = 1
GZIP_WBITS = 31

ERRORS_HEADERS = {
    "severity": "Severity",
    "file": "File",
    "row": "Row",
    "column": "Column",
    "value": "Value",
    "message": "Message",
}


Sink: TypeAlias = "str | Path | IO[Any] | pa.NativeFile"


# -- neutralising --------------------------------------------------------------------------------


def neutralize(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Prefix ``'`` to every string cell that a spreadsheet could read as a formula.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are changed (so
    ``-5`` becomes ``'-5``); everything else, nulls included, is returned unchanged. Non-string
    arrays are returned as they are.
    """
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    masks = [_formula_rows(chunk) for chunk in chunks]
    if not any(mask.any() for mask in masks):  # most columns: no copy at all
        return array
    dangerous: pa.Array | pa.ChunkedArray = pa.array(masks[0])
    if isinstance(array, pa.ChunkedArray):
        dangerous = pa.chunked_array([pa.array(mask) for mask in masks], pa.bool_())
    quoted = pc.binary_join_element_wise(pa.scalar("'", array.type), array, pa.scalar("", array.type))
    return pc.if_else(dangerous, quoted, array)


def _formula_rows(strings: pa.Array) -> NDArray[np.bool_]:
    """Where a string array's values start with a formula byte, read from its buffers: the byte
    at each value's start offset (a null's bytes may be anything: quoting a null leaves it null)."""
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    _validity, offsets_buffer, data_buffer = strings.buffers()
    if offsets_buffer is None or data_buffer is None or data_buffer.size == 0:
        return np.zeros(len(strings), dtype=np.bool_)
    offsets = np.frombuffer(offsets_buffer, dtype=width)[strings.offset : strings.offset + len(strings) + 1]
    starts = offsets[:-1]
    filled: NDArray[np.bool_] = np.greater(offsets[1:], starts)
    first = np.frombuffer(data_buffer, dtype=np.uint8)[np.where(filled, starts, 0)]
    found: NDArray[np.bool_] = np.logical_and(_STARTS_FORMULA[first], filled)
    return found


def neutralize_table(table: pa.Table, columns: tuple[str, ...] | None = None) -> pa.Table:
    """``table`` with its string ``columns`` (None: every string column) neutralised."""
    names = table.column_names if columns is None else columns
    out = [
        neutralize(table.column(i)) if n in names else table.column(i)
        for i, n in enumerate(table.column_names)
    ]
    return pa.Table.from_arrays(out, schema=table.schema)


# -- writing -------------------------------------------------------------------------------------


def _write(table: pa.Table, headers: dict[str, str], sink: Sink, *, bom: bool) -> None:
    table = neutralize_table(table).rename_columns([headers.get(n, n) for n in table.column_names])
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(table, buffer)
    _write_pieces(sink, iter([buffer.getvalue()]), bom=bom)


def _write_pieces(sink: Sink, pieces: Iterator[pa.Buffer | bytes], *, bom: bool) -> None:
    """Write ``pieces`` of UTF-8 CSV text (each whole rows) to a path, a text or binary file
    object, or a NativeFile, after a BOM when ``bom``."""
    if isinstance(sink, str | Path):
        with open(sink, "wb") as handle:
            _write_pieces(handle, pieces, bom=bom)
        return
    text = isinstance(sink, io.TextIOBase)
    if bom:
        sink.write(BOM.decode("utf-8") if text else BOM)
    for piece in pieces:
        sink.write(memoryview(piece).tobytes().decode("utf-8") if text else piece)


def _changes_header() -> pa.Buffer:
    """The header row of the changes CSV, as :func:`pyarrow.csv.write_csv` writes it."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(CHANGES_SCHEMA.empty_table().rename_columns(list(CHANGES_HEADERS.values())), buffer)
    return buffer.getvalue()


def _block_csv(render: Callable[[], pa.Table]) -> pa.Buffer:
    """One block of changes rendered (:func:`rostersync.changeblocks.render_block`) and written as
    CSV rows without a header. Only the school and ID cells hold the district's text: the other
    columns start with an entity, change or field name, so they never need neutralising."""
    table = neutralize_table(render(), SOURCE_TEXT_COLUMNS).rename_columns(list(CHANGES_HEADERS.values()))
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def _changes_pieces(changes: ChangeSet, threads: int | None) -> Iterator[pa.Buffer]:
    """The CSV text of every change of ``changes``, header first, in order: blocks rendered
    ``threads`` at a time (None: one a core) with as many more queued, so at most twice that
    many blocks of text are held while the caller writes the oldest; the next entity is planned
    on a thread of its own meanwhile, so the renderers never wait for it."""
    yield _changes_header()
    workers = max(1, threads if threads is not None else pa.cpu_count())
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="changes") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="changes-plan") as planner,
    ):
        pending: deque[Future[pa.Buffer]] = deque()
        for render in changeblocks.entity_tasks(changes, planner=planner):
            pending.append(pool.submit(_block_csv, render))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_changes_csv(
    changes: ChangeSet | pa.Table, sink: Sink, *, bom: bool = True, threads: int | None = None
) -> None:
    """Write the CSV of changes (from a ChangeSet, or a table made by
    :func:`rostersync.changeblocks.changes_table`).

    ``sink`` is a path, a binary or text file object, or a pyarrow NativeFile; ``threads``: how
    many render the rows (None: one a core).
    """
    if isinstance(changes, pa.Table):
        _write(changes, CHANGES_HEADERS, sink, bom=bom)
    else:
        _write_pieces(sink, _changes_pieces(changes, threads), bom=bom)


def write_changes_csv_gz(changes: ChangeSet, sink: IO[bytes], *, threads: int | None = None) -> None:
    """Write the full CSV of changes gzip-compressed (once decompressed, exactly the bytes of
    :func:`write_changes_csv`: the same BOM, header and rows): what a first sync offers beside
    its per-school summary, since a first sync adds every record of the district. One gzip
    member, compressed on this thread while ``threads`` others (None: one a core) render the rows."""
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, GZIP_WBITS)
    sink.write(compressor.compress(BOM))
    for piece in _changes_pieces(changes, threads):
        sink.write(compressor.compress(piece))
    sink.write(compressor.flush())


def write_changes_summary_csv(summary: pa.Table, sink: Sink, *, bom: bool = True) -> None:
    """Write per entity and school counts (a :func:`rostersync.summary.summarize` table): a first
    sync's ``changes.csv``, which would otherwise list every record of the district."""
    _write(summary, SUMMARY_HEADERS, sink, bom=bom)


def write_errors_csv(issues: pa.Table, sink: Sink, *, bom: bool = True) -> None:
    """Write the CSV of row errors and alerts (an :data:`rostersync.issues.ISSUE_SCHEMA` table)."""
    _write(issues.cast(ISSUE_SCHEMA), ERRORS_HEADERS, sink, bom=bom)
