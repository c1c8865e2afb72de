"""Clever-style CSV into canonical rows (tests/fixtures/clever_basic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from formats_helpers import FIXTURES, rows_by_key

from rostersync.formats import load_roster, read_raw
from rostersync.formats.clever import contact_ids
from rostersync.roster import FORMAT_CLEVER_CSV
from rostersync.validate import LoadResult

MARIA = "email:maria.rivera@mail.example.com"
JORGE = "name:jorge rivera|phone:5552010002"


@pytest.fixture(scope="module")
def basic() -> LoadResult:
    return load_roster(FIXTURES / "clever_basic")


def test_format_and_files(basic: LoadResult) -> None:
    assert basic.format == FORMAT_CLEVER_CSV
    assert basic.files["students"] == "students.csv"
    assert basic.files["contacts"] == "students.csv"
    assert basic.files["terms"] == "sections.csv"


def test_clean_fixture_has_no_issues(basic: LoadResult) -> None:
    assert basic.issues.num_rows == 0
    assert basic.roster.unknown.num_rows == 0


def test_schools(basic: LoadResult) -> None:
    assert rows_by_key(basic, "schools", "school_id")["S1"] == {
        "school_id": "S1",
        "name": "Lincoln Elementary",
        "school_number": "101",
        "state_id": "ST-101",
        "low_grade": "KG",
        "high_grade": "05",
        "phone": None,
        "phone_extension": None,
        "low_grade_raw": "Kindergarten",
        "high_grade_raw": "5",
    }


def test_student_is_its_first_row(basic: LoadResult) -> None:
    students = basic.roster.tables["students"]

    assert students.column("person_id").to_pylist() == ["ST1", "ST2", "ST3", "ST4"]
    assert rows_by_key(basic, "students", "person_id")["ST1"] == {
        "person_id": "ST1",
        "school_id": "S1",
        "school_ids": ["S1"],
        "sis_id": "1001",
        "state_id": "SS1",
        "username": None,
        "first_name": "Ana",
        "middle_name": None,
        "last_name": "Rivera",
        "email": "ana.rivera@students.example.org",
        "phone": None,
        "phone_extension": None,
        "phone_type": None,
        "grade": "03",
        "birth_date": date(2015, 4, 15),
        "gender": "female",
        "title": None,
        "grade_raw": "3",
        "gender_raw": "F",
    }


def test_iso_and_us_dates_are_both_read(basic: LoadResult) -> None:
    students = rows_by_key(basic, "students", "person_id")

    assert students["ST1"]["birth_date"] == date(2015, 4, 15)  # 04/15/2015
    assert students["ST2"]["birth_date"] == date(2013, 9, 2)  # 2013-09-02


def test_teacher_on_two_schools_is_one_record_listing_both(basic: LoadResult) -> None:
    morgan = rows_by_key(basic, "teachers", "person_id")["T3"]

    assert basic.roster.tables["teachers"].num_rows == 3
    assert (morgan["school_id"], morgan["school_ids"]) == ("S1", ["S1", "S2"])


def test_staff(basic: LoadResult) -> None:
    carmen = rows_by_key(basic, "staff", "person_id")["STF1"]

    assert (carmen["first_name"], carmen["title"], carmen["email"]) == (
        "Carmen",
        "Counselor",
        "cgomez@lincoln.example.org",
    )


def test_section_teachers_primary_first_blanks_dropped(basic: LoadResult) -> None:
    sections = rows_by_key(basic, "sections", "section_id")

    assert sections["SEC1"]["teacher_ids"] == ["T1", "T3"]
    assert sections["SEC2"]["teacher_ids"] == ["T1"]
    assert sections["SEC3"]["teacher_ids"] == ["T2", "T3"]  # Teacher_2_id blank


def test_section_fields(basic: LoadResult) -> None:
    assert rows_by_key(basic, "sections", "section_id")["SEC2"] == {
        "section_id": "SEC2",
        "school_id": "S1",
        "course_id": "S1|MA-5",
        "term_id": "S1|Fall 2024|2024",
        "name": "Grade 5 Math",
        "section_number": "M5",
        "subject": "Math",
        "grade": "05",
        "period": "2",
        "teacher_ids": ["T1"],
        "grade_raw": "5",
    }


def test_terms_are_derived_per_school_and_year(basic: LoadResult) -> None:
    terms = rows_by_key(basic, "terms", "term_id")

    assert sorted(terms) == ["S1|Fall 2024|2024", "S2|Full Year|2024"]
    assert terms["S2|Full Year|2024"]["start_date"] == date(2024, 8, 20)
    assert terms["S2|Full Year|2024"]["end_date"] == date(2025, 6, 10)


def test_courses_are_keyed_by_number_else_name(basic: LoadResult) -> None:
    courses = rows_by_key(basic, "courses", "course_id")

    assert sorted(courses) == ["S1|HR-3", "S1|MA-5", "S2|Science 7"]
    assert (courses["S1|MA-5"]["name"], courses["S1|MA-5"]["course_code"]) == ("Math 5", "MA-5")


def test_enrollments_are_students(basic: LoadResult) -> None:
    enrollments = basic.roster.tables["enrollments"].to_pylist()

    assert enrollments[0] == {"section_id": "SEC1", "person_id": "ST1", "school_id": "S1", "role": "student"}
    assert {e["role"] for e in enrollments} == {"student"}
    assert len(enrollments) == 4


def test_siblings_share_one_contact(basic: LoadResult) -> None:
    links = basic.roster.tables["contact_links"].to_pylist()

    assert sorted(basic.roster.tables["contacts"].column("person_id").to_pylist()) == sorted(
        ["C-300", MARIA, JORGE]
    )
    assert [(lk["student_id"], lk["contact_id"]) for lk in links] == [
        ("ST1", MARIA),
        ("ST1", JORGE),
        ("ST2", MARIA),
        ("ST3", "C-300"),
    ]


def test_contact_fields(basic: LoadResult) -> None:
    assert rows_by_key(basic, "contacts", "person_id")["C-300"] == {
        "person_id": "C-300",
        "school_id": "S2",
        "school_ids": None,
        "sis_id": "C-300",
        "state_id": None,
        "username": None,
        "first_name": "Grace",
        "middle_name": None,
        "last_name": "Chen",
        "email": "grace.chen@mail.example.com",
        "phone": "+15553010003",
        "phone_extension": None,
        "phone_type": "Cell",
        "grade": None,
        "birth_date": None,
        "gender": None,
        "title": None,
        "grade_raw": None,
        "gender_raw": None,
    }


def test_contact_link_carries_relationship_and_type(basic: LoadResult) -> None:
    link = basic.roster.tables["contact_links"].to_pylist()[1]

    assert link == {
        "student_id": "ST1",
        "contact_id": JORGE,
        "school_id": "S1",
        "relationship": "Parent",
        "contact_type": "Secondary",
        "relationship_raw": "Parent",
        "contact_type_raw": "Secondary",
    }


def test_student_without_contact_columns_filled_has_no_contact(basic: LoadResult) -> None:
    links = basic.roster.tables["contact_links"]

    assert "ST4" not in links.column("student_id").to_pylist()


def test_contact_id_preference_order() -> None:
    ids = contact_ids(
        sis_id=pa.array(["C-1", None, None, None, None]),
        email=pa.array(["a@x.org", "Mom@Mail.Example.com", "not-an-email", None, None]),
        name=pa.array(["Ann", "Mom", "Tia  Rosa", "Tia Rosa", "Tia Rosa"]),
        phone=pa.array([None, None, "(555) 123-4567", None, None]),
        student_id=pa.array(["ST1", "ST1", "ST1", "ST1", "ST2"]),
    )

    assert ids.to_pylist() == [
        "C-1",
        "email:mom@mail.example.com",
        "name:tia rosa|phone:5551234567",
        "name:tia rosa|student:ST1",
        "name:tia rosa|student:ST2",
    ]


def test_contact_ids_are_stable_when_row_order_changes(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    students = directory / "students.csv"
    header, *rows = students.read_text(encoding="utf-8").splitlines()
    students.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")

    before = load_roster(FIXTURES / "clever_basic").roster.tables
    after = load_roster(directory).roster.tables

    assert set(after["contacts"].column("person_id").to_pylist()) == set(
        before["contacts"].column("person_id").to_pylist()
    )
    pairs = {(r["student_id"], r["contact_id"]) for r in before["contact_links"].to_pylist()}
    assert {(r["student_id"], r["contact_id"]) for r in after["contact_links"].to_pylist()} == pairs


def test_absent_optional_staff_file_is_missing_not_empty(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    (directory / "staff.csv").unlink()

    result = load_roster(directory)

    assert "staff" in result.roster.missing
    assert "staff" not in result.roster.received_at
    assert result.roster.tables["staff"].num_rows == 0


def test_received_at_is_set_for_every_supplied_entity() -> None:
    when = datetime(2024, 9, 1, 6, 30, tzinfo=UTC)

    result = load_roster(FIXTURES / "clever_basic", received_at=when)

    assert result.roster.missing == frozenset()
    assert set(result.roster.received_at) == set(result.roster.tables)
    assert set(result.roster.received_at.values()) == {when}


def test_received_at_defaults_to_now_utc() -> None:
    before = datetime.now(UTC)

    result = load_roster(FIXTURES / "clever_basic")

    assert min(result.roster.received_at.values()) >= before


def test_raw_tables_keep_row_numbers_and_source_file() -> None:
    raw = read_raw(FIXTURES / "clever_basic")
    students = raw.tables["students"]

    assert students.table.column("_row").to_pylist() == [2, 4, 5, 6]
    assert students.file == "students.csv"
    assert students.source("first_name").column == "First_name"


def test_students_without_contact_columns_supply_no_contacts(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    (directory / "students.csv").write_text(
        "School_id,Student_id,Last_name,First_name\nS1,ST1,Rivera,Ana\n", encoding="utf-8"
    )

    result = load_roster(directory)

    assert {"contacts", "contact_links"} <= result.roster.missing
    assert "students" not in result.roster.missing
