"""The holds step over stored snapshots (only the columns the rules read) finds exactly the holds
of the rules over both sets read whole, on a generated district where every rule trips."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rostersync import holds, snapshot
from rostersync.diff import diff_rosters
from rostersync.holds.common import NO_SCHOOL
from rostersync.holds.counts import RosterCounts, school_counts
from rostersync.holds.stored import (
    counted_of_changes,
    counted_of_index,
    evaluate_stored_change_set,
    evaluate_stored_holds,
    stored_counts,
)
from rostersync.model import ENTITIES, ENTITY_BY_NAME, Entity
from rostersync.pipeline.changesets import read_change_set, read_index, write_change_set
from rostersync.records import HoldType
from rostersync.rekeys import present_pairs, rekeyed_removals, without_rekeys
from rostersync.roster import FORMAT_CLEVER_CSV, RosterSet
from rostersync.settings import DistrictSettings, HoldSettings
from rostersync.snapshot import SnapshotError, read_snapshot, write_snapshot
from rostersync.storage import LocalBlobStore
from rostersync_tools import synthetic


def _rekeyed(table: pa.Table, column: str, old: pa.Array) -> pa.Table:
    """``column`` with the IDs in ``old`` replaced by ``<id>-new``."""
    values = table.column(column)
    hit = pc.fill_null(pc.is_in(values, value_set=old), False)
    renamed = pc.if_else(hit, pc.binary_join_element_wise(values, pa.scalar("-new"), ""), values)
    return table.set_column(table.schema.get_field_index(column), column, renamed)


def _day2(day1: synthetic.SyntheticDistrict, school: str) -> RosterSet:
    """Removals, updates, new emergency contacts (3 a student), 12 re-keyed students of ``school``
    (with their enrollments and links), 4 sections moved to another term and no staff file."""
    day2 = synthetic.make_day2(day1, seed=12, removed=0.04, added=0.03, changed=0.2)
    day2 = synthetic.drop_school_students(day2, school, 0.3)
    day2 = synthetic.add_emergency_contacts(day2, school, 30, per_student=3)
    t = day2.tables
    students = t["students"]
    old = students.filter(pc.equal(students.column("school_id"), school)).column("person_id").slice(0, 12)
    sections = t["sections"]
    terms = pc.unique(sections.column("term_id")).to_pylist()
    moved = [
        terms[(terms.index(term) + 1) % len(terms)] for term in sections.column("term_id")[:4].to_pylist()
    ]
    term_ids = pa.concat_arrays(
        [pa.array(moved, pa.string()), sections.column("term_id").slice(4).combine_chunks()]
    )
    day2 = day2.replace_tables(
        students=_rekeyed(students, "person_id", old.combine_chunks()),
        enrollments=_rekeyed(t["enrollments"], "person_id", old.combine_chunks()),
        contact_links=_rekeyed(t["contact_links"], "student_id", old.combine_chunks()),
        sections=sections.set_column(sections.schema.get_field_index("term_id"), "term_id", term_ids),
        staff=t["staff"].schema.empty_table(),
    )
    return day2.to_roster()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RosterSet, RosterSet]:
    day1 = synthetic.generate_district(students=900, schools=3, seed=11)
    school = str(day1.tables["schools"].column("school_id")[0])
    accepted, staged = day1.to_roster(), _day2(day1, school)
    received = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
    staged.received_at = {name: received for name in ("students", "sections")}
    accepted.received_at = {name: received - timedelta(days=200) for name in ("students", "sections")}
    path = tmp_path_factory.mktemp("stored")
    store = LocalBlobStore(path)
    write_snapshot(store, "accepted", accepted)
    write_snapshot(store, "staged", staged)
    return path, read_snapshot(store, "accepted"), read_snapshot(store, "staged")


# Every hold type the rules give (the source's holds, credentials and disconnected, come from the
# pull, not from the rules).
RULES = set(get_args(HoldType)) - {"credentials", "disconnected"}


def strict() -> DistrictSettings:
    limits = HoldSettings(
        mass_removal_percent=1.0,
        mass_update_percent=5.0,
        max_contacts_per_student=3,
        id_change_percent=0.5,
        id_change_min_count=3,
    )
    return DistrictSettings(holds=limits, school_ids=["S-NOT-THERE"])


def test_the_stored_holds_equal_the_holds_over_both_sets_whole(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    path, accepted, staged = stored
    changes = diff_rosters(accepted, staged)

    expected = holds.evaluate_holds(changes, staged, accepted, strict())
    found = evaluate_stored_holds(LocalBlobStore(path), changes, "staged", "accepted", strict())

    assert found == expected
    assert {h.type for h in found} == RULES


def test_a_first_sync_s_stored_holds_equal_the_holds_over_the_staged_set(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    path, _, staged = stored
    changes = diff_rosters(None, staged)

    found = evaluate_stored_holds(LocalBlobStore(path), changes, "staged", None, strict())

    assert found == holds.evaluate_holds(changes, staged, None, strict())


@pytest.mark.parametrize("first_sync", [False, True])
def test_the_change_set_read_beside_the_snapshots_is_the_change_set_and_its_holds(
    stored: tuple[Path, RosterSet, RosterSet], first_sync: bool
) -> None:
    path, accepted, staged = stored
    store = LocalBlobStore(path)
    previous = None if first_sync else accepted
    write_change_set(store, "beside", diff_rosters(previous, staged))
    expected = read_change_set(store, "beside")

    changes, found = evaluate_stored_change_set(
        store, "beside", "staged", None if first_sync else "accepted", strict()
    )

    assert found == holds.evaluate_holds(expected, staged, previous, strict())
    assert changes.id_changes.equals(expected.id_changes)
    for name, ec in expected.entities.items():
        mine = changes.entities[name]
        tables = ("added", "removed", "changed_new", "changed_old")
        assert all(getattr(mine, t).equals(getattr(ec, t)) for t in tables), name
        assert mine.changed_fields.equals(ec.changed_fields), name


class _CountingStore(LocalBlobStore):
    """A local store that counts the reads of each key (the readers' threads add to it)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: Counter[str] = Counter()

    def get(self, key: str) -> bytes:
        self.reads[key] += 1
        return super().get(key)


def test_the_holds_step_reads_the_change_sets_index_once(stored: tuple[Path, RosterSet, RosterSet]) -> None:
    path, accepted, staged = stored
    store = _CountingStore(path)
    write_change_set(store, "once", diff_rosters(accepted, staged))

    evaluate_stored_change_set(store, "once", "staged", "accepted", strict())

    assert store.reads["once/index.json"] == 1


def test_a_corrupt_staged_file_read_beside_the_change_set_fails_the_step(
    stored: tuple[Path, RosterSet, RosterSet], tmp_path: Path
) -> None:
    path, accepted, staged = stored
    source, copy = LocalBlobStore(path), LocalBlobStore(tmp_path)
    for key in [*source.list("staged/"), *source.list("accepted/")]:
        copy.put(key, source.get(key))
    copy.put("staged/contact_links.parquet", b"not the file the manifest lists")
    write_change_set(copy, "changes", diff_rosters(accepted, staged))

    with pytest.raises(SnapshotError, match=r"checksum mismatch for staged/contact_links\.parquet"):
        evaluate_stored_change_set(copy, "changes", "staged", "accepted", strict())


def test_the_holds_of_every_rule_at_once_are_those_of_each_rule_on_the_whole_change_set(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    _, accepted, staged = stored
    changes = diff_rosters(accepted, staged)
    limits = strict()
    assert present_pairs(changes).num_rows  # re-keys, which some rules leave out

    one_by_one = [
        *holds.mass_removal(changes, accepted, limits),
        *holds.mass_update(changes, accepted, limits),
        *holds.id_change(changes, accepted, limits),
        *holds.too_many_contacts(changes, staged, limits),
        *holds.emergency_contacts(changes, limits),
        *holds.class_id_reuse(changes, limits),
        *holds.stale_upload(changes, staged, accepted, limits),
        *holds.invalid_files(staged, accepted),
        *holds.schools_not_found(staged, limits),
    ]

    assert holds.evaluate_holds(changes, staged, accepted, limits) == holds.sort_holds(one_by_one)


def test_a_staged_set_given_by_a_function_is_asked_for_once_and_gives_the_same_holds(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    _, accepted, staged = stored
    changes = diff_rosters(accepted, staged)
    calls: list[str] = []

    def later() -> RosterSet:
        calls.append("staged")
        return staged

    found = holds.evaluate_holds(changes, later, accepted, strict())

    assert found == holds.evaluate_holds(changes, staged, accepted, strict())
    assert calls == ["staged"]


@pytest.mark.parametrize("mode", ["hold_over_threshold", "hold_always", "never_automatic"])
def test_the_counts_started_early_are_every_count_the_rules_ask_for(
    stored: tuple[Path, RosterSet, RosterSet], mode: str
) -> None:
    _, accepted, staged = stored
    changes = diff_rosters(accepted, staged)
    asked: list[str] = []

    def count(entity: Entity) -> pa.Table:
        asked.append(entity.name)
        return school_counts(accepted.table(entity.name), entity)

    settings = strict().model_copy(update={"removals": mode})
    holds.evaluate_holds(changes, staged, RosterCounts(count, accepted.received_at), settings)

    assert set(asked) <= counted_of_changes(changes)
    assert {"students", "contacts", "enrollments"} <= set(asked)


def test_the_counts_started_from_a_stored_index_are_those_of_the_change_set_read_back(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    path, accepted, staged = stored
    store = LocalBlobStore(path)
    write_change_set(store, "indexed", diff_rosters(accepted, staged))

    found = counted_of_index(read_index(store, "indexed"))

    assert found == counted_of_changes(read_change_set(store, "indexed"))


def test_counts_started_on_an_executor_equal_the_counts_made_when_asked(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    path, _, _ = stored
    names = [e.name for e in ENTITIES]
    when_asked = stored_counts(LocalBlobStore(path), "accepted")

    with ThreadPoolExecutor(max_workers=2) as pool:
        started = stored_counts(LocalBlobStore(path), "accepted", executor=pool, prefetch=names[:5])
        for name in names:
            assert started.by_school(name).equals(when_asked.by_school(name)), name


def test_a_count_started_early_of_a_corrupt_file_fails_when_a_rule_asks_for_it(tmp_path: Path) -> None:
    students = pa.table({"person_id": ["a", "b"], "school_id": ["sch1", "sch2"]})
    store = LocalBlobStore(tmp_path)
    write_snapshot(store, "p", RosterSet(tables={"students": students}, format=FORMAT_CLEVER_CSV))
    store.path("p/students.parquet").write_bytes(b"not the file the manifest lists")

    with ThreadPoolExecutor(max_workers=1) as pool:
        counts = stored_counts(store, "p", executor=pool, prefetch=["students"])
        with pytest.raises(SnapshotError, match=r"checksum mismatch for p/students\.parquet"):
            counts.by_school("students")


def test_stored_counts_are_the_accepted_records_per_school(stored: tuple[Path, RosterSet, RosterSet]) -> None:
    path, accepted, _ = stored
    counts = stored_counts(LocalBlobStore(path), "accepted")

    by_school = counts.by_school("enrollments").sort_by("school").to_pylist()
    expected = accepted.table("enrollments").group_by("school_id").aggregate([([], "count_all")])

    assert {r["school"]: r["denominator"] for r in by_school} == {
        r["school_id"]: r["count_all"] for r in expected.to_pylist()
    }
    assert counts.rows("schools") == accepted.table("schools").num_rows


def test_stored_counts_of_every_entity_equal_the_counts_of_the_set_read_whole(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    path, accepted, _ = stored
    counts = stored_counts(LocalBlobStore(path), "accepted")

    for entity in ENTITIES:
        expected = school_counts(accepted.table(entity.name), entity)
        assert counts.by_school(entity.name).sort_by("school").equals(expected.sort_by("school")), entity.name


def test_stored_counts_count_students_without_a_school_under_no_school(tmp_path: Path) -> None:
    students = pa.table({"person_id": ["a", "b", "c"], "school_id": ["sch1", None, "sch1"]})
    store = LocalBlobStore(tmp_path)
    write_snapshot(store, "p", RosterSet(tables={"students": students}, format=FORMAT_CLEVER_CSV))

    found = stored_counts(store, "p").by_school("students").sort_by("school").to_pylist()

    assert found == [{"school": NO_SCHOOL, "denominator": 1}, {"school": "sch1", "denominator": 2}]


def test_stored_counts_add_up_the_row_groups_and_count_a_null_and_an_empty_school_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 2)
    schools = ["sch1", None, "sch2", "sch1", "", "sch1", None]
    students = pa.table({"person_id": [f"p{i}" for i in range(len(schools))], "school_id": schools})
    store = LocalBlobStore(tmp_path)
    write_snapshot(store, "p", RosterSet(tables={"students": students}, format=FORMAT_CLEVER_CSV))

    found = stored_counts(store, "p").by_school("students").sort_by("school").to_pylist()

    assert found == [
        {"school": NO_SCHOOL, "denominator": 3},
        {"school": "sch1", "denominator": 3},
        {"school": "sch2", "denominator": 1},
    ]


def test_leaving_the_re_keys_out_keeps_the_tables_of_an_entity_without_any(
    stored: tuple[Path, RosterSet, RosterSet],
) -> None:
    _, accepted, staged = stored
    changes = diff_rosters(accepted, staged)

    plain = without_rekeys(changes)

    sections, students = changes.entities["sections"], changes.entities["students"]
    assert plain.entities["sections"].removed is sections.removed
    assert plain.entities["sections"].added is sections.added
    assert plain.entities["students"].removed.num_rows == students.removed.num_rows - 12


@pytest.mark.parametrize("name", ["enrollments", "contact_links"])
def test_links_that_follow_re_keyed_students_are_the_removed_links_whose_twin_is_added(
    stored: tuple[Path, RosterSet, RosterSet], name: str
) -> None:
    _, accepted, staged = stored
    changes = diff_rosters(accepted, staged)
    new_id = {r["old_id"]: r["new_id"] for r in present_pairs(changes).to_pylist()}
    ec = changes.entities[name]
    person = "person_id" if name == "enrollments" else "student_id"
    key = ENTITY_BY_NAME[name].key
    added = {tuple(r[k] for k in key) for r in ec.added.to_pylist()}

    def follows(row: dict[str, str]) -> bool:
        twin = {**row, person: new_id.get(row[person], row[person])}
        return row[person] in new_id and tuple(twin[k] for k in key) in added

    expected = [follows(r) for r in ec.removed.to_pylist()]

    assert rekeyed_removals(changes, name).to_pylist() == expected
    assert sum(expected) >= 12
