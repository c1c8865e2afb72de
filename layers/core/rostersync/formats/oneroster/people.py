"""users.csv (+ roles.csv, demographics.csv) into students, teachers, staff and contacts.

The main role decides student / teacher / staff (``administrator``, ``aide``, ``principal`` ...;
an undocumented role is staff with an alert); any guardian role also makes the user a contact
(see :mod:`.roles`). Students need a school; teachers and staff at the district (an org with no
school above it) are kept with no school. Demographics supply birth date and sex; a 1.0-style
``userSourcedId`` key header is read with an alert, and a demographics file that still cannot be
used is set aside with an error (the roster is read without it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array
from rostersync.formats.csvio import CsvFile, set_aside
from rostersync.formats.oneroster.common import Context, keep_rows, split_status
from rostersync.formats.oneroster.contacts import Agents, read_contacts
from rostersync.formats.oneroster.personids import PersonIds, encode_people
from rostersync.formats.oneroster.roles import Roles, pick, roles_11, roles_12
from rostersync.formats.oneroster.specs import CONTACT_ROLES, SEXES, STUDENT_ROLES, TEACHER_ROLES, USER_ROLES
from rostersync.formats.orgtree import OrgMap
from rostersync.formats.raw import LIST_ROW_SUFFIX, PERSON_NOTES, REJECTED_COLUMN, RawTable, Source
from rostersync.issues import ALERT, ERROR, FileProblem, row_issues
from rostersync.model import ENTITY_BY_NAME, PERSON_ENTITIES, ROW_COLUMN
from rostersync.roster import FORMAT_ONEROSTER_12_CSV

DEMO_ROW = "_demo_row"
ROLE_ROW = "_role_row"
ROLE = "_role"
CONTACT_ROLE = "_contact_role"
FIRST_ORG = "_first_org"
_HELPERS = {ROW_COLUMN, REJECTED_COLUMN, DEMO_ROW, ROLE, ROLE_ROW, CONTACT_ROLE, FIRST_ORG, "agents", "orgs"}


def _with_roles(
    ctx: Context, csv: CsvFile, org_map: OrgMap, ids: PersonIds, roles_csv: CsvFile | None
) -> tuple[pa.Table, Roles]:
    table = csv.table
    if roles_csv is not None:
        roles, orgs = roles_12(
            ctx, roles_csv, ids.positions(ids.users, ids.roles), ctx.deleted_users, org_map
        )
    else:
        roles, orgs = roles_11(table)
    picked = pick(roles, orgs, org_map, table.num_rows)
    table = (
        table.append_column(ROLE, picked.main)
        .append_column(ROLE_ROW, picked.main_row)
        .append_column(CONTACT_ROLE, picked.contact)
        .append_column("school_ids", picked.school_ids)
        .append_column("school_ids" + LIST_ROW_SUFFIX, picked.school_rows)
    )
    # A user with no school keeps their first org, so a student is reported against it (a
    # teacher or staff member at the district is kept with no school: see _split).
    table = table.append_column("school_id", picked.first_school)
    return table.append_column(FIRST_ORG, picked.first_org), picked


def _demographics_rows(ctx: Context) -> CsvFile | None:
    """The demographics rows that will be read (None: no file, or one set aside by
    :func:`_demographics`)."""
    demo_csv = ctx.files.get("demographics.csv")
    if demo_csv is None or not demo_csv.has("person_id"):
        return None
    return split_status(demo_csv, "person_id")[0]


def _demographics(ctx: Context, users: pa.Table, at: pa.Array | None) -> pa.Table:
    """``at``: each user's demographics row (as ``pc.index_in`` finds it), None without a file."""
    n = users.num_rows
    demo_csv = ctx.files.get("demographics.csv")
    if demo_csv is not None and not demo_csv.has("person_id"):
        ctx.issues.append(
            set_aside(
                demo_csv.name,
                [FileProblem(demo_csv.name, 'required header "sourcedId" is missing', "sourcedId")],
            )
        )
        del ctx.files["demographics.csv"]
        demo_csv = None
    if demo_csv is None or at is None:
        return users.append_column(DEMO_ROW, pa.nulls(n, pa.int64()))
    if demo_csv.headers.get("person_id", "").lower() == "usersourcedid":
        header = demo_csv.headers["person_id"]
        ctx.issues.append(
            row_issues(
                pa.table({ROW_COLUMN: pa.array([1], pa.int64()), "v": pa.array([header])}),
                pa.array([True]),
                severity=ALERT,
                file=demo_csv.name,
                column=header,
                value_column="v",
                message=f'The key column is named "{header}" (OneRoster 1.0); it was read as sourcedId. '
                "OneRoster 1.1 and 1.2 name it sourcedId.",
            )
        )
    demo, _ = split_status(demo_csv, "person_id")
    # One lookup for all columns (the first demographics row of a user wins).
    return (
        users.append_column(DEMO_ROW, pc.take(demo.table.column(ROW_COLUMN), at))
        .append_column("birth_date", pc.take(demo.column("birth_date"), at))
        .append_column("gender", pc.utf8_lower(pc.take(demo.column("gender"), at)))
    )


