"""Real-world OneRoster shapes, one hand-made fixture per defect class (tests/fixtures/oneroster_*).

Each fixture's README says which real export it imitates. Each test asserts the exact canonical
counts and the exact issue rows (severity, file, row, column, value, message).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import FIXTURES, replace_text

from rostersync.diff import diff_rosters
from rostersync.formats import load_roster, read_raw
from rostersync.formats.csvio import find_files, read_file_set
from rostersync.formats.oneroster.common import Context
from rostersync.formats.oneroster.orgs import read_orgs
from rostersync.formats.oneroster.people import read_people
from rostersync.formats.oneroster.specs import ORGS, USERS_11
from rostersync.issues import InvalidFilesError
from rostersync.roster import FORMAT_ONEROSTER_11_CSV
from rostersync.validate import LoadResult

CopyFixture = Callable[[str], Path]  # formats_helpers.fixture_copy: copy a fixture set to edit it

# Every fixture set here is one school year of one school: one school, one term, one course.
ONE_SCHOOL_YEAR = {"schools": 1, "terms": 1, "courses": 1}


def _load_edited(directory: Path, file: str, content: str | bytes) -> LoadResult:
    """Load a copied fixture set after writing ``content`` as its file ``file``."""
    (directory / file).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return load_roster(directory)


def _counts(result: LoadResult) -> dict[str, int]:
    return {name: t.num_rows for name, t in result.roster.tables.items() if t.num_rows}


def _issues(result: LoadResult) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in result.issues.to_pylist()]


def _people(result: LoadResult, entity: str) -> dict[str, str | None]:
    return {r["person_id"]: r["school_id"] for r in result.roster.tables[entity].to_pylist()}


def _pairs(result: LoadResult, entity: str, a: str, b: str) -> list[tuple[str, str]]:
    return sorted((r[a], r[b]) for r in result.roster.tables[entity].to_pylist())


# -- 3. tobedeleted ---------------------------------------------------------------------------


def test_tobedeleted_records_and_what_belongs_to_them_are_left_out_without_errors() -> None:
    result = load_roster(FIXTURES / "oneroster_tobedeleted")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 1,
        "teachers": 1,
        "contacts": 1,
        "sections": 1,
        "contact_links": 1,
        "enrollments": 1,
    }
    assert _issues(result) == []
    assert result.roster.unknown.num_rows == 0


def test_tobedeleted_records_are_removals_against_the_previous_sync(fixture_copy: CopyFixture) -> None:
    before = fixture_copy("oneroster_tobedeleted")
    for name in ("orgs.csv", "users.csv", "classes.csv"):
        text = (before / name).read_text(encoding="utf-8")
        (before / name).write_text(text.replace("tobedeleted", "active"), encoding="utf-8")

    changes = diff_rosters(load_roster(before).roster, load_roster(FIXTURES / "oneroster_tobedeleted").roster)

    removed = {
        name: sorted(map(str, changes[name].removed.column(0).to_pylist()))
        for name in ("schools", "students", "teachers", "sections")
    }
    assert removed == {
        "schools": ["O2"],
        "students": ["S2", "S3"],
        "teachers": ["T2"],
        "sections": ["C2", "C3"],
    }
    enrollments = changes["enrollments"].removed
    assert sorted(
        zip(
            enrollments.column("section_id").to_pylist(),
            enrollments.column("person_id").to_pylist(),
            strict=True,
        )
    ) == [
        ("C1", "S2"),
        ("C2", "S1"),
        ("C3", "S3"),
    ]
    links = changes["contact_links"].removed
    assert links.select(["student_id", "contact_id"]).to_pylist() == [
        {"student_id": "S2", "contact_id": "P1"}
    ]


# -- 4. manifest ------------------------------------------------------------------------------


def test_absent_files_are_not_supplied_and_odd_manifest_values_are_alerts() -> None:
    result = load_roster(FIXTURES / "oneroster_manifest_absent")

    assert result.roster.missing == frozenset({"courses", "terms"})
    assert _counts(result) == {"schools": 1, "students": 1, "teachers": 1, "sections": 1, "enrollments": 1}
    assert result.roster.tables["sections"].column("course_id").to_pylist() == [None]
    # Issues are in file, row, column order: the class's gap alert (no course is sent) comes before
    # the manifest alerts because classes.csv sorts before manifest.csv.
    assert _issues(result) == [
        (
            "alert",
            "classes.csv",
            2,
            "courseSourcedId",
            None,
            "This class has no course (courseSourcedId is empty); it was kept without a course.",
        ),
        (
            "alert",
            "manifest.csv",
            7,
            "value",
            "file.demographics",
            "manifest.csv row 7 says nothing for file.demographics; the value should be bulk, delta or "
            "absent. It was taken as absent, because the file is not there.",
        ),
        (
            "alert",
            "manifest.csv",
            10,
            "value",
            "full",
            'manifest.csv row 10 says "full" for file.users; the value should be bulk, delta or absent. '
            "It was taken as bulk, because the file is present.",
        ),
    ]


def test_a_file_declared_absent_but_present_is_ignored_with_an_alert(fixture_copy: CopyFixture) -> None:
    result = _load_edited(
        fixture_copy("oneroster_manifest_absent"),
        "courses.csv",
        "sourcedId,title,orgSourcedId\nCO1,Math,O1\n",
    )

    assert "courses" in result.roster.missing
    assert (
        "alert",
        "manifest.csv",
        6,
        "value",
        "absent",
        "manifest.csv row 6 declares courses.csv absent, but the file is in the set; it was ignored "
        "and its data carried forward. Declare it bulk to send it.",
    ) in _issues(result)


def test_a_delta_set_is_refused_by_name(fixture_copy: CopyFixture) -> None:
    directory = fixture_copy("oneroster_manifest_absent")
    replace_text(directory / "manifest.csv", "file.enrollments,bulk", "file.enrollments,delta")

    with pytest.raises(InvalidFilesError) as caught:
        read_raw(directory)

    assert [str(p) for p in caught.value.problems] == [
        "manifest.csv: row 8 declares enrollments.csv as delta: this is a OneRoster delta set (only "
        "the changes since an earlier export). rostersync needs a OneRoster bulk set, in which every "
        "file is complete: export a bulk (full) set and send it again"
    ]


# -- 5. header-only files ---------------------------------------------------------------------


# The header-only fixture is a school early in the year: enrollments.csv has no rows yet, so its
# one class has no teacher, which is reported (a silent gap made visible), and nothing else is.
NO_TEACHER_YET = (
    "alert",
    "classes.csv",
    2,
    "sourcedId",
    "C1",
    "This class has no teacher: none was sent, or none of its teachers is in users.csv (or they were "
    "left out because of errors). It was kept without a teacher.",
)


def test_header_only_files_are_empty_tables() -> None:
    result = load_roster(FIXTURES / "oneroster_header_only")

    assert _counts(result) == {**ONE_SCHOOL_YEAR, "students": 1, "teachers": 1, "sections": 1}
    assert result.roster.missing == frozenset()
    assert _issues(result) == [NO_TEACHER_YET]


# -- 6. ragged rows ---------------------------------------------------------------------------


def test_ragged_rows_read_and_a_row_with_too_many_values_is_a_row_error() -> None:
    result = load_roster(FIXTURES / "oneroster_ragged")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 2,
        "teachers": 1,
        "sections": 2,
        "enrollments": 1,
    }
    assert result.roster.tables["sections"].to_pylist()[0]["subject"] is None  # C1's row is short
    assert _issues(result) == [
        (
            "error",
            "enrollments.csv",
            3,
            "endDate",
            "a value of 3 characters",
            "This row has 12 values but the header line has 10 columns, so its values cannot be "
            "matched to their columns (often a comma inside a value that is not in quotes); the row "
            "was left out. Put quotes around values that contain commas and send the file again.",
        )
    ]
    # The left-out enrollment is unknown, never a removal.
    assert result.roster.unknown.to_pylist() == [{"entity": "enrollments", "key": "C1\x1fS2"}]


def test_every_row_one_field_short_is_read_in_whole_columns(fixture_copy: CopyFixture) -> None:
    result = _load_edited(
        fixture_copy("oneroster_header_only"),
        "orgs.csv",
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId,,\n"
        "D1,active,,Example Unified,district,,\nO1,active,,Lincoln Elementary,school,101,D1\n",
    )

    assert _counts(result)["schools"] == 1
    assert _issues(result) == [NO_TEACHER_YET]  # the short orgs.csv rows add no issue


# -- 7. org hierarchy -------------------------------------------------------------------------


def test_classes_and_people_at_departments_map_to_their_school() -> None:
    result = load_roster(FIXTURES / "oneroster_org_hierarchy")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 1,
        "teachers": 2,
        "staff": 1,
        "sections": 1,
        "enrollments": 1,
    }
    assert _people(result, "teachers") == {"T1": "O1", "T9": None}  # T9 is at the district
    assert _people(result, "staff") == {"A1": None}
    [section] = result.roster.tables["sections"].to_pylist()
    assert (section["school_id"], section["teacher_ids"]) == ("O1", ["T1", "T9"])
    assert _pairs(result, "enrollments", "section_id", "school_id") == [("C1", "O1")]
    assert _issues(result) == []


def test_a_set_whose_only_org_is_a_department_takes_it_as_the_school() -> None:
    result = load_roster(FIXTURES / "oneroster_department_only")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 2,
        "teachers": 1,
        "sections": 1,
        "enrollments": 2,
    }
    assert _people(result, "students") == {"S1": "ORG1", "S2": "ORG1"}
    assert _issues(result) == [
        (
            "alert",
            "orgs.csv",
            2,
            "type",
            "department",
            "orgs.csv has no org of type school, so the orgs that no other org names as its parent "
            'were taken as the schools (ORG1). Set the type of each school to "school" in your SIS '
            "export.",
        )
    ]


def test_a_student_or_class_at_the_district_only_says_so_and_enrollments_take_the_class_school() -> None:
    result = load_roster(FIXTURES / "oneroster_district_student")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 1,
        "teachers": 1,
        "sections": 1,
        "enrollments": 1,
    }
    assert _pairs(result, "enrollments", "person_id", "school_id") == [("S1", "O1")]  # sent as D1
    assert _issues(result) == [
        (
            "error",
            "classes.csv",
            3,
            "schoolSourcedId",
            "D1",
            "Refers to a school that is an org of type district in orgs.csv with no school above it; "
            "the class was left out.",
        ),
        (
            "error",
            "users.csv",
            4,
            "orgSourcedIds",
            "D1",
            "Refers to a school that is an org of type district in orgs.csv with no school above it; "
            "the student was left out.",
        ),
    ]
    assert sorted(map(str, result.roster.unknown.column("key").to_pylist())) == ["C2", "S2"]


# -- 8. several roles -------------------------------------------------------------------------


def test_a_teacher_who_is_a_guardian_and_an_aide_who_is_a_parent_are_both() -> None:
    result = load_roster(FIXTURES / "oneroster12_multi_role")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 2,
        "teachers": 1,
        "staff": 1,
        "contacts": 2,
        "sections": 1,
        "contact_links": 2,
        "enrollments": 2,
    }
    assert _people(result, "teachers") == {"T1": "O1"}
    assert _people(result, "staff") == {"A1": "O1"}
    assert _people(result, "contacts") == {"T1": "O1", "A1": "O1"}
    links = [
        (r["student_id"], r["contact_id"], r["relationship"])
        for r in result.roster.tables["contact_links"].to_pylist()
    ]
    assert links == [("S1", "T1", "Guardian"), ("S2", "A1", "Parent")]
    assert _issues(result) == []


def test_a_comma_list_of_roles_in_11_makes_the_user_both(fixture_copy: CopyFixture) -> None:
    directory = fixture_copy("oneroster_reference_truth")
    replace_text(
        directory / "users.csv", "T1,active,,true,O1,teacher,", 'T1,active,,true,O1,"teacher,parent",'
    )

    result = load_roster(directory)

    assert "T1" in _people(result, "teachers") and "T1" in _people(result, "contacts")
    assert _pairs(result, "contact_links", "student_id", "contact_id") == [("S1", "T1")]


# -- 9. demographics --------------------------------------------------------------------------


def test_demographics_with_the_10_key_header_is_read_with_an_alert() -> None:
    result = load_roster(FIXTURES / "oneroster_demographics_v10")

    [student] = result.roster.tables["students"].to_pylist()
    assert (str(student["birth_date"]), student["gender"]) == ("2014-03-02", "female")
    assert _issues(result) == [
        (
            "alert",
            "demographics.csv",
            1,
            "userSourcedId",
            "userSourcedId",
            'The key column is named "userSourcedId" (OneRoster 1.0); it was read as sourcedId. '
            "OneRoster 1.1 and 1.2 name it sourcedId.",
        )
    ]


def test_an_unusable_optional_file_is_set_aside_and_the_roster_read(fixture_copy: CopyFixture) -> None:
    result = _load_edited(
        fixture_copy("oneroster_demographics_v10"),
        "demographics.csv",
        b"sourcedId,birthDate,sex\nS1,2014-03-02,f\xe9minin\n",
    )

    assert _counts(result)["students"] == 1
    assert result.roster.tables["students"].column("birth_date").to_pylist() == [None]
    assert _issues(result) == [
        (
            "error",
            "demographics.csv",
            1,
            "",
            "demographics.csv",
            "demographics.csv could not be used: the file is not UTF-8 text: row 2 has a character "
            "that is not valid UTF-8 (the file was probably saved as Latin-1 / Windows-1252, or is not "
            'a CSV file). Save it as "CSV UTF-8" and send it again. This optional file was set aside '
            "(its data is carried forward unchanged); the rest of the set was read.",
        )
    ]


def test_demographics_without_a_key_column_is_set_aside(fixture_copy: CopyFixture) -> None:
    result = _load_edited(
        fixture_copy("oneroster_demographics_v10"), "demographics.csv", "personId,birthDate\nS1,2014-03-02\n"
    )

    assert _counts(result)["students"] == 1
    assert [(r[0], r[1], r[3], r[4]) for r in _issues(result)] == [
        ("alert", "demographics.csv", "personId", "personId"),
        ("error", "demographics.csv", "sourcedId", "sourcedId"),
    ]


# -- 11. reference messages -------------------------------------------------------------------


def test_reference_messages_say_what_is_true_and_what_was_left_out() -> None:
    result = load_roster(FIXTURES / "oneroster_reference_truth")

    assert _counts(result) == {
        **ONE_SCHOOL_YEAR,
        "students": 1,
        "teachers": 1,
        "sections": 2,
        "enrollments": 1,
    }
    assert _issues(result) == [
        (
            "alert",
            "classes.csv",
            3,
            "courseSourcedId",
            "CO9",
            "Refers to a course that is marked tobedeleted in courses.csv; the value was kept.",
        ),
        (
            "alert",
            "classes.csv",
            3,
            "termSourcedIds",
            "Y24",
            "Refers to a term that is marked tobedeleted in academicSessions.csv; the value was kept.",
        ),
        (
            "alert",
            "enrollments.csv",
            3,
            "userSourcedId",
            "S1",
            "Refers to a teacher that is in users.csv with role student, not a teacher; only this "
            "teacher assignment was dropped from the class.",
        ),
        (
            "error",
            "enrollments.csv",
            4,
            "userSourcedId",
            "T1",
            "Refers to a student that is in users.csv with role teacher, not a student; the "
            "enrollment was left out.",
        ),
        (
            "error",
            "enrollments.csv",
            5,
            "classSourcedId",
            "C9",
            "Refers to a class that is not in classes.csv; the enrollment was left out.",
        ),
        (
            "error",
            "enrollments.csv",
            6,
            "userSourcedId",
            "S2",
            "Refers to a student that was left out because of the error on row 4 of users.csv; the "
            "enrollment was left out.",
        ),
        (
            "error",
            "users.csv",
            3,
            "agentSourcedIds",
            "T1",
            "Refers to a contact that is in users.csv with role teacher, not a contact; only this "
            "student-contact link was left out.",
        ),
        (
            "error",
            "users.csv",
            4,
            "sourcedId",
            "S2",
            "Another row of users.csv has the same sourcedId; every row with this ID was left out "
            "until the duplicate is fixed.",
        ),
        (
            "error",
            "users.csv",
            5,
            "sourcedId",
            "S2",
            "Another row of users.csv has the same sourcedId; every row with this ID was left out "
            "until the duplicate is fixed.",
        ),
    ]


def test_a_teacher_with_no_org_at_all_is_an_error_not_a_district_teacher(fixture_copy: CopyFixture) -> None:
    directory = fixture_copy("oneroster_org_hierarchy")
    replace_text(directory / "users.csv", "T9,active,,true,D1,", "T9,active,,true,,")

    result = load_roster(directory)

    assert _people(result, "teachers") == {"T1": "O1"}
    assert _issues(result) == [
        (
            "alert",
            "enrollments.csv",
            4,
            "userSourcedId",
            "T9",
            "Refers to a teacher that was left out because of the error on row 3 of users.csv; only "
            "this teacher assignment was dropped from the class.",
        ),
        (
            "error",
            "users.csv",
            3,
            "orgSourcedIds",
            None,
            "No org: this teacher lists no org (orgSourcedIds); the row was left out.",
        ),
    ]


@pytest.mark.parametrize(
    ("orgs_deleted", "deleted_users"), [(True, ["T2", "S2", "S3"]), (False, ["T2", "S2"])]
)
def test_the_deleted_users_are_handed_on_once_when_no_more_can_be_found(
    fixture_copy: CopyFixture, orgs_deleted: bool, deleted_users: list[str]
) -> None:
    # Classes and enrollments are mapped beside the people once these are known: with an org
    # marked tobedeleted they include its users (S3), found only after their roles are read.
    directory = fixture_copy("oneroster_tobedeleted")
    if not orgs_deleted:
        replace_text(directory / "orgs.csv", "tobedeleted", "active")
    read = read_file_set(find_files(directory), [ORGS, USERS_11])
    ctx = Context(dict(read.files), FORMAT_ONEROSTER_11_CSV)
    handed: list[list[str]] = []

    read_people(ctx, read_orgs(ctx), settled=lambda users: handed.append(users.to_pylist()))

    assert handed == [deleted_users]
    assert ctx.deleted_users.to_pylist() == deleted_users
