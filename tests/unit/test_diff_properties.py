"""Properties of diff and apply on random rosters: applying a diff reproduces the staged set."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rostersync.diff import apply_changes, diff_rosters
from rostersync.model import ENROLLMENTS, ENTITIES, ENTITY_BY_NAME, KEY_SEPARATOR, STUDENTS, UNKNOWN_SCHEMA
from rostersync.roster import FORMAT_CLEVER_CSV, RosterSet

Rows = list[dict[str, Any]]

maybe_text = st.one_of(st.none(), st.sampled_from(["x", "y", "Y", ""]))
maybe_school = st.one_of(st.none(), st.sampled_from(["sch1", "sch2", "sch3"]))
student_values = st.fixed_dictionaries(
    {
        "school_id": maybe_school,
        "first_name": maybe_text,
        "email": maybe_text,
        "birth_date": st.one_of(st.none(), st.sampled_from([date(2012, 1, 1), date(2013, 6, 30)])),
        "school_ids": st.one_of(st.none(), st.lists(maybe_school, max_size=3)),
    }
)
students = st.dictionaries(st.sampled_from([f"s{i}" for i in range(10)]), student_values, max_size=10).map(
    lambda d: [{"person_id": k, **v} for k, v in d.items()]
)
enrollment_values = st.fixed_dictionaries({"school_id": maybe_school, "role": maybe_text})
enrollments = st.dictionaries(
    st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(["p1", "p2", "p3", "p4"])),
    enrollment_values,
    max_size=12,
).map(lambda d: [{"section_id": s, "person_id": p, **v} for (s, p), v in d.items()])


def roster(
    student_rows: Rows, enrollment_rows: Rows, unknown: list[tuple[str, str]] | None = None
) -> RosterSet:
    return RosterSet(
        tables={
            "students": pa.Table.from_pylist(student_rows, schema=STUDENTS.schema),
            "enrollments": pa.Table.from_pylist(enrollment_rows, schema=ENROLLMENTS.schema),
        },
        format=FORMAT_CLEVER_CSV,
        unknown=pa.Table.from_pylist(
            [{"entity": e, "key": k} for e, k in unknown or []], schema=UNKNOWN_SCHEMA
        ),
    )


def key_of(name: str, row: dict[str, Any]) -> str:
    return KEY_SEPARATOR.join(row[k] for k in ENTITY_BY_NAME[name].key)


def canonical_sorted(table: pa.Table, name: str) -> pa.Table:
    entity = ENTITY_BY_NAME[name]
    return table.select(entity.schema.names).sort_by([(k, "ascending") for k in entity.key])


def assert_same_tables(actual: RosterSet, expected: RosterSet) -> None:
    for entity in ENTITIES:
        got = canonical_sorted(actual.table(entity.name), entity.name)
        want = canonical_sorted(expected.canonical().table(entity.name), entity.name)
        assert got.schema == entity.schema
        assert got.equals(want), f"{entity.name}:\n{got.to_pylist()}\n!=\n{want.to_pylist()}"


@settings(max_examples=100, deadline=None)
@given(students, enrollments, students, enrollments)
def test_applying_the_diff_to_old_gives_new(old_s: Rows, old_e: Rows, new_s: Rows, new_e: Rows) -> None:
    old, new = roster(old_s, old_e), roster(new_s, new_e)

    applied = apply_changes(old, diff_rosters(old, new))

    assert_same_tables(applied, new)


@settings(max_examples=100, deadline=None)
@given(students, enrollments, students, enrollments, st.data())
def test_applying_keeps_old_records_of_unknown_keys(
    old_s: Rows, old_e: Rows, new_s: Rows, new_e: Rows, data: st.DataObject
) -> None:
    # Given some old keys whose staged rows failed validation (absent from new, listed unknown)
    unknown: dict[str, set[str]] = {}
    for name, rows in (("students", old_s), ("enrollments", old_e)):
        keys = sorted(key_of(name, r) for r in rows)
        unknown[name] = set(data.draw(st.lists(st.sampled_from(keys), unique=True) if keys else st.just([])))
    new_s = [r for r in new_s if key_of("students", r) not in unknown["students"]]
    new_e = [r for r in new_e if key_of("enrollments", r) not in unknown["enrollments"]]
    old = roster(old_s, old_e)
    new = roster(new_s, new_e, unknown=[(n, k) for n, keys in unknown.items() for k in keys])

    # When the diff is applied
    applied = apply_changes(old, diff_rosters(old, new))

    # Then the result is new plus the old records of the unknown keys
    expected = roster(
        new_s + [r for r in old_s if key_of("students", r) in unknown["students"]],
        new_e + [r for r in old_e if key_of("enrollments", r) in unknown["enrollments"]],
    )
    assert_same_tables(applied, expected)


@settings(max_examples=100, deadline=None)
@given(students, students)
def test_changed_fields_are_exactly_the_differing_columns(old_s: Rows, new_s: Rows) -> None:
    old, new = roster(old_s, []), roster(new_s, [])
    old_rows = {r["person_id"]: r for r in old.canonical().table("students").to_pylist()}
    new_rows = {r["person_id"]: r for r in new.canonical().table("students").to_pylist()}

    changes = diff_rosters(old, new)["students"]

    expected = {}
    for pid in old_rows.keys() & new_rows.keys():
        differing = [c for c in STUDENTS.value_columns if old_rows[pid][c] != new_rows[pid][c]]
        if differing:
            expected[pid] = differing
    got = dict(
        zip(
            changes.changed_new.column("person_id").to_pylist(),
            changes.changed_fields.to_pylist(),
            strict=True,
        )
    )
    assert got == expected
