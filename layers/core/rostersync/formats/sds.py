"""Microsoft School Data Sync (SDS) v2.1 CSV into canonical raw tables.

Files: ``orgs.csv``, ``users.csv`` and ``roles.csv`` are required; ``classes.csv`` and
``enrollments.csv`` come together (a set that manages only users sends neither: sections and
enrollments are then not supplied and carried forward); ``academicSessions.csv``, ``courses.csv``,
``relationships.csv`` and ``demographics.csv`` are optional; ``userFlags.csv`` is accepted and not
read. There is no manifest and no ``status`` column: every row is part of a bulk set.

Orgs of type ``school`` become schools; a role or class at another org (a department) belongs to
the nearest school above it through ``parentSourcedId``. A user's entity comes from roles.csv: the
``isPrimary`` role first, then file order; ``student`` -> students, ``teacher`` -> teachers, any
other role -> staff (title = the role). Grades are on roles.csv (the chosen role's ``grade``).
Guardians are users named as ``relationshipUserSourcedId`` in relationships.csv: they become
contacts, linked to the student in ``userSourcedId`` with the relationship from
``relationshipRole``; a guardian whose only role is ``other`` (or who has none) is a contact only,
a teacher or staff member who is also a guardian is both. A class's term is the first of its
``sessionSourcedIds``; teacher enrollments become the class's ``teacher_ids`` in file order
(SDS has no primary flag on enrollments) and an enrollment's school is its class's school.
Dates are ``M/D/YYYY`` (or ISO); sex ``notSelected`` is read as ``unspecified``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import (
    build_lists,
    column_or_nulls,
    first_item,
    null_where,
    split_list,
    take_first_rows,
)
from rostersync.formats.csvio import CsvFile, find_files, read_file_set
from rostersync.formats.orgtree import leaves_alert
from rostersync.formats.raw import LIST_ROW_SUFFIX, NOTES_SCHEMA, RawRoster, RawTable, Source
from rostersync.formats.sds_files import (
    CLASS_FILES,
    ENROLLMENT_ROLES,
    OPTIONAL_FILES,
    ORG_TYPES,
    REQUIRED_FILES,
    SESSION_TYPES,
)
from rostersync.formats.sds_people import (
    Orgs,
    PeopleReader,
    alert_rows,
    as_numpy,
    lowered,
    positions_in,
    take_at,
)
from rostersync.issues import ALERT, FileProblem, InvalidFilesError, concat_issues, row_issues
from rostersync.model import ENTITY_BY_NAME, ROW_COLUMN, UNKNOWN_SCHEMA
from rostersync.roster import FORMAT_SDS_21_CSV


class _Reader(PeopleReader):
    def __init__(self, files: dict[str, CsvFile]) -> None:
        self.files = files
        self.issues: list[pa.Table] = []
        self.unknown: list[pa.Table] = []
        self.tables: dict[str, RawTable] = {}
        self.orgs = Orgs(files["orgs.csv"])

    # -- schools -------------------------------------------------------------------------------
    def schools(self) -> None:
        csv = self.files["orgs.csv"]
        if self.orgs.leaves_as_schools:
            leaves = pa.array(self.orgs.is_school)
            self.issues.append(leaves_alert(csv.name, csv.table, leaves, csv.headers.get("type", "type")))
        odd = pc.and_(
            pc.is_valid(csv.table.column("type")),
            pc.invert(pc.is_in(lowered(csv.table.column("type")), value_set=pa.array(ORG_TYPES))),
        )
        if pc.any(odd).as_py():
            self.issues.append(
                alert_rows(
                    csv,
                    csv.table,
                    odd,
                    "type",
                    "Not one of the documented SDS org types; it was kept as sent.",
                )
            )
        schools = csv.table.filter(pa.array(self.orgs.is_school))
        table = pa.table(
            {
                "school_id": schools.column("org_id"),
                "name": schools.column("name"),
                ROW_COLUMN: schools.column(ROW_COLUMN),
            }
        )
        self.tables["schools"] = RawTable(
            "schools",
            table,
            csv.name,
            {"school_id": csv.source("org_id"), "name": csv.source("name")},
            required={"school_id": None, "name": None},
        )

    # -- classes, enrollments, sessions, courses -----------------------------------------------
    def sections(self) -> None:
        classes = self.files["classes.csv"]
        table = classes.table
        fields = ENTITY_BY_NAME["sections"].schema.names
        sections = table.select([c for c in table.column_names if c in fields] + [ROW_COLUMN])
        # A class at an org with no school above it keeps that org, so that validation reports
        # the class against the org it was sent with and says what that org is.
        sections = sections.append_column("school_id", self.orgs.map.school_or_org(table.column("org_id")))
        sections = sections.append_column("term_id", first_item(split_list(column_or_nulls(table, "terms"))))
        enrollments = self.files["enrollments.csv"]
        etable = enrollments.table
        role = lowered(etable.column("role"))
        odd = pc.and_(pc.is_valid(role), pc.invert(pc.is_in(role, value_set=pa.array(ENROLLMENT_ROLES))))
        if pc.any(odd).as_py():
            self.issues.append(
                alert_rows(
                    enrollments,
                    etable,
                    odd,
                    "role",
                    "Only student and teacher enrollments are read; this row was ignored.",
                )
            )
        section_at = positions_in(etable.column("section_id"), sections.column("section_id"))
        teacher = as_numpy(pc.fill_null(pc.equal(role, "teacher"), False)).astype(bool)
        orphan = teacher & (section_at < 0) & as_numpy(pc.is_valid(etable.column("section_id"))).astype(bool)
        if orphan.any():
            self.issues.append(
                row_issues(
                    etable,
                    pa.array(orphan),
                    severity=ALERT,
                    file=enrollments.name,
                    column=enrollments.headers["section_id"],
                    message="This teacher enrollment refers to a class that is not in classes.csv; it was "
                    "ignored.",
                    value_column="section_id",
                )
            )
        usable = teacher & (section_at >= 0) & as_numpy(pc.is_valid(etable.column("person_id"))).astype(bool)
        teachers = pa.table(
            {
                "parent": pa.array(section_at[usable]),
                "person_id": pc.filter(etable.column("person_id"), pa.array(usable)),
                ROW_COLUMN: pc.filter(etable.column(ROW_COLUMN), pa.array(usable)),
            }
        )
        teachers = take_first_rows(teachers, ["parent", "person_id"])
        n = sections.num_rows
        sections = sections.append_column(
            "teacher_ids", build_lists(teachers.column("parent"), teachers.column("person_id"), n)
        )
        sections = sections.append_column(
            "teacher_ids" + LIST_ROW_SUFFIX,
            build_lists(teachers.column("parent"), teachers.column(ROW_COLUMN), n),
        )
        sources = {c: classes.source(c) for c in sections.column_names if c in classes.headers}
        sources |= {
            "school_id": classes.source("org_id"),
            "term_id": classes.source("terms", "sessionSourcedIds"),
            "teacher_ids": Source(enrollments.name, enrollments.headers["person_id"]),
        }
        self.tables["sections"] = RawTable(
            "sections", sections, classes.name, sources, required={"section_id": None, "school_id": None}
        )
        student = pc.fill_null(pc.equal(role, "student"), False)
        students = etable.select(["section_id", "person_id", ROW_COLUMN]).filter(student)
        school = take_at(
            sections.column("school_id"),
            positions_in(students.column("section_id"), sections.column("section_id")),
        )
        students = students.append_column("school_id", school)
        students = students.append_column("role", pa.repeat(pa.scalar("student"), students.num_rows))
        self.tables["enrollments"] = RawTable(
            "enrollments",
            students,
            enrollments.name,
            {
                "section_id": enrollments.source("section_id"),
                "person_id": enrollments.source("person_id"),
                "school_id": enrollments.source("section_id"),
            },
            required={"section_id": None, "person_id": None},
            unique=False,
        )

    def terms(self) -> None:
        csv = self.files["academicSessions.csv"]
        columns = ["term_id", "name", "type", "start_date", "end_date"]
        table = csv.table.select([c for c in columns if csv.has(c)] + [ROW_COLUMN])
        self.tables["terms"] = RawTable(
            "terms",
            table,
            csv.name,
            {c: csv.source(c) for c in columns if csv.has(c)},
            required={"term_id": None, "name": None},
            enums={"type": SESSION_TYPES},
        )

    def courses(self) -> None:
        csv = self.files["courses.csv"]
        table = csv.table
        school = self.orgs.map.school(table.column("org_id"))
        # A course of the district (or any org with no school above it) has no school.
        columns = ["course_id", "name", "course_code", "grades", "subject"]
        out = table.select([c for c in columns if csv.has(c)] + [ROW_COLUMN]).append_column(
            "school_id", null_where(school, pc.invert(self.orgs.map.is_school(school)))
        )
        sources = {c: csv.source(c) for c in columns if csv.has(c)}
        sources["school_id"] = csv.source("org_id")
        self.tables["courses"] = RawTable(
            "courses", out, csv.name, sources, required={"course_id": None, "name": None}
        )


def _class_file_problems(found: dict[str, Path]) -> list[FileProblem]:
    """classes.csv and enrollments.csv come together or not at all."""
    has = {spec.name: spec.name.lower() in found for spec in CLASS_FILES}
    if all(has.values()) or not any(has.values()):
        return []
    present, absent = (name for name in sorted(has, key=lambda n: not has[n]))
    return [
        FileProblem(
            absent,
            f"required file is missing: SDS sends classes.csv and enrollments.csv together, and this set "
            f"has {present} without it",
        )
    ]


def read_sds(directory: Path) -> RawRoster:
    """Read an SDS v2.1 CSV set; raises InvalidFilesError listing every file problem."""
    found = find_files(Path(directory))
    has_classes = "classes.csv" in found and "enrollments.csv" in found
    problems = _class_file_problems(found)
    read = read_file_set(found, (*REQUIRED_FILES, *(CLASS_FILES if has_classes else ())), OPTIONAL_FILES)
    problems.extend(read.problems)
    if problems:
        raise InvalidFilesError(problems, FORMAT_SDS_21_CSV)
    reader = _Reader(read.files)
    reader.schools()
    reader.people()
    if has_classes:
        reader.sections()
    if "academicSessions.csv" in read.files:
        reader.terms()
    if "courses.csv" in read.files:
        reader.courses()
    unknown = pa.concat_tables(reader.unknown) if reader.unknown else UNKNOWN_SCHEMA.empty_table()
    keys, notes = reader.orgs.notes
    entity = pa.repeat(pa.scalar("schools"), len(keys))
    missing = frozenset(name for name in ENTITY_BY_NAME if name not in reader.tables)
    return RawRoster(
        FORMAT_SDS_21_CSV,
        Path(directory),
        reader.tables,
        missing=missing,
        issues=concat_issues([*read.alerts, *reader.issues]),
        unknown=unknown,
        notes=pa.Table.from_arrays([entity, keys, notes], schema=NOTES_SCHEMA),
    )
