"""The change feed end to end on the local stack: upload, apply, and a consumer that applies each
version's change set to SQLite (examples/sqlite_consumer.py) holds exactly the accepted snapshot.

The consumer reads the snapshot bucket as a vendor would (``s3://<bucket>``, rostersync.consumer)
and the events the stack put validate against their JSON Schemas (events/schemas/).
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rostersync.consumer import read_changes
from rostersync.model import ENTITIES
from rostersync_tools.local import LocalAws
from rostersync_tools.synthetic import SyntheticDistrict, drop_school_students, make_day2
from tests.support.feed_events import schema_errors

from .conftest import (
    ROOT,
    DistrictData,
    accepted,
    awaiting_decision,
    decide,
    district_settings,
    put_settings,
    sync_set,
    wait_ended,
)

D = "d1"


@pytest.fixture(scope="module")
def consumer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sqlite_consumer", ROOT / "examples" / "sqlite_consumer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rekeyed(district: SyntheticDistrict, count: int) -> tuple[SyntheticDistrict, list[str]]:
    """``district`` with the first ``count`` students given new ids (a SIS re-key): the same
    people, enrollments and contact links under new person ids."""
    students = district.tables["students"]
    old = students.column("person_id").slice(0, count).combine_chunks()
    new = pc.binary_join_element_wise(old, pa.scalar("-rekeyed"), "")

    def swap(table: pa.Table, column: str) -> pa.Table:
        values = table.column(column)
        found = pc.index_in(values, value_set=old)
        replaced = pc.if_else(pc.is_null(found), values, pc.take(new, found))
        return table.set_column(table.schema.get_field_index(column), column, replaced)

    return (
        district.replace_tables(
            students=swap(students, "person_id"),
            enrollments=swap(district.tables["enrollments"], "person_id"),
            contact_links=swap(district.tables["contact_links"], "student_id"),
        ),
        old.to_pylist(),
    )


def _rows(columns: list[pa.Array]) -> list[tuple[object, ...]]:
    return sorted(zip(*(c.to_pylist() for c in columns), strict=True), key=repr)


def assert_database_is_version(
    db: sqlite3.Connection, consumer: ModuleType, stack: LocalAws, version: int
) -> None:
    snapshot = accepted(stack, D, version)
    for entity in ENTITIES:
        names = ", ".join(f'"{f.name}"' for f in entity.schema)
        stored = db.execute(f'SELECT {names} FROM "{entity.name}"').fetchall()
        expected = _rows(consumer.sqlite_columns(snapshot.table(entity.name)))
        assert sorted(stored, key=repr) == expected, entity.name
    assert consumer.applied_version(db, D) == version


def _applied(stack: LocalAws, files: dict[str, bytes]) -> dict[str, object]:
    record = sync_set(stack, D, files, {"applied", "failed", "held"})
    assert record["status"] == "applied", record
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    return record


def test_the_consumer_database_equals_the_snapshot_after_adds_updates_removals_and_an_id_change(
    stack: LocalAws, data: DistrictData, consumer: ModuleType, tmp_path: Path
) -> None:
    put_settings(stack, district_settings(D))
    _applied(stack, data.day1)
    day2, old_ids = rekeyed(make_day2(data.district, seed=1), 2)
    source = f"s3://{stack.env('SNAPSHOT_BUCKET')}"

    with sqlite3.connect(tmp_path / "roster.db") as db:
        assert consumer.catch_up(db, D, source) == [1]
        rows_before = _rowids(db, old_ids)
        _applied(stack, data.files(day2, "feed-day2"))
        assert consumer.catch_up(db, D, source) == [2]
        assert_database_is_version(db, consumer, stack, 2)
        # Re-keyed in place: the same SQLite rows, now under the new ids.
        assert _rowids(db, [f"{old}-rekeyed" for old in old_ids]) == rows_before

    feed = read_changes(2, district_id=D, location=source)
    changes = feed.entities["students"]
    assert changes.added.num_rows and changes.removed.num_rows and changes.changed.num_rows
    assert changes.changed.column("_changed_fields").null_count == 0
    rekeys = changes.id_changed
    pairs = zip(rekeys.column("_old_id").to_pylist(), rekeys.column("person_id").to_pylist(), strict=True)
    assert sorted(pairs) == sorted((old, f"{old}-rekeyed") for old in old_ids)
    assert not set(old_ids) & set(changes.removed.column("person_id").to_pylist())


def _rowids(db: sqlite3.Connection, ids: list[str]) -> list[int]:
    marks = ", ".join("?" * len(ids))
    rows = db.execute(f"SELECT rowid FROM students WHERE person_id IN ({marks}) ORDER BY person_id", ids)
    return [int(row[0]) for row in rows.fetchall()]


def test_a_consumer_follows_a_sync_released_school_by_school(
    stack: LocalAws, data: DistrictData, consumer: ModuleType, tmp_path: Path
) -> None:
    put_settings(stack, district_settings(D))
    _applied(stack, data.day1)
    first, second = data.schools[0], data.schools[1]
    day2 = drop_school_students(drop_school_students(data.district, first, 0.5), second, 0.5, seed=1)
    record = sync_set(stack, D, data.files(day2, "feed-held"), {"held", "applied", "failed"})
    sync_id = str(record["sync_id"])
    awaiting_decision(stack, D, sync_id)
    decide(stack, D, sync_id, "release", [first])
    awaiting_decision(stack, D, sync_id, rounds=2)
    decide(stack, D, sync_id, "release")
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    source = f"s3://{stack.env('SNAPSHOT_BUCKET')}"

    with sqlite3.connect(tmp_path / "roster.db") as db:
        assert consumer.catch_up(db, D, source) == [1, 2, 3]
        assert_database_is_version(db, consumer, stack, 3)

    partial = read_changes(2, district_id=D, location=source)
    assert partial.changes_prefix.endswith("/applied/v000002")
    removed_schools = set(partial.entities["students"].removed.column("school_id").to_pylist())
    assert removed_schools == {first}


def test_every_event_of_a_held_and_released_sync_matches_its_schema(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D))
    _applied(stack, data.day1)
    day2 = drop_school_students(data.district, data.schools[0], 0.5)
    record = sync_set(stack, D, data.files(day2, "feed-events"), {"held", "applied", "failed"})
    awaiting_decision(stack, D, str(record["sync_id"]))
    decide(stack, D, str(record["sync_id"]), "release")
    wait_ended(stack, str(record["sync_id"]))

    events = stack.captured_events()

    assert [e["detail-type"] for e in events] == ["RosterChangesApplied", "SyncHeld", "RosterChangesApplied"]
    assert {id(e): schema_errors(e) for e in events} == {id(e): [] for e in events}
