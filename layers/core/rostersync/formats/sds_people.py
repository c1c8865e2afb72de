"""SDS v2.1 people: orgs to schools, roles to entities, demographics, guardians (``sds.py`` reads
the rest). Shared helpers of the SDS reader live here too; all of it works on whole columns.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import (
    ArrayLike,
    as_array,
    build_lists,
    column_or_nulls,
    first_item,
    first_mask,
    take_first_rows,
)
from rostersync.formats.csvio import CsvFile
from rostersync.formats.orgtree import build, leaf_orgs, no_school_notes
from rostersync.formats.raw import LIST_ROW_SUFFIX, RawTable, Source
from rostersync.formats.sds_files import (
    CONTACT_ONLY_ROLE,
    RELATIONSHIP_ROLES,
    SEXES,
    USER_ROLES,
)
from rostersync.issues import ALERT, ERROR, row_issues
from rostersync.model import PERSON_ENTITIES, ROW_COLUMN, UNKNOWN_SCHEMA

ROLE = "_role"
ROLE_ROW = "_role_row"
DEMO_ROW = "_demo_row"
CONTACT = "_contact"
ROLE_ORG = "_role_org"


def lowered(values: ArrayLike) -> ArrayLike:
    out: ArrayLike = pc.utf8_lower(values)
    return out


def as_numpy(values: ArrayLike) -> np.ndarray:
    return np.asarray(as_array(values).to_numpy(zero_copy_only=False))


def positions_in(values: ArrayLike, value_set: ArrayLike) -> np.ndarray:
    """Index of each value in ``value_set`` (-1 where absent)."""
    return as_numpy(pc.fill_null(pc.index_in(values, value_set=as_array(value_set)), -1)).astype(np.int64)


def take_at(values: ArrayLike, positions: np.ndarray) -> ArrayLike:
    out: ArrayLike = pc.take(values, pa.array(positions, mask=positions < 0))
    return out


def alert_rows(csv: CsvFile, table: pa.Table, mask: ArrayLike, column: str, message: str) -> pa.Table:
    return row_issues(
        table,
        mask,
        severity=ALERT,
        file=csv.name,
        column=csv.headers.get(column, column),
        message=message,
        value_column=column,
    )


class Orgs:
    """orgs.csv: which orgs are schools, and the nearest school of any org (``orgtree.py``)."""

    def __init__(self, csv: CsvFile) -> None:
        table = csv.table
        ids = as_array(table.column("org_id"))
        parent = as_array(csv.column("parent_id"))
        is_school = as_array(pc.fill_null(pc.equal(lowered(table.column("type")), "school"), False))
        # No org of type school at all (a set of departments, or of campuses): the orgs nobody
        # names as parent stand for the schools, and the reader says so in one alert.
        self.leaves_as_schools = bool(len(ids)) and not pc.any(is_school).as_py()
        if self.leaves_as_schools:
            is_school = leaf_orgs(ids, parent)
        self.is_school = as_numpy(is_school).astype(bool)
        self.map = build(ids, parent, is_school)
        # What an org with no school above it is, for the message of a record sent at it.
        self.notes = no_school_notes(self.map, table.column("type"), csv.name)


class PeopleReader:
    """Students, teachers, staff, contacts and contact links of an SDS set (a mixin of the reader,
    which supplies the files, the org hierarchy and where issues, unknown keys and tables go)."""

    files: dict[str, CsvFile]
    orgs: Orgs
    issues: list[pa.Table]
    unknown: list[pa.Table]
    tables: dict[str, RawTable]

    def _roles(self, users: pa.Table) -> pa.Table:
        """Each user's chosen role (primary first, then file order), its grade and row, and every
        school of their roles (nearest school of each role's org, primary first, once each)."""
        roles_csv = self.files["roles.csv"]
        roles = roles_csv.table
        owner = positions_in(roles.column("user_id"), users.column("person_id"))
        orphan = pc.and_(pa.array(owner < 0), pc.is_valid(roles.column("user_id")))
        if pc.any(orphan).as_py():
            self.issues.append(
                alert_rows(
                    roles_csv,
                    roles,
                    orphan,
                    "user_id",
                    "Refers to a user who is not in users.csv; the role was ignored.",
                )
            )
        primary = as_numpy(
            pc.fill_null(pc.equal(lowered(column_or_nulls(roles, "is_primary")), "true"), False)
        ).astype(bool)
        keep = np.flatnonzero(owner >= 0)
        order = keep[np.argsort(~primary[keep], kind="stable")]
        n = users.num_rows
        chosen = np.full(n, -1, dtype=np.int64)
        chosen[owner[order][::-1]] = order[::-1]  # the last write is the earliest role
        schools = self.orgs.map.school(pc.take(roles.column("org_id"), pa.array(order)))
        pairs = pa.table(
            {
                "user": pa.array(owner[order]),
                "school": schools,
                ROW_COLUMN: pc.take(roles.column(ROW_COLUMN), pa.array(order)),
            }
        )
        pairs = take_first_rows(pairs.filter(pc.is_valid(pairs.column("school"))), ["user", "school"])
        return (
            users.append_column(ROLE, take_at(lowered(roles.column("role")), chosen))
            .append_column(ROLE_ROW, take_at(roles.column(ROW_COLUMN), chosen))
            .append_column("grade", take_at(column_or_nulls(roles, "grade"), chosen))
            .append_column(ROLE_ORG, take_at(roles.column("org_id"), chosen))
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
        at = positions_in(users.column("person_id"), demo.column("person_id"))
        sex = lowered(column_or_nulls(demo, "gender"))
        sex = pc.if_else(pc.equal(sex, "notselected"), pa.scalar("unspecified"), sex)
        return (
            users.append_column(DEMO_ROW, take_at(demo.column(ROW_COLUMN), at))
            .append_column("birth_date", take_at(column_or_nulls(demo, "birth_date"), at))
            .append_column("gender", take_at(sex, at))
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
            "No school: this student's role in roles.csv names no org (orgSourcedId), and every student "
            "needs a school; the row was left out."
        )
        # A student whose roles are all at orgs with no school above them (a college, the
        # district) keeps the org of their chosen role, so that validation reports the student
        # against that org and says what it is.
        students = users.filter(student)
        school = pc.coalesce(students.column("school_id"), students.column(ROLE_ORG))
        self.tables["students"] = RawTable(
            "students",
            students.set_column(students.column_names.index("school_id"), "school_id", school),
            csv.name,
            sources,
            required={**required, "school_id": school_needed},
            enums={"gender": SEXES},
        )
        # A teacher at the district (no school above their org) is kept, with no school.
        self.tables["teachers"] = RawTable(
            "teachers",
            users.filter(teacher),
            csv.name,
            sources,
            required=dict(required),
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
                "school_id": take_at(
                    students.column("school_id"),
                    positions_in(rel.column("student_id"), students.column("person_id")),
                ),
                "relationship": pc.utf8_capitalize(lowered(rel.column("relationship"))),
                "contact_type": pa.nulls(rel.num_rows, pa.string()),
                ROW_COLUMN: rel.column(ROW_COLUMN),
            }
        )
        # A contact's school is that of the first student (in file order) it is linked to whose
        # school is one (not an org outside any school, which leaves that student out).
        schooled = links.filter(self.orgs.map.is_school(links.column("school_id")))
        first = schooled.take(
            pa.array(
                np.flatnonzero(
                    first_mask(
                        positions_in(schooled.column("contact_id"), contacts.column("person_id")),
                        ordered=False,
                    )
                )
            )
        )
        school = take_at(
            first.column("school_id"), positions_in(contacts.column("person_id"), first.column("contact_id"))
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
