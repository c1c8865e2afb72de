"""OneRoster 1.1 and 1.2 CSV (IMS bulk CSV binding) into canonical raw tables.

Rows with ``status`` ``tobedeleted`` are not part of the set. Orgs of type ``school`` become
schools; other orgs (the district) are only used to tell schools apart in users' org lists. Users
are split by role: ``student`` -> students, ``teacher`` -> teachers, ``parent``/``guardian``/
``relative`` -> contacts, everything else (administrator, aide, principal, ...) -> staff, and an
undocumented role also goes to staff with an alert. In 1.1 the role is a users.csv column; in 1.2
it comes from roles.csv (the ``primary`` role decides; the user's schools are the orgs of all their
roles, primary first). ``agentSourcedIds`` link guardians and students in either direction; the
link's relationship is the guardian's role ("Parent", "Guardian", "Relative") and a contact's
school is that of the first student it is linked to. Teacher enrollments become the class's
``teacher_ids`` (``primary=true`` first), student enrollments become enrollments; demographics
supply birth date and sex.
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
    encode,
    explode,
    filter_lists,
    first_item,
    first_mask,
    split_list,
    take_first_rows,
)
from rostersync.formats.csvio import CsvFile, FileSpec, find_files, read_csv, read_file_set
from rostersync.formats.detect import MANIFEST, read_manifest
from rostersync.formats.raw import LIST_ROW_SUFFIX, RawRoster, RawTable, Source
from rostersync.issues import ALERT, ERROR, FileProblem, InvalidFilesError, concat_issues, row_issues
from rostersync.model import ENTITY_BY_NAME, PERSON_ENTITIES, ROW_COLUMN, UNKNOWN_SCHEMA
from rostersync.roster import FORMAT_ONEROSTER_12_CSV

_COMMON_IGNORED = ("dateLastModified",)
_STATUS = {"status": "status"}

ORG_TYPES = ("district", "school", "department", "local", "state", "national")
SESSION_TYPES = ("gradingPeriod", "semester", "schoolYear", "term")
SEXES = ("male", "female", "other", "unspecified")
STUDENT_ROLES = ("student",)
TEACHER_ROLES = ("teacher",)
CONTACT_ROLES = ("parent", "guardian", "relative")
# Documented roles of 1.1 and 1.2, lower-cased (roles are matched case-insensitively).
USER_ROLES = (
    "administrator",
    "aide",
    "counselor",
    "districtadministrator",
    "guardian",
    "parent",
    "principal",
    "proctor",
    "relative",
    "siteadministrator",
    "student",
    "systemadministrator",
    "teacher",
)
ENROLLMENT_ROLES = (
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
)
ROLE_TYPES = ("primary", "secondary")

ORGS = FileSpec(
    "orgs.csv",
    columns={
        "sourcedId": "org_id",
        **_STATUS,
        "name": "name",
        "type": "type",
        "identifier": "identifier",
        "parentSourcedId": "parent_id",
    },
    required=("sourcedId", "name", "type"),
    ignored=_COMMON_IGNORED,
    ignored_prefixes=("metadata.",),
)

_USER_COLUMNS = {
    "sourcedId": "person_id",
    **_STATUS,
    "orgSourcedIds": "orgs",
    "username": "username",
    "givenName": "first_name",
    "middleName": "middle_name",
    "familyName": "last_name",
    "identifier": "sis_id",
    "email": "email",
    "sms": "sms",
    "phone": "phone",
    "agentSourcedIds": "agents",
    "grades": "grade",
}
_USER_IGNORED = (*_COMMON_IGNORED, "enabledUser", "userIds", "password")

USERS_11 = FileSpec(
    "users.csv",
    columns={**_USER_COLUMNS, "role": "role"},
    required=("sourcedId", "orgSourcedIds", "role", "givenName", "familyName"),
    ignored=_USER_IGNORED,
    ignored_prefixes=("metadata.",),
)

USERS_12 = FileSpec(
    "users.csv",
    columns={**_USER_COLUMNS, "userMasterIdentifier": "state_id", "primaryOrgSourcedId": "primary_org"},
    required=("sourcedId", "givenName", "familyName"),
    ignored=(
        *_USER_IGNORED,
        "resourceSourcedIds",
        "preferredGivenName",
        "preferredMiddleName",
        "preferredFamilyName",
        "pronouns",
    ),
    ignored_prefixes=("metadata.",),
)

ROLES = FileSpec(
    "roles.csv",
    columns={
        **_STATUS,
        "userSourcedId": "user_id",
        "roleType": "role_type",
        "role": "role",
        "orgSourcedId": "org_id",
    },
    required=("userSourcedId", "roleType", "role", "orgSourcedId"),
    ignored=(*_COMMON_IGNORED, "sourcedId", "beginDate", "endDate", "userProfileSourcedId"),
    ignored_prefixes=("metadata.",),
)

CLASSES = FileSpec(
    "classes.csv",
    columns={
        "sourcedId": "section_id",
        **_STATUS,
        "title": "name",
        "grades": "grade",
        "courseSourcedId": "course_id",
        "classCode": "section_number",
        "schoolSourcedId": "school_id",
        "termSourcedIds": "terms",
        "subjects": "subject",
        "periods": "period",
    },
    required=("sourcedId", "title", "courseSourcedId", "schoolSourcedId", "termSourcedIds"),
    ignored=(*_COMMON_IGNORED, "classType", "location", "subjectCodes", "resourceSourcedIds"),
    ignored_prefixes=("metadata.",),
)

ENROLLMENTS = FileSpec(
    "enrollments.csv",
    columns={
        **_STATUS,
        "classSourcedId": "section_id",
        "schoolSourcedId": "school_id",
        "userSourcedId": "person_id",
        "role": "role",
        "primary": "primary",
    },
    required=("classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
    ignored=(*_COMMON_IGNORED, "sourcedId", "beginDate", "endDate"),
    ignored_prefixes=("metadata.",),
)

ACADEMIC_SESSIONS = FileSpec(
    "academicSessions.csv",
    columns={
        "sourcedId": "term_id",
        **_STATUS,
        "title": "name",
        "type": "type",
        "startDate": "start_date",
        "endDate": "end_date",
        "parentSourcedId": "parent_id",
    },
    required=("sourcedId", "title", "type", "startDate", "endDate"),
    ignored=(*_COMMON_IGNORED, "schoolYear", "orgSourcedId"),
    ignored_prefixes=("metadata.",),
)

COURSES = FileSpec(
    "courses.csv",
    columns={
        "sourcedId": "course_id",
        **_STATUS,
        "title": "name",
        "courseCode": "course_code",
        "grades": "grades",
        "orgSourcedId": "org_id",
        "subjects": "subject",
    },
    required=("sourcedId", "title", "orgSourcedId"),
    ignored=(*_COMMON_IGNORED, "schoolYearSourcedId", "subjectCodes", "resourceSourcedIds"),
    ignored_prefixes=("metadata.",),
)

DEMOGRAPHICS = FileSpec(
    "demographics.csv",
    columns={"sourcedId": "person_id", **_STATUS, "birthDate": "birth_date", "sex": "gender"},
    required=("sourcedId",),
    ignored=(
        *_COMMON_IGNORED,
        "americanIndianOrAlaskaNative",
        "asian",
        "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander",
        "white",
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    ),
    ignored_prefixes=("metadata.",),
)

DEMO_ROW = "_demo_row"
ROLE_ROW = "_role_row"
ROLE = "_role"


def _active(csv: CsvFile) -> CsvFile:
    """The file without its ``tobedeleted`` rows."""
    if not csv.has("status"):
        return csv
    deleted = pc.fill_null(pc.equal(pc.utf8_lower(csv.table.column("status")), "tobedeleted"), False)
    if not pc.any(deleted).as_py():
        return csv
    return CsvFile(csv.name, csv.table.filter(pc.invert(deleted)), csv.headers)


def _alert(csv: CsvFile, mask: ArrayLike, column: str, message: str, value: str | None = None) -> pa.Table:
    return row_issues(
        csv.table,
        mask,
        severity=ALERT,
        file=csv.name,
        column=csv.headers.get(column, column),
        message=message,
        value_column=value or column,
    )


def _unknown_values(values: ArrayLike, allowed: tuple[str, ...]) -> ArrayLike:
    return pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed))))


class _Reader:
    def __init__(self, files: dict[str, CsvFile], fmt: str) -> None:
        self.files = files
        self.fmt = fmt
        self.issues: list[pa.Table] = []
        self.unknown: list[pa.Table] = []
        self.tables: dict[str, RawTable] = {}

    # -- orgs ----------------------------------------------------------------------------------
    def orgs(self) -> None:
        csv = _active(self.files["orgs.csv"])
        kind = pc.utf8_lower(csv.table.column("type"))
        odd = _unknown_values(kind, tuple(t.lower() for t in ORG_TYPES))
        if pc.any(odd).as_py():
            self.issues.append(
                _alert(csv, odd, "type", f"Not one of the documented org types ({', '.join(ORG_TYPES)}).")
            )
        is_school = pc.fill_null(pc.equal(kind, "school"), False)
        self.org_ids = as_array(csv.table.column("org_id").drop_null())
        schools = csv.table.filter(is_school)
        self.school_ids = as_array(schools.column("org_id").drop_null())
        table = pa.table(
            {
                "school_id": schools.column("org_id"),
                "name": schools.column("name"),
                "school_number": schools.column("identifier"),
                ROW_COLUMN: schools.column(ROW_COLUMN),
            }
        )
        self.tables["schools"] = RawTable(
            "schools",
            table,
            csv.name,
            {
                "school_id": csv.source("org_id"),
                "name": csv.source("name"),
                "school_number": csv.source("identifier", "identifier"),
            },
            required={"school_id": None, "name": None},
        )

    def _school_orgs(self, orgs: ArrayLike) -> ArrayLike:
        """Mask of org IDs that may be schools: schools, or orgs missing from orgs.csv (so that
        validation reports them) — but not the district and other known non-school orgs."""
        return pc.or_(
            pc.is_in(orgs, value_set=self.school_ids), pc.invert(pc.is_in(orgs, value_set=self.org_ids))
        )

    # -- users ---------------------------------------------------------------------------------
    def users(self) -> pa.Table:
        """All active users with ``_role``, ``school_ids`` (+ rows) and demographics joined."""
        csv = _active(self.files["users.csv"])
        table = csv.table
        if "agents" not in table.column_names:
            table = table.append_column("agents", csv.column("agents"))
        if self.fmt == FORMAT_ONEROSTER_12_CSV:
            table = self._roles_12(csv)
        else:
            role = pc.utf8_lower(table.column("role"))
            orgs = split_list(table.column("orgs"))
            items = explode(orgs)[1]
            school_ids = filter_lists(orgs, self._school_orgs(items))
            table = table.append_column(ROLE, role).append_column("school_ids", school_ids)
        table = table.append_column("school_id", first_item(table.column("school_ids")))
        # OneRoster has a phone and an sms number; the canonical person has one phone.
        phone = pc.coalesce(csv.column("phone"), csv.column("sms"))
        table = table.drop_columns([c for c in ("phone", "sms") if c in table.column_names])
        table = table.append_column("phone", phone)
        return self._demographics(table)

    def _roles_12(self, users: CsvFile) -> pa.Table:
        roles = _active(self.files["roles.csv"])
        table = roles.table
        role_type = pc.utf8_lower(table.column("role_type"))
        odd = _unknown_values(role_type, ROLE_TYPES)
        if pc.any(odd).as_py():
            self.issues.append(
                _alert(roles, odd, "role_type", "Not one of the documented role types (primary, secondary).")
            )
        parent = pc.index_in(table.column("user_id"), value_set=as_array(users.table.column("person_id")))
        orphan = pc.and_(pc.is_null(parent), pc.is_valid(table.column("user_id")))
        if pc.any(orphan).as_py():
            # Roles of users marked tobedeleted are expected; only a user missing altogether is odd.
            everyone = as_array(self.files["users.csv"].table.column("person_id"))
            orphan = pc.and_(orphan, pc.invert(pc.is_in(table.column("user_id"), value_set=everyone)))
        if pc.any(orphan).as_py():
            self.issues.append(
                _alert(
                    roles,
                    orphan,
                    "user_id",
                    "Refers to a user who is not in users.csv; the role was ignored.",
                )
            )
        n = users.table.num_rows
        keep = np.flatnonzero(pc.is_valid(parent).to_numpy(zero_copy_only=False))
        parents = pc.take(parent, pa.array(keep)).to_numpy(zero_copy_only=False).astype(np.int64)
        secondary = pc.fill_null(pc.not_equal(role_type, "primary"), True)
        secondary_np = pc.take(secondary, pa.array(keep)).to_numpy(zero_copy_only=False)
        # Primary roles first, then file order: a user's first role decides its entity.
        order = keep[np.argsort(secondary_np, kind="stable")]
        parent_sorted = parents[np.argsort(secondary_np, kind="stable")]
        first = np.full(n, -1, dtype=np.int64)
        first[parent_sorted[::-1]] = order[::-1]  # the last write is the earliest role
        chosen = pa.array(first, mask=first < 0)
        role = pc.take(pc.utf8_lower(table.column("role")), chosen)
        role_row = pc.take(table.column(ROW_COLUMN), chosen)
        # Every school of the user, in the same order, once each.
        orgs = encode(table.column("org_id"))
        pair = parent_sorted * max(len(orgs.dictionary), 1) + orgs.codes[order]
        pair[orgs.codes[order] < 0] = -1
        listed = first_mask(pair) & (pair >= 0)
        rows = pa.array(order[listed])
        org_ids = pc.take(table.column("org_id"), rows)
        school = self._school_orgs(org_ids).to_numpy(zero_copy_only=False)
        owners = pa.array(parent_sorted[listed][school])
        school_ids = build_lists(owners, pc.filter(org_ids, pa.array(school)), n)
        school_rows = build_lists(
            owners, pc.filter(pc.take(table.column(ROW_COLUMN), rows), pa.array(school)), n
        )
        return (
            users.table.append_column(ROLE, role)
            .append_column(ROLE_ROW, role_row)
            .append_column("school_ids", school_ids)
            .append_column("school_ids" + LIST_ROW_SUFFIX, school_rows)
        )

    def _demographics(self, users: pa.Table) -> pa.Table:
        n = users.num_rows
        if "demographics.csv" not in self.files:
            return users.append_column(DEMO_ROW, pa.nulls(n, pa.int64()))
        demo = _active(self.files["demographics.csv"])
        # One lookup for all three columns (the first demographics row of a user wins).
        at = pc.index_in(users.column("person_id"), value_set=as_array(demo.table.column("person_id")))
        return (
            users.append_column(DEMO_ROW, pc.take(demo.table.column(ROW_COLUMN), at))
            .append_column("birth_date", pc.take(demo.column("birth_date"), at))
            .append_column("gender", pc.utf8_lower(pc.take(demo.column("gender"), at)))
        )

    def _sources(self, users: pa.Table) -> dict[str, Source]:
        csv = self.files["users.csv"]
        sources = {c: csv.source(c) for c in users.column_names if c in csv.headers}
        demo = self.files.get("demographics.csv")
        if demo is not None:
            for column in ("birth_date", "gender"):
                sources[column] = Source(demo.name, demo.headers.get(column, column), DEMO_ROW)
        if self.fmt == FORMAT_ONEROSTER_12_CSV:
            roles = self.files["roles.csv"]
            sources[ROLE] = Source(roles.name, roles.headers["role"], ROLE_ROW)
            org = Source(roles.name, roles.headers["org_id"], ROLE_ROW)
        else:
            sources[ROLE] = csv.source("role")
            org = csv.source("orgs")
        sources["school_id"] = org
        sources["school_ids"] = org
        if "phone" not in csv.headers and "sms" in csv.headers:
            sources["phone"] = csv.source("sms")
        sources.pop("sms", None)
        return sources

    def people(self) -> None:
        users = self.users()
        csv = self.files["users.csv"]
        sources = self._sources(users)
        role = users.column(ROLE)
        no_role = pc.is_null(role)
        if pc.any(no_role).as_py():
            where = sources[ROLE]
            reason = (
                "This user has no role in roles.csv"
                if self.fmt == FORMAT_ONEROSTER_12_CSV
                else "The role is empty"
            )
            message = (
                f"{reason}, so it is not known whether they are a student, teacher, staff member or "
                "contact; the row was left out."
            )
            self.issues.append(
                row_issues(
                    users,
                    no_role,
                    severity=ERROR,
                    file=csv.name if self.fmt == FORMAT_ONEROSTER_12_CSV else where.file,
                    column=csv.headers["person_id"] if self.fmt == FORMAT_ONEROSTER_12_CSV else where.column,
                    message=message,
                    value_column="person_id",
                )
            )
            ids = users.filter(no_role).column("person_id").drop_null()
            for entity in PERSON_ENTITIES:
                self.unknown.append(
                    pa.table({"entity": pa.repeat(pa.scalar(entity.name), len(ids)), "key": ids}).cast(
                        UNKNOWN_SCHEMA
                    )
                )
        student = pc.is_in(role, value_set=pa.array(STUDENT_ROLES))
        teacher = pc.is_in(role, value_set=pa.array(TEACHER_ROLES))
        contact = pc.is_in(role, value_set=pa.array(CONTACT_ROLES))
        staff = pc.and_(pc.is_valid(role), pc.invert(pc.or_(pc.or_(student, teacher), contact)))
        fields = set(ENTITY_BY_NAME["students"].schema.names) | {
            ROW_COLUMN,
            DEMO_ROW,
            ROLE,
            ROLE_ROW,
            "school_ids" + LIST_ROW_SUFFIX,
            "agents",
        }
        people = users.select([c for c in users.column_names if c in fields])
        required: dict[str, str | None] = {"person_id": None, "first_name": None, "last_name": None}
        school_needed = (
            "No school: a {0} must belong to a school in orgs.csv (orgSourcedIds lists none); the "
            "row was left out."
            if self.fmt != FORMAT_ONEROSTER_12_CSV
            else "No school: a {0} needs a role at a school in orgs.csv; the row was left out."
        )
        for name, mask in (("students", student), ("teachers", teacher)):
            self.tables[name] = RawTable(
                name,
                people.filter(mask),
                csv.name,
                sources,
                required={**required, "school_id": school_needed.format(name[:-1])},
                enums={"gender": SEXES},
            )
        staff_table = people.filter(staff)
        staff_table = staff_table.append_column("title", staff_table.column(ROLE))
        self.tables["staff"] = RawTable(
            "staff",
            staff_table,
            csv.name,
            {**sources, "title": sources[ROLE]},
            required=dict(required),
            enums={"gender": SEXES, ROLE: USER_ROLES},
        )
        self._contacts(people.filter(contact), sources, required)

    def _contacts(
        self, contacts: pa.Table, sources: dict[str, Source], required: dict[str, str | None]
    ) -> None:
        students = self.tables["students"].table
        csv = self.files["users.csv"]
        s_parents, s_agents = explode(split_list(students.column("agents")))
        c_parents, c_agents = explode(split_list(contacts.column("agents")))
        # Positions of both ends in the students and contacts tables (null: not such a user).
        student_at = pa.concat_arrays(
            [
                s_parents.cast(pa.int64()),
                pc.index_in(c_agents, value_set=as_array(students.column("person_id"))).cast(pa.int64()),
            ]
        )
        contact_at = pa.concat_arrays(
            [
                pc.index_in(s_agents, value_set=as_array(contacts.column("person_id"))).cast(pa.int64()),
                c_parents.cast(pa.int64()),
            ]
        )
        links = pa.table(
            {
                "student_id": pa.concat_arrays(
                    [as_array(pc.take(students.column("person_id"), s_parents)), as_array(c_agents)]
                ),
                "contact_id": pa.concat_arrays(
                    [as_array(s_agents), as_array(pc.take(contacts.column("person_id"), c_parents))]
                ),
                ROW_COLUMN: pa.concat_arrays(
                    [
                        as_array(pc.take(students.column(ROW_COLUMN), s_parents)),
                        as_array(pc.take(contacts.column(ROW_COLUMN), c_parents)),
                    ]
                ),
                "_student_at": student_at,
                "_contact_at": contact_at,
            }
        )
        # The same link is usually stated from both sides: keep the first mention in file order.
        # A link to someone who is not a student or contact is kept as is (validation rejects it).
        student_np = pc.fill_null(student_at, -1).to_numpy()
        contact_np = pc.fill_null(contact_at, -1).to_numpy()
        pair = np.where(
            (student_np >= 0) & (contact_np >= 0), student_np * max(contacts.num_rows, 1) + contact_np, -1
        )
        order = np.argsort(as_array(links.column(ROW_COLUMN)).to_numpy(), kind="stable")
        links = links.take(pa.array(order[first_mask(pair[order])]))
        student_at = links.column("_student_at")
        contact_at = links.column("_contact_at")
        links = links.drop_columns(["_student_at", "_contact_at"])
        links = links.append_column("school_id", pc.take(students.column("school_id"), student_at))
        role = pc.take(contacts.column(ROLE), contact_at)
        links = links.append_column("relationship", pc.utf8_capitalize(role))
        links = links.append_column("contact_type", pa.nulls(links.num_rows, pa.string()))
        # A contact's school is that of the first student (in file order) it is linked to.
        schooled = np.flatnonzero(
            pc.and_(pc.is_valid(contact_at), pc.is_valid(links.column("school_id"))).to_numpy(
                zero_copy_only=False
            )
        )
        owner = pc.take(contact_at, pa.array(schooled)).to_numpy(zero_copy_only=False)
        first_link = np.full(contacts.num_rows, -1, dtype=np.int64)
        first_link[owner[::-1]] = schooled[::-1]  # the last write is the earliest link
        school = pc.take(links.column("school_id"), pa.array(first_link, mask=first_link < 0))
        contacts = contacts.drop_columns(["school_id", "school_ids"]).append_column("school_id", school)
        agents = csv.source("agents", "agentSourcedIds")
        self.tables["contacts"] = RawTable(
            "contacts",
            contacts,
            csv.name,
            {**sources, "school_id": agents},
            required=dict(required),
            enums={"gender": SEXES},
        )
        self.tables["contact_links"] = RawTable(
            "contact_links",
            links,
            csv.name,
            {"student_id": agents, "contact_id": agents, "school_id": agents, "relationship": sources[ROLE]},
            required={"student_id": None, "contact_id": None},
            deduplicated=True,
        )

    # -- classes, enrollments, sessions, courses -----------------------------------------------
    def sections(self) -> None:
        classes = _active(self.files["classes.csv"])
        table = classes.table
        term_id = first_item(split_list(table.column("terms")))
        fields = ENTITY_BY_NAME["sections"].schema.names
        sections = table.select([c for c in table.column_names if c in fields] + [ROW_COLUMN])
        sections = sections.append_column("term_id", term_id)
        enrollments = _active(self.files["enrollments.csv"])
        etable = enrollments.table
        role = pc.utf8_lower(etable.column("role"))
        odd = _unknown_values(role, ENROLLMENT_ROLES)
        if pc.any(odd).as_py():
            self.issues.append(
                _alert(
                    enrollments,
                    odd,
                    "role",
                    f"Not one of the documented enrollment roles ({', '.join(ENROLLMENT_ROLES)}); "
                    "the row was ignored.",
                )
            )
        teachers = etable.filter(pc.fill_null(pc.equal(role, "teacher"), False))
        parent = pc.index_in(teachers.column("section_id"), value_set=as_array(sections.column("section_id")))
        orphan = pc.and_(pc.is_null(parent), pc.is_valid(teachers.column("section_id")))
        if pc.any(orphan).as_py():
            self.issues.append(
                row_issues(
                    teachers,
                    orphan,
                    severity=ALERT,
                    file=enrollments.name,
                    column=enrollments.headers["section_id"],
                    message="This teacher enrollment refers to a class that is not in classes.csv; it "
                    "was ignored.",
                    value_column="section_id",
                )
            )
        primary = pc.fill_null(pc.equal(pc.utf8_lower(_column_or_nulls(teachers, "primary")), "true"), False)
        teachers = pa.table(
            {
                "parent": parent,
                "person_id": teachers.column("person_id"),
                "secondary": pc.invert(primary),
                ROW_COLUMN: teachers.column(ROW_COLUMN),
            }
        ).filter(pc.and_(pc.is_valid(parent), pc.is_valid(teachers.column("person_id"))))
        teachers = teachers.sort_by([("secondary", "ascending"), (ROW_COLUMN, "ascending")])
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
        sources["term_id"] = classes.source("terms")
        sources["teacher_ids"] = Source(enrollments.name, enrollments.headers["person_id"])
        self.tables["sections"] = RawTable(
            "sections", sections, classes.name, sources, required={"section_id": None, "school_id": None}
        )
        students = etable.select(["section_id", "person_id", "school_id", ROW_COLUMN])
        students = students.filter(pc.fill_null(pc.equal(role, "student"), False))
        students = students.append_column("role", pa.repeat(pa.scalar("student"), students.num_rows))
        self.tables["enrollments"] = RawTable(
            "enrollments",
            students,
            enrollments.name,
            {c: enrollments.source(c) for c in ("section_id", "person_id", "school_id")},
            required={"section_id": None, "person_id": None, "school_id": None},
            unique=False,
        )

    def terms(self) -> None:
        csv = _active(self.files["academicSessions.csv"])
        columns = ["term_id", "name", "type", "start_date", "end_date", "parent_id"]
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
        csv = _active(self.files["courses.csv"])
        table = csv.table
        org = table.column("org_id")
        school = pc.if_else(pc.is_in(org, value_set=self.school_ids), org, pa.scalar(None, pa.string()))
        columns = ["course_id", "name", "course_code", "grades", "subject"]
        out = table.select([c for c in columns if csv.has(c)] + [ROW_COLUMN]).append_column(
            "school_id", school
        )
        sources = {c: csv.source(c) for c in columns if csv.has(c)}
        sources["school_id"] = csv.source("org_id")
        self.tables["courses"] = RawTable(
            "courses", out, csv.name, sources, required={"course_id": None, "name": None}
        )


def _column_or_nulls(table: pa.Table, column: str) -> ArrayLike:
    if column in table.column_names:
        return table.column(column)
    return pa.nulls(table.num_rows, pa.string())


def read_oneroster(directory: Path, fmt: str) -> RawRoster:
    """Read a OneRoster 1.1 or 1.2 CSV set; raises InvalidFilesError listing every file problem."""
    v12 = fmt == FORMAT_ONEROSTER_12_CSV
    found = find_files(directory)
    manifest = read_manifest(found["manifest.csv"]) if "manifest.csv" in found else {}
    problems: list[FileProblem] = []
    if "manifest.csv" in found:
        problems.extend(read_csv(found["manifest.csv"], MANIFEST).problems)
    else:
        problems.append(FileProblem("manifest.csv", "required file is missing"))
    required = [ORGS, USERS_12 if v12 else USERS_11, CLASSES, ENROLLMENTS, ACADEMIC_SESSIONS, COURSES]
    if v12:
        required.append(ROLES)
    # userProfiles.csv (1.2) holds application logins, which the canonical model does not keep:
    # it is accepted but not read.
    optional = [DEMOGRAPHICS]

    def delta(spec: FileSpec) -> FileProblem | None:
        mode = manifest.get(f"file.{spec.name.removesuffix('.csv').lower()}", "").lower()
        if mode != "delta":
            return None
        return FileProblem(
            "manifest.csv", f"says {spec.name} is a delta file; rostersync needs bulk files (a complete set)"
        )

    read = read_file_set(found, required, optional, refuse=delta)
    problems.extend(read.problems)
    files, alerts = read.files, read.alerts
    if problems:
        raise InvalidFilesError(problems, fmt)

    reader = _Reader(files, fmt)
    reader.orgs()
    reader.people()
    reader.sections()
    reader.terms()
    reader.courses()
    unknown = pa.concat_tables(reader.unknown) if reader.unknown else UNKNOWN_SCHEMA.empty_table()
    return RawRoster(
        fmt,
        Path(directory),
        reader.tables,
        missing=frozenset(),
        issues=concat_issues([*alerts, *reader.issues]),
        unknown=unknown,
    )
