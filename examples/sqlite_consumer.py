"""An example consumer of the change feed: keep a SQLite copy of a district's accepted roster.

It does what the vendor's application would do on each ``RosterChangesApplied`` event: read the
version's change set with :func:`rostersync.consumer.read_changes` and apply it, in one
transaction, to its own store, recording the version it reached. Run it after each event, or on a
timer (it catches up from the version it last applied to the newest one):

    python examples/sqlite_consumer.py --district d1 --source s3://<snapshot bucket> --db roster.db

``--source`` is the snapshot bucket (read with your AWS credentials: the stack's
``ConsumerPrincipalArn`` parameter grants them) or a local folder holding the same keys. One table
per entity, named after it, its key as the primary key; dates are ISO text and ID lists JSON
arrays of strings. Removals are deleted, re-keys (``id_changed``: a person the SIS gave a new
ID) update the record's key from ``_old_id`` to the new one in place, so whatever the application
keeps under that row stays with the person; changes replace the record (``_changed_fields`` says
which columns moved, if your application needs to react to some), additions are inserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.consumer import (
    OLD_ID_COLUMN,
    EntityFeed,
    Location,
    already_applied,
    latest_accepted,
    read_changes,
)
from rostersync.model import ENTITIES, Entity

FEED_TABLE = "_feed"


def create_schema(db: sqlite3.Connection) -> None:
    """One table per entity (its key as primary key) and the feed's position, if not there yet."""
    for entity in ENTITIES:
        columns = ", ".join(f'"{f.name}" TEXT' for f in entity.schema)
        key = ", ".join(f'"{k}"' for k in entity.key)
        db.execute(f'CREATE TABLE IF NOT EXISTS "{entity.name}" ({columns}, PRIMARY KEY ({key}))')
    db.execute(f"CREATE TABLE IF NOT EXISTS {FEED_TABLE} (district_id TEXT PRIMARY KEY, version INTEGER)")


def applied_version(db: sqlite3.Connection, district_id: str) -> int:
    row = db.execute(f"SELECT version FROM {FEED_TABLE} WHERE district_id = ?", (district_id,)).fetchone()
    return int(row[0]) if row else 0


def _json_lists(column: pa.Array) -> pa.Array:
    """A list<string> column as JSON array text, column-wise (null lists stay null)."""
    offsets = column.offsets
    first = offsets[0].as_py()
    values = column.values.slice(first, offsets[-1].as_py() - first)
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "null")
    lists = pa.ListArray.from_arrays(pc.subtract(offsets, first), quoted, mask=pc.is_null(column))
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")


def sqlite_columns(table: pa.Table) -> list[pa.Array]:
    """The table's columns as SQLite text: dates in ISO form, lists as JSON arrays."""
    out = []
    for column in table.columns:
        array = column.combine_chunks()
        if pa.types.is_list(array.type):
            array = _json_lists(array)
        elif not pa.types.is_string(array.type):
            array = pc.cast(array, pa.string())
        out.append(array)
    return out


def _rows(table: pa.Table) -> Iterable[tuple[Any, ...]]:
    return zip(*(c.to_pylist() for c in sqlite_columns(table)), strict=True)


def _apply_entity(db: sqlite3.Connection, entity: Entity, feed: EntityFeed) -> None:
    name, key = entity.name, entity.key
    where = " AND ".join(f'"{k}" = ?' for k in key)
    # A changed record's key is unchanged: deleting it with the removals and inserting its new
    # values with the additions replaces it whole.
    for table in (feed.removed, feed.changed):
        if table.num_rows:
            db.executemany(f'DELETE FROM "{name}" WHERE {where}', _rows(table.select(list(key))))
    columns = [f.name for f in entity.schema]
    if feed.id_changed.num_rows:
        # A re-key: the same row, its key (and any column that changed with it) updated in place.
        assignments = ", ".join(f'"{c}" = ?' for c in columns)
        db.executemany(
            f'UPDATE "{name}" SET {assignments} WHERE "{key[0]}" = ?',
            _rows(feed.id_changed.select([*columns, OLD_ID_COLUMN])),
        )
    quoted = ", ".join(f'"{c}"' for c in columns)
    insert = f'INSERT INTO "{name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'
    for table in (feed.changed.select(columns), feed.added.select(columns)):
        if table.num_rows:
            db.executemany(insert, _rows(table))


def apply_version(db: sqlite3.Connection, district_id: str, version: int, location: Location) -> None:
    """Apply the change set of ``version`` (which must follow the one applied) in one transaction."""
    have = applied_version(db, district_id)
    if version != have + 1:
        raise ValueError(f"{district_id}: the database is at version {have}, cannot apply version {version}")
    changes = read_changes(version, district_id=district_id, location=location)
    with db:
        for entity in ENTITIES:
            _apply_entity(db, entity, changes.entities[entity.name])
        db.execute(
            f"INSERT INTO {FEED_TABLE} (district_id, version) VALUES (?, ?) "
            "ON CONFLICT (district_id) DO UPDATE SET version = excluded.version",
            (district_id, version),
        )


def catch_up(db: sqlite3.Connection, district_id: str, location: Location) -> list[int]:
    """Apply every version after the one the database holds, oldest first; the versions applied."""
    create_schema(db)
    newest = latest_accepted(district_id, location) or 0
    applied = list(range(applied_version(db, district_id) + 1, newest + 1))
    for version in applied:
        apply_version(db, district_id, version, location)
    return applied


def handle_event(db: sqlite3.Connection, event: Mapping[str, Any], location: Location) -> list[int]:
    """Handle one ``RosterChangesApplied`` event (as the bus or the event queue delivers it): the
    versions applied. A redelivered event (delivery is at least once; the same ``event_id``) or
    one for a version already applied applies nothing; a version past the next one catches up
    through the versions between, in order."""
    detail = event["detail"]
    district_id = str(detail["district_id"])
    create_schema(db)
    have = applied_version(db, district_id)
    if already_applied(detail, have):
        return []
    versions = list(range(have + 1, int(detail["version"]) + 1))
    for version in versions:
        apply_version(db, district_id, version, location)
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--district", required=True, help="the district id")
    parser.add_argument("--source", required=True, help="s3://<snapshot bucket> or a local folder")
    parser.add_argument("--db", required=True, type=Path, help="the SQLite file (created if missing)")
    args = parser.parse_args(argv)
    with sqlite3.connect(args.db) as db:
        applied = catch_up(db, args.district, args.source)
    done = f"applied versions {applied[0]}..{applied[-1]}" if applied else "already up to date"
    sys.stdout.write(f"{args.district}: {done}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
