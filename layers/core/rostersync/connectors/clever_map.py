"""Clever API v3 records into raw tables.

Records map directly: people are keyed by their Clever user ID; sections carry their teachers
(primary first) and students (the enrollments); terms and courses take the school of the first
section that uses them. Contacts come from ``student_relationships`` (one link per relationship)
and are keyed by :func:`rostersync.formats.clever.contact_ids`, the same rule as the Clever CSV
reader: ``sis_id``, else the e-mail address, else name + phone, else name + student. A contact
without an ``sis_id`` gets a new Clever ID whenever any of its data changes; keying it by these
natural keys keeps such churn from looking like a removal plus an addition.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.connectors.jsonpages import (
    SL,
    S,
    field_path,
    manifest_path,
    read_entity,
    record_rows,
    struct,
    text,
)
from rostersync.connectors.pages import PullManifest
from rostersync.formats.arrowops import ArrayLike, as_array, build_lists, first_item, first_rows, lookup
from rostersync.formats.clever import contact_ids, split_name
from rostersync.formats.raw import RawRoster, RawTable, Source
from rostersync.model import CONTACT_TYPES, ENTITY_BY_NAME, RELATIONSHIPS, ROW_COLUMN
from rostersync.storage import BlobStore

FORMAT_CLEVER_API = "clever_api_v3"

_NAME = struct(first=S, middle=S, last=S)
_CREDENTIALS = struct(district_username=S)
CLEVER_SCHEMAS: dict[str, pa.Schema] = {
    "schools": pa.schema(
        [
            ("id", S),
            ("name", S),
            ("school_number", S),
            ("sis_id", S),
            ("state_id", S),
            ("low_grade", S),
            ("high_grade", S),
            ("phone", S),
        ]
    ),
    "terms": pa.schema([("id", S), ("name", S), ("start_date", S), ("end_date", S)]),
    "courses": pa.schema([("id", S), ("name", S), ("number", S)]),
    "sections": pa.schema(
        [
            ("id", S),
            ("school", S),
            ("course", S),
            ("term_id", S),
            ("name", S),
            ("section_number", S),
            ("subject", S),
            ("grade", S),
            ("period", S),
            ("teacher", S),
            ("teachers", SL),
            ("students", SL),
        ]
    ),
    "users_student": pa.schema(
        [
            ("id", S),
            ("email", S),
            ("name", _NAME),
            (
                "roles",
                struct(
                    student=struct(
                        sis_id=S,
                        state_id=S,
                        student_number=S,
                        school=S,
                        schools=SL,
                        grade=S,
                        dob=S,
                        gender=S,
                        credentials=_CREDENTIALS,
                    )
                ),
            ),
        ]
    ),
    "users_teacher": pa.schema(
        [
            ("id", S),
            ("email", S),
            ("name", _NAME),
            (
                "roles",
                struct(
                    teacher=struct(
                        sis_id=S,
                        state_id=S,
                        teacher_number=S,
                        school=S,
                        schools=SL,
                        title=S,
                        credentials=_CREDENTIALS,
                    )
                ),
            ),
        ]
    ),
    "users_staff": pa.schema(
        [
            ("id", S),
            ("email", S),
            ("name", _NAME),
            ("roles", struct(staff=struct(staff_id=S, title=S, schools=SL, credentials=_CREDENTIALS))),
        ]
    ),
    "users_contact": pa.schema(
        [
            ("id", S),
            ("email", S),
            ("name", _NAME),
            (
                "roles",
                struct(
                    contact=struct(
                        sis_id=S,
                        phone=S,
                        phone_type=S,
                        student_relationships=pa.list_(struct(student=S, relationship=S, type=S)),
                    )
                ),
            ),
        ]
    ),
}

_PERSON_REQUIRED: dict[str, str | None] = {
    "person_id": None,
    "school_id": None,
    "first_name": None,
    "last_name": None,
}


def _src(resource: str) -> Callable[[str], Source]:
    return lambda field: Source(f"/{resource}", field)


def _clever_people(table: pa.Table, role: str, entity: str) -> RawTable:
    def r(*path: str) -> ArrayLike:
        return text(field_path(table, "roles", role, *path))

    schools = as_array(field_path(table, "roles", role, "schools"))
    # Students and teachers name their primary school; staff only list schools.
    school = pc.coalesce(r("school"), first_item(schools)) if role != "staff" else first_item(schools)
    sis_field = {"student": "sis_id", "teacher": "sis_id", "staff": "staff_id"}[role]
    columns: dict[str, ArrayLike] = {
        "person_id": text(table.column("id")),
        "school_id": school,
        "school_ids": pc.if_else(pc.is_null(schools), pa.scalar([], SL), schools),
        "sis_id": r(sis_field),
        "username": r("credentials", "district_username"),
        "first_name": text(field_path(table, "name", "first")),
        "middle_name": text(field_path(table, "name", "middle")),
        "last_name": text(field_path(table, "name", "last")),
        "email": text(table.column("email")),
    }
    if role == "student":
        columns |= {
            "state_id": r("state_id"),
            "grade": r("grade"),
            "birth_date": r("dob"),
            "gender": r("gender"),
        }
    if role == "teacher":
        columns |= {"state_id": r("state_id"), "title": r("title")}
    if role == "staff":
        columns |= {"title": r("title")}
    columns[ROW_COLUMN] = record_rows(table.num_rows)
    src = _src(f"users?role={role}")
    sources = {
        "person_id": src("id"),
        "school_id": src(f"roles.{role}.school"),
        "school_ids": src(f"roles.{role}.schools"),
        "sis_id": src(f"roles.{role}.{sis_field}"),
        "username": src(f"roles.{role}.credentials.district_username"),
        "first_name": src("name.first"),
        "middle_name": src("name.middle"),
        "last_name": src("name.last"),
        "email": src("email"),
        "state_id": src(f"roles.{role}.state_id"),
        "grade": src(f"roles.{role}.grade"),
        "birth_date": src(f"roles.{role}.dob"),
        "gender": src(f"roles.{role}.gender"),
        "title": src(f"roles.{role}.title"),
    }
    return RawTable(
        entity,
        pa.table(columns),
        f"/users?role={role}",
        {k: v for k, v in sources.items() if k in columns},
        required=dict(_PERSON_REQUIRED),
    )


def _clever_contacts(table: pa.Table, students: pa.Table) -> tuple[RawTable, RawTable]:
    """Contacts (one per natural key) and their links, one link per student relationship."""
    relationships = as_array(field_path(table, "roles", "contact", "student_relationships"))
    parents = pc.list_parent_indices(relationships)
    rel = pc.list_flatten(relationships)
    first = text(field_path(table, "name", "first"))
    last = text(field_path(table, "name", "last"))
    # Clever keeps a contact's full name in name.last; a first name, when sent, goes in front.
    full = pc.coalesce(pc.binary_join_element_wise(first, last, " "), last, first)

    def per_link(values: ArrayLike) -> ArrayLike:
        return pc.take(values, parents)

    student = text(pc.struct_field(rel, ["student"]))
    sis_id = per_link(text(field_path(table, "roles", "contact", "sis_id")))
    email = per_link(text(table.column("email")))
    name = per_link(full)
    phone = per_link(text(field_path(table, "roles", "contact", "phone")))
    ids = contact_ids(sis_id, email, name, phone, student)
    student_school = lookup(student, students.column("person_id"), students.column("school_id"))
    record_row = pc.add(parents.cast(pa.int64()), 1)
    links = pa.table(
        {
            "student_id": student,
            "contact_id": ids,
            "school_id": student_school,
            "relationship": text(pc.struct_field(rel, ["relationship"])),
            "contact_type": text(pc.struct_field(rel, ["type"])),
            ROW_COLUMN: record_row,
        }
    )
    firsts = first_rows(pa.table({"person_id": ids}), ["person_id"]) if len(ids) else pa.array([], pa.int64())
    split_first, split_last = split_name(pc.take(name, firsts)) if len(firsts) else (name, name)
    contacts = pa.table(
        {
            "person_id": pc.take(ids, firsts),
            "school_id": pc.take(student_school, firsts),
            "sis_id": pc.take(sis_id, firsts),
            "first_name": split_first,
            "last_name": split_last,
            "email": pc.take(email, firsts),
            "phone": pc.take(phone, firsts),
            "phone_type": pc.take(
                per_link(text(field_path(table, "roles", "contact", "phone_type"))), firsts
            ),
            ROW_COLUMN: pc.take(record_row, firsts),
        }
    )
    src = _src("users?role=contact")
    name_needed = "A contact needs a name: name.last is empty, so the contact was left out."
    return (
        RawTable(
            "contacts",
            contacts,
            "/users?role=contact",
            {
                "person_id": src("id"),
                "school_id": src("roles.contact.student_relationships.student"),
                "sis_id": src("roles.contact.sis_id"),
                "first_name": src("name.last"),
                "last_name": src("name.last"),
                "email": src("email"),
                "phone": src("roles.contact.phone"),
                "phone_type": src("roles.contact.phone_type"),
            },
            required={"person_id": name_needed, "first_name": name_needed},
            deduplicated=True,
        ),
        RawTable(
            "contact_links",
            links,
            "/users?role=contact",
            {
                "student_id": src("roles.contact.student_relationships.student"),
                "contact_id": src("id"),
                "school_id": src("roles.contact.student_relationships.student"),
                "relationship": src("roles.contact.student_relationships.relationship"),
                "contact_type": src("roles.contact.student_relationships.type"),
            },
            required={"student_id": None, "contact_id": None},
            unique=False,
            enums={"relationship": RELATIONSHIPS, "contact_type": CONTACT_TYPES},
        ),
    )


def _teacher_lists(sections: pa.Table) -> pa.Array:
    """Each section's teachers, its primary ``teacher`` first, each once."""
    n = sections.num_rows
    teachers = as_array(sections.column("teachers"))
    primary = as_array(text(sections.column("teacher")))
    has_primary = np.flatnonzero(pc.is_valid(primary).to_numpy(zero_copy_only=False))
    listed_parents = pc.list_parent_indices(teachers).to_numpy().astype(np.int64)
    listed = text(pc.list_flatten(teachers))
    parents = np.concatenate([has_primary, listed_parents])
    values = pa.concat_arrays([pc.take(primary, pa.array(has_primary)), as_array(listed)])
    rank = np.concatenate([np.zeros(len(has_primary)), np.ones(len(listed_parents))])
    order = np.lexsort((np.arange(len(parents)), rank, parents))
    pairs = pa.table({"p": pa.array(parents[order]), "v": pc.take(values, pa.array(order))})
    pairs = pairs.filter(pc.is_valid(pairs.column("v")))
    pairs = pairs.take(first_rows(pairs, ["p", "v"]))
    return build_lists(pairs.column("p"), pairs.column("v"), n)


