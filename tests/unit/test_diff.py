"""diff_rosters, suspected ID changes, summarize and apply_changes on hand-built tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest

from rostersync.changes import ID_CHANGE_SCHEMA, ChangeSet, EntityChanges
from rostersync.diff import (
    SUMMARY_SCHEMA,
    apply_changes,
    diff_rosters,
)
from rostersync.model import (
    CONTACT_LINKS,
    ENROLLMENTS,
    ENTITY_BY_NAME,
    KEY_SEPARATOR,
    SECTIONS,
    STUDENTS,
    UNKNOWN_SCHEMA,
)
from rostersync.records import EntityCounts, read_summary_rows
from rostersync.roster import FORMAT_CLEVER_CSV, FORMAT_ONEROSTER_11_CSV, RosterSet
from rostersync.summary import summarize, summary_records


def table(entity_name: str, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ENTITY_BY_NAME[entity_name].schema)


def student(pid: str, school: str = "sch1", **values: Any) -> dict[str, Any]:
    return {"person_id": pid, "school_id": school, "first_name": f"F{pid}", "last_name": f"L{pid}", **values}


def rosters(
    unknown: list[tuple[str, str]] | None = None,
    missing: frozenset[str] = frozenset(),
    fmt: str = FORMAT_CLEVER_CSV,
    **tables: list[dict[str, Any]],
) -> RosterSet:
    return RosterSet(
        tables={name: table(name, rows) for name, rows in tables.items()},
        format=fmt,
        unknown=pa.Table.from_pylist(
            [{"entity": e, "key": k} for e, k in unknown or []], schema=UNKNOWN_SCHEMA
        ),
        missing=missing,
    )


def ids(t: pa.Table, column: str = "person_id") -> list[str]:
    return sorted(t.column(column).to_pylist())


# --- added, removed, changed ---------------------------------------------------------------------


def test_added_removed_and_changed_records_are_found() -> None:
    old = rosters(students=[student("a"), student("b"), student("c")])
    new = rosters(students=[student("b"), student("c", email="c@x.org"), student("d")])

    changes = diff_rosters(old, new)["students"]

    assert ids(changes.added) == ["d"]
    assert ids(changes.removed) == ["a"]
    assert ids(changes.changed_new) == ["c"]


def test_changed_fields_names_every_differing_column_in_schema_order() -> None:
    old = rosters(students=[student("a", email="a@x.org", grade="5"), student("b", grade="3")])
    new = rosters(students=[student("a", email="a2@x.org", grade="6"), student("b", grade="4")])

    changes = diff_rosters(old, new)["students"]

    by_id = dict(
        zip(
            changes.changed_new.column("person_id").to_pylist(),
            changes.changed_fields.to_pylist(),
            strict=True,
        )
    )
    assert by_id == {"a": ["email", "grade"], "b": ["grade"]}
    assert changes.changed_fields.type == pa.list_(pa.string())


def test_changed_old_is_aligned_with_changed_new() -> None:
    old = rosters(students=[student("a", grade="5"), student("b", grade="3")])
    new = rosters(students=[student("b", grade="4"), student("a", grade="6")])

    changes = diff_rosters(old, new)["students"]

    assert (
        changes.changed_old.column("person_id").to_pylist()
        == changes.changed_new.column("person_id").to_pylist()
    )
    pairs = dict(
        zip(
            changes.changed_old.column("grade").to_pylist(),
            changes.changed_new.column("grade").to_pylist(),
            strict=True,
        )
    )
    assert pairs == {"5": "6", "3": "4"}


def test_identical_records_are_not_changed() -> None:
    rows = [student("a", birth_date=date(2012, 1, 2), school_ids=["sch1"]), student("b")]

    changes = diff_rosters(rosters(students=rows), rosters(students=rows))

    assert changes.total == 0


def test_null_to_value_is_a_change() -> None:
    old = rosters(students=[student("a", email=None)])
    new = rosters(students=[student("a", email="a@x.org")])

    changes = diff_rosters(old, new)["students"]

    assert changes.changed_fields.to_pylist() == [["email"]]


def test_value_to_null_is_a_change() -> None:
    old = rosters(students=[student("a", birth_date=date(2012, 1, 2))])
    new = rosters(students=[student("a", birth_date=None)])

    changes = diff_rosters(old, new)["students"]

    assert changes.changed_fields.to_pylist() == [["birth_date"]]


def test_null_on_both_sides_is_not_a_change() -> None:
    old = rosters(students=[student("a", email=None, school_ids=None)])
    new = rosters(students=[student("a", email=None, school_ids=None)])

    assert diff_rosters(old, new)["students"].is_empty


def test_list_column_order_change_is_a_change() -> None:
    old = rosters(sections=[{"section_id": "c1", "school_id": "sch1", "teacher_ids": ["t1", "t2"]}])
    new = rosters(sections=[{"section_id": "c1", "school_id": "sch1", "teacher_ids": ["t2", "t1"]}])

    changes = diff_rosters(old, new)["sections"]

    assert changes.changed_fields.to_pylist() == [["teacher_ids"]]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["t1"], ["t1", "t2"]),
        ([], None),
        ([], [""]),
        (["t1", None], ["t1", "t2"]),
        (["a\x1f", "b"], ["a", "\x1fb"]),  # same text when joined with the key separator
    ],
)
def test_list_column_differences_are_exact(before: list[str] | None, after: list[str] | None) -> None:
    old = rosters(sections=[{"section_id": "c1", "teacher_ids": before}])
    new = rosters(sections=[{"section_id": "c1", "teacher_ids": after}])

    assert diff_rosters(old, new)["sections"].changed_fields.to_pylist() == [["teacher_ids"]]


def test_equal_lists_with_null_elements_are_not_a_change() -> None:
    old = rosters(sections=[{"section_id": "c1", "teacher_ids": ["t1", None]}])
    new = rosters(sections=[{"section_id": "c1", "teacher_ids": ["t1", None]}])

    assert diff_rosters(old, new)["sections"].is_empty


def test_first_sync_adds_everything() -> None:
    new = rosters(students=[student("a"), student("b")], sections=[{"section_id": "c1"}])

    changes = diff_rosters(None, new)

    assert ids(changes["students"].added) == ["a", "b"]
    assert changes["sections"].added.num_rows == 1
    assert changes.total == 3


def test_change_tables_have_the_canonical_schema() -> None:
    old = rosters(students=[student("a"), student("b")])
    new_students = table("students", [student("a", grade="9"), student("c")]).append_column(
        "_row", pa.array([2, 3])
    )
    new = RosterSet(tables={"students": new_students}, format=FORMAT_CLEVER_CSV)

    changes = diff_rosters(old, new)["students"]

    for t in (changes.added, changes.removed, changes.changed_new, changes.changed_old):
        assert t.schema == STUDENTS.schema


# --- unknown and missing -----------------------------------------------------------------------


def test_unknown_keys_are_never_removed() -> None:
    old = rosters(students=[student("a"), student("b")])
    new = rosters(students=[student("a")], unknown=[("students", "b")])

    assert diff_rosters(old, new)["students"].removed.num_rows == 0


def test_unknown_keys_of_another_entity_do_not_protect() -> None:
    old = rosters(students=[student("a"), student("b")])
    new = rosters(students=[student("a")], unknown=[("teachers", "b")])

    assert ids(diff_rosters(old, new)["students"].removed) == ["b"]


def test_unknown_composite_keys_are_never_removed() -> None:
    old = rosters(
        enrollments=[{"section_id": "c1", "person_id": "a"}, {"section_id": "c1", "person_id": "b"}]
    )
    new = rosters(
        enrollments=[{"section_id": "c1", "person_id": "a"}], unknown=[("enrollments", f"c1{KEY_SEPARATOR}b")]
    )

    assert diff_rosters(old, new)["enrollments"].removed.num_rows == 0


def test_missing_entity_has_no_changes() -> None:
    old = rosters(staff=[{"person_id": "x"}, {"person_id": "y"}])
    new = rosters(staff=[{"person_id": "z"}], missing=frozenset({"staff"}))

    assert diff_rosters(old, new)["staff"].is_empty


# --- composite keys ----------------------------------------------------------------------------


def test_enrollments_are_matched_on_section_and_person() -> None:
    old = rosters(
        enrollments=[
            {"section_id": "c1", "person_id": "a", "role": "student"},
            {"section_id": "c1", "person_id": "b", "role": "student"},
            {"section_id": "c2", "person_id": "a", "role": "student"},
        ]
    )
    new = rosters(
        enrollments=[
            {"section_id": "c1", "person_id": "a", "role": "student"},
            {"section_id": "c2", "person_id": "a", "role": "teacher"},
            {"section_id": "c2", "person_id": "b", "role": "student"},
        ]
    )

    changes = diff_rosters(old, new)["enrollments"]

    assert changes.added.select(["section_id", "person_id"]).to_pylist() == [
        {"section_id": "c2", "person_id": "b"}
    ]
    assert changes.removed.select(["section_id", "person_id"]).to_pylist() == [
        {"section_id": "c1", "person_id": "b"}
    ]
    assert changes.changed_fields.to_pylist() == [["role"]]


def test_contact_links_are_matched_on_student_and_contact() -> None:
    old = rosters(contact_links=[{"student_id": "s1", "contact_id": "p1", "relationship": "Parent"}])
    new = rosters(
        contact_links=[
            {"student_id": "s1", "contact_id": "p1", "relationship": "Grandparent"},
            {"student_id": "s2", "contact_id": "p1", "relationship": "Parent"},
        ]
    )

    changes = diff_rosters(old, new)["contact_links"]

    assert changes.added.column("student_id").to_pylist() == ["s2"]
    assert changes.removed.num_rows == 0
    assert changes.changed_fields.to_pylist() == [["relationship"]]


def test_duplicate_keys_do_not_crash() -> None:
    old = rosters(students=[student("a"), student("a", grade="2")])
    new = rosters(students=[student("a", grade="3"), student("a", grade="3"), student("b")])

    changes = diff_rosters(old, new)["students"]

    assert ids(changes.added) == ["b"]
    assert changes.removed.num_rows == 0


def test_entities_use_their_registered_keys() -> None:
    assert ENROLLMENTS.key == ("section_id", "person_id")
    assert CONTACT_LINKS.key == ("student_id", "contact_id")
    assert SECTIONS.key == ("section_id",)


# --- suspected source-ID changes ---------------------------------------------------------------


def test_id_change_is_suspected_on_same_email() -> None:
    old = rosters(students=[student("old1", email="Ada@School.org ")])
    new = rosters(students=[student("new1", school="sch2", email=" ada@school.org")])

    id_changes = diff_rosters(old, new).id_changes

    assert id_changes.schema == ID_CHANGE_SCHEMA
    assert id_changes.to_pylist() == [
        {"entity": "students", "school_id": "sch2", "old_id": "old1", "new_id": "new1", "matched_on": "email"}
    ]


def test_id_change_is_suspected_on_name_and_birth_date() -> None:
    person = {"first_name": "Ada", "last_name": "Lovelace", "birth_date": date(2012, 12, 10)}
    old = rosters(teachers=[{"person_id": "t-old", "school_id": "sch1", **person}])
    new = rosters(teachers=[{"person_id": "t-new", "school_id": "sch1", **person, "first_name": "ADA"}])

    id_changes = diff_rosters(old, new).id_changes

    assert id_changes.select(["entity", "old_id", "new_id", "matched_on"]).to_pylist() == [
        {"entity": "teachers", "old_id": "t-old", "new_id": "t-new", "matched_on": "name_birth_date"}
    ]


def test_no_id_change_without_email_or_birth_date() -> None:
    person = {"first_name": "Ada", "last_name": "Lovelace", "email": None, "birth_date": None}
    old = rosters(students=[{"person_id": "old1", **person}])
    new = rosters(students=[{"person_id": "new1", **person}])

    assert diff_rosters(old, new).id_changes.num_rows == 0


def test_no_id_change_when_the_email_is_shared() -> None:
    # Two parents who share a family email: any pairing would be a guess.
    old = rosters(
        contacts=[{"person_id": "p1", "email": "fam@x.org"}, {"person_id": "p2", "email": "fam@x.org"}]
    )
    new = rosters(
        contacts=[{"person_id": "q1", "email": "fam@x.org"}, {"person_id": "q2", "email": "fam@x.org"}]
    )

    assert diff_rosters(old, new).id_changes.num_rows == 0


def test_no_id_change_across_entity_types() -> None:
    old = rosters(students=[student("s1", email="a@x.org")])
    new = rosters(teachers=[{"person_id": "t1", "email": "a@x.org"}])

    assert diff_rosters(old, new).id_changes.num_rows == 0


def test_no_id_change_for_unchanged_keys() -> None:
    old = rosters(students=[student("s1", email="a@x.org")])
    new = rosters(students=[student("s1", email="a@x.org"), student("s2", email="a@x.org")])

    assert diff_rosters(old, new).id_changes.num_rows == 0


# --- summarize ---------------------------------------------------------------------------------


def test_summarize_counts_per_entity_and_school() -> None:
    old = rosters(students=[student("a", "sch1"), student("b", "sch1"), student("c", "sch2")])
    new = rosters(students=[student("a", "sch1", grade="5"), student("c", "sch2"), student("d", "sch2")])

    summary = summarize(diff_rosters(old, new), old, new)

    assert summary.schema == SUMMARY_SCHEMA
    assert summary.to_pylist() == [
        {
            "entity": "students",
            "school_id": "sch1",
            "baseline": 2,
            "staged": 1,
            "added": 0,
            "removed": 1,
            "changed": 1,
            "id_changed": 0,
        },
        {
            "entity": "students",
            "school_id": "sch2",
            "baseline": 1,
            "staged": 2,
            "added": 1,
            "removed": 0,
            "changed": 0,
            "id_changed": 0,
        },
    ]


def test_summarize_groups_records_without_a_school_under_null() -> None:
    new = rosters(contacts=[{"person_id": "p1", "school_id": None}, {"person_id": "p2", "school_id": None}])

    summary = summarize(diff_rosters(None, new), None, new)

    assert summary.to_pylist() == [
        {
            "entity": "contacts",
            "school_id": None,
            "baseline": 0,
            "staged": 2,
            "added": 2,
            "removed": 0,
            "changed": 0,
            "id_changed": 0,
        }
    ]


def test_summarize_counts_removals_in_the_old_school_and_changes_in_the_new() -> None:
    old = rosters(students=[student("a", "sch1")])
    new = rosters(students=[student("a", "sch2")])

    summary = {r["school_id"]: r for r in summarize(diff_rosters(old, new), old, new).to_pylist()}

    assert (summary["sch1"]["baseline"], summary["sch1"]["changed"]) == (1, 0)
    assert (summary["sch2"]["staged"], summary["sch2"]["changed"]) == (1, 1)


def test_summarize_carries_a_missing_entity_forward() -> None:
    old = rosters(staff=[{"person_id": "x", "school_id": "sch1"}])
    new = rosters(missing=frozenset({"staff"}))

    summary = summarize(diff_rosters(old, new), old, new).to_pylist()

    assert summary == [
        {
            "entity": "staff",
            "school_id": "sch1",
            "baseline": 1,
            "staged": 1,
            "added": 0,
            "removed": 0,
            "changed": 0,
            "id_changed": 0,
        }
    ]


def test_summary_records_are_entity_counts() -> None:
    new = rosters(students=[student("a", "sch1")])

    records = summary_records(summarize(diff_rosters(None, new), None, new))

    assert records == [
        EntityCounts(entity="students", school_id="sch1", baseline=0, staged=1, added=1, removed=0, changed=0)
    ]


def test_summarize_counts_a_rekey_as_id_changed_not_added_and_removed() -> None:
    old = rosters(students=[student("old1", email="ada@school.org"), student("b")])
    new = rosters(students=[student("new1", email="ada@school.org"), student("b"), student("c")])

    row = summarize(diff_rosters(old, new), old, new).to_pylist()[0]

    assert (row["school_id"], row["added"], row["removed"], row["id_changed"]) == ("sch1", 1, 0, 1)


def test_summarize_counts_a_rekey_across_schools_in_the_new_school() -> None:
    old = rosters(students=[student("old1", "sch1", email="ada@school.org")])
    new = rosters(students=[student("new1", "sch2", email="ada@school.org")])

    summary = {r["school_id"]: r for r in summarize(diff_rosters(old, new), old, new).to_pylist()}

    assert [(s, r["added"], r["removed"], r["id_changed"]) for s, r in summary.items()] == [
        ("sch1", 0, 0, 0),
        ("sch2", 0, 0, 1),
    ]


def test_summarize_counts_a_pair_without_its_old_half_as_an_addition() -> None:
    old = rosters(students=[student("old1", email="ada@school.org")])
    new = rosters(students=[student("new1", email="ada@school.org")])
    changes = diff_rosters(old, new)
    ec = changes["students"]
    without_old = EntityChanges(
        "students", ec.added, ec.removed.slice(0, 0), ec.changed_new, ec.changed_old, ec.changed_fields
    )
    partial = ChangeSet(entities={**changes.entities, "students": without_old}, id_changes=changes.id_changes)

    row = summarize(partial, old, new).to_pylist()[0]

    assert (row["added"], row["removed"], row["id_changed"]) == (1, 0, 0)


def test_read_summary_rows_reads_a_summary_written_before_id_changed_as_0() -> None:
    stored = [
        {
            "entity": "students",
            "school_id": "sch1",
            "baseline": 2,
            "staged": 2,
            "added": 1,
            "removed": 1,
            "changed": 0,
        }
    ]

    assert read_summary_rows(stored) == [
        EntityCounts(
            entity="students",
            school_id="sch1",
            baseline=2,
            staged=2,
            added=1,
            removed=1,
            changed=0,
            id_changed=0,
        )
    ]


# --- apply -------------------------------------------------------------------------------------


def sorted_rows(roster: RosterSet, name: str) -> list[dict[str, Any]]:
    entity = ENTITY_BY_NAME[name]
    return roster.table(name).sort_by([(k, "ascending") for k in entity.key]).to_pylist()


def test_apply_all_changes_gives_the_new_set() -> None:
    old = rosters(students=[student("a"), student("b"), student("c")])
    new = rosters(students=[student("b", grade="2"), student("c"), student("d")])

    applied = apply_changes(old, diff_rosters(old, new))

    assert sorted_rows(applied, "students") == sorted_rows(new, "students")


def test_apply_for_some_schools_leaves_the_others_untouched() -> None:
    old = rosters(
        students=[
            student("a", "sch1"),
            student("b", "sch2"),
            student("c", "sch1", grade="1"),
            student("e", "sch2", grade="1"),
        ]
    )
    new = rosters(
        students=[
            student("c", "sch1", grade="2"),
            student("e", "sch2", grade="2"),
            student("d", "sch1"),
            student("f", "sch2"),
        ]
    )

    applied = apply_changes(old, diff_rosters(old, new), schools={"sch1"})

    rows = {r["person_id"]: r["grade"] for r in applied.table("students").to_pylist()}
    # sch1: a removed, c changed, d added; sch2: b kept, e unchanged, f not added
    assert rows == {"b": None, "c": "2", "d": None, "e": "1"}


def test_apply_for_some_schools_uses_the_old_school_of_a_removal() -> None:
    old = rosters(students=[student("a", "sch1")])
    new = rosters(students=[])

    changes = diff_rosters(old, new)

    assert apply_changes(old, changes, schools={"sch2"}).table("students").num_rows == 1
    assert apply_changes(old, changes, schools={"sch1"}).table("students").num_rows == 0


def test_apply_for_some_schools_uses_the_new_school_of_a_change() -> None:
    old = rosters(students=[student("a", "sch1")])
    new = rosters(students=[student("a", "sch2")])

    applied = apply_changes(old, diff_rosters(old, new), schools={"sch2"})

    assert applied.table("students").column("school_id").to_pylist() == ["sch2"]


def test_apply_composite_key_changes() -> None:
    old = rosters(
        enrollments=[
            {"section_id": "c1", "person_id": "a", "role": "student"},
            {"section_id": "c1", "person_id": "b"},
        ]
    )
    new = rosters(
        enrollments=[
            {"section_id": "c1", "person_id": "a", "role": "teacher"},
            {"section_id": "c2", "person_id": "b"},
        ]
    )

    applied = apply_changes(old, diff_rosters(old, new))

    assert sorted_rows(applied, "enrollments") == sorted_rows(new, "enrollments")


def test_apply_takes_format_and_received_at_from_staged() -> None:
    t1 = datetime(2025, 1, 1, tzinfo=UTC)
    t2 = datetime(2025, 2, 1, tzinfo=UTC)
    old = rosters(students=[student("a")], staff=[{"person_id": "x"}])
    old.received_at = {"students": t1, "staff": t1}
    new = rosters(students=[student("a")], missing=frozenset({"staff"}), fmt=FORMAT_ONEROSTER_11_CSV)
    new.received_at = {"students": t2}

    applied = apply_changes(old, diff_rosters(old, new), staged=new)

    assert applied.format == FORMAT_ONEROSTER_11_CSV
    assert applied.received_at == {"students": t2, "staff": t1}
    assert applied.table("staff").num_rows == 1  # a missing entity is carried forward


def test_apply_to_nothing_is_the_added_records() -> None:
    new = rosters(students=[student("a")])

    applied = apply_changes(None, diff_rosters(None, new), staged=new)

    assert sorted_rows(applied, "students") == sorted_rows(new, "students")
    assert applied.format == FORMAT_CLEVER_CSV


def test_diff_on_one_thread_equals_diff_on_several() -> None:
    old = rosters(
        students=[student("a"), student("b", email="b@x.org")],
        enrollments=[{"section_id": "c1", "person_id": "a"}, {"section_id": "c1", "person_id": "b"}],
    )
    new = rosters(
        students=[student("a", grade="4"), student("c", email="b@x.org")],
        enrollments=[{"section_id": "c1", "person_id": "a", "role": "student"}],
    )

    serial, parallel = diff_rosters(old, new, threads=1), diff_rosters(old, new, threads=4)

    for name, changes in serial.entities.items():
        other = parallel[name]
        assert changes.added.equals(other.added) and changes.removed.equals(other.removed), name
        assert changes.changed_new.equals(other.changed_new) and changes.changed_fields.equals(
            other.changed_fields
        )
    assert serial.id_changes.equals(parallel.id_changes) and serial.id_changes.num_rows == 1
