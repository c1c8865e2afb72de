"""State shared by the steps of the OneRoster reader, and the helpers they all use.

A OneRoster bulk file lists every record with a ``status``: ``active`` records are the set,
``tobedeleted`` records are explicit deletions. A deleted record is simply not part of the
staged set (so the diff counts it as a removal, and holds weigh it like any removal); the reader
also remembers the deleted IDs so that what belongs to them (enrollments of a deleted class or
user, links to a deleted guardian, classes of a deleted school) is left out the same way instead
of becoming reference errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array
from rostersync.formats.csvio import CsvFile
from rostersync.formats.raw import NOTES_SCHEMA, REJECTED_COLUMN, RawTable
from rostersync.issues import ALERT, row_issues
from rostersync.model import ROW_COLUMN, UNKNOWN_SCHEMA

TOBEDELETED = "tobedeleted"
EMPTY_IDS = pa.array([], pa.string())
PEOPLE = ("students", "teachers", "staff", "contacts", "contact_links")


def keep_rows(table: pa.Table, mask: ArrayLike) -> pa.Table:
    """``table.filter(mask)`` (null counts as false), without copying when the kept rows are one
    run (all rows, none, or a block such as the students of a users.csv listed together): the
    result is then a zero-copy slice of ``table``."""
    keep = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    count = int(np.count_nonzero(keep))
    if count == 0:
        return table.slice(0, 0)
    start = int(np.argmax(keep))
    if bool(keep[start : start + count].all()):
        return table.slice(start, count)
    return table.filter(pa.array(keep))


def split_status(csv: CsvFile, key: str) -> tuple[CsvFile, pa.Array]:
    """(the file without its ``tobedeleted`` rows, the IDs deleted and not also sent as active)."""
    if not csv.has("status"):
        return csv, EMPTY_IDS
    status = csv.table.column("status")
    if status.null_count == len(status):
        return csv, EMPTY_IDS
    deleted = pc.fill_null(pc.equal(pc.utf8_lower(status), TOBEDELETED), False)
    if not pc.any(deleted).as_py():
        return csv, EMPTY_IDS
    active = CsvFile(csv.name, keep_rows(csv.table, pc.invert(deleted)), csv.headers)
    ids = as_array(csv.table.filter(deleted).column(key).drop_null()) if csv.has(key) else EMPTY_IDS
    if csv.has(key):
        ids = pc.filter(ids, pc.invert(pc.is_in(ids, value_set=as_array(active.table.column(key)))))
    return active, as_array(ids)


def select(table: pa.Table, names: Iterable[str]) -> pa.Table:
    """``names`` that the table has, plus ``_row`` and the rejected flag when present."""
    wanted = [n for n in names if n in table.column_names and n not in (ROW_COLUMN, REJECTED_COLUMN)]
    helpers = [n for n in (ROW_COLUMN, REJECTED_COLUMN) if n in table.column_names]
    return table.select(wanted + helpers)


def unknown_values(values: ArrayLike, allowed: tuple[str, ...]) -> ArrayLike:
    return pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed))))


@dataclass
class Context:
    """What the reader steps share: the files read, what they produce, and what they learnt."""

    files: dict[str, CsvFile]
    fmt: str
    issues: list[pa.Table] = field(default_factory=list)
    unknown: list[pa.Table] = field(default_factory=list)
    notes: list[pa.Table] = field(default_factory=list)
    tables: dict[str, RawTable] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    deleted_users: pa.Array = field(default_factory=lambda: EMPTY_IDS)
    deleted_classes: pa.Array = field(default_factory=lambda: EMPTY_IDS)
    # The reader owns the files (read from a directory): each file's rows are let go as soon as
    # its step is done, so the process does not hold a whole set twice.
    release: bool = False

    def take(self, other: Context) -> None:
        """What ``other`` (a later step's own context) produced, after what this one did."""
        self.issues += other.issues
        self.unknown += other.unknown
        self.notes += other.notes
        self.tables.update(other.tables)
        self.deleted_classes = other.deleted_classes

    def supplied(self, name: str) -> bool:
        return name in self.files

    def done_with(self, *names: str) -> None:
        """Let go of the rows of ``names`` (when the reader owns them); name and headers stay."""
        if not self.release:
            return
        for name in names:
            csv = self.files.get(name)
            if csv is not None:
                csv.table = csv.table.schema.empty_table()

    def alert(
        self, csv: CsvFile, mask: ArrayLike, column: str, message: str, value: str | None = None
    ) -> None:
        self.issues.append(
            row_issues(
                csv.table,
                mask,
                severity=ALERT,
                file=csv.name,
                column=csv.headers.get(column, column),
                message=message,
                value_column=value or column,
            )
        )

    def note(self, entity: str, keys: ArrayLike, note: ArrayLike | str) -> None:
        """Record what is true of ``keys``, which are not records of ``entity``."""
        keys = as_array(keys)
        notes = pa.repeat(pa.scalar(note), len(keys)) if isinstance(note, str) else as_array(note)
        self.notes.append(
            pa.Table.from_arrays([pa.repeat(pa.scalar(entity), len(keys)), keys, notes], schema=NOTES_SCHEMA)
        )

    def mark_unknown(self, entity: str, keys: ArrayLike) -> None:
        keys = as_array(keys)
        self.unknown.append(
            pa.table({"entity": pa.repeat(pa.scalar(entity), len(keys)), "key": keys}).cast(UNKNOWN_SCHEMA)
        )
