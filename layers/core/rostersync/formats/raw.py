"""What a format reader hands to validation: canonical-named tables that still know their source.

A :class:`RawTable` holds one entity's rows with canonical column names, values still as sent
(strings, dates unparsed), the spreadsheet row number in ``_row`` and, per column, the file and
header the values came from, so every issue can name file, row and column as the admin sees them.
Readers also say which columns are required, which carry an enumeration, and whether a repeated
key is an error (one record sent twice with different data) or a harmless repeat to drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from rostersync.issues import empty_issues
from rostersync.model import ENTITY_BY_NAME, ROW_COLUMN, UNKNOWN_SCHEMA, Entity

# Suffixes of the companion columns a list column may carry: for each list element, the row and
# the header it came from (a section's teachers come from several columns, or from enrollments.csv).
LIST_ROW_SUFFIX = "__row"
LIST_COLUMN_SUFFIX = "__column"
# Boolean column a table may carry: rows the reader already reported as errors (e.g. a CSV row
# with more values than the header has columns). Validation leaves them out as unknown.
REJECTED_COLUMN = "_rejected"
# What a reader knows about keys that are not records of an entity, so that a reference to one
# can say what is true ("is in users.csv as a teacher", "is marked tobedeleted in classes.csv").
NOTES_SCHEMA = pa.schema([("entity", pa.string()), ("key", pa.string()), ("note", pa.string())])
# Notes under this entity name hold for every person entity (e.g. "is in users.csv with role
# teacher"); they rank below notes for the entity itself and below "left out because of row N".
PERSON_NOTES = "people"


@dataclass(frozen=True)
class Source:
    """Where the values of one canonical column came from."""

    file: str
    column: str
    row_column: str = ROW_COLUMN


@dataclass
class RawTable:
    """One entity's rows as read, before validation."""

    entity: str
    table: pa.Table
    file: str
    sources: dict[str, Source] = field(default_factory=dict)
    # Columns that must not be empty; a row missing one is an error. Optional custom message.
    required: dict[str, str | None] = field(default_factory=dict)
    # True: every row of a repeated key is an error. False: repeats after the first are dropped
    # with an alert (a student listed twice in the same section says nothing contradictory).
    unique: bool = True
    # The reader already made keys unique (e.g. merged Clever's repeated student rows).
    deduplicated: bool = False
    # Column -> documented values; other values are kept and reported as alerts.
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def spec(self) -> Entity:
        return ENTITY_BY_NAME[self.entity]

    def source(self, column: str) -> Source:
        return self.sources.get(column, Source(self.file, column))


@dataclass
class RawRoster:
    """Every entity the source supplied, as read; ``missing`` names those it did not supply."""

    format: str
    directory: Path
    tables: dict[str, RawTable]
    missing: frozenset[str] = frozenset()
    # Issues found while reading (unknown columns, unknown roles, a user without any role):
    # validation adds its own to these.
    issues: pa.Table = field(default_factory=empty_issues)
    # Keys the reader already knows it cannot place (e.g. a OneRoster user with no role).
    unknown: pa.Table = field(default_factory=UNKNOWN_SCHEMA.empty_table)
    # Facts about keys that are not records of an entity (NOTES_SCHEMA), for reference messages.
    notes: pa.Table = field(default_factory=NOTES_SCHEMA.empty_table)

    def table(self, name: str) -> pa.Table:
        """The raw rows of one entity (canonical names, values as sent, ``_row``)."""
        return self.tables[name].table

    @property
    def files(self) -> dict[str, str]:
        """Entity name -> the source file its rows came from."""
        return {name: raw.file for name, raw in self.tables.items()}
