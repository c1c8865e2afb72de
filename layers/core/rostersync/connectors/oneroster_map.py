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

# CSV file name the reader expects -> (collection, internal column -> field extractor, JSON name).
_Extract = Callable[[pa.Table], ArrayLike]
_OR_LAYOUT: dict[str, tuple[str, dict[str, tuple[_Extract, str]]]] = {
    "orgs.csv": (
        "orgs",
        {
            "org_id": (lambda t: field_path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: field_path(t, "status"), "status"),
            "name": (lambda t: field_path(t, "name"), "name"),
            "type": (lambda t: field_path(t, "type"), "type"),
            "identifier": (lambda t: field_path(t, "identifier"), "identifier"),
            "parent_id": (lambda t: field_path(t, "parent", "sourcedId"), "parent.sourcedId"),
        },
    ),
    "users.csv": (
        "users",
        {
            "person_id": (lambda t: field_path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: field_path(t, "status"), "status"),
            "orgs": (lambda t: join_refs(t.column("orgs")), "orgs"),
            "username": (lambda t: field_path(t, "username"), "username"),
            "first_name": (lambda t: field_path(t, "givenName"), "givenName"),
            "middle_name": (lambda t: field_path(t, "middleName"), "middleName"),
            "last_name": (lambda t: field_path(t, "familyName"), "familyName"),
            "sis_id": (lambda t: field_path(t, "identifier"), "identifier"),
            "email": (lambda t: field_path(t, "email"), "email"),
            "sms": (lambda t: field_path(t, "sms"), "sms"),
            "phone": (lambda t: field_path(t, "phone"), "phone"),
            "agents": (lambda t: join_refs(t.column("agents")), "agents"),
            "grade": (lambda t: join_list(t.column("grades")), "grades"),
            "role": (lambda t: field_path(t, "role"), "role"),
        },
    ),
    "classes.csv": (
        "classes",
        {
            "section_id": (lambda t: field_path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: field_path(t, "status"), "status"),
            "name": (lambda t: field_path(t, "title"), "title"),
            "grade": (lambda t: join_list(t.column("grades")), "grades"),
            "course_id": (lambda t: field_path(t, "course", "sourcedId"), "course.sourcedId"),
            "section_number": (lambda t: field_path(t, "classCode"), "classCode"),
            "school_id": (lambda t: field_path(t, "school", "sourcedId"), "school.sourcedId"),
            "terms": (lambda t: join_refs(t.column("terms")), "terms"),
            "subject": (lambda t: join_list(t.column("subjects")), "subjects"),
            "period": (lambda t: join_list(t.column("periods")), "periods"),
        },
    ),
    "enrollments.csv": (
        "enrollments",
        {
            "status": (lambda t: field_path(t, "status"), "status"),
            "section_id": (lambda t: field_path(t, "class", "sourcedId"), "class.sourcedId"),
            "school_id": (lambda t: field_path(t, "school", "sourcedId"), "school.sourcedId"),
            "person_id": (lambda t: field_path(t, "user", "sourcedId"), "user.sourcedId"),
            "role": (lambda t: field_path(t, "role"), "role"),
            "primary": (lambda t: field_path(t, "primary"), "primary"),
        },
    ),
    "academicSessions.csv": (
        "academicSessions",
        {
            "term_id": (lambda t: field_path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: field_path(t, "status"), "status"),
            "name": (lambda t: field_path(t, "title"), "title"),
            "type": (lambda t: field_path(t, "type"), "type"),
            "start_date": (lambda t: field_path(t, "startDate"), "startDate"),
            "end_date": (lambda t: field_path(t, "endDate"), "endDate"),
            "parent_id": (lambda t: field_path(t, "parent", "sourcedId"), "parent.sourcedId"),
        },
    ),
    "courses.csv": (
        "courses",
        {
            "course_id": (lambda t: field_path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: field_path(t, "status"), "status"),
            "name": (lambda t: field_path(t, "title"), "title"),
            "course_code": (lambda t: field_path(t, "courseCode"), "courseCode"),
            "grades": (lambda t: join_list(t.column("grades")), "grades"),
            "org_id": (lambda t: field_path(t, "org", "sourcedId"), "org.sourcedId"),
            "subject": (lambda t: join_list(t.column("subjects")), "subjects"),
        },
    ),
    "demographics.csv": (
        "demographics",
        {
            "person_id": (lambda t: field_path(t, "sourcedId"), "sourcedId"),
            "status": (lambda t: field_path(t, "status"), "status"),
            "birth_date": (lambda t: field_path(t, "birthDate"), "birthDate"),
            "gender": (lambda t: field_path(t, "sex"), "sex"),
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
