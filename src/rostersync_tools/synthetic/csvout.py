"""Writing Arrow tables as the CSV files an SIS export drops on SFTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rostersync_tools.synthetic.arrowkit import _col, _index_of, _join, _offsets, _strings, _within
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.vocab import CLEVER_GRADES, GRADE_CODES

# ---------------------------------------------------------------------------------------------
# Writers

_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False)


def _write_csv(table: pa.Table, path: Path) -> Path:
    """Write ``table`` as CSV: an unquoted header line (as SIS exports have), then the rows
    (strings quoted, nulls as empty fields). A native file, not a Python one: writing through a
    Python file object holds the GIL per chunk and is ~20x slower."""
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode("utf-8"))
        if table.num_rows:
            pacsv.write_csv(table, sink, write_options=_WRITE_OPTIONS)
    return path


def _clever_grade(codes: pa.Array) -> pa.Array:
    idx = pc.index_in(codes, value_set=_strings(GRADE_CODES))
    return _strings(CLEVER_GRADES).take(idx)


def _us_date(values: pa.Array) -> pa.Array:
    """MM/DD/YYYY, rearranged from the ISO text (3x faster than strftime)."""
    iso = values.cast(pa.string())
    part = pc.utf8_slice_codeunits
    return _join(part(iso, 5, 7), part(iso, 8, 10), part(iso, 0, 4), sep="/")


def _list_slot(lists: pa.Array, i: int) -> pa.Array:
    """Element ``i`` of each list (null where the list is shorter)."""
    offsets = np.asarray(lists.offsets.to_numpy(), dtype=np.int64)
    lengths = np.diff(offsets)
    idx = offsets[:-1] + i
    return lists.values.take(pa.array(idx, mask=lengths <= i))


def _lookup(keys: pa.Array, table: pa.Table, key: str, column: str) -> pa.Array:
    at = _index_of(keys, _col(table, key))
    return _col(table, column).take(pa.array(at, mask=at < 0))


def _student_contact_rows(district: SyntheticDistrict) -> tuple[pa.Array, pa.Array]:
    """Row indices for a students.csv with one row per contact: (student row, link row or null).
    A student without contacts gets one row with empty contact columns."""
    t = district.tables
    students, links = t["students"], t["contact_links"]
    student_row = _index_of(_col(links, "student_id"), _col(students, "person_id"))
    order = np.lexsort((np.arange(links.num_rows), student_row))
    order = order[student_row[order] >= 0]
    count = np.bincount(student_row[order], minlength=students.num_rows).astype(np.int64)
    per = np.maximum(count, 1)
    row_start = _offsets(per)[:-1]
    student_rep = np.repeat(np.arange(students.num_rows, dtype=np.int64), per)
    link_at = np.full(len(student_rep), -1, dtype=np.int64)
    link_at[np.repeat(row_start, count) + _within(count)] = order
    return pa.array(student_rep), pa.array(link_at, mask=link_at < 0)


def _grouped_list(table: pa.Table, key: str, value: str, keys: pa.Array) -> pa.Array:
    """For each of ``keys``: the ``value``s of ``table`` rows with that ``key``, comma-joined
    (in table order; null when none)."""
    grouped = table.select([key, value]).group_by(key, use_threads=False).aggregate([(value, "list")])
    at = _index_of(keys, _col(grouped, key))
    return pc.binary_join(_col(grouped, f"{value}_list").take(pa.array(at, mask=at < 0)), ",")


def _const(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.repeat(pa.scalar(value, pa.string()), n)