def _sources(ctx: Context, users: pa.Table) -> dict[str, Source]:
    csv = ctx.files["users.csv"]
    sources = {c: csv.source(c) for c in users.column_names if c in csv.headers}
    demo = ctx.files.get("demographics.csv")
    if demo is not None:
        for column in ("birth_date", "gender"):
            sources[column] = Source(demo.name, demo.headers.get(column, column), DEMO_ROW)
    if ctx.fmt == FORMAT_ONEROSTER_12_CSV:
        roles = ctx.files["roles.csv"]
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


def _no_role(ctx: Context, users: pa.Table, sources: dict[str, Source]) -> None:
    no_role = pc.and_(pc.is_null(users.column(ROLE)), pc.is_null(users.column(CONTACT_ROLE)))
    if not pc.any(no_role).as_py():
        return
    v12 = ctx.fmt == FORMAT_ONEROSTER_12_CSV
    csv = ctx.files["users.csv"]
    reason = "This user has no role in roles.csv" if v12 else "The role is empty"
    ctx.issues.append(
        row_issues(
            users,
            no_role,
            severity=ERROR,
            file=csv.name if v12 else sources[ROLE].file,
            column=csv.headers["person_id"] if v12 else sources[ROLE].column,
            message=f"{reason}, so it is not known whether they are a student, teacher, staff member "
            "or contact; the row was left out.",
            value_column="person_id",
        )
    )
    hits = users.filter(no_role).filter(pc.is_valid(users.filter(no_role).column("person_id")))
    where = "roles.csv" if v12 else csv.name
    note = pc.binary_join_element_wise(
        f"is in {csv.name} (row ",
        hits.column(ROW_COLUMN).cast(pa.string()),
        f") but has no role in {where}, so it was left out",
        "",
    )
    for entity in PERSON_ENTITIES:
        ctx.mark_unknown(entity.name, hits.column("person_id"))
        ctx.note(entity.name, hits.column("person_id"), note)


def _role_notes(ctx: Context, users: pa.Table) -> None:
    """What each user is, so that a reference to them as something else can say so."""
    file = ctx.files["users.csv"].name
    label = pc.coalesce(users.column(ROLE), users.column(CONTACT_ROLE))
    keys: ArrayLike = users.column("person_id")
    if label.null_count:
        known = pc.is_valid(label)
        keys, label = pc.filter(keys, known), pc.filter(label, known)
    # Roles are few: the sentence is made once per role, then looked up per user.
    roles = pc.dictionary_encode(as_array(label))
    sentences = pc.binary_join_element_wise(f"is in {file} with role ", roles.dictionary, "")
    ctx.note(PERSON_NOTES, keys, pc.take(sentences, roles.indices))
    for entity in PERSON_ENTITIES:
        if len(ctx.deleted_users):
            ctx.note(entity.name, ctx.deleted_users, f"is marked tobedeleted in {file}")


