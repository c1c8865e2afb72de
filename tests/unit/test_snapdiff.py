"""The pipeline's diff step (one entity of both snapshots at a time, joined by DuckDB) gives what
diff_rosters and summarize (Arrow) give on the same two sets: the same rows in the same order and
types, unknown keys, missing entities and list, date and null values included."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_diff import rosters, student
from test_snapshot import parquet_bytes_with_statistics

from rostersync import snapshot
from rostersync.changes import ChangeSet
from rostersync.diff import diff_rosters
from rostersync.duckdiff import DuckDiff
from rostersync.model import KEY_SEPARATOR, Entity
from rostersync.roster import RosterSet
from rostersync.snapdiff import SnapshotDiff, diff_snapshots
from rostersync.snapshot import SnapshotError, save_local_snapshot
from rostersync.storage import BlobNotFoundError, BlobStore, LocalBlobStore
from rostersync.summary import summarize


def _stored(tmp_path: Path, old: RosterSet, new: RosterSet) -> LocalBlobStore:
    save_local_snapshot(tmp_path / "old", old)
    save_local_snapshot(tmp_path / "new", new)
    return LocalBlobStore(tmp_path)


def _assert_same(found: ChangeSet, expected: ChangeSet) -> None:
    for name, ec in expected.entities.items():
        got = found.entities[name]
        for kind in ("added", "removed", "changed_new", "changed_old"):
            assert getattr(got, kind).equals(getattr(ec, kind)), (name, kind)
        assert got.changed_fields.equals(ec.changed_fields), name
    assert found.id_changes.equals(expected.id_changes)


# 0: every entity with rows on both sides goes to DuckDB; the default: small one-key tables
# are diffed by Arrow, composite keys by DuckDB.
ENGINE_SPLITS = [0, None]


@pytest.mark.parametrize("duckdb_rows", ENGINE_SPLITS, ids=["all-duckdb", "default-split"])
def test_per_entity_diff_equals_the_whole_set_diff(tmp_path: Path, duckdb_rows: int | None) -> None:
    old = rosters(
        students=[student("a"), student("b", grade="3"), student("c")],
        enrollments=[
            {"section_id": "c1", "person_id": "a", "school_id": "sch1"},
            {"section_id": "c1", "person_id": "b", "school_id": "sch1"},
            {"section_id": "c2", "person_id": "c", "school_id": "sch2"},
        ],
        staff=[student("t1")],
    )
    new = rosters(
        students=[student("a"), student("b", grade="4"), student("d", school="sch2")],
        enrollments=[
            {"section_id": "c1", "person_id": "a", "school_id": "sch1", "role": "student"},
            {"section_id": "c3", "person_id": "d", "school_id": "sch2"},
        ],
        # c's student row failed validation, so is b's enrollment; staff.csv was not sent
        unknown=[("students", "c"), ("enrollments", f"c1{KEY_SEPARATOR}b")],
        missing=frozenset({"staff"}),
    )
    expected = diff_rosters(old, new)

    found = diff_snapshots(_stored(tmp_path, old, new), "old", "new", duckdb_rows=duckdb_rows)

    _assert_same(found.changes, expected)
    assert found.summary.equals(summarize(expected, old, new))
    assert found.changes["enrollments"].removed.column("person_id").to_pylist() == ["c"]


class _BytesStore:
    """A blob store that hands out bytes only, as S3 does (no file DuckDB could read in place)."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def put(self, key: str, data: bytes) -> None:
        self.blobs[key] = data

    def get(self, key: str) -> bytes:
        try:
            return self.blobs[key]
        except KeyError:
            raise BlobNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.blobs if k.startswith(prefix))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.blobs.setdefault(key, data) is data


def test_a_store_that_is_not_local_is_diffed_from_fetched_copies_alike(tmp_path: Path) -> None:
    old = rosters(students=[student("a"), student("b", grade="3")])
    new = rosters(students=[student("a", grade="1"), student("c")])
    local = _stored(tmp_path, old, new)
    remote = _BytesStore({key: local.get(key) for key in local.list("")})

    found = diff_snapshots(remote, "old", "new", duckdb_rows=0)

    _assert_same(found.changes, diff_rosters(old, new))


@pytest.mark.parametrize("duckdb_rows", ENGINE_SPLITS, ids=["all-duckdb", "default-split"])
def test_staged_rows_per_school_follow_records_that_move_school(
    tmp_path: Path, duckdb_rows: int | None
) -> None:
    # DuckDB counts only the old file per school; the new file's counts come from the diff's rows.
    old = rosters(
        students=[student("a"), student("b"), student("c", school="sch2"), student("d", school="sch2")],
        enrollments=[{"section_id": "c1", "person_id": p, "school_id": "sch1"} for p in "abc"],
    )
    new = rosters(
        students=[student("a", school="sch3"), student("b"), student("c", school="sch2", grade="2")],
        enrollments=[
            {"section_id": "c1", "person_id": "a", "school_id": "sch3"},
            {"section_id": "c1", "person_id": "b", "school_id": "sch1"},
            {"section_id": "c2", "person_id": "e", "school_id": "sch2"},
        ],
        unknown=[("students", "d")],
    )

    found = diff_snapshots(_stored(tmp_path, old, new), "old", "new", duckdb_rows=duckdb_rows)

    expected = summarize(diff_rosters(old, new), old, new)
    assert found.summary.equals(expected)
    staged = {
        (r["entity"], r["school_id"]): r["staged"]
        for r in found.summary.to_pylist()
        if r["entity"] == "students"
    }
    assert staged == {("students", "sch1"): 1, ("students", "sch2"): 1, ("students", "sch3"): 1}
    assert found.staged_counts["enrollments"] == 3


