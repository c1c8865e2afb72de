"""Public third-party roster sample sets (tests/fixtures/public/*), read as a district would send them.

Each set is kept byte for byte as published (see its SOURCE.md). Every expected figure here is an
independent count made with Python's ``csv`` module straight from the files, never with the
product's reader, and is compared with what ``read_raw`` + ``validate`` produce (the preflight
path). Where today's product refuses or miscounts a set, the test is marked ``xfail(strict=True)``
naming the issue-9 defect class it hits; the coordinator removes those marks once the fixes merge.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from formats_helpers import FIXTURES

from rostersync import validate
from rostersync.formats import detect_format, read_raw
from rostersync.issues import InvalidFilesError
from rostersync.roster import FORMAT_ONEROSTER_11_CSV
from rostersync.validate import LoadResult

PUBLIC = FIXTURES / "public"
RECEIVED_AT = datetime(2026, 12, 4, tzinfo=UTC)

EDFI_OR11 = "or11_edfi_lms_toolkit"
EDFI_OR10 = "or10_edfi_lms_toolkit"
SDS21 = "sds21_microsoft"
SDS2 = "sds2_microsoft"
SDS1_UK = "sds1_microsoft_uk_min"
ALL_SETS = (EDFI_OR11, EDFI_OR10, SDS21, SDS2, SDS1_UK)

SDS21_FORMAT = "sds_2.1_csv"  # the format name the SDS v2.1 reader reports (issue 9 item 10)

# Text that only a library or the Python runtime writes; none of it may reach a district admin.
LIBRARY_TEXT = re.compile(
    r"pyarrow|\barrow\b|CSV parse error|Expected \d+ columns|Traceback|Exception|Errno|"
    r"UnicodeDecodeError|KeyError|ValueError|straddling|block size",
    re.IGNORECASE,
)
NAMES_SDS = re.compile(r"School Data Sync|\bSDS\b", re.IGNORECASE)

ITEM_10_SDS21 = (
    "issue 9 item 10: SDS v2.1 CSV is not a supported format yet; the set is refused as "
    "'these files match no supported roster format'"
)
ITEM_10_NAMED = (
    "issue 9 item 10: a known but unsupported format (School Data Sync {v}) is refused with "
    "the generic 'match no supported roster format' message, which does not name the format"
)


# --- independent reading with the csv module -----------------------------------------------------


@dataclass(frozen=True)
class CsvFile:
    header: list[str]
    rows: list[list[str]]  # every data row as parsed, any length
    first_line: int = 2  # spreadsheet row of the first data row (the header is row 1)

    def records(self) -> list[dict[str, str]]:
        """Rows as dicts keyed by header name (values trimmed).

        A row with more fields than the header is kept when the extra fields are all blank (a
        trailing comma carries no data) and left out when any extra field holds a value.
        """
        return [
            {name: value.strip() for name, value in zip(self.header, row, strict=False)}
            for row in self.rows
            if any(v.strip() for v in row) and not any(v.strip() for v in row[len(self.header) :])
        ]

    def overlong_rows(self, *, with_values: bool) -> list[int]:
        """Spreadsheet row numbers of rows with more fields than the header has names.

        ``with_values`` keeps only those whose extra fields hold a value; otherwise only those
        whose extra fields are all blank.
        """
        width = len(self.header)
        return [
            self.first_line + i
            for i, row in enumerate(self.rows)
            if len(row) > width and any(v.strip() for v in row[width:]) == with_values
        ]


def read_csv(set_name: str, file_name: str) -> CsvFile:
    """One file of a public set, found case-insensitively, parsed with the csv module."""
    directory = PUBLIC / set_name
    matches = [p for p in directory.iterdir() if p.name.lower() == file_name.lower()]
    assert len(matches) == 1, f"{file_name} not in {set_name}"
    with matches[0].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return CsvFile(header=[h.strip() for h in rows[0]], rows=rows[1:])


def active(record: dict[str, str]) -> bool:
    return record.get("status", "").lower() not in ("tobedeleted", "inactive")


def load(set_name: str) -> LoadResult:
    """The preflight's read and validate steps, exactly as src/rostersync_tools/preflight.py runs them."""
    return validate.validate(read_raw(PUBLIC / set_name), received_at=RECEIVED_AT)


def ids(result: LoadResult, entity: str, key: str = "person_id") -> set[str]:
    return set(result.roster.tables[entity].column(key).to_pylist())


def pairs(result: LoadResult, entity: str, first: str, second: str) -> set[tuple[str, str]]:
    table = result.roster.tables[entity]
    return set(zip(table.column(first).to_pylist(), table.column(second).to_pylist(), strict=True))


def refusal_messages(set_name: str) -> list[str]:
    """Every admin-facing message the product gives for a set: its refusal, or its issue rows."""
    try:
        result = load(set_name)
    except InvalidFilesError as refusal:
        return [str(problem) for problem in refusal.problems] + [str(refusal)]
    return [str(row["message"]) for row in result.issues.to_pylist()]


# --- the fixtures are kept as published ----------------------------------------------------------


