"""A synthetic district as a OneRoster 1.1 or 1.2 bulk CSV set."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_tools.synthetic.arrowkit import _col, _dashed, _join, _strings, _within
from rostersync_tools.synthetic.csvout import _const, _grouped_list, _lookup, _write_csv
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.vocab import DISTRICT_ORG_ID

OneRosterVersion = Literal["1.1", "1.2"]

_MANIFEST_FILES_11 = (
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItems",
    "orgs",
    "resources",
    "results",
    "users",
)
_MANIFEST_FILES_12 = (
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItemLearningObjectiveIds",
    "lineItems",
    "lineItemScoreScales",
    "orgs",
    "resources",
    "resultLearningObjectiveIds",
    "results",
    "resultScoreScales",
    "roles",
    "scoreScales",
    "userProfiles",
    "userResources",
    "users",
)
_ROLE_BY_RELATIONSHIP = {
    "Parent": "parent",
    "Grandparent": "relative",
    "Aunt/Uncle": "relative",
    "Sibling": "relative",
    "Self": "relative",
    "Other": "guardian",
}
_RACE_FLAGS = (
    ("americanIndianOrAlaskaNative", "American Indian"),
    ("asian", "Asian"),
    ("blackOrAfricanAmerican", "Black or African American"),
    ("nativeHawaiianOrOtherPacificIslander", "Hawaiian or Other Pacific Islander"),
    ("white", "Caucasian"),
    ("demographicRaceTwoOrMoreRaces", "Two or More Races"),
)


def _record(sourced_id: pa.Array, n: int) -> dict[str, pa.Array]:
    """The fields every OneRoster record starts with: its sourcedId, then status and
    dateLastModified, left empty as in a bulk set."""
    return {"sourcedId": sourced_id, "status": _const(None, n), "dateLastModified": _const(None, n)}


def write_oneroster_csv(
    district: SyntheticDistrict, directory: str | Path, version: OneRosterVersion = "1.1"
) -> dict[str, Path]:
    """Write the district as a OneRoster CSV set (bulk): manifest, orgs, users, classes, courses,
    academicSessions, enrollments (students and teachers), demographics, and for 1.2 roles.
    ``status`` and ``dateLastModified`` are blank, as the spec asks of bulk files."""
    if version not in ("1.1", "1.2"):
        raise ValueError("version must be '1.1' or '1.2'")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    t = district.tables
    written: dict[str, Path] = {}

    # manifest
    present = {"academicSessions", "classes", "courses", "demographics", "enrollments", "orgs", "users"} | (
        {"roles"} if version == "1.2" else set()
    )
    names = _MANIFEST_FILES_12 if version == "1.2" else _MANIFEST_FILES_11
    written["manifest.csv"] = _write_csv(
        pa.table(
            {
                "propertyName": [
                    "manifest.version",
                    "oneroster.version",
                    *(f"file.{f}" for f in names),
                    "source.systemName",
                    "source.systemCode",
                ],
                "value": [
                    "1.0",
                    version,
                    *("bulk" if f in present else "absent" for f in names),
                    "rostersync synthetic",
                    district.district_id,
                ],
            }
        ),
        out / "manifest.csv",
    )

    # orgs: the district, then its schools
    s = t["schools"]
    n = s.num_rows
    written["orgs.csv"] = _write_csv(
        pa.table(
            {
                "sourcedId": pa.concat_arrays([_strings([DISTRICT_ORG_ID]), _col(s, "school_id")]),
                "status": _const(None, n + 1),
                "dateLastModified": _const(None, n + 1),
                "name": pa.concat_arrays([_strings([district.name]), _col(s, "name")]),
                "type": pa.concat_arrays([_strings(["district"]), _const("school", n)]),
                "identifier": pa.concat_arrays([pa.nulls(1, pa.string()), _col(s, "school_number")]),
                "parentSourcedId": pa.concat_arrays([pa.nulls(1, pa.string()), _const(DISTRICT_ORG_ID, n)]),
            }
        ),
        out / "orgs.csv",
    )

    # academicSessions
    terms = t["terms"]
    n = terms.num_rows
    written["academicSessions.csv"] = _write_csv(
        pa.table(
            {
                **_record(terms["term_id"], n),
                "title": terms["name"],
                "type": terms["type"],
                "startDate": _col(terms, "start_date").cast(pa.string()),
                "endDate": _col(terms, "end_date").cast(pa.string()),
                "parentSourcedId": terms["parent_id"],
                "schoolYear": _const(str(district.school_year + 1), n),
            }
        ),
        out / "academicSessions.csv",
    )

    # courses
    years = terms.filter(pc.equal(terms.column("type"), "schoolYear"))
    c = t["courses"]
    n = c.num_rows
    written["courses.csv"] = _write_csv(
        pa.table(
            {
                **_record(c["course_id"], n),
                "schoolYearSourcedId": _lookup(_col(c, "school_id"), years, "school_id", "term_id"),
                "title": c["name"],
                "courseCode": c["course_code"],
                "grades": c["grades"],
                "orgSourcedId": c["school_id"],
                "subjects": c["subject"],
                "subjectCodes": _const(None, n),
            }
        ),
        out / "courses.csv",
    )

    # classes
    se = t["sections"]
    n = se.num_rows
    written["classes.csv"] = _write_csv(
        pa.table(
            {
                **_record(se["section_id"], n),
                "title": se["name"],
                "grades": se["grade"],
                "courseSourcedId": se["course_id"],
                "classCode": se["section_number"],
                "classType": _const("scheduled", n),
                "location": _const(None, n),
                "schoolSourcedId": se["school_id"],
                "termSourcedIds": se["term_id"],
                "subjects": se["subject"],
                "subjectCodes": _const(None, n),
                "periods": se["period"],
            }
        ),
        out / "classes.csv",
    )

    # users: students, teachers, staff, contacts
    links = t["contact_links"]
    people: list[tuple[pa.Table, pa.Array, pa.Array | None]] = []  # (table, role, agents)
    st = t["students"]
    people.append(
        (
            st,
            _const("student", st.num_rows),
            _grouped_list(links, "student_id", "contact_id", _col(st, "person_id")),
        )
    )
    te = t["teachers"]
    people.append((te, _const("teacher", te.num_rows), None))
    sf = t["staff"]
    if version == "1.1":
        staff_role = _const("administrator", sf.num_rows)
    else:
        title = _col(sf, "title")
        staff_role = pc.if_else(
            pc.equal(title, "Principal"),
            "principal",
            pc.if_else(pc.equal(title, "Counselor"), "counselor", "siteAdministrator"),
        )
    people.append((sf, staff_role, None))
    co = t["contacts"]
    first_rel = (
        links.select(["contact_id", "relationship"])
        .group_by("contact_id", use_threads=False)
        .aggregate([("relationship", "first")])
    )
    rel = _lookup(_col(co, "person_id"), first_rel, "contact_id", "relationship_first")
    role_map = pa.array(list(_ROLE_BY_RELATIONSHIP.values()), pa.string())
    rel_idx = pc.index_in(rel, value_set=_strings(list(_ROLE_BY_RELATIONSHIP)))
    contact_role = pc.fill_null(role_map.take(rel_idx), "guardian")
    people.append((co, contact_role, _grouped_list(links, "contact_id", "student_id", _col(co, "person_id"))))

    user_tables = []
    role_tables = []
    for table, role, agents in people:  # four person tables, not rows
        n = table.num_rows
        school_ids = _col(table, "school_ids")
        columns: dict[str, pa.Array] = {
            **_record(_col(table, "person_id"), n),
            "enabledUser": _const("true", n),
        }
        if version == "1.1":
            columns["orgSourcedIds"] = pc.binary_join(school_ids, ",")
            columns["role"] = role
        columns |= {
            "username": _col(table, "username"),
            "userIds": _const(None, n),
            "givenName": _col(table, "first_name"),
            "familyName": _col(table, "last_name"),
            "middleName": _col(table, "middle_name"),
            "identifier": _col(table, "sis_id"),
            "email": _col(table, "email"),
            "sms": _const(None, n),
            "phone": _dashed(_col(table, "phone")),
            "agentSourcedIds": agents if agents is not None else _const(None, n),
            "grades": _col(table, "grade"),
            "password": _const(None, n),
        }
        if version == "1.2":
            columns |= {
                "userMasterIdentifier": _col(table, "state_id"),
                "resourceSourcedIds": _const(None, n),
                "preferredGivenName": _const(None, n),
                "preferredMiddleName": _const(None, n),
                "preferredFamilyName": _const(None, n),
                "primaryOrgSourcedId": _col(table, "school_id"),
                "pronouns": _const(None, n),
            }
            org = pc.list_flatten(school_ids)
            parent = pc.list_parent_indices(school_ids)
            first_of_user = np.asarray(
                _within(np.diff(np.asarray(school_ids.offsets.to_numpy(), dtype=np.int64)).astype(np.int64))
                == 0
            )
            user = _col(table, "person_id").take(parent)
            m = len(org)
            role_tables.append(
                pa.table(
                    {
                        **_record(_join(user, org, sep="-"), m),
                        "userSourcedId": user,
                        "roleType": pc.if_else(pa.array(first_of_user), "primary", "secondary"),
                        "role": role.take(parent),
                        "beginDate": _const(None, m),
                        "endDate": _const(None, m),
                        "orgSourcedId": org,
                        "userProfileSourcedId": _const(None, m),
                    }
                )
            )
        user_tables.append(pa.table(columns))
    written["users.csv"] = _write_csv(pa.concat_tables(user_tables), out / "users.csv")
    if version == "1.2":
        written["roles.csv"] = _write_csv(pa.concat_tables(role_tables), out / "roles.csv")

    # enrollments: students, then teachers (primary = first teacher of the section)
    en = t["enrollments"]
    n = en.num_rows
    teacher_ids = _col(se, "teacher_ids")
    parent = pc.list_parent_indices(teacher_ids)
    teacher = pc.list_flatten(teacher_ids)
    m = len(teacher)
    first_teacher = (
        _within(np.diff(np.asarray(teacher_ids.offsets.to_numpy(), dtype=np.int64)).astype(np.int64)) == 0
    )
    section_of_teacher = _col(se, "section_id").take(parent)
    enrollments = pa.concat_tables(
        [
            pa.table(
                {
                    **_record(_join(_col(en, "section_id"), _col(en, "person_id"), sep="-"), n),
                    "classSourcedId": en["section_id"],
                    "schoolSourcedId": en["school_id"],
                    "userSourcedId": en["person_id"],
                    "role": _const("student", n),
                    "primary": _const("false", n),
                    "beginDate": _const(None, n),
                    "endDate": _const(None, n),
                }
            ),
            pa.table(
                {
                    **_record(_join(section_of_teacher, teacher, sep="-"), m),
                    "classSourcedId": section_of_teacher,
                    "schoolSourcedId": _col(se, "school_id").take(parent),
                    "userSourcedId": teacher,
                    "role": _const("teacher", m),
                    "primary": pc.if_else(pa.array(first_teacher), "true", "false"),
                    "beginDate": _const(None, m),
                    "endDate": _const(None, m),
                }
            ),
        ]
    )
    written["enrollments.csv"] = _write_csv(enrollments, out / "enrollments.csv")

    # demographics: students
    n = st.num_rows
    race = _col(st, "race")
    demo: dict[str, pa.Array] = {
        **_record(_col(st, "person_id"), n),
        "birthDate": _col(st, "birth_date").cast(pa.string()),
        "sex": _col(st, "gender"),
    }
    for column, value in _RACE_FLAGS:
        demo[column] = pc.equal(race, value).cast(pa.string())
    demo |= {
        "hispanicOrLatinoEthnicity": pc.equal(_col(st, "hispanic_latino"), "Y").cast(pa.string()),
        "countryOfBirthCode": _const(None, n),
        "stateOfBirthAbbreviation": _const(None, n),
        "cityOfBirth": _const(None, n),
        "publicSchoolResidenceStatus": _const(None, n),
    }
    written["demographics.csv"] = _write_csv(pa.table(demo), out / "demographics.csv")
    return written
