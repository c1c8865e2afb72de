"""Canonical roster model: one Arrow schema per entity, whatever format the district sent.

Every reader (Clever-style CSV, OneRoster 1.1/1.2 CSV, the API connectors) produces these tables;
everything downstream (validation, snapshots, diff, holds, reports) works on them only. Each
entity has a key (one or more columns) and, where it belongs to a school, a ``school_id`` column so
that counts, holds and releases can be done per school. Values are strings except dates; list
columns hold ordered ID lists (a section's teachers, primary first).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

STR = pa.string()
DATE = pa.date32()
STR_LIST = pa.list_(pa.string())

# Column that readers add to every staged table so validation can name the source row; it is
# dropped before a table is written to a snapshot.
ROW_COLUMN = "_row"
FILE_COLUMN = "_file"
# Suffix of the columns that keep a vocabulary value as sent (``grade_raw`` beside the canonical
# ``grade``); they are stored for the vendor but never compared by the diff.
RAW_SUFFIX = "_raw"

PERSON_FIELDS: list[pa.Field] = [
    pa.field("person_id", STR),
    pa.field("school_id", STR),
    pa.field("school_ids", STR_LIST),
    pa.field("sis_id", STR),
    pa.field("state_id", STR),
    pa.field("username", STR),
    pa.field("first_name", STR),
    pa.field("middle_name", STR),
    pa.field("last_name", STR),
    pa.field("email", STR),
    pa.field("phone", STR),
    pa.field("phone_extension", STR),
    pa.field("phone_type", STR),
    pa.field("grade", STR),
    pa.field("birth_date", DATE),
    pa.field("gender", STR),
    pa.field("title", STR),
    pa.field("grade_raw", STR),
    pa.field("gender_raw", STR),
]


@dataclass(frozen=True)
class Entity:
    """An entity type: its table name, schema, key columns and whether it is school-scoped."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    school_scoped: bool = True
    is_person: bool = False

    @property
    def value_columns(self) -> list[str]:
        """Columns compared by the diff: everything but the key and the ``*_raw`` columns (the
        value as sent differs between formats for the same canonical value)."""
        return [f.name for f in self.schema if f.name not in self.key and not f.name.endswith(RAW_SUFFIX)]


SCHOOLS = Entity(
    "schools",
    pa.schema(
        [
            pa.field("school_id", STR),
            pa.field("name", STR),
            pa.field("school_number", STR),
            pa.field("state_id", STR),
            pa.field("low_grade", STR),
            pa.field("high_grade", STR),
            pa.field("phone", STR),
            pa.field("phone_extension", STR),
            pa.field("low_grade_raw", STR),
            pa.field("high_grade_raw", STR),
        ]
    ),
    key=("school_id",),
)

TERMS = Entity(
    "terms",
    pa.schema(
        [
            pa.field("term_id", STR),
            pa.field("school_id", STR),
            pa.field("name", STR),
            pa.field("type", STR),
            pa.field("start_date", DATE),
            pa.field("end_date", DATE),
            pa.field("parent_id", STR),
        ]
    ),
    key=("term_id",),
)

COURSES = Entity(
    "courses",
    pa.schema(
        [
            pa.field("course_id", STR),
            pa.field("school_id", STR),
            pa.field("name", STR),
            pa.field("course_code", STR),
            pa.field("subject", STR),
            pa.field("grades", STR),
            pa.field("grades_raw", STR),
        ]
    ),
    key=("course_id",),
)

STUDENTS = Entity("students", pa.schema(PERSON_FIELDS), key=("person_id",), is_person=True)
TEACHERS = Entity("teachers", pa.schema(PERSON_FIELDS), key=("person_id",), is_person=True)
STAFF = Entity("staff", pa.schema(PERSON_FIELDS), key=("person_id",), is_person=True)
# A contact's school is that of the first student it is linked to.
CONTACTS = Entity("contacts", pa.schema(PERSON_FIELDS), key=("person_id",), is_person=True)

CONTACT_LINKS = Entity(
    "contact_links",
    pa.schema(
        [
            pa.field("student_id", STR),
            pa.field("contact_id", STR),
            pa.field("school_id", STR),
            pa.field("relationship", STR),
            pa.field("contact_type", STR),
            pa.field("relationship_raw", STR),
            pa.field("contact_type_raw", STR),
        ]
    ),
    key=("student_id", "contact_id"),
)

SECTIONS = Entity(
    "sections",
    pa.schema(
        [
            pa.field("section_id", STR),
            pa.field("school_id", STR),
            pa.field("course_id", STR),
            pa.field("term_id", STR),
            pa.field("name", STR),
            pa.field("section_number", STR),
            pa.field("subject", STR),
            pa.field("grade", STR),
            pa.field("period", STR),
            pa.field("teacher_ids", STR_LIST),
            pa.field("grade_raw", STR),
        ]
    ),
    key=("section_id",),
)

ENROLLMENTS = Entity(
    "enrollments",
    pa.schema(
        [
            pa.field("section_id", STR),
            pa.field("person_id", STR),
            pa.field("school_id", STR),
            pa.field("role", STR),
        ]
    ),
    key=("section_id", "person_id"),
)

ENTITIES: tuple[Entity, ...] = (
    SCHOOLS,
    TERMS,
    COURSES,
    STUDENTS,
    TEACHERS,
    STAFF,
    CONTACTS,
    CONTACT_LINKS,
    SECTIONS,
    ENROLLMENTS,
)
ENTITY_BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES}
PERSON_ENTITIES: tuple[Entity, ...] = tuple(e for e in ENTITIES if e.is_person)

# Keys of records the staged set could not read (invalid rows, rows cascaded from them, entities
# whose optional file was absent). Their state is unknown: never counted or applied as removals.
UNKNOWN_SCHEMA = pa.schema(
    [
        pa.field("entity", STR),
        pa.field("key", STR),
    ]
)

# Separator for composite keys; a control character cannot appear in a trimmed CSV value.
KEY_SEPARATOR = "\x1f"

# The canonical vocabularies (and the spellings that map to them) are in rostersync.formats.vocab.
CONTACT_TYPES = ("Primary", "Secondary", "Parent/Guardian", "Emergency", "Family", "Other")
RELATIONSHIPS = ("Parent", "Guardian", "Grandparent", "Aunt/Uncle", "Sibling", "Relative", "Self", "Other")


def empty_table(entity: Entity) -> pa.Table:
    """A zero-row table with the entity's canonical schema."""
    return entity.schema.empty_table()


def conform(table: pa.Table, entity: Entity) -> pa.Table:
    """Select and cast ``table`` to the entity's canonical schema (missing columns become null).

    Extra columns such as ``_row`` are dropped; use this before writing to a snapshot.
    """
    columns = []
    for field in entity.schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=entity.schema)


def key_column(table: pa.Table, entity: Entity) -> pa.ChunkedArray | pa.Array:
    """One string key per row: the key column itself, or the key columns joined by
    :data:`KEY_SEPARATOR` for composite keys (vectorised; a null part gives a null key)."""
    import pyarrow.compute as pc

    if len(entity.key) == 1:
        return table.column(entity.key[0])
    parts = [table.column(c) for c in entity.key]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)
