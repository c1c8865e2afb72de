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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import (
    ArrayLike,
    as_array,
    build_lists,
    first_item,
    first_mask,
    null_where,
    split_list,
    take_first_rows,
)
from rostersync.formats.csvio import CsvFile, find_files, read_file_set
from rostersync.formats.raw import LIST_ROW_SUFFIX, RawRoster, RawTable, Source
from rostersync.formats.sds_files import (
    CLASS_FILES,
    CONTACT_ONLY_ROLE,
    ENROLLMENT_ROLES,
    MAX_ORG_DEPTH,
    OPTIONAL_FILES,
    ORG_TYPES,
    RELATIONSHIP_ROLES,
    REQUIRED_FILES,
    SESSION_TYPES,
    SEXES,
    USER_ROLES,
)
from rostersync.issues import ALERT, ERROR, FileProblem, InvalidFilesError, concat_issues, row_issues
from rostersync.model import ENTITY_BY_NAME, PERSON_ENTITIES, ROW_COLUMN, UNKNOWN_SCHEMA
from rostersync.roster import FORMAT_SDS_21_CSV

ROLE = "_role"
ROLE_ROW = "_role_row"
DEMO_ROW = "_demo_row"
CONTACT = "_contact"


def _lower(values: ArrayLike) -> ArrayLike:
    out: ArrayLike = pc.utf8_lower(values)
    return out


def _np(values: ArrayLike) -> np.ndarray:
    return np.asarray(as_array(values).to_numpy(zero_copy_only=False))


def _positions(values: ArrayLike, value_set: ArrayLike) -> np.ndarray:
    """Index of each value in ``value_set`` (-1 where absent)."""
    return _np(pc.fill_null(pc.index_in(values, value_set=as_array(value_set)), -1)).astype(np.int64)


def _take(values: ArrayLike, positions: np.ndarray) -> ArrayLike:
    out: ArrayLike = pc.take(values, pa.array(positions, mask=positions < 0))
    return out


def _alert(csv: CsvFile, table: pa.Table, mask: ArrayLike, column: str, message: str) -> pa.Table:
    return row_issues(
        table,
        mask,
        severity=ALERT,
        file=csv.name,
        column=csv.headers.get(column, column),
        message=message,
        value_column=column,
    )


class _Orgs:
    """orgs.csv: which orgs are schools, and the nearest school of any org."""

    def __init__(self, csv: CsvFile) -> None:
        table = csv.table
        self.ids = as_array(table.column("org_id"))
        kind = _lower(table.column("type"))
        self.is_school = _np(pc.fill_null(pc.equal(kind, "school"), False)).astype(bool)
        parent = _positions(table.column("parent_id"), self.ids)
        nearest = np.where(self.is_school, np.arange(len(self.ids)), -1)
        step = parent
        for _ in range(MAX_ORG_DEPTH):  # one pass per level of the hierarchy, not per row
            open_ = (nearest < 0) & (step >= 0)
            if not open_.any():
                break
            found = open_ & self.is_school[np.maximum(step, 0)]
            nearest[found] = step[found]
            step = np.where(open_ & ~found, parent[np.maximum(step, 0)], -1)
        self.nearest = nearest

    def school_of(self, orgs: ArrayLike) -> ArrayLike:
        """The nearest school of each org; an org missing from orgs.csv is kept as sent (so that
        validation names it), an org with no school above it is null."""
        at = _positions(orgs, self.ids)
        school = np.where(at >= 0, self.nearest[np.maximum(at, 0)], -1)
        found = _take(self.ids, school)
        out: ArrayLike = pc.if_else(pa.array(at < 0), orgs, found)
        return out