def test_a_first_sync_adds_every_staged_record(tmp_path: Path) -> None:
    new = rosters(students=[student("a"), student("b")])
    save_local_snapshot(tmp_path / "new", new)

    found = diff_snapshots(LocalBlobStore(tmp_path), None, "new")

    assert found.changes["students"].added.column("person_id").to_pylist() == ["a", "b"]
    assert found.staged_counts["students"] == 2
    students = found.summary.filter(pc.equal(found.summary.column("entity"), "students"))
    assert students.column("added").to_pylist() == [2]


def test_lists_dates_and_nulls_differ_as_in_the_arrow_diff(tmp_path: Path) -> None:
    old = rosters(
        students=[
            student("a", school_ids=["sch1", "sch2"]),
            student("b", school_ids=["sch1"], email=None),
            student("c", birth_date=date(2015, 1, 2), email=""),
            student("d", school_ids=None),
            student("e", school_ids=["sch1", None]),
        ]
    )
    new = rosters(
        students=[
            student("e", school_ids=["sch1", None]),  # same list with a null element: unchanged
            student("d", school_ids=[]),  # null list -> empty list
            student("c", birth_date=date(2015, 1, 3), email=None),  # date changed, "" -> null
            student("b", school_ids=["sch1"], email="b@x.org"),  # null -> value
            student("a", school_ids=["sch2", "sch1"]),  # same IDs, other order
        ]
    )
    expected = diff_rosters(old, new)

    found = diff_snapshots(_stored(tmp_path, old, new), "old", "new", duckdb_rows=0)

    _assert_same(found.changes, expected)
    assert found.changes["students"].changed_new.column("person_id").to_pylist() == ["d", "c", "b", "a"]
    assert found.changes["students"].changed_fields.to_pylist() == [
        ["school_ids"],
        ["email", "birth_date"],
        ["email"],
        ["school_ids"],
    ]


def test_a_snapshot_written_before_a_column_existed_is_diffed_as_the_arrow_diff(tmp_path: Path) -> None:
    old = rosters(students=[student("a", title="Dr"), student("b")])
    new = rosters(students=[student("a", title="Dr"), student("b", title="Mx"), student("c")])
    store = _stored(tmp_path, old, new)
    # The old file as an earlier model wrote it: no title column (its manifest entry updated).
    path = tmp_path / "old" / "students.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["title"]), path, compression="zstd")
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["files"]["students.parquet"]
    entry["sha256"], entry["bytes"] = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    earlier = rosters(students=[student("a"), student("b")])

    found = diff_snapshots(store, "old", "new", duckdb_rows=0)

    _assert_same(found.changes, diff_rosters(earlier, new))
    assert found.changes["students"].changed_fields.to_pylist() == [["title"], ["title"]]


def test_a_snapshot_written_with_column_statistics_is_diffed_as_the_arrow_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = rosters(students=[student("a"), student("b", grade="3"), student("c")])
    new = rosters(students=[student("a"), student("b", grade="4"), student("d")])
    # The old snapshot as the writer before statistics were turned off wrote it (pyarrow's
    # defaults: statistics on every column); the new one as the writer does now.
    monkeypatch.setattr(snapshot, "_parquet_bytes", parquet_bytes_with_statistics)
    save_local_snapshot(tmp_path / "old", old)
    monkeypatch.undo()
    save_local_snapshot(tmp_path / "new", new)

    found = diff_snapshots(LocalBlobStore(tmp_path), "old", "new", duckdb_rows=0)

    assert pq.ParquetFile(tmp_path / "old" / "students.parquet").metadata.row_group(0).column(0).is_stats_set
    _assert_same(found.changes, diff_rosters(old, new))


def test_files_of_many_row_groups_are_diffed_as_the_arrow_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = rosters(students=[student(s, grade="3") for s in "abcdefg"])
    new = rosters(students=[student(s, grade="4" if s in "bf" else "3") for s in "bcdefgh"])
    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 2)
    store = _stored(tmp_path, old, new)

    found = diff_snapshots(store, "old", "new", duckdb_rows=0)

    assert pq.ParquetFile(tmp_path / "new" / "students.parquet").metadata.num_row_groups == 4
    _assert_same(found.changes, diff_rosters(old, new))


