"""classes.csv, enrollments.csv, academicSessions.csv and courses.csv.

A class belongs to the school of its ``schoolSourcedId`` org (through the org hierarchy); its term
is the first of ``termSourcedIds``. Teacher enrollments become the class's ``teacher_ids``
(``primary=true`` first), student enrollments become enrollments, at the school of their org.
Classes of an org marked tobedeleted are removed with it, and enrollments of a class or user
marked tobedeleted are removed with them: all of these are removals, never errors.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import (
    ArrayLike,
    as_array,
    build_lists,
    column_or_nulls,
    first_item,
    lookup,
    map_distinct_each,
    split_list,
    take_first_rows,
)
from rostersync.formats.compact import plain_strings
from rostersync.formats.oneroster.common import (
    EMPTY_IDS,
    Context,
    keep_rows,
    select,
    split_status,
    unknown_values,
)
from rostersync.formats.oneroster.specs import ENROLLMENT_ROLES, SESSION_TYPES
from rostersync.formats.orgtree import OrgMap
from rostersync.formats.raw import LIST_ROW_SUFFIX, RawTable, Source
from rostersync.issues import ALERT, row_issues
from rostersync.model import ENTITY_BY_NAME, ROW_COLUMN

NO_SCHOOL = "Required value is missing: every class needs schoolSourcedId. The row was left out."


def read_classes(ctx: Context, org_map: OrgMap) -> None:
    """Sections (with their teachers) and student enrollments."""
    sections = _sections(ctx, org_map)
    if not ctx.supplied("enrollments.csv"):
        if sections is not None:
            _finish_sections(ctx, sections, None)
        return
    enrollments, deleted = split_status(ctx.files["enrollments.csv"], "section_id")
    del deleted
    table = enrollments.table
    # Enrollments of a class or user marked tobedeleted (or at a deleted org) go with them.
    gone = _gone(ctx, table, org_map)
    if gone is not None:
        table = keep_rows(table, pc.invert(gone))
    # Roles are few: each test is made once per distinct role.
    odd, teacher, student = map_distinct_each(
        table.column("role"),
        [
            lambda role: unknown_values(pc.utf8_lower(role), ENROLLMENT_ROLES),
            lambda role: pc.equal(pc.utf8_lower(role), "teacher"),
            lambda role: pc.equal(pc.utf8_lower(role), "student"),
        ],
    )
    if pc.any(odd).as_py():
        ctx.issues.append(
            row_issues(
                table,
                odd,
                severity=ALERT,
                file=enrollments.name,
                column=enrollments.headers.get("role", "role"),
                message=f"Not one of the documented enrollment roles ({', '.join(ENROLLMENT_ROLES)}); "
                "the row was ignored.",
                value_column="role",
            )
        )
    if sections is not None:
        teachers = keep_rows(table, teacher)
        _finish_sections(ctx, sections, teachers)
        del teachers
    columns = ["section_id", "person_id", "school_id"]
    students = keep_rows(select(table, [*columns, "role"]), student)
    del table, odd, teacher, student
    ctx.done_with("enrollments.csv")
    # The school of the enrollment's org, else (an org with no school above it) the class's.
    school = plain_strings(org_map.school(students.column("school_id")))
    if sections is not None and school.null_count:
        by_class = lookup(
            students.column("section_id"), sections.column("section_id"), sections.column("school_id")
        )
        school = pc.coalesce(school, by_class)
    students = students.set_column(students.column_names.index("school_id"), "school_id", school)
    sent = students.column("role")
    students = students.drop_columns(["role"])
    if not pc.all(pc.fill_null(pc.equal(sent, "student"), False)).as_py():
        sent = pa.repeat(pa.scalar("student"), students.num_rows)  # "Student" as "student"
    students = students.append_column("role", sent)
    ctx.tables["enrollments"] = RawTable(
        "enrollments",
        students,
        enrollments.name,
        {c: enrollments.source(c) for c in ("section_id", "person_id", "school_id")},
        required={"section_id": None, "person_id": None, "school_id": None},
        unique=False,
    )


def _gone(ctx: Context, table: pa.Table, org_map: OrgMap) -> ArrayLike | None:
    """Enrollments of a class, user or org marked tobedeleted (None: there are none)."""
    masks = [
        pc.is_in(table.column(column), value_set=ids)
        for column, ids in (
            ("section_id", ctx.deleted_classes),
            ("person_id", ctx.deleted_users),
            ("school_id", org_map.deleted),
        )
        if len(ids)
    ]
    if not masks:
        return None
    gone = masks[0]
    for mask in masks[1:]:
        gone = pc.or_(gone, mask)
    gone = pc.fill_null(gone, False)
    return gone if pc.any(gone).as_py() else None


def _sections(ctx: Context, org_map: OrgMap) -> pa.Table | None:
    if not ctx.supplied("classes.csv"):
        return None
    classes, deleted = split_status(ctx.files["classes.csv"], "section_id")
    table = classes.table
    # Classes of a school marked tobedeleted are removed with it.
    gone = pc.fill_null(org_map.is_deleted(table.column("school_id")), False)
    if pc.any(gone).as_py():
        deleted = pa.concat_arrays([deleted, as_array(table.filter(gone).column("section_id").drop_null())])
        table = table.filter(pc.invert(gone))
    ctx.deleted_classes = deleted
    if len(deleted):
        ctx.note("sections", deleted, f"is marked tobedeleted in {classes.name}")
    fields = ENTITY_BY_NAME["sections"].schema.names
    sections = select(table, fields)
    sections = sections.set_column(
        sections.column_names.index("school_id"),
        "school_id",
        org_map.school_or_org(sections.column("school_id")),
    )
    return sections.append_column("term_id", first_item(split_list(table.column("terms"))))


def _finish_sections(ctx: Context, sections: pa.Table, teachers: pa.Table | None) -> None:
    classes = ctx.files["classes.csv"]
    n = sections.num_rows
    if teachers is None:
        teacher_ids = build_lists(pa.array([], pa.int64()), pa.array([], pa.string()), n)
        teacher_rows = build_lists(pa.array([], pa.int64()), pa.array([], pa.int64()), n)
    else:
        teacher_ids, teacher_rows = _teacher_lists(ctx, sections, teachers)
    sections = sections.append_column("teacher_ids", teacher_ids)
    sections = sections.append_column("teacher_ids" + LIST_ROW_SUFFIX, teacher_rows)
    sources = {c: classes.source(c) for c in sections.column_names if c in classes.headers}
    sources["term_id"] = classes.source("terms")
    enrollments = ctx.files.get("enrollments.csv")
    if enrollments is not None:
        sources["teacher_ids"] = Source(enrollments.name, enrollments.headers["person_id"])
    ctx.tables["sections"] = RawTable(
        "sections",
        sections,
        classes.name,
        sources,
        required={"section_id": None, "school_id": NO_SCHOOL},
    )


def _teacher_lists(ctx: Context, sections: pa.Table, teachers: pa.Table) -> tuple[pa.Array, pa.Array]:
    enrollments = ctx.files["enrollments.csv"]
    parent = pc.index_in(teachers.column("section_id"), value_set=as_array(sections.column("section_id")))
    orphan = pc.and_(pc.is_null(parent), pc.is_valid(teachers.column("section_id")))
    if pc.any(orphan).as_py():
        ctx.issues.append(
            row_issues(
                teachers,
                orphan,
                severity=ALERT,
                file=enrollments.name,
                column=enrollments.headers["section_id"],
                message="This teacher enrollment refers to a class that is not in classes.csv; only "
                "this teacher assignment was ignored.",
                value_column="section_id",
            )
        )
    primary = pc.fill_null(
        pc.equal(pc.utf8_lower(plain_strings(column_or_nulls(teachers, "primary"))), "true"), False
    )
    pairs = pa.table(
        {
            "parent": parent,
            "person_id": teachers.column("person_id"),
            "secondary": pc.invert(primary),
            ROW_COLUMN: teachers.column(ROW_COLUMN),
        }
    ).filter(pc.and_(pc.is_valid(parent), pc.is_valid(teachers.column("person_id"))))
    pairs = pairs.sort_by([("secondary", "ascending"), (ROW_COLUMN, "ascending")])
    pairs = take_first_rows(pairs, ["parent", "person_id"])
    n = sections.num_rows
    return (
        build_lists(pairs.column("parent"), pairs.column("person_id"), n),
        build_lists(pairs.column("parent"), pairs.column(ROW_COLUMN), n),
    )


def read_terms(ctx: Context) -> None:
    if not ctx.supplied("academicSessions.csv"):
        return
    csv, deleted = split_status(ctx.files["academicSessions.csv"], "term_id")
    if len(deleted):
        ctx.note("terms", deleted, f"is marked tobedeleted in {csv.name}")
    columns = ["term_id", "name", "type", "start_date", "end_date", "parent_id"]
    ctx.tables["terms"] = RawTable(
        "terms",
        select(csv.table, columns),
        csv.name,
        {c: csv.source(c) for c in columns if csv.has(c)},
        required={"term_id": None, "name": None},
        enums={"type": SESSION_TYPES},
    )


def read_courses(ctx: Context, org_map: OrgMap) -> None:
    if not ctx.supplied("courses.csv"):
        return
    csv, deleted = split_status(ctx.files["courses.csv"], "course_id")
    if len(deleted):
        ctx.note("courses", deleted, f"is marked tobedeleted in {csv.name}")
    table = csv.table
    school = org_map.school(table.column("org_id"))
    if org_map.supplied:
        school = pc.if_else(pc.is_in(school, value_set=org_map.schools), school, pa.scalar(None, pa.string()))
    columns = ["course_id", "name", "course_code", "grades", "subject"]
    out = select(table, columns).append_column("school_id", school)
    sources = {c: csv.source(c) for c in columns if csv.has(c)}
    sources["school_id"] = csv.source("org_id")
    ctx.tables["courses"] = RawTable(
        "courses", out, csv.name, sources, required={"course_id": None, "name": None}
    )


__all__ = ["EMPTY_IDS", "read_classes", "read_courses", "read_terms"]