def _recorded_digests(set_name: str) -> dict[str, str]:
    text = (PUBLIC / set_name / "SOURCE.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `([^`]+)` \| .*? \| ([0-9a-f]{64}) \|$", text, re.MULTILINE))


@pytest.mark.parametrize("set_name", ALL_SETS)
def test_public_set_files_are_byte_for_byte_as_recorded(set_name: str) -> None:
    # Line endings and BOMs are part of what is tested: an editor that "fixes" them breaks this.
    directory = PUBLIC / set_name
    actual = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir() if p.suffix == ".csv"
    }
    assert actual == _recorded_digests(set_name)


@pytest.mark.parametrize(
    "set_name",
    [
        EDFI_OR11,
        EDFI_OR10,
        SDS21,
        SDS2,
        SDS1_UK,
    ],
)
def test_no_library_text_reaches_the_admin(set_name: str) -> None:
    messages = refusal_messages(set_name)
    assert [m for m in messages if LIBRARY_TEXT.search(m)] == []


@pytest.mark.parametrize(
    "set_name",
    [
        EDFI_OR11,
        SDS21,
    ],
)
def test_every_issue_quotes_the_cell_it_names(set_name: str) -> None:
    # An error or alert that names a file, row and column carries what that cell holds, so an
    # admin can find it; it never shows a blank Value for a cell that is not blank (issue 9 item 11).
    result = load(set_name)

    rows = [r for r in result.issues.to_pylist() if r["row"] is not None and r["column"] is not None]
    assert rows, "the set is expected to raise at least one located issue"
    mismatches = []
    for issue in rows:
        parsed = read_csv(set_name, issue["file"])  # these sets have no line breaks inside fields
        record = dict(zip(parsed.header, parsed.rows[issue["row"] - parsed.first_line], strict=False))
        cell = record.get(issue["column"], "").strip()
        if cell and issue["value"] != cell:
            mismatches.append((issue["file"], issue["row"], issue["column"], cell, issue["value"]))
    assert mismatches == []


# --- OneRoster 1.1: Ed-Fi Alliance LMS-Toolkit sample (Grand Bend ISD) ----------------------------


def test_edfi_or11_is_detected_as_oneroster_11() -> None:
    manifest = {r["propertyName"]: r["value"] for r in read_csv(EDFI_OR11, "manifest.csv").records()}
    assert manifest["oneroster.version"] == "1.1"
    assert detect_format(PUBLIC / EDFI_OR11) == FORMAT_ONEROSTER_11_CSV


def test_edfi_or11_counts_match_an_independent_count() -> None:
    users = [u for u in read_csv(EDFI_OR11, "users.csv").records() if active(u)]
    students = {u["sourcedId"] for u in users if u["role"] == "student"}
    teachers = {u["sourcedId"] for u in users if u["role"] == "teacher"}
    schools = {o["sourcedId"] for o in read_csv(EDFI_OR11, "orgs.csv").records() if o["type"] == "school"}
    classes = {c["sourcedId"] for c in read_csv(EDFI_OR11, "classes.csv").records() if active(c)}
    terms = {s["sourcedId"] for s in read_csv(EDFI_OR11, "academicSessions.csv").records()}
    courses = {c["sourcedId"] for c in read_csv(EDFI_OR11, "courses.csv").records()}
    enrollment_rows = read_csv(EDFI_OR11, "enrollments.csv").records()
    enrollments = {
        (e["classSourcedId"], e["userSourcedId"])
        for e in enrollment_rows
        if e["role"] == "student" and e["userSourcedId"] in students and e["classSourcedId"] in classes
    }
    class_teachers: dict[str, set[str]] = {c: set() for c in classes}
    for e in enrollment_rows:
        if e["role"] == "teacher" and e["userSourcedId"] in teachers and e["classSourcedId"] in classes:
            class_teachers[e["classSourcedId"]].add(e["userSourcedId"])

    result = load(EDFI_OR11)

    assert result.format == FORMAT_ONEROSTER_11_CSV
    assert ids(result, "schools", "school_id") == schools
    assert ids(result, "students") == students
    assert ids(result, "teachers") == teachers
    assert ids(result, "sections", "section_id") == classes
    assert ids(result, "terms", "term_id") == terms
    assert ids(result, "courses", "course_id") == courses
    assert pairs(result, "enrollments", "section_id", "person_id") == enrollments
    sections = result.roster.tables["sections"].to_pylist()
    assert {s["section_id"]: set(s["teacher_ids"]) for s in sections} == class_teachers
    # The independent count itself (20 student enrollment rows: each pair once per semester).
    assert (len(students), len(teachers), len(classes), len(enrollments)) == (8, 2, 2, 10)


def test_edfi_or11_rows_with_an_empty_extra_field_are_read_without_error() -> None:
    users = read_csv(EDFI_OR11, "users.csv")
    assert users.overlong_rows(with_values=False) == [10, 11]
    assert users.overlong_rows(with_values=True) == []

    result = load(EDFI_OR11)

    assert [r for r in result.issues.to_pylist() if r["severity"] == "error"] == []
    assert ids(result, "teachers") == {"207270", "207268"}


