"""Pulled API pages (NDJSON) into the same raw tables the CSV readers produce.

Pages are read with ``pyarrow.json`` against an explicit schema of just the fields the canonical
model uses (other fields are ignored), so nested JSON becomes Arrow structs and lists and every
field is picked out with struct/list kernels: no Python loop over records. A page whose values do
not fit the schema (a boolean where a string is expected, say) is read with type inference and
conformed (scalars cast to strings). Pages are read one at a time and concatenated per entity.

- **OneRoster 1.1 REST** records are laid out as the OneRoster 1.1 CSV reader's columns (GUIDRef
  lists joined the way the CSV binding writes them) and handed to that reader, so both paths share
  every rule: roles, ``tobedeleted``, guardians via ``agents`` (the REST name of
  ``agentSourcedIds``), teacher enrollments as a class's teachers, demographics.
- **Clever API v3** records map directly: people are keyed by their Clever user ID; sections carry
  their teachers (primary first) and students (the enrollments); terms and courses take the school
  of the first section that uses them. Contacts come from ``student_relationships`` (one link per
  relationship) and are keyed by :func:`rostersync.formats.clever.contact_ids`, the same rule as
  the Clever CSV reader: ``sis_id``, else the e-mail address, else name + phone, else name +
  student. A contact without an ``sis_id`` gets a new Clever ID whenever any of its data changes;
  keying it by these natural keys keeps such churn from looking like a removal plus an addition.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from rostersync.connectors.pages import PullManifest
from rostersync.formats.arrowops import (
    ArrayLike,
    as_array,
    build_lists,
    clean,
    first_item,
    first_rows,
    lookup,
    null_where,
)
from rostersync.formats.clever import contact_ids, split_name
from rostersync.formats.csvio import CsvFile
from rostersync.formats.oneroster import read_oneroster_tables
from rostersync.formats.raw import RawRoster, RawTable, Source
from rostersync.model import CONTACT_TYPES, ENTITY_BY_NAME, RELATIONSHIPS, ROW_COLUMN
from rostersync.roster import FORMAT_ONEROSTER_11_CSV
from rostersync.storage import BlobStore

FORMAT_CLEVER_API = "clever_api_v3"
FORMAT_ONEROSTER_11_REST = "oneroster_1.1_rest"

S = pa.string()
SL = pa.list_(S)
REF = pa.struct([("sourcedId", S)])
REFS = pa.list_(REF)


def _struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct(list(fields.items()))


# ---------------------------------------------------------------------------------- reading


def _conform(values: pa.Array, target: pa.DataType) -> pa.Array:
    """``values`` (inferred types) as ``target``: scalars cast to string, structs and lists
    conformed field by field, anything that cannot be made to fit becomes null."""
    n = len(values)
    if values.type == target:
        return values
    if pa.types.is_null(values.type):
        return pa.nulls(n, target)
    if pa.types.is_struct(target) and pa.types.is_struct(values.type):
        names = {values.type.field(i).name for i in range(values.type.num_fields)}
        children = [
            _conform(pc.struct_field(values, [f.name]), f.type) if f.name in names else pa.nulls(n, f.type)
            for f in target
        ]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=pc.is_null(values))
    if pa.types.is_list(target) and (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
        inner = _conform(pc.list_flatten(values), target.value_type)
        offsets = pc.subtract(values.offsets, values.offsets[0]).cast(pa.int32())
        mask = pc.is_null(values)
        return pa.ListArray.from_arrays(offsets, inner, mask=mask if values.null_count else None)
    if pa.types.is_string(target) and not (pa.types.is_struct(values.type) or pa.types.is_list(values.type)):
        try:
            return pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(n, target)
    return pa.nulls(n, target)


def read_page(data: bytes, schema: pa.Schema) -> pa.Table:
    """One NDJSON page as ``schema`` (extra fields ignored, missing ones null)."""
    try:
        return pajson.read_json(
            io.BytesIO(data),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except pa.ArrowInvalid:
        inferred = pajson.read_json(io.BytesIO(data))
        columns = [
            _conform(as_array(inferred.column(f.name)), f.type)
            if f.name in inferred.column_names
            else pa.nulls(inferred.num_rows, f.type)
            for f in schema
        ]
        return pa.Table.from_arrays(columns, schema=schema)


def read_entity(store: BlobStore, manifest: PullManifest, entity: str, schema: pa.Schema) -> pa.Table:
    """Every page of ``entity`` as one table (zero rows when the pull wrote none)."""
    pages = manifest.entities.get(entity)
    tables = [read_page(store.get(key), schema) for key in (pages.keys if pages else [])]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table.combine_chunks()


def _path(table: pa.Table, *path: str) -> ArrayLike:
    """A nested field (``"name", "first"``), or nulls where a parent is null."""
    values: ArrayLike = table.column(path[0])
    if len(path) > 1:
        values = pc.struct_field(as_array(values), list(path[1:]))
    return values


def _text(values: ArrayLike) -> ArrayLike:
    """Trimmed strings, empty -> null (as the CSV reader cleans cells)."""
    return clean(values) if len(values) else values


def _join_refs(refs: ArrayLike) -> ArrayLike:
    """A list of GUIDRefs as the CSV binding's comma-separated sourcedIds (empty list -> null)."""
    arr = as_array(refs)
    ids = pc.struct_field(pc.list_flatten(arr), ["sourcedId"])
    offsets = pc.subtract(arr.offsets, arr.offsets[0]).cast(pa.int32())
    return _join_list(
        pa.ListArray.from_arrays(offsets, ids, mask=pc.is_null(arr) if arr.null_count else None)
    )


