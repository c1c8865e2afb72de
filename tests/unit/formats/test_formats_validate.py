"""Row validation: errors exclude rows (keys become unknown), alerts keep them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from formats_helpers import FIXTURES, append_lines, issues, replace_text, rows_by_key

from rostersync.formats import load_roster, read_raw, validate
from rostersync.formats.values import parse_dates, split_phones
from rostersync.model import KEY_SEPARATOR
from rostersync.validate import LoadResult, _ascending

Copy = Callable[[str], Path]


def _unknown(result: LoadResult) -> set[tuple[str, str]]:
    return {(r["entity"], r["key"]) for r in result.roster.unknown.to_pylist()}


def test_read_raw_and_validate_are_separable() -> None:
    raw = read_raw(FIXTURES / "clever_basic")

    result = validate(raw)

    assert result.roster.tables["students"].num_rows == 4
    assert "_row" not in result.roster.tables["students"].column_names


def test_required_value_missing_is_an_error(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(
        directory / "teachers.csv",
        "S2,T2,502,STT2,kpatel@roosevelt.example.org,Kiran,",
        "S2,T2,502,STT2,kpatel@roosevelt.example.org,,",
    )

    result = load_roster(directory)

    [error] = issues(result, severity="error")
    assert (error["file"], error["row"], error["column"], error["value"]) == (
        "teachers.csv",
        3,
        "First_name",
        None,
    )
    assert "every teacher needs First_name" in error["message"]
    assert "T2" not in rows_by_key(result, "teachers", "person_id")
    assert ("teachers", "T2") in _unknown(result)


def test_duplicate_id_excludes_every_row_with_it(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(
        directory / "sections.csv",
        "S1,SEC2,T1,,,Grade 5 Math again,M5B,5,Math 5,MA-5,4,Math,Fall 2024,08/15/2024,12/20/2024",
    )

    result = load_roster(directory)

    errors = issues(result, severity="error", file="sections.csv")
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [
        (3, "Section_id", "SEC2"),
        (5, "Section_id", "SEC2"),
    ]
    assert "SEC2" not in rows_by_key(result, "sections", "section_id")
    assert ("sections", "SEC2") in _unknown(result)


def test_repeated_student_rows_are_not_duplicates() -> None:
    # ST1 has two rows in students.csv, one per contact.
    result = load_roster(FIXTURES / "clever_basic")

    assert issues(result, file="students.csv") == []
    assert "ST1" in rows_by_key(result, "students", "person_id")


def test_enrollment_in_unknown_section_is_an_error(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(directory / "enrollments.csv", "S1,SEC404,ST1")

    result = load_roster(directory)

    [error] = issues(result, severity="error")
    assert (error["file"], error["row"], error["column"], error["value"]) == (
        "enrollments.csv",
        6,
        "Section_id",
        "SEC404",
    )
    assert error["message"] == "Refers to a section that is not in sections.csv; the enrollment was left out."
    assert ("enrollments", f"SEC404{KEY_SEPARATOR}ST1") in _unknown(result)
    assert result.roster.tables["enrollments"].num_rows == 4


def test_enrollment_of_unknown_student_is_an_error(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(directory / "enrollments.csv", "S1,SEC1,ST404")

    [error] = issues(load_roster(directory), severity="error")

    assert (error["row"], error["column"], error["value"]) == (6, "Student_id", "ST404")


def test_errors_cascade_to_rows_that_refer_to_excluded_records(fixture_copy: Copy) -> None:
    # A second S2 row makes the school ID a duplicate: S2's students, teachers and sections are
    # left out, and so are the enrollments and contact links that refer to them.
    directory = fixture_copy("clever_basic")
    append_lines(directory / "schools.csv", "S2,Roosevelt Annex,103,ST-103,6,8,,")

    result = load_roster(directory)

    unknown = _unknown(result)
    assert {("schools", "S2"), ("students", "ST3"), ("students", "ST4"), ("sections", "SEC3")} <= unknown
    assert ("teachers", "T2") in unknown
    assert ("enrollments", f"SEC3{KEY_SEPARATOR}ST4") in unknown
    assert ("contact_links", f"ST3{KEY_SEPARATOR}C-300") in unknown
    [cascade] = issues(result, file="students.csv", row=6)
    assert cascade["message"] == (
        "Refers to a school that was left out because of the error on row 3 of schools.csv; "
        "the student was left out."
    )
    assert sorted(rows_by_key(result, "students", "person_id")) == ["ST1", "ST2"]


def test_contact_link_to_excluded_student_is_an_error(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "students.csv", "S1,ST2,1002,SS2,Rivera,", "S1,ST2,1002,SS2,,")

    result = load_roster(directory)

    [link_error] = issues(result, severity="error", file="students.csv", column="Student_id")
    assert (link_error["row"], link_error["value"]) == (4, "ST2")
    assert ("contact_links", f"ST2{KEY_SEPARATOR}email:maria.rivera@mail.example.com") in _unknown(result)
    # Maria is still ST1's contact.
    assert "email:maria.rivera@mail.example.com" in rows_by_key(result, "contacts", "person_id")


def test_malformed_email_is_cleared_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "teachers.csv", "jlee@lincoln.example.org", "jlee at lincoln")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["severity"], alert["file"], alert["row"], alert["column"], alert["value"]) == (
        "alert",
        "teachers.csv",
        2,
        "Teacher_email",
        "a value of 15 characters",  # an email is personal: masked
    )
    assert rows_by_key(result, "teachers", "person_id")["T1"]["email"] is None


def test_malformed_phone_is_cleared_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "students.csv", "+1 555 301 0003", "555-01")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["file"], alert["row"], alert["column"], alert["value"]) == (
        "students.csv",
        5,
        "Contact_phone",
        "a value of 6 characters",  # a phone number is personal: masked
    )
    assert rows_by_key(result, "contacts", "person_id")["C-300"]["phone"] is None


def test_unparseable_date_is_cleared_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "students.csv", "11/05/2010", "13/05/2010")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["row"], alert["column"], alert["value"]) == (6, "Dob", "a value of 10 characters")
    assert rows_by_key(result, "students", "person_id")["ST4"]["birth_date"] is None


def test_unknown_enum_value_is_kept_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    # "Guardian" is in the canonical vocabulary since issue 9 (a OneRoster guardian's relationship);
    # "Neighbour" is in no table.
    replace_text(directory / "students.csv", "Grace Chen,Primary,Parent", "Grace Chen,Primary,Neighbour")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["severity"], alert["row"], alert["column"], alert["value"]) == (
        "alert",
        5,
        "Contact_relationship",
        "Neighbour",
    )
    links = {r["contact_id"]: r for r in result.roster.tables["contact_links"].to_pylist()}
    assert links["C-300"]["relationship"] == "Neighbour"


def test_section_teacher_not_in_teachers_is_dropped_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "sections.csv", "S2,SEC3,T2,,T3,", "S2,SEC3,T2,,T404,")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["severity"], alert["file"], alert["row"], alert["column"], alert["value"]) == (
        "alert",
        "sections.csv",
        4,
        "Teacher_3_id",
        "T404",
    )
    assert rows_by_key(result, "sections", "section_id")["SEC3"]["teacher_ids"] == ["T2"]


def test_repeated_enrollment_is_kept_once_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(directory / "enrollments.csv", "S1,SEC1,ST1")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["severity"], alert["row"], alert["value"]) == ("alert", 6, "SEC1")
    assert result.roster.tables["enrollments"].num_rows == 4
    assert result.roster.unknown.num_rows == 0


def test_contact_without_a_name_is_an_error(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "students.csv", "Grace Chen,", ",")

    result = load_roster(directory)

    [error] = [e for e in issues(result, severity="error") if "A contact needs a name" in e["message"]]
    assert (error["row"], error["column"]) == (5, "Contact_name")
    assert ("contacts", "C-300") in _unknown(result)


def test_class_term_not_in_sessions_is_kept_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("oneroster11_basic")
    replace_text(directory / "classes.csv", "O1,T-F24,Math", "O1,T-W25,Math")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["file"], alert["row"], alert["column"], alert["value"]) == (
        "classes.csv",
        3,
        "termSourcedIds",
        "T-W25",
    )
    assert rows_by_key(result, "sections", "section_id")["C2"]["term_id"] == "T-W25"


def test_issue_counts() -> None:
    result = load_roster(FIXTURES / "clever_messy")

    # Issue 9: the relationship "Guardian" is canonical now (one alert fewer); two sections without
    # a course and one contact without a usable phone or email are alerts (three more).
    assert (result.error_count, result.alert_count) == (0, 10)


def test_parse_dates() -> None:
    parsed = parse_dates(
        pa.array(
            [
                "2024-08-15",
                "8/5/2024",
                "08/15/2024",
                "2024-02-30",
                "2024-02-29",
                "2024-8-5T00:00:00Z",
                "Aug 5",
                None,
            ]
        )
    )

    assert parsed.to_pylist() == [
        date(2024, 8, 15),
        date(2024, 8, 5),
        date(2024, 8, 15),
        None,
        date(2024, 2, 29),
        date(2024, 8, 5),
        None,
        None,
    ]


def test_normalise_phones() -> None:
    phones = split_phones(pa.array(["(555) 123-4567", "+44 20 7946 0958", "123", "1" * 16]))

    assert phones.number.to_pylist()[:2] == ["5551234567", "+442079460958"]
    assert phones.wrong_length.to_pylist() == [False, False, True, True]


@pytest.mark.parametrize("fixture", ["clever_basic", "oneroster11_basic", "oneroster12_basic"])
def test_header_only_files_read_as_an_empty_roster(fixture: str, fixture_copy: Copy) -> None:
    directory = fixture_copy(fixture)
    for path in directory.iterdir():
        if path.name != "manifest.csv":
            path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")

    result = load_roster(directory)

    assert set(result.roster.counts().values()) == {0}
    assert result.issues.num_rows == 0


def test_unknown_oneroster_session_type_is_kept_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("oneroster11_basic")
    replace_text(directory / "academicSessions.csv", "Spring 2025,semester", "Spring 2025,quarter")

    result = load_roster(directory)

    [alert] = issues(result)
    assert (alert["file"], alert["row"], alert["column"], alert["value"]) == (
        "academicSessions.csv",
        4,
        "type",
        "quarter",
    )
    assert rows_by_key(result, "terms", "term_id")["T-S25"]["type"] == "quarter"


# -- personal data in issue values (issue 12 item 3) ------------------------------------------


def test_a_row_run_together_into_an_id_is_not_quoted(fixture_copy: Copy) -> None:
    # Given a students.csv row whose values were run together into its School_id
    directory = fixture_copy("clever_basic")
    lines = (directory / "students.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = '"' + lines[1].replace('"', "") + '"'
    (directory / "students.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = load_roster(directory)

    # Then the reference error names file, row and column, and masks the value
    [error] = issues(result, file="students.csv", row=2, column="School_id")
    assert error["value"] == f"a value of {len(lines[1]) - 2} characters"


def test_the_extra_value_of_a_row_too_long_is_not_quoted(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(
        directory / "teachers.csv", "S2,T9,509,STT9,t9@roosevelt.example.org,Kiran,,Patel,Teacher,Junior"
    )

    result = load_roster(directory)

    [error] = issues(result, severity="error", file="teachers.csv")
    assert error["value"] == "a value of 6 characters"


def test_an_id_is_quoted_as_sent(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "students.csv", "S1,ST1", "S9,ST1")

    result = load_roster(directory)

    assert {e["value"] for e in issues(result, file="students.csv", column="School_id")} == {"S9"}


# -- odd bytes in IDs and names (issue 12 item 5) ---------------------------------------------


def test_a_zero_width_space_copy_of_an_id_is_the_same_student(fixture_copy: Copy) -> None:
    # Given a second row of ST1 whose ID carries a zero-width space (and the row repeats ST1)
    directory = fixture_copy("clever_basic")
    replace_text(
        directory / "students.csv",
        "S1,ST1,1001,SS1,Rivera,,Ana,3,F,04/15/2015,ana.rivera@students.example.org,Jorge",
        "S1,ST1\u200b,1001,SS1,Rivera,,Ana,3,F,04/15/2015,ana.rivera@students.example.org,Jorge",
    )

    result = load_roster(directory)

    ids = result.roster.tables["students"].column("person_id").to_pylist()
    assert ids.count("ST1") == 1 and "ST1\u200b" not in ids
    [alert] = issues(result, file="students.csv", column="Student_id")
    assert alert["row"] == 3 and "invisible characters" in alert["message"]


def test_a_nul_in_an_id_is_a_row_error(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "teachers.csv", "S2,T2,", "S2,T2\x00,")

    result = load_roster(directory)

    [error] = issues(result, severity="error", file="teachers.csv")
    assert (error["row"], error["column"], error["value"]) == (3, "Teacher_id", "a value of 3 characters")
    assert "holds a control character" in error["message"] and "The row was left out" in error["message"]
    assert "T2\x00" not in rows_by_key(result, "teachers", "person_id")


def test_a_nul_in_a_name_is_removed_with_an_alert(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "teachers.csv", "Kiran,", "Ki\x00ran,")

    result = load_roster(directory)

    assert rows_by_key(result, "teachers", "person_id")["T2"]["first_name"] == "Kiran"
    [alert] = issues(result, file="teachers.csv", column="First_name")
    assert alert["severity"] == "alert" and "control characters" in alert["message"]


def test_names_are_read_in_unicode_nfc(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "teachers.csv", "Kiran,", "Jose\u0301,")

    result = load_roster(directory)

    assert rows_by_key(result, "teachers", "person_id")["T2"]["first_name"] == "Jos\u00e9"


def test_a_repeated_enrollment_of_an_unknown_student_is_an_error_on_both_rows(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(directory / "enrollments.csv", "S1,SEC1,ST404", "S1,SEC1,ST404")

    result = load_roster(directory)

    found = [(i["severity"], i["row"], i["column"]) for i in issues(result, file="enrollments.csv")]
    assert sorted(found) == [
        ("alert", 7, "Section_id"),
        ("error", 6, "Student_id"),
        ("error", 7, "Student_id"),
    ]
    assert result.roster.tables["enrollments"].num_rows == 4


def test_enrollment_rows_without_a_section_are_not_repeats_of_each_other(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(directory / "enrollments.csv", "S1,,ST1", "S1,,ST1")

    result = load_roster(directory)

    found = [(i["severity"], i["row"], i["column"]) for i in issues(result, file="enrollments.csv")]
    assert sorted(found) == [("error", 6, "Section_id"), ("error", 7, "Section_id")]


@pytest.mark.parametrize(
    ("rows", "ascending"),
    [
        ([("a", "1"), ("b", "1"), ("c", "0")], True),
        ([("a", "2"), ("a", "3"), ("b", "1")], True),  # a tie in the first column, then ascending
        ([("a", "2"), ("a", "2"), ("b", "1")], False),  # a repeated key
        ([("a", "3"), ("a", "2")], False),
        ([("b", "1"), ("a", "2")], False),
        ([("a", "1"), (None, "2"), ("b", "3")], False),  # a null part: left to the hashing path
    ],
)
def test_sorted_keys_are_told_apart_without_hashing(
    rows: list[tuple[str | None, str]], ascending: bool
) -> None:
    table = pa.table({"k1": [r[0] for r in rows], "k2": [r[1] for r in rows]})

    assert _ascending(table, ["k1", "k2"]) is ascending


def test_a_repeated_id_in_a_sorted_file_is_still_a_duplicate(fixture_copy: Copy) -> None:
    directory = fixture_copy("clever_basic")
    text = (directory / "schools.csv").read_text(encoding="utf-8").splitlines()
    (directory / "schools.csv").write_text(
        "\n".join([text[0], text[1], text[1], *text[2:]]) + "\n", encoding="utf-8"
    )

    result = load_roster(directory)

    errors = issues(result, severity="error", file="schools.csv")
    assert [(e["row"], e["value"]) for e in errors] == [(2, "S1"), (3, "S1")]
