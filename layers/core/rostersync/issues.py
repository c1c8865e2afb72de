"""Row-level errors and alerts, and file-level problems, as the district admin will read them.

Row issues are an Arrow table (one row per problem: severity, file, row number, column, value,
message) built with vectorised masks, never a Python loop over the data. A row with an *error* is
excluded and its record becomes unknown; an *alert* keeps the row. File problems (a required file
missing, a required header missing or misspelled, an unreadable file) stop the whole set: nothing
of it can be trusted, so nothing is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.masking import redact_issues

ERROR = "error"
ALERT = "alert"

ISSUE_SCHEMA = pa.schema(
    [
        pa.field("severity", pa.string()),
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("column", pa.string()),
        pa.field("value", pa.string()),
        pa.field("message", pa.string()),
    ]
)


def row_issues(
    table: pa.Table,
    mask: pa.Array | pa.ChunkedArray,
    *,
    severity: str,
    file: str,
    column: str,
    message: str,
    value_column: str | None = None,
    row_column: str = "_row",
) -> pa.Table:
    """Issues for every row of ``table`` where ``mask`` is true (null counts as false).

    ``table`` must carry the source row numbers in ``row_column``; ``value_column`` (default
    ``column`` if the table has it) gives the offending value shown to the admin.
    """
    mask = pc.fill_null(mask, False)
    hits = table.filter(mask)
    n = hits.num_rows
    value_column = value_column if value_column is not None else column
    if value_column in hits.column_names:
        values = hits.column(value_column)
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
    else:
        values = pa.nulls(n, pa.string())
    return pa.Table.from_arrays(
        [
            pa.repeat(severity, n),
            pa.repeat(file, n),
            hits.column(row_column).cast(pa.int64()),
            pa.repeat(column, n),
            values,
            pa.repeat(message, n),
        ],
        schema=ISSUE_SCHEMA,
    )


def empty_issues() -> pa.Table:
    return ISSUE_SCHEMA.empty_table()


def concat_issues(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate issue tables, sorted by file then row for a readable report; personal values
    are masked (:func:`rostersync.masking.redact_issues`)."""
    if not tables:
        return empty_issues()
    out = pa.concat_tables([t.cast(ISSUE_SCHEMA) for t in tables])
    if out.num_rows == 0:
        return out
    return redact_issues(out).sort_by([("file", "ascending"), ("row", "ascending"), ("column", "ascending")])


@dataclass(frozen=True)
class FileProblem:
    """A problem with a whole file: missing, unreadable, or a required header absent."""

    file: str
    message: str
    header: str | None = None
    closest: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


class InvalidFilesError(Exception):
    """The file set cannot be read as a whole; carries every file problem found."""

    def __init__(self, problems: Sequence[FileProblem], fmt: str | None = None) -> None:
        self.problems = list(problems)
        self.format = fmt
        super().__init__("; ".join(str(p) for p in self.problems))


class UnknownFormatError(InvalidFilesError):
    """The file set matches none of the supported formats."""