def _join_list(lists: ArrayLike) -> ArrayLike:
    joined = pc.binary_join(as_array(lists), ",")
    return null_where(joined, pc.equal(joined, ""))


def _rows(n: int) -> pa.Array:
    return pa.array(np.arange(1, n + 1, dtype=np.int64))


# ------------------------------------------------------------------------------- OneRoster

OR_SCHEMAS: dict[str, pa.Schema] = {
    "orgs": pa.schema(
        [("sourcedId", S), ("status", S), ("name", S), ("type", S), ("identifier", S), ("parent", REF)]
    ),
    "users": pa.schema(
        [
            ("sourcedId", S),
            ("status", S),
            ("username", S),
            ("givenName", S),
            ("middleName", S),
            ("familyName", S),
            ("role", S),
            ("identifier", S),
            ("email", S),
            ("sms", S),
            ("phone", S),
            ("agents", REFS),
            ("orgs", REFS),
            ("grades", SL),
        ]
    ),
    "classes": pa.schema(
        [
            ("sourcedId", S),
            ("status", S),
            ("title", S),
            ("classCode", S),
            ("grades", SL),
            ("subjects", SL),
            ("periods", SL),
            ("course", REF),
            ("school", REF),
            ("terms", REFS),
        ]
    ),
    "enrollments": pa.schema(
        [("status", S), ("role", S), ("primary", S), ("user", REF), ("class", REF), ("school", REF)]
    ),
    "academicSessions": pa.schema(
        [
            ("sourcedId", S),
            ("status", S),
            ("title", S),
            ("type", S),
            ("startDate", S),
            ("endDate", S),
            ("parent", REF),
        ]
    ),
    "courses": pa.schema(
        [
            ("sourcedId", S),
            ("status", S),
            ("title", S),
            ("courseCode", S),
            ("grades", SL),
            ("subjects", SL),
            ("org", REF),
        ]
    ),
    "demographics": pa.schema([("sourcedId", S), ("status", S), ("birthDate", S), ("sex", S)]),
}