def test_a_damaged_file_of_an_entity_diffed_by_duckdb_fails_the_diff(tmp_path: Path) -> None:
    # The files DuckDB joins are verified against the manifest's checksums first: a damaged
    # file of a later entity (students, after the larger enrollments) fails the diff, naming it.
    old = rosters(
        students=[student("a"), student("b")],
        enrollments=[{"section_id": f"c{i}", "person_id": "a", "school_id": "sch1"} for i in range(5)],
    )
    new = rosters(
        students=[student("a"), student("b", grade="5")],
        enrollments=[{"section_id": f"c{i}", "person_id": "b", "school_id": "sch1"} for i in range(3)],
    )
    store = _stored(tmp_path, old, new)
    damaged = tmp_path / "old" / "students.parquet"
    damaged.write_bytes(damaged.read_bytes() + b"\0")

    with pytest.raises(SnapshotError, match=r"checksum mismatch for old/students\.parquet"):
        diff_snapshots(store, "old", "new", duckdb_rows=0)


class _CountingDiff(DuckDiff):
    """The DuckDB engine, recording the entities it joins."""

    def __init__(self, scratch: Path) -> None:
        super().__init__(scratch)
        self.joined: list[str] = []

    def rows(self, entity: Entity, old: Path | bytes, new: Path | bytes) -> tuple[pa.Table, pa.Table]:
        self.joined.append(entity.name)
        return super().rows(entity, old, new)


def _sections(schools: str) -> list[dict[str, Any]]:
    # Several schools, one section of none, and a list column.
    rows = [
        {"section_id": f"s{i}", "school_id": f"sch{s}", "teacher_ids": ["t1"]} for i, s in enumerate(schools)
    ]
    return [*rows, {"section_id": "orphan", "school_id": None, "teacher_ids": None}]


UNCHANGED_OLD = rosters(
    students=[student("a"), student("b", grade="3")],
    sections=_sections("1121332"),
    unknown=[],
)
# Sections the same; students changed, and an unknown section key, which removes nothing.
UNCHANGED_NEW = rosters(
    students=[student("a"), student("b", grade="4"), student("c")],
    sections=_sections("1121332"),
    unknown=[("sections", "s1")],
)


def _counted(store: BlobStore, scratch: Path, duckdb_rows: int | None) -> tuple[SnapshotDiff, list[str]]:
    """The diff of ``old`` to ``new`` in ``store``, and the entities DuckDB joined for it."""
    engine = _CountingDiff(scratch)
    try:
        return diff_snapshots(store, "old", "new", duckdb_rows=duckdb_rows, engine=engine), engine.joined
    finally:
        engine.close()


@pytest.mark.parametrize("duckdb_rows", ENGINE_SPLITS, ids=["all-duckdb", "default-split"])
def test_an_entity_whose_files_are_identical_is_not_joined(tmp_path: Path, duckdb_rows: int | None) -> None:
    store = _stored(tmp_path, UNCHANGED_OLD, UNCHANGED_NEW)
    expected = diff_rosters(UNCHANGED_OLD, UNCHANGED_NEW)

    found, joined = _counted(store, tmp_path / "scratch", duckdb_rows)

    old_file, new_file = (tmp_path / side / "sections.parquet" for side in ("old", "new"))
    assert old_file.read_bytes() == new_file.read_bytes()
    assert joined == (["students"] if duckdb_rows == 0 else [])
    _assert_same(found.changes, expected)
    assert found.summary.equals(summarize(expected, UNCHANGED_OLD, UNCHANGED_NEW))
    assert found.staged_counts["sections"] == 8


def test_an_identical_entity_gives_what_its_join_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same two sets stored twice, every file in row groups of 2 rows: once with the same
    # sections file on both sides (not joined, counted per row group), once with the new
    # sections file in one row group (other bytes, the same rows), which DuckDB joins.
    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 2)
    same = _stored(tmp_path / "same", UNCHANGED_OLD, UNCHANGED_NEW)
    save_local_snapshot(tmp_path / "joined" / "old", UNCHANGED_OLD)
    monkeypatch.undo()
    save_local_snapshot(tmp_path / "joined" / "new", UNCHANGED_NEW)

    skipped, skipped_joins = _counted(same, tmp_path / "same" / "scratch", 0)
    joined, joins = _counted(LocalBlobStore(tmp_path / "joined"), tmp_path / "joined" / "scratch", 0)

    assert skipped_joins == ["students"]
    assert joins == ["sections", "students"]
    _assert_same(skipped.changes, joined.changes)
    assert skipped.summary.equals(joined.summary)
    assert skipped.staged_counts == joined.staged_counts


def test_a_damaged_staged_file_of_an_identical_entity_fails_the_diff(tmp_path: Path) -> None:
    # Not joined, the staged file is still read (its schools) and verified against its manifest.
    store = _stored(tmp_path, UNCHANGED_OLD, UNCHANGED_NEW)
    damaged = tmp_path / "new" / "sections.parquet"
    damaged.write_bytes(damaged.read_bytes() + b"\0")

    with pytest.raises(SnapshotError, match=r"checksum mismatch for new/sections\.parquet"):
        diff_snapshots(store, "old", "new")
