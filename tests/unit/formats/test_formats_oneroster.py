"""OneRoster 1.1 and 1.2 CSV into canonical rows (tests/fixtures/oneroster11_basic, 12_basic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from formats_helpers import FIXTURES, append_lines, issues, replace_text, rows_by_key

from rostersync.formats import load_roster, read_raw
from rostersync.issues import InvalidFilesError
from rostersync.roster import FORMAT_ONEROSTER_11_CSV, FORMAT_ONEROSTER_12_CSV
from rostersync.validate import LoadResult

BOTH = ["oneroster11_basic", "oneroster12_basic"]


@pytest.fixture(scope="module", params=BOTH)
def result(request: pytest.FixtureRequest) -> LoadResult:
    return load_roster(FIXTURES / request.param)


@pytest.fixture(scope="module")
def v11() -> LoadResult:
    return load_roster(FIXTURES / "oneroster11_basic")


@pytest.fixture(scope="module")
def v12() -> LoadResult:
    return load_roster(FIXTURES / "oneroster12_basic")


def _ids(result: LoadResult, entity: str, key: str = "person_id") -> list[str]:
    return sorted(result.roster.tables[entity].column(key).to_pylist())


def test_formats(v11: LoadResult, v12: LoadResult) -> None:
    assert (v11.format, v12.format) == (FORMAT_ONEROSTER_11_CSV, FORMAT_ONEROSTER_12_CSV)


def test_clean_fixtures_have_no_issues(result: LoadResult) -> None:
    assert result.issues.to_pylist() == []


def test_school_orgs_become_schools(result: LoadResult) -> None:
    # D1 is the district; O3 is a school marked tobedeleted.
    assert rows_by_key(result, "schools", "school_id") == {
        "O1": {
            "school_id": "O1",
            "name": "Lincoln Elementary",
            "school_number": "101",
            "state_id": None,
            "low_grade": None,
            "high_grade": None,
            "phone": None,
            "phone_extension": None,
            "low_grade_raw": None,
            "high_grade_raw": None,
        },
        "O2": {
            "school_id": "O2",
            "name": "Roosevelt Middle",
            "school_number": "102",
            "state_id": None,
            "low_grade": None,
            "high_grade": None,
            "phone": None,
            "phone_extension": None,
            "low_grade_raw": None,
            "high_grade_raw": None,
        },
    }


def test_users_are_split_by_role(result: LoadResult) -> None:
    assert _ids(result, "students") == ["U-S1", "U-S2", "U-S3"]  # U-S9 is tobedeleted
    assert _ids(result, "teachers") == ["U-T1", "U-T2"]
    assert _ids(result, "staff") == ["U-A1"]
    assert _ids(result, "contacts") == ["U-P1", "U-P2", "U-P3"]


def test_student_fields_with_demographics(result: LoadResult) -> None:
    ana = rows_by_key(result, "students", "person_id")["U-S1"]

    assert {k: ana[k] for k in ("school_id", "sis_id", "username", "first_name", "last_name", "grade")} == {
        "school_id": "O1",
        "sis_id": "1001",
        "username": "arivera",
        "first_name": "Ana",
        "last_name": "Rivera",
        "grade": "03",
    }
    assert (ana["birth_date"], ana["gender"]) == (date(2015, 4, 15), "female")


def test_teacher_in_two_schools(result: LoadResult) -> None:
    # 1.1: orgSourcedIds "O2,O1" (a quoted comma list); 1.2: primary role at O2, secondary at O1.
    kiran = rows_by_key(result, "teachers", "person_id")["U-T2"]

    assert (kiran["school_id"], kiran["school_ids"]) == ("O2", ["O2", "O1"])


def test_district_org_is_not_a_school_of_staff(result: LoadResult) -> None:
    carmen = rows_by_key(result, "staff", "person_id")["U-A1"]

    assert (carmen["school_id"], carmen["school_ids"], carmen["title"]) == ("O1", ["O1"], "administrator")


def test_guardians_are_linked_from_either_side(result: LoadResult) -> None:
    # U-S1 lists "U-P1, U-P2"; U-P3 is only linked from the guardian's own row.
    links = {(r["student_id"], r["contact_id"]): r for r in result.roster.tables["contact_links"].to_pylist()}

    assert sorted(links) == [("U-S1", "U-P1"), ("U-S1", "U-P2"), ("U-S2", "U-P1"), ("U-S3", "U-P3")]
    assert links[("U-S3", "U-P3")] == {
        "student_id": "U-S3",
        "contact_id": "U-P3",
        "school_id": "O2",
        "relationship": "Relative",
        "contact_type": None,
        "relationship_raw": "Relative",
        "contact_type_raw": None,
    }


def test_relationship_comes_from_the_guardian_role(result: LoadResult) -> None:
    relationship = {
        r["contact_id"]: r["relationship"] for r in result.roster.tables["contact_links"].to_pylist()
    }

    assert relationship == {"U-P1": "Parent", "U-P2": "Guardian", "U-P3": "Relative"}


def test_contact_school_is_that_of_its_first_student(result: LoadResult) -> None:
    contacts = rows_by_key(result, "contacts", "person_id")

    assert {k: c["school_id"] for k, c in contacts.items()} == {"U-P1": "O1", "U-P2": "O1", "U-P3": "O2"}
    assert contacts["U-P2"]["phone"] == "5552010002"  # from the sms column


def test_teacher_enrollments_become_section_teachers_primary_first(result: LoadResult) -> None:
    sections = rows_by_key(result, "sections", "section_id")

    assert sections["C1"]["teacher_ids"] == ["U-T1", "U-T2"]  # U-T2's row comes first but is not primary
    assert sections["C3"]["teacher_ids"] == ["U-T2"]


def test_section_fields(result: LoadResult) -> None:
    assert rows_by_key(result, "sections", "section_id")["C1"] == {
        "section_id": "C1",
        "school_id": "O1",
        "course_id": "CO1",
        "term_id": "T-F24",  # first of "T-F24,T-S25"
        "name": "Grade 3 Homeroom",
        "section_number": "HR3",
        "subject": "Homeroom",
        "grade": "03",
        "period": "1",
        "teacher_ids": ["U-T1", "U-T2"],
        "grade_raw": "03",
    }


def test_student_enrollments_tobedeleted_excluded(result: LoadResult) -> None:
    pairs = [(r["section_id"], r["person_id"]) for r in result.roster.tables["enrollments"].to_pylist()]

    assert pairs == [("C1", "U-S1"), ("C2", "U-S2"), ("C3", "U-S3")]  # E8 is tobedeleted


def test_academic_sessions_become_terms(result: LoadResult) -> None:
    assert rows_by_key(result, "terms", "term_id")["T-F24"] == {
        "term_id": "T-F24",
        "school_id": None,
        "name": "Fall 2024",
        "type": "semester",
        "start_date": date(2024, 8, 15),
        "end_date": date(2024, 12, 20),
        "parent_id": "Y2025",
    }


def test_courses_of_the_district_have_no_school(result: LoadResult) -> None:
    courses = rows_by_key(result, "courses", "course_id")

    assert courses["CO1"]["school_id"] == "O1"
    assert courses["CO3"]["school_id"] is None  # orgSourcedId is the district


def test_v12_user_master_identifier_is_state_id(v12: LoadResult) -> None:
    assert rows_by_key(v12, "students", "person_id")["U-S1"]["state_id"] == "SS-1001"


def test_nothing_is_missing(result: LoadResult) -> None:
    assert result.roster.missing == frozenset()


def test_undocumented_role_goes_to_staff_with_an_alert(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster11_basic")
    append_lines(directory / "users.csv", "U-X1,active,,true,O1,librarian,,,Lee,Park,,,,,,,,")

    result = load_roster(directory)

    assert "U-X1" in rows_by_key(result, "staff", "person_id")
    [alert] = issues(result, file="users.csv", column="role")
    assert (alert["severity"], alert["row"], alert["value"]) == ("alert", 12, "librarian")


def test_user_without_role_is_an_error_and_unknown_everywhere(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster12_basic")
    replace_text(directory / "roles.csv", "R5,active,,U-S2,primary,student,,,O1,\n", "")

    result = load_roster(directory)

    [error] = issues(result, severity="error", file="users.csv", column="sourcedId")
    assert (error["file"], error["row"], error["column"], error["value"]) == (
        "users.csv",
        5,
        "sourcedId",
        "U-S2",
    )
    [cascaded] = issues(result, severity="error", file="enrollments.csv")
    assert cascaded["message"] == (
        "Refers to a student that is in users.csv (row 5) but has no role in roles.csv, so it was "
        "left out; the enrollment was left out."
    )
    unknown = result.roster.unknown.to_pylist()
    assert {"entity": "students", "key": "U-S2"} in unknown
    assert {"entity": "contacts", "key": "U-S2"} in unknown


def test_role_of_a_user_not_in_users_is_an_alert(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster12_basic")
    append_lines(directory / "roles.csv", "R99,active,,U-NOBODY,primary,student,,,O1,")

    [alert] = issues(load_roster(directory), file="roles.csv")

    assert (alert["row"], alert["column"], alert["value"]) == (14, "userSourcedId", "U-NOBODY")


def test_delta_files_are_refused(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster11_basic")
    replace_text(directory / "manifest.csv", "file.users,bulk", "file.users,delta")

    with pytest.raises(
        InvalidFilesError, match=r"users\.csv as delta: this is a OneRoster delta set.*send it again"
    ):
        read_raw(directory)


def test_missing_oneroster_file(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster12_basic")
    (directory / "roles.csv").unlink()

    with pytest.raises(InvalidFilesError, match=r"roles\.csv: required file is missing"):
        read_raw(directory)


def test_only_the_required_headers_are_needed(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster11_basic")
    (directory / "demographics.csv").unlink()
    (directory / "users.csv").write_text(
        "sourcedId,orgSourcedIds,role,givenName,familyName\nU-S1,O1,student,Ana,Rivera\n", encoding="utf-8"
    )
    (directory / "enrollments.csv").write_text(
        "classSourcedId,schoolSourcedId,userSourcedId,role\nC1,O1,U-S1,student\n", encoding="utf-8"
    )

    result = load_roster(directory)

    assert _ids(result, "students") == ["U-S1"]
    assert result.roster.tables["enrollments"].num_rows == 1
    assert result.roster.tables["contacts"].num_rows == 0


def test_manifest_with_wrong_headers_is_a_file_problem(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster11_basic")
    replace_text(directory / "manifest.csv", "propertyName,value", "property,value")

    with pytest.raises(InvalidFilesError, match=r'manifest\.csv: required header "propertyName"'):
        read_raw(directory)


def test_problems_of_people_and_class_files_are_listed_in_the_sets_order(
    fixture_copy: Callable[[str], Path],
) -> None:
    # People files are read first and class files beside their mapping; the refusal still lists
    # every file's problem in the order the set's files are read.
    directory = fixture_copy("oneroster12_basic")
    replace_text(directory / "roles.csv", "orgSourcedId", "orgSourced")
    replace_text(directory / "enrollments.csv", "classSourcedId", "classSourced")
    replace_text(directory / "users.csv", "givenName", "given")

    with pytest.raises(InvalidFilesError) as caught:
        read_raw(directory)

    assert [(p.file, p.header) for p in caught.value.problems] == [
        ("users.csv", "givenName"),
        ("enrollments.csv", "classSourcedId"),
        ("roles.csv", "orgSourcedId"),
    ]


def test_a_class_file_problem_refuses_the_set_after_its_people_were_read(
    fixture_copy: Callable[[str], Path],
) -> None:
    directory = fixture_copy("oneroster12_basic")
    replace_text(directory / "classes.csv", "schoolSourcedId", "school")

    with pytest.raises(InvalidFilesError) as caught:
        read_raw(directory)

    assert [(p.file, p.header) for p in caught.value.problems] == [("classes.csv", "schoolSourcedId")]