def clever_raw(store: BlobStore, manifest: PullManifest) -> RawRoster:
    """A Clever API pull as canonical raw tables."""
    read = {name: read_entity(store, manifest, name, schema) for name, schema in CLEVER_SCHEMAS.items()}
    tables: dict[str, RawTable] = {}

    schools = read["schools"]
    tables["schools"] = RawTable(
        "schools",
        pa.table(
            {
                "school_id": text(schools.column("id")),
                "name": text(schools.column("name")),
                "school_number": text(pc.coalesce(schools.column("school_number"), schools.column("sis_id"))),
                "state_id": text(schools.column("state_id")),
                "low_grade": text(schools.column("low_grade")),
                "high_grade": text(schools.column("high_grade")),
                "phone": text(schools.column("phone")),
                ROW_COLUMN: record_rows(schools.num_rows),
            }
        ),
        "/schools",
        {c: Source("/schools", j) for c, j in (("school_id", "id"), ("name", "name"), ("phone", "phone"))},
        required={"school_id": None, "name": None},
    )

    sections = read["sections"]
    section_school = text(sections.column("school"))
    section_ids = text(sections.column("id"))
    sec_src = _src("sections")
    tables["sections"] = RawTable(
        "sections",
        pa.table(
            {
                "section_id": section_ids,
                "school_id": section_school,
                "course_id": text(sections.column("course")),
                "term_id": text(sections.column("term_id")),
                "name": text(sections.column("name")),
                "section_number": text(sections.column("section_number")),
                "subject": text(sections.column("subject")),
                "grade": text(sections.column("grade")),
                "period": text(sections.column("period")),
                "teacher_ids": _teacher_lists(sections),
                ROW_COLUMN: record_rows(sections.num_rows),
            }
        ),
        "/sections",
        {
            "section_id": sec_src("id"),
            "school_id": sec_src("school"),
            "course_id": sec_src("course"),
            "term_id": sec_src("term_id"),
            "teacher_ids": sec_src("teachers"),
        },
        required={"section_id": None, "school_id": None},
    )
    students_list = as_array(sections.column("students"))
    enrolled_parent = pc.list_parent_indices(students_list)
    tables["enrollments"] = RawTable(
        "enrollments",
        pa.table(
            {
                "section_id": pc.take(section_ids, enrolled_parent),
                "person_id": text(pc.list_flatten(students_list)),
                "school_id": pc.take(section_school, enrolled_parent),
                "role": pa.repeat(pa.scalar("student"), len(enrolled_parent)),
                ROW_COLUMN: pc.add(enrolled_parent.cast(pa.int64()), 1),
            }
        ),
        "/sections",
        {"section_id": sec_src("id"), "person_id": sec_src("students"), "school_id": sec_src("school")},
        required={"section_id": None, "person_id": None, "school_id": None},
        unique=False,
    )

    def school_of(ids: ArrayLike, column: str) -> ArrayLike:
        # Terms and courses are district records in Clever: they belong to the school of the
        # first section that uses them.
        return lookup(ids, sections.column(column), section_school)

    terms = read["terms"]
    term_ids = text(terms.column("id"))
    tables["terms"] = RawTable(
        "terms",
        pa.table(
            {
                "term_id": term_ids,
                "school_id": school_of(term_ids, "term_id"),
                "name": text(terms.column("name")),
                "start_date": text(terms.column("start_date")),
                "end_date": text(terms.column("end_date")),
                ROW_COLUMN: record_rows(terms.num_rows),
            }
        ),
        "/terms",
        {"term_id": Source("/terms", "id"), "name": Source("/terms", "name")},
        required={"term_id": None},
    )
    courses = read["courses"]
    course_ids = text(courses.column("id"))
    tables["courses"] = RawTable(
        "courses",
        pa.table(
            {
                "course_id": course_ids,
                "school_id": school_of(course_ids, "course"),
                "name": text(courses.column("name")),
                "course_code": text(courses.column("number")),
                ROW_COLUMN: record_rows(courses.num_rows),
            }
        ),
        "/courses",
        {"course_id": Source("/courses", "id"), "name": Source("/courses", "name")},
        required={"course_id": None},
    )

    tables["students"] = _clever_people(read["users_student"], "student", "students")
    tables["teachers"] = _clever_people(read["users_teacher"], "teacher", "teachers")
    tables["staff"] = _clever_people(read["users_staff"], "staff", "staff")
    tables["contacts"], tables["contact_links"] = _clever_contacts(
        read["users_contact"], tables["students"].table
    )
    missing = frozenset(name for name in ENTITY_BY_NAME if name not in tables)
    return RawRoster(FORMAT_CLEVER_API, manifest_path(manifest), tables, missing=missing)