# --- OneRoster 1.0: the same Ed-Fi sample before manifests existed --------------------------------


def test_edfi_or10_without_manifest_is_refused_asking_for_one() -> None:
    names = {p.name.lower() for p in (PUBLIC / EDFI_OR10).iterdir() if p.suffix == ".csv"}
    assert "manifest.csv" not in names and {"users.csv", "orgs.csv", "classes.csv"} <= names

    with pytest.raises(InvalidFilesError) as refusal:
        read_raw(PUBLIC / EDFI_OR10)

    assert "manifest.csv" in str(refusal.value)


# --- Microsoft School Data Sync v2.1 sample (OfficeDev/O365-EDU-Tools) ----------------------------


@dataclass(frozen=True)
class SchoolRoster:
    """What belongs to a set's school-typed org(s), counted from the files alone."""

    schools: set[str]
    students: set[str]
    classes: set[str]
    enrollments: set[tuple[str, str]]
    teachers: dict[str, list[str]]
    links: set[tuple[str, str]]
    birth_dates: dict[str, date]


def sds21_school_roster() -> SchoolRoster:
    schools = {o["sourcedId"] for o in read_csv(SDS21, "orgs.csv").records() if o["type"] == "school"}
    users = {u["sourcedId"] for u in read_csv(SDS21, "users.csv").records()}
    students = {
        r["userSourcedId"]
        for r in read_csv(SDS21, "roles.csv").records()
        if r["role"] == "student" and r["orgSourcedId"] in schools and r["userSourcedId"] in users
    }
    classes = {
        c["sourcedId"] for c in read_csv(SDS21, "classes.csv").records() if c["orgSourcedId"] in schools
    }
    enrollments = read_csv(SDS21, "enrollments.csv").records()
    teachers: dict[str, list[str]] = {c: [] for c in classes}
    for e in enrollments:
        if e["role"] == "teacher" and e["classSourcedId"] in classes:
            teachers[e["classSourcedId"]].append(e["userSourcedId"])
    return SchoolRoster(
        schools=schools,
        students=students,
        classes=classes,
        enrollments={
            (e["classSourcedId"], e["userSourcedId"])
            for e in enrollments
            if e["role"] == "student" and e["classSourcedId"] in classes and e["userSourcedId"] in students
        },
        teachers={c: sorted(t) for c, t in teachers.items()},
        links={
            (r["userSourcedId"], r["relationshipUserSourcedId"])
            for r in read_csv(SDS21, "relationships.csv").records()
            if r["relationshipRole"] in ("guardian", "relative", "parent")
            and r["userSourcedId"] in students
            and r["relationshipUserSourcedId"] in users
        },
        birth_dates={
            d["userSourcedId"]: datetime.strptime(d["birthDate"], "%m/%d/%Y").date()
            for d in read_csv(SDS21, "demographics.csv").records()
            if d["userSourcedId"] in students
        },
    )


def in_schools(result: LoadResult, entity: str, schools: set[str]) -> list[dict[str, Any]]:
    return [r for r in result.roster.tables[entity].to_pylist() if r["school_id"] in schools]


def test_sds21_is_read_as_sds21() -> None:
    assert load(SDS21).format == SDS21_FORMAT


def test_sds21_school_counts_match_an_independent_count() -> None:
    expected = sds21_school_roster()

    result = load(SDS21)

    assert ids(result, "schools", "school_id") == expected.schools
    students = {str(r["person_id"]) for r in in_schools(result, "students", expected.schools)}
    assert students == expected.students
    sections = {str(r["section_id"]): r for r in in_schools(result, "sections", expected.schools)}
    assert set(sections) == expected.classes
    assert {s: sorted(r["teacher_ids"]) for s, r in sections.items()} == expected.teachers
    enrolled = pairs(result, "enrollments", "section_id", "person_id")
    enrollments = {(s, p) for s, p in enrolled if s in sections}
    assert enrollments == expected.enrollments
    assert (len(students), len(sections), len(enrollments)) == (3, 1, 3)


def test_sds21_guardians_come_from_relationships() -> None:
    expected = sds21_school_roster().links

    result = load(SDS21)

    assert pairs(result, "contact_links", "student_id", "contact_id") == expected
    assert ids(result, "contacts") == {contact for _, contact in expected}
    assert len(expected) == 3


def test_sds21_birth_dates_are_month_day_year() -> None:
    expected = sds21_school_roster().birth_dates

    result = load(SDS21)

    students = {r["person_id"]: r["birth_date"] for r in result.roster.tables["students"].to_pylist()}
    assert {p: students[p] for p in expected} == expected
    assert expected["114001"] == date(2001, 7, 2)


# --- Sets of a known but unsupported format: refused, naming the format ----------------------------


@pytest.mark.parametrize(
    "set_name",
    [
        SDS2,
        SDS1_UK,
    ],
)
def test_known_unsupported_format_is_refused_by_name(set_name: str) -> None:
    with pytest.raises(InvalidFilesError) as refusal:
        read_raw(PUBLIC / set_name)

    assert NAMES_SDS.search(str(refusal.value)), str(refusal.value)