# CSV file name the reader expects -> (collection, internal column -> field extractor, JSON name).
_Extract = Callable[[pa.Table], ArrayLike]
_OR_LAYOUT: dict[str, tuple[str, dict[str, tuple[_Extract, str]]]] = {
    "orgs.csv": (
        "orgs",
        {
            "org_id": (lambda t: _path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: _path(t, "status"), "status"),
            "name": (lambda t: _path(t, "name"), "name"),
            "type": (lambda t: _path(t, "type"), "type"),
            "identifier": (lambda t: _path(t, "identifier"), "identifier"),
            "parent_id": (lambda t: _path(t, "parent", "sourcedId"), "parent.sourcedId"),
        },
    ),
    "users.csv": (
        "users",
        {
            "person_id": (lambda t: _path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: _path(t, "status"), "status"),
            "orgs": (lambda t: _join_refs(t.column("orgs")), "orgs"),
            "username": (lambda t: _path(t, "username"), "username"),
            "first_name": (lambda t: _path(t, "givenName"), "givenName"),
            "middle_name": (lambda t: _path(t, "middleName"), "middleName"),
            "last_name": (lambda t: _path(t, "familyName"), "familyName"),
            "sis_id": (lambda t: _path(t, "identifier"), "identifier"),
            "email": (lambda t: _path(t, "email"), "email"),
            "sms": (lambda t: _path(t, "sms"), "sms"),
            "phone": (lambda t: _path(t, "phone"), "phone"),
            "agents": (lambda t: _join_refs(t.column("agents")), "agents"),
            "grade": (lambda t: _join_list(t.column("grades")), "grades"),
            "role": (lambda t: _path(t, "role"), "role"),
        },
    ),
    "classes.csv": (
        "classes",
        {
            "section_id": (lambda t: _path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: _path(t, "status"), "status"),
            "name": (lambda t: _path(t, "title"), "title"),
            "grade": (lambda t: _join_list(t.column("grades")), "grades"),
            "course_id": (lambda t: _path(t, "course", "sourcedId"), "course.sourcedId"),
            "section_number": (lambda t: _path(t, "classCode"), "classCode"),
            "school_id": (lambda t: _path(t, "school", "sourcedId"), "school.sourcedId"),
            "terms": (lambda t: _join_refs(t.column("terms")), "terms"),
            "subject": (lambda t: _join_list(t.column("subjects")), "subjects"),
            "period": (lambda t: _join_list(t.column("periods")), "periods"),
        },
    ),
    "enrollments.csv": (
        "enrollments",
        {
            "status": (lambda t: _path(t, "status"), "status"),
            "section_id": (lambda t: _path(t, "class", "sourcedId"), "class.sourcedId"),
            "school_id": (lambda t: _path(t, "school", "sourcedId"), "school.sourcedId"),
            "person_id": (lambda t: _path(t, "user", "sourcedId"), "user.sourcedId"),
            "role": (lambda t: _path(t, "role"), "role"),
            "primary": (lambda t: _path(t, "primary"), "primary"),
        },
    ),
    "academicSessions.csv": (
        "academicSessions",
        {
            "term_id": (lambda t: _path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: _path(t, "status"), "status"),
            "name": (lambda t: _path(t, "title"), "title"),
            "type": (lambda t: _path(t, "type"), "type"),
            "start_date": (lambda t: _path(t, "startDate"), "startDate"),
            "end_date": (lambda t: _path(t, "endDate"), "endDate"),
            "parent_id": (lambda t: _path(t, "parent", "sourcedId"), "parent.sourcedId"),
        },
    ),
    "courses.csv": (
        "courses",
        {
            "course_id": (lambda t: _path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: _path(t, "status"), "status"),
            "name": (lambda t: _path(t, "title"), "title"),
            "course_code": (lambda t: _path(t, "courseCode"), "courseCode"),
            "grades": (lambda t: _join_list(t.column("grades")), "grades"),
            "org_id": (lambda t: _path(t, "org", "sourcedId"), "org.sourcedId"),
            "subject": (lambda t: _join_list(t.column("subjects")), "subjects"),
        },
    ),
    "demographics.csv": (
        "demographics",
        {
            "person_id": (lambda t: _path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: _path(t, "status"), "status"),
            "birth_date": (lambda t: _path(t, "birthDate"), "birthDate"),
            "gender": (lambda t: _path(t, "sex"), "sex"),
        },
    ),
}


