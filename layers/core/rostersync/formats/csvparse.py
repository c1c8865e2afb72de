"""The data rows of one CSV file as string columns, and plain words for every way that can fail.

Rows are parsed by pyarrow's multithreaded CSV reader, first with its blocks cut at line breaks
(kept when every line is one row: no value spans lines), else again allowing line breaks in
quoted values (:func:`_one_row_per_line`). Real exports are not always rectangular, so a row
whose field count differs from the header's is not fatal:

- every row has the same other count (a header with trailing empty names, ``a,b,c,,``, over rows
  ``1,2,3``; or a trailing comma on every data row): the file is parsed again at that width, still
  in whole columns;
- counts vary from row to row: the file is parsed with Python's csv module (a slower path taken
  only for such files), and short rows are padded with blanks.

Either way a row with *more* non-blank values than the header has names cannot be matched to its
columns: it is reported as a row error and flagged in :data:`~rostersync.formats.raw.REJECTED_COLUMN`,
so its record becomes unknown instead of the whole set being refused. A file that cannot be read
at all raises :class:`Unreadable`, whose text names the problem and what to do in words a district
admin can act on; no library or Python message is ever passed on.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rostersync.formats.arrowops import ArrayLike, as_array

# Blocks well above pyarrow's 1 MiB default keep per-block overhead low on multi-hundred-MB files
# while leaving enough blocks to parse in parallel (8 MiB measured best on 2 cores).
BLOCK_SIZE = 8 << 20
_CHUNK = 8 << 20
_COUNT_CHUNK = 256 << 10

SAVE_AS_UTF8 = 'Save it as "CSV UTF-8" and send it again'


class Unreadable(Exception):
    """The file cannot be read; ``str(error)`` is the reason in plain words."""


@dataclass
class Rows:
    """Data rows: raw string columns by internal name, and the rows with too many values."""

    columns: dict[str, ArrayLike]
    num_rows: int
    # Per row: more non-blank values than the header has columns (None: no such row).
    too_long: np.ndarray | None = None
    # For rows flagged in ``too_long``: how many values the row has and its first extra value.
    too_long_counts: list[int] | None = None
    too_long_values: list[str] | None = None


def _not_utf8(path: Path) -> str:
    """Which row holds the first byte that is not UTF-8 (read only after a decoding failure)."""
    line = 1
    with path.open("rb") as handle:
        carry = b""
        while chunk := handle.read(_CHUNK):
            data = carry + chunk
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as error:
                if error.end < len(data) or error.reason != "unexpected end of data":
                    line += data.count(b"\n", 0, error.start)
                    return (
                        f"the file is not UTF-8 text: row {line} has a character that is not valid "
                        "UTF-8 (the file was probably saved as Latin-1 / Windows-1252, or is not a "
                        f"CSV file). {SAVE_AS_UTF8}"
                    )
                # A character cut by the chunk boundary: decode it with the next chunk.
                keep = len(data) - error.start
                line += data.count(b"\n", 0, len(data) - keep)
                carry = data[-keep:]
                continue
            line += data.count(b"\n")
            carry = b""
    return f"the file is not UTF-8 text. {SAVE_AS_UTF8}"


def read_header(path: Path) -> list[str]:
    """The header row (UTF-8, BOM tolerated); raises :class:`Unreadable`."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle, strict=True))
    except StopIteration:
        raise Unreadable(
            "the file is empty: it does not even have a header line. Export it again with its "
            "header line (a file with no data rows still needs its header)"
        ) from None
    except UnicodeDecodeError:
        raise Unreadable(_not_utf8(path)) from None
    except csv.Error:
        raise Unreadable(
            "the header line (row 1) is not valid CSV (a quote is not closed or the file is not "
            "text). Check that this is the CSV export, not a spreadsheet renamed to .csv, and send "
            "it again"
        ) from None
    except OSError:
        raise Unreadable("the file could not be opened. Send it again") from None


# A column of few distinct values (FileSpec.categorical), as pyarrow's CSV reader encodes it.
CATEGORY = pa.dictionary(pa.int32(), pa.string())


