"""A re-key in a stored change set: published as one ``id_changed`` record (not a removal plus an
addition), read back by the pipeline as the removal and addition it applies, counted as
``id_changed``, and kept with the additions by "keep removals held"."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from builders import table

from rostersync.diff import diff_rosters
from rostersync.model import ENTITY_BY_NAME
from rostersync.pipeline.changesets import (
    change_counts,
    has_removals,
    only_removals,
    only_schools,
    read_change_set,
    read_published,
    without_removals,
    write_change_set,
)
from rostersync.reports import changes_table
from rostersync.roster import FORMAT_CLEVER_CSV, RosterSet
from rostersync.storage import LocalBlobStore

Row = dict[str, Any]


def roster(**tables: list[Row]) -> RosterSet:
    return RosterSet(
        tables={n: table(ENTITY_BY_NAME[n], rows) for n, rows in tables.items()}, format=FORMAT_CLEVER_CSV
    )


OLD = roster(
    students=[
        {"person_id": "A", "school_id": "1", "email": "a@d.org", "grade": "05"},
        {"person_id": "B", "school_id": "1", "email": "b@d.org"},
        {"person_id": "C", "school_id": "1", "email": "c@d.org"},
    ],
    enrollments=[{"section_id": "X", "person_id": "A", "school_id": "1"}],
)
NEW = roster(
    students=[
        {"person_id": "A2", "school_id": "1", "email": "a@d.org", "grade": "06"},
        {"person_id": "B", "school_id": "1", "email": "b@d.org"},
        {"person_id": "D", "school_id": "2", "email": "d@d.org"},
    ],
    enrollments=[{"section_id": "X", "person_id": "A2", "school_id": "1"}],
)


def test_a_rekey_is_written_as_id_changed_and_not_as_a_removal_and_an_addition(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    index = write_change_set(store, "cs", diff_rosters(OLD, NEW))

    students = tmp_path / "cs" / "students"
    assert pq.read_table(students / "removed.parquet").column("person_id").to_pylist() == ["C"]
    assert pq.read_table(students / "added.parquet").column("person_id").to_pylist() == ["D"]
    rekey = pq.read_table(students / "id_changed.parquet").select(
        ["person_id", "_old_id", "_matched_on", "_changed_fields", "grade"]
    )
    assert rekey.to_pylist() == [
        {
            "person_id": "A2",
            "_old_id": "A",
            "_matched_on": "email",
            "_changed_fields": ["grade"],
            "grade": "06",
        }
    ]
    assert pq.read_table(students / "id_changed_old.parquet").column("grade").to_pylist() == ["05"]
    assert index["students"] == {"added": 1, "removed": 1, "changed": 0, "id_changed": 1}


def test_the_pipeline_reads_a_rekey_back_as_its_removal_and_addition(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    write_change_set(store, "cs", diff_rosters(OLD, NEW))

    students = read_change_set(store, "cs")["students"]

    assert sorted(students.removed.column("person_id").to_pylist()) == ["A", "C"]
    assert sorted(students.added.column("person_id").to_pylist()) == ["A2", "D"]


def test_change_counts_count_a_rekey_as_id_changed_only() -> None:
    counts = change_counts(diff_rosters(OLD, NEW))

    # Students: C removed, D added, A -> A2 re-keyed; enrollments: (X, A) -> (X, A2).
    assert counts == {"added": 2, "removed": 2, "changed": 0, "id_changed": 1}


def test_keeping_removals_held_applies_the_rekey_with_the_additions() -> None:
    changes = diff_rosters(OLD, NEW)

    applying, kept = without_removals(changes), only_removals(changes)

    assert applying["students"].removed.column("person_id").to_pylist() == ["A"]
    assert applying["enrollments"].removed.column("person_id").to_pylist() == ["A"]
    assert kept["students"].removed.column("person_id").to_pylist() == ["C"]
    assert kept["enrollments"].removed.num_rows == 0


def test_a_change_set_whose_only_removals_are_rekeys_has_no_removals() -> None:
    old = roster(students=[{"person_id": "A", "school_id": "1", "email": "a@d.org"}])
    new = roster(students=[{"person_id": "A2", "school_id": "1", "email": "a@d.org"}])

    assert has_removals(diff_rosters(old, new)) is False


def test_a_pair_split_between_schools_is_published_as_a_removal_and_an_addition(tmp_path: Path) -> None:
    old = roster(students=[{"person_id": "A", "school_id": "1", "email": "a@d.org"}])
    new = roster(students=[{"person_id": "A2", "school_id": "2", "email": "a@d.org"}])
    store = LocalBlobStore(tmp_path)

    index = write_change_set(store, "cs", only_schools(diff_rosters(old, new), ["2"]))

    published, pairs = read_published(store, "cs")
    assert index["students"] == {"added": 1, "removed": 0, "changed": 0, "id_changed": 0}
    assert published["students"]["added"].column("person_id").to_pylist() == ["A2"]
    assert pairs.num_rows == 0


def test_the_changes_csv_shows_a_split_pair_as_the_addition_it_applies() -> None:
    old = roster(students=[{"person_id": "A", "school_id": "1", "email": "a@d.org"}])
    new = roster(students=[{"person_id": "A2", "school_id": "2", "email": "a@d.org"}])

    rows = changes_table(only_schools(diff_rosters(old, new), ["2"])).select(["id", "change"]).to_pylist()

    assert rows == [{"id": "A2", "change": "added"}]


def test_a_rekey_lists_a_changed_list_column_among_its_changed_fields(tmp_path: Path) -> None:
    old = roster(students=[{"person_id": "A", "school_id": "1", "email": "a@d.org", "school_ids": ["1"]}])
    new = roster(
        students=[{"person_id": "A2", "school_id": "1", "email": "a@d.org", "school_ids": ["1", "2"]}]
    )
    store = LocalBlobStore(tmp_path)
    write_change_set(store, "cs", diff_rosters(old, new))

    published, _ = read_published(store, "cs")

    assert published["students"]["id_changed"].column("_changed_fields").to_pylist() == [["school_ids"]]


def test_change_set_files_read_side_by_side_give_the_tables_of_a_read_one_after_another(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path)
    write_change_set(store, "cs", diff_rosters(OLD, NEW))
    one_by_one, pairs = read_published(store, "cs")

    with ThreadPoolExecutor(max_workers=3) as pool:
        side_by_side, pairs_too = read_published(store, "cs", executor=pool)

    assert pairs_too.equals(pairs)
    assert {n: list(kinds) for n, kinds in side_by_side.items()} == {
        n: list(k) for n, k in one_by_one.items()
    }
    for name, kinds in one_by_one.items():
        for kind, expected in kinds.items():
            assert side_by_side[name][kind].equals(expected), (name, kind)


class _RecordingStore(LocalBlobStore):
    """A local store that records the keys it stored, in order (the writer's threads append)."""

    def __init__(self, root: Path, fail: str | None = None) -> None:
        super().__init__(root)
        self.stored: list[str] = []
        self.fail = fail

    def put(self, key: str, data: bytes) -> None:
        if key == self.fail:
            raise OSError(f"cannot store {key}")
        super().put(key, data)
        self.stored.append(key)


def test_a_change_set_index_is_stored_after_every_one_of_its_files(tmp_path: Path) -> None:
    store = _RecordingStore(tmp_path)

    write_change_set(store, "cs", diff_rosters(OLD, NEW))

    kinds = ["added", "removed", "changed", "changed_old"]
    files = [f"cs/students/{k}.parquet" for k in [*kinds, "id_changed", "id_changed_old"]]
    files += [f"cs/enrollments/{k}.parquet" for k in kinds] + ["cs/id_changes.parquet"]
    assert sorted(store.stored[:-1]) == sorted(files)
    assert store.stored[-1] == "cs/index.json"


def test_a_change_set_file_that_cannot_be_stored_leaves_no_index(tmp_path: Path) -> None:
    store = _RecordingStore(tmp_path, fail="cs/students/added.parquet")

    with pytest.raises(OSError, match=r"cannot store cs/students/added\.parquet"):
        write_change_set(store, "cs", diff_rosters(OLD, NEW))

    assert not (tmp_path / "cs" / "index.json").exists()
    assert "cs/index.json" not in store.stored
