"""Reading only some columns of a stored snapshot: the same values as a whole read, each file read
still verified, a row count kept for no columns (the manifest's, the file not read), an unknown
column named."""

from __future__ import annotations

from pathlib import Path

import pytest

from rostersync.model import ENTITY_BY_NAME
from rostersync.snapshot import SnapshotError, read_entity, read_manifest, read_snapshot, write_snapshot
from rostersync.storage import LocalBlobStore
from rostersync_tools import synthetic


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalBlobStore:
    blobs = LocalBlobStore(tmp_path_factory.mktemp("snap"))
    write_snapshot(blobs, "day1", synthetic.generate_district(students=300, schools=2, seed=3).to_roster())
    return blobs


def test_projected_columns_equal_those_columns_of_the_whole_read(store: LocalBlobStore) -> None:
    whole = read_snapshot(store, "day1")

    projected = read_snapshot(store, "day1", columns={"students": ["school_id", "person_id"]})

    assert projected.table("students").equals(whole.table("students").select(["school_id", "person_id"]))
    assert projected.table("enrollments").equals(whole.table("enrollments"))


def test_no_columns_keeps_the_row_count(store: LocalBlobStore) -> None:
    whole = read_snapshot(store, "day1")

    projected = read_snapshot(store, "day1", columns={"enrollments": []})

    assert (projected.table("enrollments").num_columns, projected.table("enrollments").num_rows) == (
        0,
        whole.table("enrollments").num_rows,
    )


def test_no_columns_takes_the_row_count_from_the_manifest_without_reading_the_file(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    copy = LocalBlobStore(tmp_path)
    for key in store.list("day1/"):
        if key != "day1/enrollments.parquet":
            copy.put(key, store.get(key))

    projected = read_snapshot(copy, "day1", columns={"enrollments": []})

    assert projected.table("enrollments").num_rows == read_manifest(store, "day1").counts["enrollments"]


def test_an_unknown_column_is_named(store: LocalBlobStore) -> None:
    manifest = read_manifest(store, "day1")

    with pytest.raises(ValueError, match="students has no column shoe_size"):
        read_entity(store, "day1", manifest, ENTITY_BY_NAME["students"], columns=["shoe_size"])


def test_a_projected_read_still_checks_the_file(store: LocalBlobStore, tmp_path: Path) -> None:
    copy = LocalBlobStore(tmp_path)
    for key in store.list("day1/"):
        copy.put(key, store.get(key))
    copy.put("day1/students.parquet", store.get("day1/students.parquet")[:-8] + b"\0" * 8)

    with pytest.raises(SnapshotError, match="checksum mismatch"):
        read_snapshot(copy, "day1", columns={"students": ["school_id"]})
