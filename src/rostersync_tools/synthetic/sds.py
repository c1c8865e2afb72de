"""A synthetic district as a Microsoft School Data Sync (SDS) v2.1 CSV set.

Files: orgs (the district, then its schools), users (every person; a guardian's username is its
email, as SDS asks of guardians), roles (one row per person and school, ``isPrimary`` on the first
school; contacts take the ``other`` role at their school, as real SDS exports do), classes,
enrollments (students, then each class's teachers in order), academicSessions, courses,
relationships (student -> guardian, the relationship mapped to SDS's roles) and demographics.
Dates are written ``M/D/YYYY`` without zero padding, as SDS samples and US SIS exports write them.

What SDS v2.1 cannot carry, and a reader therefore cannot give back: a school's number, state ID,
grade range and phone (orgs.csv has none); person middle names, SIS and state IDs, titles (a staff
member's role stands in for it) and a contact's phone type; a term's parent and school; a class's
subject, grade and period; a contact link's contact type, and relationships finer than
parent / guardian / relative (Clever's Grandparent, Aunt/Uncle, Sibling are all ``relative``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_tools.synthetic.arrowkit import _col, _dashed, _join, _strings, _within
from rostersync_tools.synthetic.csvout import _const, _lookup, _write_csv
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.vocab import DISTRICT_ORG_ID

# Clever-style relationship -> SDS relationshipRole (parent, guardian, relative, other, ...).
RELATIONSHIP_ROLES = {
    "Parent": "parent",
    "Grandparent": "relative",
    "Aunt/Uncle": "relative",
    "Sibling": "relative",
    "Self": "other",
    "Other": "other",
}
SEX_BY_GENDER = {"female": "female", "male": "male", "other": "other"}


def _us_date_unpadded(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """M/D/YYYY (no zero padding) from date32 values."""
    iso = values.cast(pa.string())
    part = pc.utf8_slice_codeunits
    month = part(iso, 5, 7).cast(pa.int64()).cast(pa.string())
    day = part(iso, 8, 10).cast(pa.int64()).cast(pa.string())
    return _join(month, day, part(iso, 0, 4), sep="/")


def _mapped(values: pa.Array, mapping: dict[str, str], default: str) -> pa.Array:
    at = pc.index_in(values, value_set=_strings(list(mapping)))
    return pc.fill_null(_strings(list(mapping.values())).take(at), default)


def _orgs(district: SyntheticDistrict) -> pa.Table:
    s = district.tables["schools"]
    n = s.num_rows
    return pa.table(
        {
            "sourcedId": pa.concat_arrays([_strings([DISTRICT_ORG_ID]), _col(s, "school_id")]),
            "name": pa.concat_arrays([_strings([district.name]), _col(s, "name")]),
            "type": pa.concat_arrays([_strings(["district"]), _const("school", n)]),
            "parentSourcedId": pa.concat_arrays([pa.nulls(1, pa.string()), _const(DISTRICT_ORG_ID, n)]),
        }
    )


def _people(district: SyntheticDistrict) -> list[tuple[pa.Table, pa.Array, pa.Array]]:
    """(person table, SDS role, schools) of each person, for students, teachers, staff, contacts."""
    t = district.tables
    st, te, sf, co = t["students"], t["teachers"], t["staff"], t["contacts"]
    staff_role = pc.if_else(pc.equal(_col(sf, "title"), "Principal"), "principal", "staff")
    return [
        (st, _const("student", st.num_rows), _col(st, "school_ids")),
        (te, _const("teacher", te.num_rows), _col(te, "school_ids")),
        (sf, staff_role, _col(sf, "school_ids")),
        # SDS asks for a role row for every user: a guardian's is "other" at its student's school.
        (co, _const("other", co.num_rows), _single(co)),
    ]


def _single(table: pa.Table) -> pa.Array:
    """One-school lists from ``school_id`` (contacts have no school list of their own)."""
    school = _col(table, "school_id")
    offsets = pa.array(np.arange(len(school) + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, school)


def _users_and_roles(district: SyntheticDistrict) -> tuple[pa.Table, pa.Table]:
    users, roles = [], []
    for table, role, school_ids in _people(district):  # four person tables, not rows
        n = table.num_rows
        email = _col(table, "email")
        users.append(
            pa.table(
                {
                    "sourcedId": _col(table, "person_id"),
                    "username": pc.coalesce(_col(table, "username"), email),
                    "givenName": _col(table, "first_name"),
                    "familyName": _col(table, "last_name"),
                    "password": _const(None, n),
                    "activeDirectoryMatchId": _const(None, n),
                    "email": email,
                    "phone": _dashed(_col(table, "phone")),
                    "sms": _const(None, n),
                }
            )
        )
        parent = pc.list_parent_indices(school_ids)
        first = (
            _within(np.diff(np.asarray(school_ids.offsets.to_numpy(), dtype=np.int64)).astype(np.int64)) == 0
        )
        m = len(parent)
        roles.append(
            pa.table(
                {
                    "userSourcedId": _col(table, "person_id").take(parent),
                    "orgSourcedId": pc.list_flatten(school_ids),
                    "role": role.take(parent),
                    "sessionSourcedId": _const(None, m),
                    "grade": _col(table, "grade").take(parent),
                    "isPrimary": pc.if_else(pa.array(first), "TRUE", "FALSE"),
                    "roleStartDate": _const(None, m),
                    "roleEndDate": _const(None, m),
                }
            )
        )
    return pa.concat_tables(users), pa.concat_tables(roles)


def _classes_and_enrollments(district: SyntheticDistrict) -> tuple[pa.Table, pa.Table]:
    t = district.tables
    se, en = t["sections"], t["enrollments"]
    classes = pa.table(
        {
            "sourcedId": se["section_id"],
            "orgSourcedId": se["school_id"],
            "title": se["name"],
            "sessionSourcedIds": se["term_id"],
            "courseSourcedId": se["course_id"],
            "code": se["section_number"],
        }
    )
    teacher_ids = _col(se, "teacher_ids")
    parent = pc.list_parent_indices(teacher_ids)
    enrollments = pa.concat_tables(
        [
            pa.table(
                {
                    "classSourcedId": en["section_id"],
                    "userSourcedId": en["person_id"],
                    "role": _const("student", en.num_rows),
                }
            ),
            pa.table(
                {
                    "classSourcedId": _col(se, "section_id").take(parent),
                    "userSourcedId": pc.list_flatten(teacher_ids),
                    "role": _const("teacher", len(parent)),
                }
            ),
        ]
    )
    return classes, enrollments


def write_sds_csv(district: SyntheticDistrict, directory: str | Path) -> dict[str, Path]:
    """Write the district as an SDS v2.1 CSV set (see the module docstring for what it holds)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    t = district.tables
    written: dict[str, Path] = {}
    written["orgs.csv"] = _write_csv(_orgs(district), out / "orgs.csv")
    users, roles = _users_and_roles(district)
    written["users.csv"] = _write_csv(users, out / "users.csv")
    written["roles.csv"] = _write_csv(roles, out / "roles.csv")
    classes, enrollments = _classes_and_enrollments(district)
    written["classes.csv"] = _write_csv(classes, out / "classes.csv")
    written["enrollments.csv"] = _write_csv(enrollments, out / "enrollments.csv")

    terms = t["terms"]
    written["academicSessions.csv"] = _write_csv(
        pa.table(
            {
                "sourcedId": terms["term_id"],
                "title": terms["name"],
                "type": terms["type"],
                "schoolYear": _const(str(district.school_year + 1), terms.num_rows),
                "startDate": _us_date_unpadded(terms["start_date"]),
                "endDate": _us_date_unpadded(terms["end_date"]),
            }
        ),
        out / "academicSessions.csv",
    )
    years = terms.filter(pc.equal(terms.column("type"), "schoolYear"))
    c = t["courses"]
    written["courses.csv"] = _write_csv(
        pa.table(
            {
                "sourcedId": c["course_id"],
                "orgSourcedId": c["school_id"],
                "title": c["name"],
                "code": c["course_code"],
                "schoolYearSourcedId": _lookup(_col(c, "school_id"), years, "school_id", "term_id"),
                "subject": c["subject"],
                "grade": c["grades"],
            }
        ),
        out / "courses.csv",
    )
    links = t["contact_links"]
    written["relationships.csv"] = _write_csv(
        pa.table(
            {
                "userSourcedId": links["student_id"],
                "relationshipUserSourcedId": links["contact_id"],
                "relationshipRole": _mapped(_col(links, "relationship"), RELATIONSHIP_ROLES, "other"),
            }
        ),
        out / "relationships.csv",
    )
    st = t["students"]
    n = st.num_rows
    written["demographics.csv"] = _write_csv(
        pa.table(
            {
                "userSourcedId": st["person_id"],
                "sex": _mapped(_col(st, "gender"), SEX_BY_GENDER, "notSelected"),
                "birthDate": _us_date_unpadded(st["birth_date"]),
                "birthCity": _const(None, n),
                "birthState": _const(None, n),
                "birthCountry": _const(None, n),
                "ethnicityCodes": _const(None, n),
                "raceCodes": _const(None, n),
            }
        ),
        out / "demographics.csv",
    )
    return written