def oneroster_raw(store: BlobStore, manifest: PullManifest) -> RawRoster:
    """A OneRoster REST pull as the OneRoster 1.1 CSV reader's raw tables."""
    files: dict[str, CsvFile] = {}
    for file_name, (collection, layout) in _OR_LAYOUT.items():
        if collection not in manifest.entities:
            continue  # optional collection the provider does not serve (demographics)
        table = read_entity(store, manifest, collection, OR_SCHEMAS[collection])
        columns = {name: _text(extract(table)) for name, (extract, _) in layout.items()}
        columns[ROW_COLUMN] = _rows(table.num_rows)
        headers = {name: json_name for name, (_, json_name) in layout.items()}
        files[file_name] = CsvFile(f"/{collection}", pa.table(columns), headers)
    return read_oneroster_tables(
        files,
        FORMAT_ONEROSTER_11_CSV,
        directory=manifest_path(manifest),
        source_format=FORMAT_ONEROSTER_11_REST,
    )


def manifest_path(manifest: PullManifest) -> Path:
    """A stand-in for the directory a CSV set is read from (reports name the source by it)."""
    return Path(f"{manifest.kind}-api")


# ---------------------------------------------------------------------------------- Clever

_NAME = _struct(first=S, middle=S, last=S)
_CREDENTIALS = _struct(district_username=S)
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
                _struct(
                    student=_struct(
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
                _struct(
                    teacher=_struct(
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
            ("roles", _struct(staff=_struct(staff_id=S, title=S, schools=SL, credentials=_CREDENTIALS))),
        ]
    ),
    "users_contact": pa.schema(
        [
            ("id", S),
            ("email", S),
            ("name", _NAME),
            (
                "roles",
                _struct(
                    contact=_struct(
                        sis_id=S,
                        phone=S,
                        phone_type=S,
                        student_relationships=pa.list_(_struct(student=S, relationship=S, type=S)),
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
        return _text(_path(table, "roles", role, *path))

    schools = as_array(_path(table, "roles", role, "schools"))
    # Students and teachers name their primary school; staff only list schools.
    school = pc.coalesce(r("school"), first_item(schools)) if role != "staff" else first_item(schools)
    sis_field = {"student": "sis_id", "teacher": "sis_id", "staff": "staff_id"}[role]
    columns: dict[str, ArrayLike] = {
        "person_id": _text(table.column("id")),
        "school_id": school,
        "school_ids": pc.if_else(pc.is_null(schools), pa.scalar([], SL), schools),
        "sis_id": r(sis_field),
        "username": r("credentials", "district_username"),
        "first_name": _text(_path(table, "name", "first")),
        "middle_name": _text(_path(table, "name", "middle")),
        "last_name": _text(_path(table, "name", "last")),
        "email": _text(table.column("email")),
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
    columns[ROW_COLUMN] = _rows(table.num_rows)
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
    relationships = as_array(_path(table, "roles", "contact", "student_relationships"))
    parents = pc.list_parent_indices(relationships)
    rel = pc.list_flatten(relationships)
    first = _text(_path(table, "name", "first"))
    last = _text(_path(table, "name", "last"))
    # Clever keeps a contact's full name in name.last; a first name, when sent, goes in front.
    full = pc.coalesce(pc.binary_join_element_wise(first, last, " "), last, first)

    def per_link(values: ArrayLike) -> ArrayLike:
        return pc.take(values, parents)

    student = _text(pc.struct_field(rel, ["student"]))
    sis_id = per_link(_text(_path(table, "roles", "contact", "sis_id")))
    email = per_link(_text(table.column("email")))
    name = per_link(full)
    phone = per_link(_text(_path(table, "roles", "contact", "phone")))
    ids = contact_ids(sis_id, email, name, phone, student)
    student_school = lookup(student, students.column("person_id"), students.column("school_id"))
    record_row = pc.add(parents.cast(pa.int64()), 1)
    links = pa.table(
        {
            "student_id": student,
            "contact_id": ids,
            "school_id": student_school,
            "relationship": _text(pc.struct_field(rel, ["relationship"])),
            "contact_type": _text(pc.struct_field(rel, ["type"])),
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
            "phone_type": pc.take(per_link(_text(_path(table, "roles", "contact", "phone_type"))), firsts),
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
    primary = as_array(_text(sections.column("teacher")))
    has_primary = np.flatnonzero(pc.is_valid(primary).to_numpy(zero_copy_only=False))
    listed_parents = pc.list_parent_indices(teachers).to_numpy().astype(np.int64)
    listed = _text(pc.list_flatten(teachers))
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
                "school_id": _text(schools.column("id")),
                "name": _text(schools.column("name")),
                "school_number": _text(
                    pc.coalesce(schools.column("school_number"), schools.column("sis_id"))
                ),
                "state_id": _text(schools.column("state_id")),
                "low_grade": _text(schools.column("low_grade")),
                "high_grade": _text(schools.column("high_grade")),
                "phone": _text(schools.column("phone")),
                ROW_COLUMN: _rows(schools.num_rows),
            }
        ),
        "/schools",
        {c: Source("/schools", j) for c, j in (("school_id", "id"), ("name", "name"), ("phone", "phone"))},
        required={"school_id": None, "name": None},
    )

    sections = read["sections"]
    section_school = _text(sections.column("school"))
    section_ids = _text(sections.column("id"))
    sec_src = _src("sections")
    tables["sections"] = RawTable(
        "sections",
        pa.table(
            {
                "section_id": section_ids,
                "school_id": section_school,
                "course_id": _text(sections.column("course")),
                "term_id": _text(sections.column("term_id")),
                "name": _text(sections.column("name")),
                "section_number": _text(sections.column("section_number")),
                "subject": _text(sections.column("subject")),
                "grade": _text(sections.column("grade")),
                "period": _text(sections.column("period")),
                "teacher_ids": _teacher_lists(sections),
                ROW_COLUMN: _rows(sections.num_rows),
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
                "person_id": _text(pc.list_flatten(students_list)),
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
    term_ids = _text(terms.column("id"))
    tables["terms"] = RawTable(
        "terms",
        pa.table(
            {
                "term_id": term_ids,
                "school_id": school_of(term_ids, "term_id"),
                "name": _text(terms.column("name")),
                "start_date": _text(terms.column("start_date")),
                "end_date": _text(terms.column("end_date")),
                ROW_COLUMN: _rows(terms.num_rows),
            }
        ),
        "/terms",
        {"term_id": Source("/terms", "id"), "name": Source("/terms", "name")},
        required={"term_id": None},
    )
    courses = read["courses"]
    course_ids = _text(courses.column("id"))
    tables["courses"] = RawTable(
        "courses",
        pa.table(
            {
                "course_id": course_ids,
                "school_id": school_of(course_ids, "course"),
                "name": _text(courses.column("name")),
                "course_code": _text(courses.column("number")),
                ROW_COLUMN: _rows(courses.num_rows),
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


READERS: dict[str, Callable[[BlobStore, PullManifest], RawRoster]] = {
    "clever": clever_raw,
    "oneroster": oneroster_raw,
}


def pulled_raw(store: BlobStore, manifest: PullManifest) -> RawRoster:
    """The raw roster of an API pull (Clever or OneRoster)."""
    return READERS[manifest.kind](store, manifest)


__all__: Sequence[str] = ("FORMAT_CLEVER_API", "FORMAT_ONEROSTER_11_REST", "pulled_raw", "read_page")
