"""Snapshots: Parquet round trips, manifests and checksums, and versioned promotion."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rostersync import snapshot
from rostersync.model import ENTITIES, ENTITY_BY_NAME, SECTIONS, STUDENTS, UNKNOWN_SCHEMA, conform
from rostersync.roster import FORMAT_CLEVER_CSV, FORMAT_ONEROSTER_12_CSV, RosterSet
from rostersync.snapshot import (
    SnapshotError,
    VersionConflictError,
    latest_version,
    map_entity_encoded,
    open_local_snapshot,
    promote_version,
    read_manifest,
    read_snapshot,
    read_version,
    save_local_snapshot,
    write_snapshot,
)
from rostersync.storage import LocalBlobStore

RECEIVED = datetime(2025, 3, 1, 2, 30, tzinfo=UTC)


def roster(first_name: str = "Ada") -> RosterSet:
    students = pa.Table.from_pylist(
        [
            {
                "person_id": "s1",
                "school_id": "sch1",
                "school_ids": ["sch1", "sch2"],
                "first_name": first_name,
                "birth_date": date(2012, 5, 17),
                "_row": 2,  # a reader's helper column: dropped on write
            },
            {"person_id": "s2", "school_id": "sch2", "school_ids": None, "first_name": None},
        ]
    )
    sections = pa.Table.from_pylist(
        [{"section_id": "c1", "school_id": "sch1", "teacher_ids": ["t2", "t1"]}], schema=SECTIONS.schema
    )
    unknown = pa.Table.from_pylist([{"entity": "students", "key": "s9"}], schema=UNKNOWN_SCHEMA)
    return RosterSet(
        tables={"students": students, "sections": sections},
        format=FORMAT_CLEVER_CSV,
        unknown=unknown,
        missing=frozenset({"staff"}),
        received_at={"students": RECEIVED, "sections": RECEIVED},
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path)


def test_round_trip_keeps_every_table_in_canonical_form(store: LocalBlobStore) -> None:
    original = roster()
    write_snapshot(store, "d1/staged/sync1", original)

    loaded = read_snapshot(store, "d1/staged/sync1")

    for entity in ENTITIES:
        assert loaded.table(entity.name).equals(original.canonical().table(entity.name)), entity.name


def test_round_trip_keeps_dates_lists_and_nulls(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())

    loaded = read_snapshot(store, "p")

    rows = loaded.table("students").to_pylist()
    assert rows[0]["birth_date"] == date(2012, 5, 17)
    assert rows[0]["school_ids"] == ["sch1", "sch2"]
    assert rows[1]["school_ids"] is None and rows[1]["first_name"] is None
    assert loaded.table("sections").column("teacher_ids").to_pylist() == [["t2", "t1"]]
    assert loaded.table("students").schema == STUDENTS.schema


def test_round_trip_keeps_unknown_missing_format_and_received_at(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())

    loaded = read_snapshot(store, "p")

    assert loaded.unknown.to_pylist() == [{"entity": "students", "key": "s9"}]
    assert loaded.missing == frozenset({"staff"})
    assert loaded.format == FORMAT_CLEVER_CSV
    assert loaded.received_at == {"students": RECEIVED, "sections": RECEIVED}


def test_files_are_zstd_parquet_under_the_prefix(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())

    names = {k.removeprefix("p/") for k in store.list("p/")}
    assert names == {f"{e.name}.parquet" for e in ENTITIES} | {"_unknown.parquet", "manifest.json"}
    meta = pq.ParquetFile(store.root / "p" / "students.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_manifest_records_counts_missing_checksums_and_meta(store: LocalBlobStore) -> None:
    manifest = write_snapshot(store, "p", roster(), meta={"sync_id": "abc"})

    on_disk = json.loads(store.get("p/manifest.json"))
    assert read_manifest(store, "p") == manifest
    assert on_disk["format"] == FORMAT_CLEVER_CSV
    assert on_disk["counts"]["students"] == 2 and on_disk["counts"]["enrollments"] == 0
    assert on_disk["unknown_count"] == 1
    assert on_disk["missing"] == ["staff"]
    assert on_disk["meta"] == {"sync_id": "abc"}
    assert datetime.fromisoformat(on_disk["received_at"]["students"]) == RECEIVED
    assert len(on_disk["files"]["students.parquet"]["sha256"]) == 64


def test_manifest_is_written_last(store: LocalBlobStore) -> None:
    order: list[str] = []

    class RecordingStore(LocalBlobStore):
        def put(self, key: str, data: bytes) -> None:
            order.append(key)
            super().put(key, data)

    write_snapshot(RecordingStore(store.root), "p", roster())

    assert order[-1] == "p/manifest.json"
    assert len(order) == len(ENTITIES) + 2


def test_missing_manifest_is_a_snapshot_error(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())
    (store.root / "p" / "manifest.json").unlink()

    with pytest.raises(SnapshotError, match=r"manifest\.json is missing"):
        read_snapshot(store, "p")


def test_corrupt_manifest_is_a_snapshot_error(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())
    store.put("p/manifest.json", b"{not json")

    with pytest.raises(SnapshotError, match="corrupt snapshot manifest"):
        read_snapshot(store, "p")


def test_checksum_mismatch_is_a_snapshot_error(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())
    write_snapshot(store, "other", roster(first_name="Grace"))
    store.put("p/students.parquet", store.get("other/students.parquet"))

    with pytest.raises(SnapshotError, match=r"checksum mismatch for p/students\.parquet"):
        read_snapshot(store, "p")


def test_missing_data_file_is_a_snapshot_error(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())
    (store.root / "p" / "enrollments.parquet").unlink()

    with pytest.raises(SnapshotError, match="incomplete"):
        read_snapshot(store, "p")


def test_local_helpers_round_trip_a_folder(tmp_path: Path) -> None:
    save_local_snapshot(tmp_path / "snap", roster())

    loaded = open_local_snapshot(tmp_path / "snap")

    assert loaded.table("students").column("person_id").to_pylist() == ["s1", "s2"]


def test_first_promotion_is_version_one(store: LocalBlobStore) -> None:
    assert latest_version(store, "d1") is None

    version = promote_version(store, "d1", roster(), expected_version=None)

    assert version == 1
    assert latest_version(store, "d1") == 1
    assert store.exists("d1/versions/000001.json")


def test_promotion_increments_and_each_version_is_readable(store: LocalBlobStore) -> None:
    promote_version(store, "d1", roster("Ada"), expected_version=None)
    version = promote_version(store, "d1", roster("Grace"), expected_version=1)

    assert version == 2
    assert read_version(store, "d1", 1).table("students").column("first_name")[0].as_py() == "Ada"
    assert read_version(store, "d1", 2).table("students").column("first_name")[0].as_py() == "Grace"


def test_version_data_lives_under_the_numbered_prefix(store: LocalBlobStore) -> None:
    promote_version(store, "d1", roster(), expected_version=None, writer="sync-1")

    assert store.exists("d1/v000001/sync-1/manifest.json")


def test_second_promotion_over_the_same_version_conflicts(store: LocalBlobStore) -> None:
    promote_version(store, "d1", roster("Ada"), expected_version=None)

    with pytest.raises(VersionConflictError):
        promote_version(store, "d1", roster("Grace"), expected_version=None)

    assert read_version(store, "d1", 1).table("students").column("first_name")[0].as_py() == "Ada"


def test_losing_a_race_for_the_marker_conflicts_and_keeps_the_winner(store: LocalBlobStore) -> None:
    # Given a writer that checked the latest version before another promoted it
    class RacingStore(LocalBlobStore):
        def put_if_absent(self, key: str, data: bytes) -> bool:
            promote_version(store, "d1", roster("Winner"), expected_version=None, writer="winner")
            return super().put_if_absent(key, data)

    # When it tries to claim the version
    with pytest.raises(VersionConflictError):
        promote_version(RacingStore(store.root), "d1", roster("Loser"), expected_version=None)

    # Then the winner's data is intact
    assert read_version(store, "d1", 1).table("students").column("first_name")[0].as_py() == "Winner"


def test_retry_by_the_same_writer_returns_its_version(store: LocalBlobStore) -> None:
    promote_version(store, "d1", roster(), expected_version=None, writer="sync-1")

    assert promote_version(store, "d1", roster(), expected_version=None, writer="sync-1") == 1
    assert latest_version(store, "d1") == 1


def test_expected_version_behind_the_latest_conflicts(store: LocalBlobStore) -> None:
    promote_version(store, "d1", roster(), expected_version=None)
    promote_version(store, "d1", roster(), expected_version=1)

    with pytest.raises(VersionConflictError):
        promote_version(store, "d1", roster(), expected_version=1)


def test_reading_an_absent_version_is_a_snapshot_error(store: LocalBlobStore) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        read_version(store, "d1", 3)


def test_promoted_version_keeps_the_rosters_format(store: LocalBlobStore) -> None:
    staged = roster()
    staged.format = FORMAT_ONEROSTER_12_CSV
    promote_version(store, "d1", staged, expected_version=None)

    assert read_version(store, "d1", 1).format == FORMAT_ONEROSTER_12_CSV


def test_entity_registry_covers_every_written_file(store: LocalBlobStore) -> None:
    manifest = write_snapshot(store, "p", roster())

    entity_files = {n.removesuffix(".parquet") for n in manifest.files if n != "_unknown.parquet"}
    assert entity_files == set(ENTITY_BY_NAME)


def test_files_carry_no_column_statistics(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())

    meta = pq.ParquetFile(store.root / "p" / "students.parquet").metadata
    assert not any(meta.row_group(0).column(i).is_stats_set for i in range(meta.num_columns))


def parquet_bytes_with_statistics(table: pa.Table) -> bytes:
    """A file as the writer before statistics were turned off wrote it (pyarrow's defaults)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def test_a_snapshot_written_with_column_statistics_reads_the_same(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_snapshot(store, "now", roster())
    monkeypatch.setattr(snapshot, "_parquet_bytes", parquet_bytes_with_statistics)
    write_snapshot(store, "before", roster())
    monkeypatch.undo()

    before, now = read_snapshot(store, "before"), read_snapshot(store, "now")

    assert (
        pq.ParquetFile(store.root / "before" / "students.parquet")
        .metadata.row_group(0)
        .column(0)
        .is_stats_set
    )
    assert before.tables.keys() == now.tables.keys()
    assert all(before.table(name).equals(now.table(name)) for name in now.tables)
    assert before.unknown.equals(now.unknown)


def test_map_entity_encoded_gives_each_row_group_of_the_stored_column_as_dictionary_codes(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 1)
    write_snapshot(store, "p", roster())
    manifest = read_manifest(store, "p")

    parts, rows = map_entity_encoded(store, "p", manifest, STUDENTS, "school_id", lambda codes: codes)

    assert rows == 2
    assert parts is not None and all(pa.types.is_dictionary(part.type) for part in parts)
    assert [part.cast(pa.string()).to_pylist() for part in parts] == [["sch1"], ["sch2"]]


def test_map_entity_encoded_of_a_file_without_the_column_or_no_file(store: LocalBlobStore) -> None:
    write_snapshot(store, "p", roster())
    path = store.root / "p" / "students.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["school_id"]), path, compression="zstd")
    manifest = read_manifest(store, "p")
    entry = manifest.files["students.parquet"]
    entry.sha256, entry.bytes = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size
    del manifest.files["sections.parquet"]

    assert map_entity_encoded(store, "p", manifest, STUDENTS, "school_id", len) == (None, 2)
    assert map_entity_encoded(store, "p", manifest, SECTIONS, "school_id", len) == (None, 0)


def test_a_file_is_written_in_row_groups_of_row_group_rows(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 1)
    write_snapshot(store, "p", roster())

    assert pq.ParquetFile(store.root / "p" / "students.parquet").metadata.num_row_groups == 2
    assert read_snapshot(store, "p").table("students").equals(conform(roster().table("students"), STUDENTS))
