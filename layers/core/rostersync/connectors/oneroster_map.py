"""OneRoster 1.1 REST records into raw tables, through the OneRoster CSV reader.

Records are laid out as the OneRoster CSV files' tables (GUIDRef lists joined the way the CSV
binding writes them) and handed to the reader's public entry point,
:func:`rostersync.formats.oneroster.read_oneroster_tables`, so both paths share every rule: roles
and several roles per user, ``tobedeleted`` removals and their cascade, the org hierarchy,
guardians via ``agents`` (the REST name of ``agentSourcedIds``), teacher enrollments as a class's
teachers, demographics. A collection the provider does not serve (demographics) is not supplied.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from rostersync.connectors.jsonpages import (
    REF,
    REFS,
    SL,
    S,
    field_path,
    join_list,
    join_refs,
    manifest_path,
    read_entity,
    record_rows,
    text,
)
from rostersync.connectors.pages import PullManifest
from rostersync.formats.arrowops import ArrayLike
from rostersync.formats.csvio import CsvFile
from rostersync.formats.oneroster import read_oneroster_tables
from rostersync.formats.raw import RawRoster
from rostersync.model import ROW_COLUMN
from rostersync.roster import FORMAT_ONEROSTER_11_CSV
from rostersync.storage import BlobStore

FORMAT_ONEROSTER_11_REST = "oneroster_1.1_rest"

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

_Extract = Callable[[pa.Table], ArrayLike]


def _field(*path: str) -> tuple[_Extract, str]:
    """A (nested) scalar field, named in messages by its dotted JSON path."""
    return (lambda t: field_path(t, *path)), ".".join(path)


def _refs(name: str) -> tuple[_Extract, str]:
    """A GUIDRef list, joined the way the CSV binding writes it."""
    return (lambda t: join_refs(t.column(name))), name


def _list(name: str) -> tuple[_Extract, str]:
    """A list of strings, joined the way the CSV binding writes it."""
    return (lambda t: join_list(t.column(name))), name


# CSV file name the reader expects -> (collection, internal column -> field extractor, JSON name).
_OR_LAYOUT: dict[str, tuple[str, dict[str, tuple[_Extract, str]]]] = {
    "orgs.csv": (
        "orgs",
        {
            "org_id": _field("sourcedId"),
            "status": _field("status"),
            "name": _field("name"),
            "type": _field("type"),
            "identifier": _field("identifier"),
            "parent_id": _field("parent", "sourcedId"),
        },
    ),
    "users.csv": (
        "users",
        {
            "person_id": _field("sourcedId"),
            "status": _field("status"),
            "orgs": _refs("orgs"),
            "username": _field("username"),
            "first_name": _field("givenName"),
            "middle_name": _field("middleName"),
            "last_name": _field("familyName"),
            "sis_id": _field("identifier"),
            "email": _field("email"),
            "sms": _field("sms"),
            "phone": _field("phone"),
            "agents": _refs("agents"),
            "grade": _list("grades"),
            "role": _field("role"),
        },
    ),
    "classes.csv": (
        "classes",
        {
            "section_id": _field("sourcedId"),
            "status": _field("status"),
            "name": _field("title"),
            "grade": _list("grades"),
            "course_id": _field("course", "sourcedId"),
            "section_number": _field("classCode"),
            "school_id": _field("school", "sourcedId"),
            "terms": _refs("terms"),
            "subject": _list("subjects"),
            "period": _list("periods"),
        },
    ),
    "enrollments.csv": (
        "enrollments",
        {
            "status": _field("status"),
            "section_id": _field("class", "sourcedId"),
            "school_id": _field("school", "sourcedId"),
            "person_id": _field("user", "sourcedId"),
            "role": _field("role"),
            "primary": _field("primary"),
        },
    ),
    "academicSessions.csv": (
        "academicSessions",
        {
            "term_id": _field("sourcedId"),
            "status": _field("status"),
            "name": _field("title"),
            "type": _field("type"),
            "start_date": _field("startDate"),
            "end_date": _field("endDate"),
            "parent_id": _field("parent", "sourcedId"),
        },
    ),
    "courses.csv": (
        "courses",
        {
            "course_id": _field("sourcedId"),
            "status": _field("status"),
            "name": _field("title"),
            "course_code": _field("courseCode"),
            "grades": _list("grades"),
            "org_id": _field("org", "sourcedId"),
            "subject": _list("subjects"),
        },
    ),
    "demographics.csv": (
        "demographics",
        {
            "person_id": _field("sourcedId"),
            "status": _field("status"),
            "birth_date": _field("birthDate"),
            "gender": _field("sex"),
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
        columns = {name: text(extract(table)) for name, (extract, _) in layout.items()}
        columns[ROW_COLUMN] = record_rows(table.num_rows)
        headers = {name: json_name for name, (_, json_name) in layout.items()}
        files[file_name] = CsvFile(f"/{collection}", pa.table(columns), headers)
    return read_oneroster_tables(
        files,
        FORMAT_ONEROSTER_11_CSV,
        directory=manifest_path(manifest),
        source_format=FORMAT_ONEROSTER_11_REST,
    )