class _Reader:
    def __init__(self, files: dict[str, CsvFile]) -> None:
        self.files = files
        self.issues: list[pa.Table] = []
        self.unknown: list[pa.Table] = []
        self.tables: dict[str, RawTable] = {}
        self.orgs = _Orgs(files["orgs.csv"])

    # -- schools -------------------------------------------------------------------------------
    def schools(self) -> None:
        csv = self.files["orgs.csv"]
        odd = pc.and_(
            pc.is_valid(csv.table.column("type")),
            pc.invert(pc.is_in(_lower(csv.table.column("type")), value_set=pa.array(ORG_TYPES))),
        )
        if pc.any(odd).as_py():
            self.issues.append(
                _alert(
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

    # -- people --------------------------------------------------------------------------------
    def _roles(self, users: pa.Table) -> pa.Table:
        """Each user's chosen role (primary first, then file order), its grade and row, and every
        school of their roles (nearest school of each role's org, primary first, once each)."""
        roles_csv = self.files["roles.csv"]
        roles = roles_csv.table
        owner = _positions(roles.column("user_id"), users.column("person_id"))
        orphan = pc.and_(pa.array(owner < 0), pc.is_valid(roles.column("user_id")))
        if pc.any(orphan).as_py():
            self.issues.append(
                _alert(
                    roles_csv,
                    roles,
                    orphan,
                    "user_id",
                    "Refers to a user who is not in users.csv; the role was ignored.",
                )
            )
        primary = _np(pc.fill_null(pc.equal(_lower(_column(roles, "is_primary")), "true"), False)).astype(
            bool
        )
        keep = np.flatnonzero(owner >= 0)
        order = keep[np.argsort(~primary[keep], kind="stable")]
        n = users.num_rows
        chosen = np.full(n, -1, dtype=np.int64)
        chosen[owner[order][::-1]] = order[::-1]  # the last write is the earliest role
        schools = self.orgs.school_of(pc.take(roles.column("org_id"), pa.array(order)))
        pairs = pa.table(
            {
                "user": pa.array(owner[order]),
                "school": schools,
                ROW_COLUMN: pc.take(roles.column(ROW_COLUMN), pa.array(order)),
            }
        )
        pairs = take_first_rows(pairs.filter(pc.is_valid(pairs.column("school"))), ["user", "school"])
        return (
            users.append_column(ROLE, _take(_lower(roles.column("role")), chosen))
            .append_column(ROLE_ROW, _take(roles.column(ROW_COLUMN), chosen))
            .append_column("grade", _take(_column(roles, "grade"), chosen))
            .append_column("school_ids", build_lists(pairs.column("user"), pairs.column("school"), n))
            .append_column(
                "school_ids" + LIST_ROW_SUFFIX, build_lists(pairs.column("user"), pairs.column(ROW_COLUMN), n)
            )
        )

    def _demographics(self, users: pa.Table) -> pa.Table:
        n = users.num_rows
        if "demographics.csv" not in self.files:
            return users.append_column(DEMO_ROW, pa.nulls(n, pa.int64()))
        demo = self.files["demographics.csv"].table
        at = _positions(users.column("person_id"), demo.column("person_id"))
        sex = _lower(_column(demo, "gender"))
        sex = pc.if_else(pc.equal(sex, "notselected"), pa.scalar("unspecified"), sex)
        return (
            users.append_column(DEMO_ROW, _take(demo.column(ROW_COLUMN), at))
            .append_column("birth_date", _take(_column(demo, "birth_date"), at))
            .append_column("gender", _take(sex, at))
        )

    def _sources(self) -> dict[str, Source]:
        users = self.files["users.csv"]
        roles = self.files["roles.csv"]
        sources = {c: users.source(c) for c in users.headers if c != "sms"}
        if "phone" not in users.headers and "sms" in users.headers:
            sources["phone"] = users.source("sms")
        role = Source(roles.name, roles.headers["role"], ROLE_ROW)
        org = Source(roles.name, roles.headers["org_id"], ROLE_ROW)
        sources |= {ROLE: role, "title": role, "school_id": org, "school_ids": org}
        if "grade" in roles.headers:
            sources["grade"] = Source(roles.name, roles.headers["grade"], ROLE_ROW)
        demo = self.files.get("demographics.csv")
        if demo is not None:
            for column in ("birth_date", "gender"):
                if column in demo.headers:
                    sources[column] = Source(demo.name, demo.headers[column], DEMO_ROW)
        return sources

    def people(self) -> None:
        csv = self.files["users.csv"]
        users = csv.table
        phone = pc.coalesce(csv.column("phone"), csv.column("sms"))
        users = users.drop_columns([c for c in ("phone", "sms") if c in users.column_names]).append_column(
            "phone", phone
        )
        users = self._demographics(self._roles(users))
        users = users.append_column("school_id", first_item(users.column("school_ids")))
        contact_ids = self._contact_ids()
        is_contact = pc.is_in(users.column("person_id"), value_set=contact_ids)
        role = users.column(ROLE)
        users = users.append_column(CONTACT, is_contact)
        sources = self._sources()
        self._no_role(users, pc.and_(pc.is_null(role), pc.invert(is_contact)))
        student = pc.fill_null(pc.equal(role, "student"), False)
        teacher = pc.fill_null(pc.equal(role, "teacher"), False)
        contact_only = pc.or_(pc.is_null(role), pc.equal(role, CONTACT_ONLY_ROLE))
        staff = pc.and_(
            pc.is_valid(role),
            pc.invert(pc.or_(pc.or_(student, teacher), pc.and_(is_contact, contact_only))),
        )
        required: dict[str, str | None] = {"person_id": None, "first_name": None, "last_name": None}
        school_needed = (
            "No school: a {0} needs a role at a school (or below one) in orgs.csv; the row was left out."
        )
        for name, mask in (("students", student), ("teachers", teacher)):
            self.tables[name] = RawTable(
                name,
                users.filter(mask),
                csv.name,
                sources,
                required={**required, "school_id": school_needed.format(name[:-1])},
                enums={"gender": SEXES},
            )
        staff_table = users.filter(staff)
        staff_table = staff_table.append_column("title", staff_table.column(ROLE))
        self.tables["staff"] = RawTable(
            "staff",
            staff_table,
            csv.name,
            sources,
            required=dict(required),
            enums={"gender": SEXES, ROLE: USER_ROLES},
        )
        if "relationships.csv" in self.files:
            self._contacts(users.filter(is_contact), sources, required)

    def _contact_ids(self) -> pa.Array:
        if "relationships.csv" not in self.files:
            return pa.array([], pa.string())
        return as_array(pc.unique(self.files["relationships.csv"].table.column("contact_id").drop_null()))

    def _no_role(self, users: pa.Table, mask: ArrayLike) -> None:
        if not pc.any(mask).as_py():
            return
        csv = self.files["users.csv"]
        self.issues.append(
            row_issues(
                users,
                mask,
                severity=ERROR,
                file=csv.name,
                column=csv.headers["person_id"],
                message="This user has no role in roles.csv and is no one's guardian in relationships.csv, "
                "so it is not known whether they are a student, teacher, staff member or contact; the row "
                "was left out.",
                value_column="person_id",
            )
        )
        ids = users.filter(mask).column("person_id").drop_null()
        for entity in PERSON_ENTITIES:
            self.unknown.append(
                pa.table({"entity": pa.repeat(pa.scalar(entity.name), len(ids)), "key": ids}).cast(
                    UNKNOWN_SCHEMA
                )
            )

    def _contacts(
        self, contacts: pa.Table, sources: dict[str, Source], required: dict[str, str | None]
    ) -> None:
        rel_csv = self.files["relationships.csv"]
        rel = rel_csv.table
        students = self.tables["students"].table
        links = pa.table(
            {
                "student_id": rel.column("student_id"),
                "contact_id": rel.column("contact_id"),
                "school_id": _take(
                    students.column("school_id"),
                    _positions(rel.column("student_id"), students.column("person_id")),
                ),
                "relationship": pc.utf8_capitalize(_lower(rel.column("relationship"))),
                "contact_type": pa.nulls(rel.num_rows, pa.string()),
                ROW_COLUMN: rel.column(ROW_COLUMN),
            }
        )
        # A contact's school is that of the first student (in file order) it is linked to.
        schooled = links.filter(pc.is_valid(links.column("school_id")))
        first = schooled.take(
            pa.array(
                np.flatnonzero(
                    first_mask(
                        _positions(schooled.column("contact_id"), contacts.column("person_id")), ordered=False
                    )
                )
            )
        )
        school = _take(
            first.column("school_id"), _positions(contacts.column("person_id"), first.column("contact_id"))
        )
        contacts = contacts.drop_columns(["school_id", "school_ids", "grade"]).append_column(
            "school_id", school
        )
        contact_source = rel_csv.source("contact_id")
        self.tables["contacts"] = RawTable(
            "contacts",
            contacts,
            self.files["users.csv"].name,
            {**sources, "school_id": contact_source},
            required=dict(required),
            enums={"gender": SEXES},
        )
        self.tables["contact_links"] = RawTable(
            "contact_links",
            links,
            rel_csv.name,
            {
                "student_id": rel_csv.source("student_id"),
                "contact_id": contact_source,
                "school_id": rel_csv.source("student_id"),
                "relationship": rel_csv.source("relationship"),
            },
            required={"student_id": None, "contact_id": None},
            unique=False,
            enums={"relationship": RELATIONSHIP_ROLES},
        )

    # -- classes, enrollments, sessions, courses -----------------------------------------------
    def sections(self) -> None:
        classes = self.files["classes.csv"]
        table = classes.table
        fields = ENTITY_BY_NAME["sections"].schema.names
        sections = table.select([c for c in table.column_names if c in fields] + [ROW_COLUMN])
        sections = sections.append_column("school_id", self.orgs.school_of(table.column("org_id")))
        sections = sections.append_column("term_id", first_item(split_list(_column(table, "terms"))))
        enrollments = self.files["enrollments.csv"]
        etable = enrollments.table
        role = _lower(etable.column("role"))
        odd = pc.and_(pc.is_valid(role), pc.invert(pc.is_in(role, value_set=pa.array(ENROLLMENT_ROLES))))
        if pc.any(odd).as_py():
            self.issues.append(
                _alert(
                    enrollments,
                    etable,
                    odd,
                    "role",
                    "Only student and teacher enrollments are read; this row was ignored.",
                )
            )
        section_at = _positions(etable.column("section_id"), sections.column("section_id"))
        teacher = _np(pc.fill_null(pc.equal(role, "teacher"), False)).astype(bool)
        orphan = teacher & (section_at < 0) & _np(pc.is_valid(etable.column("section_id"))).astype(bool)
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
        usable = teacher & (section_at >= 0) & _np(pc.is_valid(etable.column("person_id"))).astype(bool)
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
        school = _take(
            sections.column("school_id"),
            _positions(students.column("section_id"), sections.column("section_id")),
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
        school = self.orgs.school_of(table.column("org_id"))
        # A course of the district (or any org with no school above it) has no school.
        columns = ["course_id", "name", "course_code", "grades", "subject"]
        out = table.select([c for c in columns if csv.has(c)] + [ROW_COLUMN]).append_column(
            "school_id",
            null_where(
                school,
                pc.invert(pc.is_in(school, value_set=self.orgs.ids.filter(pa.array(self.orgs.is_school)))),
            ),
        )
        sources = {c: csv.source(c) for c in columns if csv.has(c)}
        sources["school_id"] = csv.source("org_id")
        self.tables["courses"] = RawTable(
            "courses", out, csv.name, sources, required={"course_id": None, "name": None}
        )


def _column(table: pa.Table, column: str) -> ArrayLike:
    if column in table.column_names:
        out: ArrayLike = table.column(column)
        return out
    return pa.nulls(table.num_rows, pa.string())


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
    missing = frozenset(name for name in ENTITY_BY_NAME if name not in reader.tables)
    return RawRoster(
        FORMAT_SDS_21_CSV,
        Path(directory),
        reader.tables,
        missing=missing,
        issues=concat_issues([*read.alerts, *reader.issues]),
        unknown=unknown,
    )
