"""Clever-style CSV (Clever's SFTP file spec) into canonical raw tables.

Files: ``schools.csv``, ``students.csv``, ``teachers.csv``, ``sections.csv``, ``enrollments.csv``
and optionally ``staff.csv``. Clever repeats rows: a student appears once per contact, and a
teacher or staff member teaching at several schools once per school. The record is the first row
of its ID and ``school_ids`` lists every school it appears with, in row order; repeats are not
duplicates. Derived IDs, all deterministic so a resend gives the same keys: a **contact** is
``Contact_sis_id`` when present, else ``email:<lower-cased Contact_email>`` (when well formed), else
``name:<lower-cased name>|phone:<phone digits>``, else ``name:<lower-cased name>|student:<Student_id>``
(a bare name is only trusted within one student, since two families can share a name); siblings
sharing a parent therefore share one contact record whatever the row order. A **term** is
``<School_id>|<Term_name>|<year of Term_start>`` (the year keeps "Semester 1" of two school years
apart, while fixing a term's dates keeps its ID); a two-digit year (``8/1/15``) is read within 50
years of today, and a term whose year cannot be known gets no ID: an error names it and its
sections are kept without a term. A **course** is ``<School_id>|<Course_number>``,
or ``<School_id>|<Course_name>`` when the number is blank.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import (
    ArrayLike,
    as_array,
    build_lists,
    encode,
    first_mask,
    first_rows,
    lists_from_columns,
    null_where,
    scatter,
)
from rostersync.formats.csvio import CsvFile, FileSpec, find_files, read_file_set
from rostersync.formats.raw import (
    LIST_COLUMN_SUFFIX,
    LIST_ROW_SUFFIX,
    REJECTED_COLUMN,
    RawRoster,
    RawTable,
    Source,
)
from rostersync.formats.values import term_years
from rostersync.issues import ERROR, InvalidFilesError, concat_issues, empty_issues, row_issues
from rostersync.model import CONTACT_TYPES, ENTITY_BY_NAME, RELATIONSHIPS, ROW_COLUMN
from rostersync.roster import FORMAT_CLEVER_CSV
from rostersync.settings import EMAIL_PATTERN

_NAMES = {"First_name": "first_name", "Middle_name": "middle_name", "Last_name": "last_name"}

SCHOOLS = FileSpec(
    "schools.csv",
    columns={
        "School_id": "school_id",
        "School_name": "name",
        "School_number": "school_number",
        "State_id": "state_id",
        "Low_grade": "low_grade",
        "High_grade": "high_grade",
        "School_phone": "phone",
    },
    required=("School_id", "School_name"),
    ignored=(
        "Principal",
        "Principal_email",
        "School_address",
        "School_city",
        "School_state",
        "School_zip",
        "Nces_id",
        "Mdr_number",
    ),
    ignored_prefixes=("ext.",),
)

CONTACT_COLUMNS = {
    "Contact_name": "contact_name",
    "Contact_type": "contact_type",
    "Contact_relationship": "relationship",
    "Contact_phone": "contact_phone",
    "Contact_phone_type": "contact_phone_type",
    "Contact_email": "contact_email",
    "Contact_sis_id": "contact_sis_id",
}

STUDENTS = FileSpec(
    "students.csv",
    columns={
        "School_id": "school_id",
        "Student_id": "person_id",
        "Student_number": "sis_id",
        "State_id": "state_id",
        **_NAMES,
        "Grade": "grade",
        "Gender": "gender",
        "Dob": "birth_date",
        "Student_email": "email",
        "Username": "username",
        **CONTACT_COLUMNS,
    },
    required=("School_id", "Student_id", "Last_name", "First_name"),
    ignored=(
        "Graduation_year",
        "Race",
        "Hispanic_Latino",
        "Home_language",
        "Ell_status",
        "Frl_status",
        "Iep_status",
        "Section_504_status",
        "Gifted_status",
        "Student_street",
        "Student_city",
        "Student_state",
        "Student_zip",
        "Password",
        "Unweighted_gpa",
        "Weighted_gpa",
    ),
    ignored_prefixes=("ext.",),
)

TEACHERS = FileSpec(
    "teachers.csv",
    columns={
        "School_id": "school_id",
        "Teacher_id": "person_id",
        "Teacher_number": "sis_id",
        "State_teacher_id": "state_id",
        "Teacher_email": "email",
        **_NAMES,
        "Title": "title",
        "Username": "username",
    },
    required=("School_id", "Teacher_id", "Last_name", "First_name"),
    ignored=("Password",),
    ignored_prefixes=("ext.",),
)

STAFF = FileSpec(
    "staff.csv",
    columns={
        "School_id": "school_id",
        "Staff_id": "person_id",
        "Staff_email": "email",
        **_NAMES,
        "Title": "title",
        "Username": "username",
    },
    required=("School_id", "Staff_id", "Last_name", "First_name"),
    ignored=("Department", "Password", "Role"),
    ignored_prefixes=("ext.",),
)

SECTIONS = FileSpec(
    "sections.csv",
    columns={
        "School_id": "school_id",
        "Section_id": "section_id",
        "Teacher_id": "teacher_1",
        "Name": "name",
        "Section_number": "section_number",
        "Grade": "grade",
        "Course_name": "course_name",
        "Course_number": "course_number",
        "Period": "period",
        "Subject": "subject",
        "Term_name": "term_name",
        "Term_start": "term_start",
        "Term_end": "term_end",
    },
    required=("School_id", "Section_id", "Teacher_id"),
    ignored=("Course_description",),
    numbered=((r"teacher(\d+)id", "teacher_"),),
    ignored_prefixes=("ext.",),
)

ENROLLMENTS = FileSpec(
    "enrollments.csv",
    columns={"School_id": "school_id", "Section_id": "section_id", "Student_id": "person_id"},
    required=("School_id", "Section_id", "Student_id"),
)

REQUIRED_FILES = (SCHOOLS, STUDENTS, TEACHERS, SECTIONS, ENROLLMENTS)
OPTIONAL_FILES = (STAFF,)

PERSON_REQUIRED: dict[str, str | None] = {
    "person_id": None,
    "school_id": None,
    "first_name": None,
    "last_name": None,
}


def _entity_columns(csv: CsvFile, entity: str) -> list[str]:
    fields = ENTITY_BY_NAME[entity].schema.names
    return [c for c in csv.table.column_names if c in fields]


def _sources(csv: CsvFile, columns: list[str]) -> dict[str, Source]:
    return {c: csv.source(c) for c in columns}


def _plain(csv: CsvFile, entity: str, required: dict[str, str | None]) -> RawTable:
    columns = _entity_columns(csv, entity)
    return RawTable(
        entity, csv.table.select([*columns, ROW_COLUMN]), csv.name, _sources(csv, columns), required=required
    )


def _merge_people(csv: CsvFile, entity: str) -> RawTable:
    """One record per ID (its first row); ``school_ids`` = every school it appears with."""
    table = csv.table
    columns = _entity_columns(csv, entity)
    codes = _codes(table.column("person_id"))
    is_first = first_mask(codes, ordered=True)
    firsts = np.flatnonzero(is_first)
    # A take, not a filter: it leaves one contiguous chunk per column, as validation's
    # whole-column kernels want them (a filter keeps the file's ~50 chunks).
    people = table.select([*columns, ROW_COLUMN]).take(pa.array(firsts))
    n = people.num_rows
    school = table.column("school_id")
    # Row of each row's first row (codes count in order of first appearance; nulls are their own).
    first_of_code = firsts[codes[firsts] >= 0]
    own_first = np.where(codes >= 0, first_of_code[codes], np.arange(table.num_rows))
    same = pc.fill_null(pc.equal(school, pc.take(school, pa.array(own_first))), True)
    if pc.all(same).as_py() is not False:
        parents = pa.array(
            np.flatnonzero(pc.is_valid(people.column("school_id")).to_numpy(zero_copy_only=False))
        )
        school_ids = build_lists(parents, pc.take(people.column("school_id"), parents), n)
        school_rows = build_lists(parents, pc.take(people.column(ROW_COLUMN), parents), n)
    else:
        # Someone repeats with another school (a teacher at two schools): list every school once.
        pairs = table.select(["person_id", "school_id", ROW_COLUMN]).filter(
            pc.and_(pc.is_valid(table.column("person_id")), pc.is_valid(school))
        )
        pairs = pairs.take(first_rows(pairs, ["person_id", "school_id"]))
        parents = pc.index_in(pairs.column("person_id"), value_set=as_array(people.column("person_id")))
        school_ids = build_lists(parents, pairs.column("school_id"), n)
        school_rows = build_lists(parents, pairs.column(ROW_COLUMN), n)
    people = people.append_column("school_ids", school_ids)
    people = people.append_column("school_ids" + LIST_ROW_SUFFIX, school_rows)
    sources = _sources(csv, columns)
    sources["school_ids"] = csv.source("school_id")
    return RawTable(entity, people, csv.name, sources, required=dict(PERSON_REQUIRED), deduplicated=True)


def _codes(values: ArrayLike) -> np.ndarray:
    """``encode(values).codes`` (numbered in order of first appearance), without hashing when
    the values come sorted with no nulls, as exports usually list people: then each value's rows
    are together and its code is simply the count of value changes before it."""
    arr = as_array(values)
    n = len(arr)
    if n > 1 and arr.null_count == 0:
        head, tail = arr.slice(0, n - 1), arr.slice(1)
        if pc.all(pc.less_equal(head, tail)).as_py():
            starts = np.ones(n, dtype=bool)
            starts[1:] = pc.not_equal(head, tail).to_numpy(zero_copy_only=False)
            codes: np.ndarray = np.cumsum(starts, dtype=np.int64) - 1
            return codes
    return encode(arr).codes


def split_name(names: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """ "Last, First" or "First [Middle] Last" -> (first, last); a single word is a first name."""
    arr = as_array(names)
    n = len(arr)
    everyone = arr.null_count == 0
    present = np.arange(n) if everyone else np.flatnonzero(pc.is_valid(arr).to_numpy(zero_copy_only=False))
    sub = arr if everyone else pc.take(arr, pa.array(present))
    parts = pc.split_pattern(sub, " ", max_splits=1, reverse=True)
    offsets = parts.offsets.to_numpy()
    two = np.diff(offsets) == 2
    first = pc.utf8_rtrim_whitespace(pc.take(parts.values, pa.array(offsets[:-1])))
    last = pc.take(parts.values, pa.array(offsets[:-1] + 1, mask=~two))
    comma = pc.match_substring(sub, ",")
    if pc.any(comma).as_py():
        # "Last, First" (rare): a regex on just those rows.
        split = pc.extract_regex(sub, r"^(?P<last>[^,]*),\s*(?P<first>.*)$")
        first = pc.coalesce(pc.struct_field(split, ["first"]), first)
        last = pc.coalesce(pc.struct_field(split, ["last"]), last)
    first = pc.utf8_trim_whitespace(first)
    last = pc.utf8_trim_whitespace(last)
    first = null_where(first, pc.equal(first, ""))
    last = null_where(last, pc.equal(last, ""))
    if everyone:
        return first, last
    return scatter(present, first, n), scatter(present, last, n)


def contact_ids(
    sis_id: ArrayLike, email: ArrayLike, name: ArrayLike, phone: ArrayLike, student_id: ArrayLike
) -> pa.Array:
    """Stable contact IDs (see the module docstring for the order of preference).

    Each fallback key is built only for the rows still without an ID, so the usual case (an
    ID or an email on every row) costs one pass.
    """
    ids = as_array(sis_id)
    if ids.null_count:
        rows = pa.array(np.flatnonzero(pc.is_null(ids).to_numpy(zero_copy_only=False)))
        emails = pc.take(email, rows)
        # Only a well-formed email identifies a person; a typo fixed later must not re-key them.
        emails = null_where(emails, pc.invert(pc.match_substring_regex(emails, EMAIL_PATTERN)))
        by_email = pc.binary_join_element_wise("email:", pc.utf8_lower(emails), "")
        ids = pc.replace_with_mask(ids, pc.is_null(ids), as_array(by_email))
    if ids.null_count:
        rows = pa.array(np.flatnonzero(pc.is_null(ids).to_numpy(zero_copy_only=False)))
        words = pc.utf8_split_whitespace(pc.utf8_lower(pc.take(name, rows)))
        name_key = pc.binary_join(words, " ")
        digits = pc.replace_substring_regex(pc.take(phone, rows), r"[^0-9]", "")
        digits = null_where(digits, pc.equal(digits, ""))
        by_phone = pc.binary_join_element_wise("name:", name_key, "|phone:", digits, "")
        by_student = pc.binary_join_element_wise(
            "name:", name_key, "|student:", pc.take(student_id, rows), ""
        )
        ids = pc.replace_with_mask(ids, pc.is_null(ids), as_array(pc.coalesce(by_phone, by_student)))
    return ids


def _contacts(csv: CsvFile) -> tuple[RawTable, RawTable]:
    """Contacts (deduplicated across students) and student-contact links from students.csv."""
    table = csv.table
    name = csv.column("contact_name")
    email = csv.column("contact_email")
    phone = csv.column("contact_phone")
    sis_id = csv.column("contact_sis_id")
    present = pc.or_(
        pc.or_(pc.is_valid(name), pc.is_valid(email)), pc.or_(pc.is_valid(phone), pc.is_valid(sis_id))
    )
    # IDs are made row by row (a row without any contact value gets none), so they are made for
    # every row and only the columns each table keeps are filtered, never the whole contact block.
    ids = contact_ids(sis_id, email, name, phone, csv.column("person_id"))
    links = pa.table(
        {
            "student_id": csv.column("person_id"),
            "contact_id": ids,
            "school_id": csv.column("school_id"),
            "relationship": csv.column("relationship"),
            "contact_type": csv.column("contact_type"),
            ROW_COLUMN: table.column(ROW_COLUMN),
        }
    )
    kept = as_array(present).to_numpy(zero_copy_only=False)
    if not kept.all():
        links = links.filter(pa.array(kept))
    # A contact is its first row; siblings' rows repeat it.
    linked = links.column("contact_id")
    firsts = np.flatnonzero(kept)[first_mask(_codes(linked), ordered=True)] if len(linked) else []
    at = pa.array(firsts, pa.int64())
    needed = ["school_id", *CONTACT_COLUMNS.values(), ROW_COLUMN]
    one = table.select(
        [c for c in needed if c in table.column_names and c not in ("relationship", "contact_type")]
    )
    one = one.take(at)
    one_csv = CsvFile(csv.name, one, csv.headers)
    first, last = split_name(one_csv.column("contact_name"))
    contacts = pa.table(
        {
            "person_id": pc.take(ids, at),
            "school_id": one_csv.column("school_id"),
            "sis_id": one_csv.column("contact_sis_id"),
            "first_name": first,
            "last_name": last,
            "email": one_csv.column("contact_email"),
            "phone": one_csv.column("contact_phone"),
            "phone_type": one_csv.column("contact_phone_type"),
            ROW_COLUMN: one.column(ROW_COLUMN),
        }
    )
    name_source = csv.source("contact_name", "Contact_name")
    contact_sources = {
        "person_id": Source(csv.name, name_source.column),
        "school_id": csv.source("school_id"),
        "sis_id": csv.source("contact_sis_id", "Contact_sis_id"),
        "first_name": name_source,
        "last_name": name_source,
        "email": csv.source("contact_email", "Contact_email"),
        "phone": csv.source("contact_phone", "Contact_phone"),
        "phone_type": csv.source("contact_phone_type", "Contact_phone_type"),
    }
    link_sources = {
        "student_id": csv.source("person_id"),
        "contact_id": Source(csv.name, name_source.column),
        "school_id": csv.source("school_id"),
        "relationship": csv.source("relationship", "Contact_relationship"),
        "contact_type": csv.source("contact_type", "Contact_type"),
    }
    name_needed = "A contact needs a name: Contact_name is empty on this row, so the contact was left out."
    return (
        RawTable(
            "contacts",
            contacts,
            csv.name,
            contact_sources,
            required={"person_id": name_needed, "first_name": name_needed},
            deduplicated=True,
        ),
        RawTable(
            "contact_links",
            links,
            csv.name,
            link_sources,
            required={"student_id": None, "contact_id": None},
            unique=False,
            enums={"relationship": RELATIONSHIPS, "contact_type": CONTACT_TYPES},
        ),
    )


def _key(school: ArrayLike, part: ArrayLike) -> ArrayLike:
    return null_where(pc.binary_join_element_wise(school, part, "|"), pc.is_null(part))


def _term_year_errors(csv: CsvFile, name: ArrayLike, year: ArrayLike) -> pa.Table:
    """One error per term (its first section row) that has a name but no knowable year."""
    unknown = pc.and_(pc.is_valid(name), pc.is_null(year))
    src = csv.source("term_start", "Term_start")
    columns = [c for c in ("school_id", "term_name", "term_start", ROW_COLUMN) if c in csv.table.column_names]
    hits = csv.table.select(columns).filter(unknown)
    hits = hits.take(first_rows(hits, [c for c in ("school_id", "term_name") if c in columns]))
    return row_issues(
        hits,
        pa.repeat(pa.scalar(True), hits.num_rows),
        severity=ERROR,
        file=csv.name,
        column=src.column,
        value_column="term_start" if csv.has("term_start") else None,
        message=f"The school year of this term is unknown: {src.column} is empty or not a date (use "
        "MM/DD/YYYY, M/D/YY or YYYY-MM-DD), and a term's ID needs its year. The term was left out; "
        "its sections were kept without a term.",
    )


def _sections(csv: CsvFile, today: date) -> tuple[RawTable, RawTable | None, RawTable | None, pa.Table]:
    table = csv.table
    issues = empty_issues()
    school = csv.column("school_id")
    teacher_columns = sorted(
        (c for c in table.column_names if c.startswith("teacher_")), key=lambda c: int(c.split("_")[1])
    )
    teacher_ids, teacher_headers = lists_from_columns(
        [table.column(c) for c in teacher_columns], [csv.headers[c] for c in teacher_columns]
    )
    # Rows with more values than the header (flagged by the CSV reader) stay flagged in the
    # sections, terms and courses made from them, so that validation leaves exactly those out
    # and not the rows of a term-year error, which is about the term only.
    if REJECTED_COLUMN not in table.column_names:
        table = table.append_column(REJECTED_COLUMN, pa.repeat(pa.scalar(False), table.num_rows))
    flag = {REJECTED_COLUMN: table.column(REJECTED_COLUMN)}

    terms: RawTable | None = None
    term_id: ArrayLike = pa.nulls(table.num_rows, pa.string())
    if csv.has("term_name"):
        # The year keeps this year's "Semester 1" apart from next year's; without it no ID is made.
        year = term_years(csv.column("term_start"), today=today)
        name = csv.column("term_name")
        term_id = pc.binary_join_element_wise(school, name, year, "|")
        issues = _term_year_errors(csv, name, year)
        all_terms = pa.table(
            {
                "term_id": term_id,
                "school_id": school,
                "name": name,
                "start_date": csv.column("term_start"),
                "end_date": csv.column("term_end"),
                ROW_COLUMN: table.column(ROW_COLUMN),
            }
            | flag
        ).filter(pc.is_valid(term_id))
        terms = RawTable(
            "terms",
            all_terms.take(first_rows(all_terms, ["term_id"])),
            csv.name,
            {
                "term_id": csv.source("term_name"),
                "school_id": csv.source("school_id"),
                "name": csv.source("term_name"),
                "start_date": csv.source("term_start", "Term_start"),
                "end_date": csv.source("term_end", "Term_end"),
            },
            required={"term_id": None},
            deduplicated=True,
        )

    courses: RawTable | None = None
    course_id: ArrayLike = pa.nulls(table.num_rows, pa.string())
    if csv.has("course_number") or csv.has("course_name"):
        number = csv.column("course_number")
        course_name = csv.column("course_name")
        course_id = pc.coalesce(_key(school, number), _key(school, course_name))
        all_courses = pa.table(
            {
                "course_id": course_id,
                "school_id": school,
                "name": course_name,
                "course_code": number,
                "subject": csv.column("subject"),
                "grades": csv.column("grade"),
                ROW_COLUMN: table.column(ROW_COLUMN),
            }
            | flag
        ).filter(pc.is_valid(course_id))
        id_header = "course_number" if csv.has("course_number") else "course_name"
        courses = RawTable(
            "courses",
            all_courses.take(first_rows(all_courses, ["course_id"])),
            csv.name,
            {
                "course_id": csv.source(id_header),
                "school_id": csv.source("school_id"),
                "name": csv.source("course_name", "Course_name"),
                "course_code": csv.source("course_number", "Course_number"),
                "subject": csv.source("subject", "Subject"),
                "grades": csv.source("grade", "Grade"),
            },
            required={"course_id": None},
            deduplicated=True,
        )

    section_columns = _entity_columns(csv, "sections")
    sections = table.select([*section_columns, ROW_COLUMN, REJECTED_COLUMN])
    sections = sections.append_column("course_id", course_id).append_column("term_id", term_id)
    sections = sections.append_column("teacher_ids", teacher_ids)
    sections = sections.append_column("teacher_ids" + LIST_COLUMN_SUFFIX, teacher_headers)
    sources = _sources(csv, section_columns)
    sources["course_id"] = (
        courses.sources["course_id"] if courses else csv.source("course_number", "Course_number")
    )
    sources["term_id"] = csv.source("term_name", "Term_name")
    sources["teacher_ids"] = csv.source("teacher_1")
    return (
        RawTable("sections", sections, csv.name, sources, required={"section_id": None, "school_id": None}),
        terms,
        courses,
        issues,
    )


def _enrollments(csv: CsvFile) -> RawTable:
    table = csv.table.select(["section_id", "person_id", "school_id", ROW_COLUMN])
    table = table.append_column("role", pa.repeat(pa.scalar("student"), table.num_rows))
    return RawTable(
        "enrollments",
        table,
        csv.name,
        _sources(csv, ["section_id", "person_id", "school_id"]),
        required={"section_id": None, "person_id": None, "school_id": None},
        unique=False,
    )


def _derive(spec: FileSpec, csv: CsvFile, today: date, errors: list[pa.Table]) -> dict[str, RawTable]:
    """The raw tables one file gives (term-year errors of sections.csv go to ``errors``)."""
    if spec is SCHOOLS:
        return {"schools": _plain(csv, "schools", {"school_id": None, "name": None})}
    if spec is SECTIONS:
        sections, terms, courses, term_errors = _sections(csv, today)
        errors.append(term_errors)
        derived = {"sections": sections, "terms": terms, "courses": courses}
        return {name: table for name, table in derived.items() if table is not None}
    if spec is ENROLLMENTS:
        return {"enrollments": _enrollments(csv)}
    entity = {STUDENTS.name: "students", TEACHERS.name: "teachers", STAFF.name: "staff"}[spec.name]
    tables = {entity: _merge_people(csv, entity)}
    if spec is STUDENTS and any(csv.has(c) for c in CONTACT_COLUMNS.values()):
        tables["contacts"], tables["contact_links"] = _contacts(csv)
    return tables


def read_clever(directory: Path, *, today: date | None = None) -> RawRoster:
    """Read a Clever-style CSV set; raises InvalidFilesError listing every file problem.

    ``today`` (default: the current UTC date) pivots two-digit years in term start dates. Each
    file's tables are derived as soon as it is read, so its raw columns are let go before the
    next (larger) file is read.
    """
    pivot = today or datetime.now(UTC).date()
    derived: dict[str, dict[str, RawTable]] = {}
    term_errors: list[pa.Table] = []

    def use(spec: FileSpec, csv: CsvFile) -> None:
        derived[spec.name] = _derive(spec, csv, pivot, term_errors)

    read = read_file_set(find_files(directory), REQUIRED_FILES, OPTIONAL_FILES, use=use)
    if read.problems:
        raise InvalidFilesError(read.problems, FORMAT_CLEVER_CSV)
    tables: dict[str, RawTable] = {}
    for spec in (SCHOOLS, STUDENTS, TEACHERS, STAFF, SECTIONS, ENROLLMENTS):
        tables.update(derived.get(spec.name, {}))
    missing = frozenset(name for name in ENTITY_BY_NAME if name not in tables)
    return RawRoster(
        FORMAT_CLEVER_CSV,
        Path(directory),
        tables,
        missing=missing,
        issues=concat_issues([*read.alerts, *term_errors]),
    )