def read_people(ctx: Context, org_map: OrgMap, settled: Callable[[pa.Array], None] | None = None) -> None:
    """Students, teachers, staff, contacts and contact links (nothing when users.csv is absent).

    ``settled`` is handed the deleted users (``ctx.deleted_users``) as soon as no more can be
    found, before the rest of the people are mapped: classes and enrollments need only them."""
    if not ctx.supplied("users.csv") or (
        ctx.fmt == FORMAT_ONEROSTER_12_CSV and not ctx.supplied("roles.csv")
    ):
        return
    csv, deleted = split_status(ctx.files["users.csv"], "person_id")
    ctx.deleted_users = deleted
    if settled is not None and not len(org_map.deleted):
        settled(deleted)  # no org is marked tobedeleted, so no user is removed with their orgs
        settled = None
    roles_csv = (
        split_status(ctx.files["roles.csv"], "user_id")[0] if ctx.fmt == FORMAT_ONEROSTER_12_CSV else None
    )
    demo = _demographics_rows(ctx)
    ids = encode_people(
        csv.table.column("person_id"),
        csv.column("agents"),
        roles_csv.table.column("user_id") if roles_csv is not None else None,
        demo.table.column("person_id") if demo is not None else None,
    )
    table, picked = _with_roles(ctx, csv, org_map, ids, roles_csv)
    del roles_csv
    ctx.done_with("roles.csv")
    user_rows = np.arange(table.num_rows, dtype=np.int64)  # the users.csv row of each user kept
    if picked.removed.any():
        # Every org of these users is marked tobedeleted: they are removed with their orgs.
        gone = pa.array(picked.removed)
        ctx.deleted_users = pa.concat_arrays(
            [deleted, as_array(table.filter(gone).column("person_id").drop_null())]
        )
        table = table.filter(pc.invert(gone))
        user_rows = user_rows[~picked.removed]
    if settled is not None:
        settled(ctx.deleted_users)
    if "agents" not in table.column_names:
        table = table.append_column("agents", pa.nulls(table.num_rows, pa.string()))
    # OneRoster has a phone and an sms number; the canonical person has one phone.
    phone = pc.coalesce(
        table.column("phone") if "phone" in table.column_names else pa.nulls(table.num_rows, pa.string()),
        table.column("sms") if "sms" in table.column_names else pa.nulls(table.num_rows, pa.string()),
    )
    table = table.drop_columns([c for c in ("phone", "sms") if c in table.column_names]).append_column(
        "phone", phone
    )
    del csv
    at = ids.positions(ids.demographics, ids.users[user_rows]) if ids.demographics is not None else None
    users = _demographics(ctx, table, at)
    del table, demo, at
    ctx.done_with("demographics.csv")
    sources = _sources(ctx, users)
    _no_role(ctx, users, sources)
    _split(ctx, users, sources, ids, user_rows)
    ctx.done_with("users.csv", "roles.csv", "demographics.csv")


def _split(
    ctx: Context, users: pa.Table, sources: dict[str, Source], ids: PersonIds, user_rows: np.ndarray
) -> None:
    role = users.column(ROLE)
    student = pc.fill_null(pc.is_in(role, value_set=pa.array(STUDENT_ROLES)), False)
    teacher = pc.fill_null(pc.is_in(role, value_set=pa.array(TEACHER_ROLES)), False)
    contact = pc.is_valid(users.column(CONTACT_ROLE))
    staff = pc.and_(pc.is_valid(role), pc.invert(pc.or_(student, teacher)))
    _role_notes(ctx, users)
    fields = set(ENTITY_BY_NAME["students"].schema.names) | _HELPERS | {"school_ids" + LIST_ROW_SUFFIX}
    people = users.select([c for c in users.column_names if c in fields])
    csv = ctx.files["users.csv"]
    required: dict[str, str | None] = {"person_id": None, "first_name": None, "last_name": None}
    where = "has no role at an org" if ctx.fmt == FORMAT_ONEROSTER_12_CSV else "lists no org (orgSourcedIds)"
    students = keep_rows(people, student)
    school = pc.coalesce(students.column("school_id"), students.column(FIRST_ORG))
    students = students.set_column(students.column_names.index("school_id"), "school_id", school)
    ctx.tables["students"] = RawTable(
        "students",
        students,
        csv.name,
        sources,
        required={
            **required,
            "school_id": f"No school: this student {where}, and every student needs a school; the "
            "row was left out.",
        },
        enums={"gender": SEXES},
    )
    ctx.tables["teachers"] = RawTable(
        "teachers",
        keep_rows(people, teacher),
        csv.name,
        {**sources, FIRST_ORG: sources["school_id"]},
        # A teacher at the district is kept with no school; one with no org at all is not placed.
        required={**required, FIRST_ORG: f"No org: this teacher {where}; the row was left out."},
        enums={"gender": SEXES},
    )
    staff_table = keep_rows(people, staff)
    staff_table = staff_table.append_column("title", staff_table.column(ROLE))
    ctx.tables["staff"] = RawTable(
        "staff",
        staff_table,
        csv.name,
        {**sources, "title": sources[ROLE]},
        required=dict(required),
        enums={"gender": SEXES, ROLE: tuple(r for r in USER_ROLES if r not in CONTACT_ROLES)},
    )
    agents = Agents(
        ids,
        user_rows[student.to_numpy(zero_copy_only=False)],
        user_rows[contact.to_numpy(zero_copy_only=False)],
    )
    read_contacts(ctx, keep_rows(people, contact), sources, required, agents)