def _arrow_read(
    path: Path,
    names: list[str],
    used: list[str],
    widths: list[int],
    *,
    newlines: bool = True,
    categorical: frozenset[str] = frozenset(),
) -> pa.Table:
    def on_bad_row(row: pacsv.InvalidRow) -> str:
        widths.append(row.actual_columns)
        return "skip"

    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=names, skip_rows=1, block_size=BLOCK_SIZE, use_threads=True
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=newlines, invalid_row_handler=on_bad_row),
        convert_options=pacsv.ConvertOptions(
            column_types={name: CATEGORY if name in categorical else pa.string() for name in used},
            include_columns=used,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _data_lines(path: Path) -> int:
    """How many lines follow the header line: line breaks counted, a last line without one too.
    The file is read in 256 KiB pieces into one buffer, and each piece's breaks counted by numpy
    into one reused mask (about three times the speed of ``bytes.count``); both are small enough
    to come from memory the C heap already holds, not fresh pages."""
    buffer = bytearray(_COUNT_CHUNK)
    data = np.frombuffer(buffer, dtype=np.uint8)
    mask = np.empty(len(buffer), dtype=bool)
    breaks, last = 0, 10
    with path.open("rb", buffering=0) as handle:
        while got := handle.readinto(buffer):
            breaks += int(np.count_nonzero(np.equal(data[:got], 10, out=mask[:got])))
            last = int(data[got - 1])
    return breaks - (1 if last == 10 else 0)


def _one_row_per_line(
    path: Path, names: list[str], used: list[str], categorical: frozenset[str] = frozenset()
) -> pa.Table | None:
    """The rows as :func:`_arrow_read` reads them, when no value spans lines; None otherwise.

    Allowing line breaks in quoted values makes pyarrow find its block boundaries with a quote-aware
    pass over the whole file on one thread (about a fifth of the parse of a OneRoster set). Most
    exports have no such value, so the file is first parsed with blocks cut at line breaks, and
    that result is kept only when every line became exactly one row: then no line break was inside
    quotes, every block began outside quotes, and each row is the one the quote-aware reader reads.
    A value that spans lines (or a blank line, a row of another width, any error) makes the row
    count differ or the parse fail, and the caller reads the file the quote-aware way instead."""
    widths: list[int] = []
    try:
        table = _arrow_read(path, names, used, widths, newlines=False, categorical=categorical)
    except (pa.ArrowInvalid, OSError):
        return None
    if widths or table.num_rows != _data_lines(path):
        return None
    return table


def _is_utf8(error: Exception) -> bool:
    # pyarrow raises the same ArrowInvalid for every problem; only its text tells an encoding
    # problem apart (the text itself is never shown).
    text = str(error)
    return "UTF8" in text or "UTF-8" in text


def _empty(positions: dict[str, int]) -> Rows:
    return Rows({internal: pa.array([], pa.string()) for internal in positions}, 0)


def _odd_quotes(path: Path) -> bool:
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            count += chunk.count(b'"')
    return count % 2 == 1


def _check_quotes(path: Path, rows: Rows) -> None:
    """pyarrow reads a quote that is never closed, in the last column, to the end of the file
    without complaint; a line break in a value of the last row is the only sign, so only then
    count the quotes of the file (an odd count means one is never closed)."""
    if rows.num_rows == 0:
        return
    # Such a value runs to the end of the file, so only the last row needs looking at.
    last = rows.num_rows - 1
    broken = any("\n" in str(values[last].as_py() or "") for values in rows.columns.values())
    if broken and _odd_quotes(path):
        raise Unreadable(_open_quote(rows.num_rows + 1))


def _open_quote(row: int) -> str:
    return (
        f'a quoted value is never closed: a quote (") opened on or before row {row} has no closing '
        "quote, so the rest of the file would be read as one value. Fix the quotes and send the "
        "file again"
    )


def _uniform(path: Path, width: int, positions: dict[str, int], other: int) -> Rows:
    """Every data row has ``other`` fields instead of the header's ``width``: parse at that width."""
    names = [f"c{i}" for i in range(other)]
    used = sorted({f"c{i}" for i in positions.values() if i < other} | set(names[width:]))
    widths: list[int] = []
    try:
        table = _arrow_read(path, names, used, widths)
    except pa.ArrowInvalid as error:
        if _is_utf8(error):
            raise Unreadable(_not_utf8(path)) from None
        return _slow(path, width, positions)
    if widths:
        return _slow(path, width, positions)
    n = table.num_rows
    columns: dict[str, ArrayLike] = {
        internal: table.column(f"c{i}") if i < other else pa.nulls(n, pa.string())
        for internal, i in positions.items()
    }
    rows = Rows(columns, n)
    if other > width:
        extras = [pc.utf8_trim_whitespace(table.column(name)) for name in names[width:]]
        filled = [pc.fill_null(pc.greater(pc.utf8_length(e), 0), False) for e in extras]
        mask = filled[0]
        for more in filled[1:]:
            mask = pc.or_(mask, more)
        flags = as_array(mask).to_numpy(zero_copy_only=False).astype(bool)
        if flags.any():
            first = pc.coalesce(
                *[pc.if_else(f, e, pa.scalar(None, pa.string())) for f, e in zip(filled, extras, strict=True)]
            )
            rows.too_long = flags
            rows.too_long_counts = [other] * int(flags.sum())
            rows.too_long_values = [str(v) for v in pc.filter(first, pa.array(flags)).to_pylist()]
    return rows


def _slow(path: Path, width: int, positions: dict[str, int]) -> Rows:
    """Parse with the csv module: rows of varying length (short rows are padded with blanks)."""
    records: list[list[str]] = []
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            next(reader, None)
            for record in reader:
                if record:
                    records.append(record)
    except UnicodeDecodeError:
        raise Unreadable(_not_utf8(path)) from None
    except csv.Error:
        raise Unreadable(_open_quote(len(records) + 2)) from None
    except OSError:
        raise Unreadable("the file could not be opened. Send it again") from None
    columns: dict[str, ArrayLike] = {
        internal: pa.array([r[i] if i < len(r) else None for r in records], pa.string())
        for internal, i in positions.items()
    }
    rows = Rows(columns, len(records))
    flags = np.zeros(len(records), dtype=bool)
    counts: list[int] = []
    values: list[str] = []
    for index, record in enumerate(records):
        if len(record) > width:
            extra = [v for v in record[width:] if v.strip()]
            if extra:
                flags[index] = True
                counts.append(len(record))
                values.append(extra[0].strip())
    if flags.any():
        rows.too_long, rows.too_long_counts, rows.too_long_values = flags, counts, values
    return rows


def read_rows(
    path: Path, width: int, positions: dict[str, int], *, categorical: frozenset[str] = frozenset()
) -> Rows:
    """The data rows of ``path`` (header of ``width`` names) as the columns at ``positions``;
    the ``categorical`` ones (internal names) dictionary-encoded when pyarrow parses the file."""
    names = [f"c{i}" for i in range(width)]
    used = {internal: names[index] for internal, index in positions.items()}
    encoded = frozenset(used[name] for name in categorical if name in used)
    fast = _one_row_per_line(path, names, list(used.values()), encoded)
    if fast is not None:
        rows = Rows({internal: fast.column(name) for internal, name in used.items()}, fast.num_rows)
        _check_quotes(path, rows)
        return rows
    widths: list[int] = []
    try:
        table = _arrow_read(path, names, list(used.values()), widths, categorical=encoded)
    except pa.ArrowInvalid as error:
        text = str(error)
        if _is_utf8(error):
            raise Unreadable(_not_utf8(path)) from None
        if "skip initial" in text or "Empty CSV" in text:
            return _empty(positions)  # a header line without a line break after it
        rows = _slow(path, width, positions)
    except OSError:
        raise Unreadable("the file could not be opened. Send it again") from None
    else:
        if not widths:
            rows = Rows({internal: table.column(name) for internal, name in used.items()}, table.num_rows)
        elif table.num_rows == 0 and len(set(widths)) == 1:
            rows = _uniform(path, width, positions, widths[0])
        else:
            rows = _slow(path, width, positions)
    _check_quotes(path, rows)
    return rows
