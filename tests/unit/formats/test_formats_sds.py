"""Microsoft School Data Sync v2.1 CSV into canonical rows (tests/fixtures/sds21_basic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from formats_helpers import FIXTURES, append_lines, rows_by_key

from rostersync.formats import detect_format, load_roster
from rostersync.formats.detect import sds_21_required
from rostersync.issues import InvalidFilesError
from rostersync.roster import FORMAT_SDS_21_CSV
from rostersync.validate import LoadResult

NO_ROLE = (
    "This user has no role in roles.csv and is no one's guardian in relationships.csv, so it is not "
    "known whether they are a student, teacher, staff member or contact; the row was left out."
)


@pytest.fixture(scope="module")
def result() -> LoadResult:
    return load_roster(FIXTURES / "sds21_basic")


def _ids(result: LoadResult, entity: str, key: str = "person_id") -> list[str]:
    return sorted(result.roster.tables[entity].column(key).to_pylist())


def test_detected_without_a_manifest() -> None:
    assert detect_format(FIXTURES / "sds21_basic") == FORMAT_SDS_21_CSV


def test_counts(result: LoadResult) -> None:
    assert result.roster.counts() == {
        "schools": 2,
        "terms": 3,
        "courses": 3,
        "students": 3,
        "teachers": 2,
        "staff": 1,
        "contacts": 3,
        "contact_links": 4,
        "sections": 3,
        "enrollments": 3,
    }


def test_exact_issues(result: LoadResult) -> None:
    assert result.issues.to_pylist() == [
        {
            "severity": "alert",
            "file": "enrollments.csv",
            "row": 8,
            "column": "role",
            "value": "principal",
            "message": "Only student and teacher enrollments are read; this row was ignored.",
        },
        {
            "severity": "error",
            "file": "users.csv",
            "row": 10,
            "column": "sourcedId",
            "value": "X1",
            "message": NO_ROLE,
        },
    ]


def test_user_without_role_or_relationship_is_unknown(result: LoadResult) -> None:
    assert sorted(result.roster.unknown.to_pylist(), key=lambda r: r["entity"]) == [
        {"entity": e, "key": "X1"} for e in ("contacts", "staff", "students", "teachers")
    ]


def test_school_orgs_become_schools(result: LoadResult) -> None:
    assert {k: v["name"] for k, v in rows_by_key(result, "schools", "school_id").items()} == {
        "S110": "Maple Valley Elementary",
        "S120": "Cedar Ridge Middle",
    }


def test_roles_decide_the_entity(result: LoadResult) -> None:
    assert _ids(result, "students") == ["ST1", "ST2", "ST3"]
    assert _ids(result, "teachers") == ["T1", "T2"]
    assert _ids(result, "staff") == ["A1"]
    # G1 has no role row, G2 the role "other": both are contacts only. T2 is a teacher and a parent.
    assert _ids(result, "contacts") == ["G1", "G2", "T2"]


def test_student_grade_comes_from_roles_and_demographics_from_demographics(result: LoadResult) -> None:
    students = rows_by_key(result, "students", "person_id")

    assert {k: (s["grade"], s["birth_date"], s["gender"]) for k, s in students.items()} == {
        "ST1": ("03", date(2017, 4, 9), "female"),
        "ST2": ("KG", date(2019, 11, 23), "male"),
        "ST3": ("07", date(2013, 2, 1), "unspecified"),  # sent as notSelected
    }


def test_department_maps_to_its_school(result: LoadResult) -> None:
    # T2's role and class C3 are at DEP121, a department of Cedar Ridge Middle (S120).
    assert rows_by_key(result, "teachers", "person_id")["T2"]["school_ids"] == ["S120"]
    assert rows_by_key(result, "sections", "section_id")["C3"]["school_id"] == "S120"


def test_primary_role_school_comes_first(result: LoadResult) -> None:
    a1 = rows_by_key(result, "staff", "person_id")["A1"]

    assert (a1["school_id"], a1["school_ids"], a1["title"]) == ("S110", ["S110", "S120"], "principal")


def test_guardian_links_come_from_relationships(result: LoadResult) -> None:
    links = sorted(
        (r["student_id"], r["contact_id"], r["school_id"], r["relationship"])
        for r in result.roster.tables["contact_links"].to_pylist()
    )

    assert links == [
        ("ST1", "G1", "S110", "Parent"),
        ("ST2", "G1", "S110", "Parent"),
        ("ST3", "G2", "S120", "Guardian"),
        ("ST3", "T2", "S120", "Parent"),
    ]


def test_contact_fields(result: LoadResult) -> None:
    contacts = rows_by_key(result, "contacts", "person_id")

    assert {k: (c["school_id"], c["email"], c["phone"]) for k, c in contacts.items()} == {
        "G1": ("S110", "erik.lindqvist@mail.example.com", "4255550101"),
        "G2": ("S120", "bich.tran@mail.example.com", "+14255550102"),  # from the sms column
        "T2": ("S120", "rnguyen@maplevalley.example.org", None),
    }


def test_sections_take_the_first_session_and_teacher_enrollments(result: LoadResult) -> None:
    sections = rows_by_key(result, "sections", "section_id")

    assert sections["C1"] == {
        "section_id": "C1",
        "school_id": "S110",
        "course_id": "CO1",
        "term_id": "FA25",  # first of "FA25,SP26"
        "name": "Grade 3 Homeroom",
        "section_number": "HR3",
        "subject": None,
        "grade": None,
        "grade_raw": None,
        "period": None,
        "teacher_ids": ["T1"],
    }
    assert sections["C3"]["teacher_ids"] == ["T2"]  # the principal's enrollment was ignored


def test_enrollments_take_their_class_school(result: LoadResult) -> None:
    assert sorted(
        (r["section_id"], r["person_id"], r["school_id"])
        for r in result.roster.tables["enrollments"].to_pylist()
    ) == [("C1", "ST1", "S110"), ("C2", "ST2", "S110"), ("C3", "ST3", "S120")]


def test_sessions_read_m_d_yyyy_dates(result: LoadResult) -> None:
    terms = rows_by_key(result, "terms", "term_id")

    assert (terms["SP26"]["start_date"], terms["SP26"]["end_date"], terms["SP26"]["type"]) == (
        date(2026, 1, 5),
        date(2026, 6, 5),
        "semester",
    )


def test_district_course_has_no_school(result: LoadResult) -> None:
    courses = rows_by_key(result, "courses", "course_id")

    assert (courses["CO1"]["school_id"], courses["CO3"]["school_id"]) == ("S110", None)


def test_users_only_set_leaves_sections_and_enrollments_unsupplied(
    fixture_copy: Callable[[str], Path],
) -> None:
    directory = fixture_copy("sds21_basic")
    for name in ("classes.csv", "enrollments.csv"):
        (directory / name).unlink()

    result = load_roster(directory)

    assert result.roster.missing == frozenset({"sections", "enrollments"})
    assert result.roster.counts()["students"] == 3


def test_without_relationships_contacts_are_not_supplied(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    (directory / "relationships.csv").unlink()

    result = load_roster(directory)

    assert result.roster.missing == frozenset({"contacts", "contact_links"})
    # G1 then has neither a role nor a relationship.
    assert [
        (i["file"], i["row"], i["value"]) for i in result.issues.to_pylist() if i["severity"] == "error"
    ] == [
        ("users.csv", 7, "G1"),
        ("users.csv", 10, "X1"),
    ]


def test_classes_without_enrollments_is_refused(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    (directory / "enrollments.csv").unlink()

    with pytest.raises(InvalidFilesError) as caught:
        load_roster(directory)

    assert [str(p) for p in caught.value.problems] == [
        "enrollments.csv: required file is missing: SDS sends classes.csv and enrollments.csv together, "
        "and this set has classes.csv without it"
    ]


def test_missing_required_header_is_refused(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    text = (directory / "roles.csv").read_text(encoding="utf-8")
    (directory / "roles.csv").write_text(text.replace("orgSourcedId", "orgSourceId", 1), encoding="utf-8")

    with pytest.raises(InvalidFilesError) as caught:
        load_roster(directory)

    assert [str(p) for p in caught.value.problems] == [
        'roles.csv: required header "orgSourcedId" is missing (found "orgSourceId" — did you mean '
        '"orgSourcedId"?)'
    ]


def test_role_of_an_unknown_user_is_an_alert(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    append_lines(directory / "roles.csv", "GHOST,S110,student,SY2526,05,TRUE,,")

    result = load_roster(directory)

    assert [i for i in result.issues.to_pylist() if i["file"] == "roles.csv"] == [
        {
            "severity": "alert",
            "file": "roles.csv",
            "row": 10,
            "column": "userSourcedId",
            "value": "GHOST",
            "message": "Refers to a user who is not in users.csv; the role was ignored.",
        }
    ]


def test_user_flags_file_is_accepted_and_not_read(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    (directory / "userFlags.csv").write_text("userSourcedId,flag\nST1,someFlag\n", encoding="utf-8")

    result = load_roster(directory)

    assert (result.format, result.roster.counts()["students"], len(result.issues)) == (
        FORMAT_SDS_21_CSV,
        3,
        2,
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"orgs.csv"}, ("orgs.csv", "users.csv", "roles.csv")),
        (
            {"orgs.csv", "users.csv", "roles.csv", "classes.csv"},
            ("orgs.csv", "users.csv", "roles.csv", "classes.csv", "enrollments.csv"),
        ),
        ({"manifest.csv", "orgs.csv", "roles.csv"}, None),  # OneRoster 1.2
        ({"schools.csv", "students.csv"}, None),  # Clever-style
    ],
)
def test_arrival_knows_which_files_an_sds_set_needs(
    names: set[str], expected: tuple[str, ...] | None
) -> None:
    assert sds_21_required(names) == expected


def test_without_school_orgs_the_leaf_orgs_are_the_schools(tmp_path: Path) -> None:
    # A set whose orgs are a district and two departments (no org typed school).
    files = {
        "orgs.csv": "sourcedId,name,type,parentSourcedId\nD1,District,district,\n"
        "P1,Arts Program,department,D1\nP2,Science Program,department,D1\n",
        "users.csv": "sourcedId,username,givenName,familyName\n"
        "U1,ana@x.org,Ana,Rivera\nU2,ben@x.org,Ben,Ode\n",
        "roles.csv": "userSourcedId,orgSourcedId,role\nU1,P1,student\nU2,P2,student\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    result = load_roster(tmp_path)

    assert _ids(result, "schools", "school_id") == ["P1", "P2"]
    assert _ids(result, "students") == ["U1", "U2"]
    assert result.issues.to_pylist() == [
        {
            "severity": "alert",
            "file": "orgs.csv",
            "row": 3,
            "column": "type",
            "value": "department",
            "message": "orgs.csv has no org of type school, so the orgs that no other org names as its "
            'parent were taken as the schools (P1, P2). Set the type of each school to "school" in your '
            "SIS export.",
        }
    ]


def test_a_district_level_teacher_is_kept_with_no_school(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    append_lines(directory / "users.csv", "T9,lee@maplevalley.example.org,Kim,Lee,,,,,")
    append_lines(directory / "roles.csv", "T9,D100,teacher,,,TRUE,,")

    result = load_roster(directory)
    kim = rows_by_key(result, "teachers", "person_id")["T9"]

    assert (kim["school_id"], kim["school_ids"]) == (None, [])
    assert len(result.issues) == 2  # the fixture's own two issues, nothing about T9


def test_a_student_or_class_at_an_org_with_no_school_above_it_is_reported_against_that_org(
    fixture_copy: Callable[[str], Path],
) -> None:
    # Microsoft's own sample sends a college (no parent) beside the K-12 school: its student and
    # its class have no school. The issue says what the org is and quotes it in the Value column.
    directory = fixture_copy("sds21_basic")
    append_lines(directory / "orgs.csv", "COL1,Maple Valley College,college,")
    append_lines(directory / "users.csv", "ST9,ava@college.example.org,Ava,Stone,,,,,")
    append_lines(directory / "roles.csv", "ST9,COL1,student,FA25,,TRUE,,")
    append_lines(directory / "classes.csv", "C9,COL1,Intro to Physics,FA25,,PHY1")
    append_lines(directory / "enrollments.csv", "C9,ST1,student")

    result = load_roster(directory)
    no_school = "Refers to a school that is an org of type college in orgs.csv with no school above it; "

    assert [i for i in result.issues.to_pylist() if i["value"] in ("COL1", "C9", "ST9")] == [
        {
            "severity": "error",
            "file": "classes.csv",
            "row": 5,
            "column": "orgSourcedId",
            "value": "COL1",
            "message": no_school + "the class was left out.",
        },
        {
            "severity": "error",
            "file": "enrollments.csv",
            "row": 9,
            "column": "classSourcedId",
            "value": "C9",
            "message": "Refers to a class that was left out because of the error on row 5 of classes.csv; "
            "the enrollment was left out.",
        },
        {
            "severity": "error",
            "file": "roles.csv",
            "row": 10,
            "column": "orgSourcedId",
            "value": "COL1",
            "message": no_school + "the student was left out.",
        },
    ]
    assert (_ids(result, "students"), _ids(result, "sections", "section_id")) == (
        ["ST1", "ST2", "ST3"],
        ["C1", "C2", "C3"],
    )


def test_a_student_whose_role_names_no_org_says_so(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("sds21_basic")
    append_lines(directory / "users.csv", "ST9,ava@students.example.org,Ava,Stone,,,,,")
    append_lines(directory / "roles.csv", "ST9,,student,FA25,,TRUE,,")

    result = load_roster(directory)

    assert [i for i in result.issues.to_pylist() if i["file"] == "roles.csv"] == [
        {
            "severity": "error",
            "file": "roles.csv",
            "row": 10,
            "column": "orgSourcedId",
            "value": None,
            "message": "No school: this student's role in roles.csv names no org (orgSourcedId), and every "
            "student needs a school; the row was left out.",
        }
    ]
