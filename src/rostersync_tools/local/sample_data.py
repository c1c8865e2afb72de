"""Small roster data sets shaped as the sources document them (Clever v3 records, OneRoster 1.1
REST records): what the local sample sources serve (``rostersync serve --with-sample-sources``,
:mod:`rostersync_tools.local.sample_sources`), shared with the connector tests and the pipeline
integration tests."""

from __future__ import annotations

from typing import Any


def _user(uid: str, first: str, last: str, email: str | None, roles: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": uid,
        "district": "d0000001",
        "name": {"first": first, "last": last},
        "roles": roles,
    }
    if email:
        user["email"] = email
    return user


def clever_district(students_per_school: int = 6) -> dict[str, Any]:
    """Two schools, a term, two courses, three sections, students, teachers, staff and contacts."""
    schools = [
        {
            "id": "sch1",
            "name": "North Elementary",
            "school_number": "101",
            "low_grade": "1",
            "high_grade": "5",
        },
        {"id": "sch2", "name": "South Middle", "school_number": "102", "low_grade": "6", "high_grade": "8"},
    ]
    terms = [
        {
            "id": "term1",
            "district": "d0000001",
            "name": "2024-25",
            "start_date": "2024-08-20",
            "end_date": "2025-06-10",
        }
    ]
    courses = [
        {"id": "crs1", "district": "d0000001", "name": "Math 3", "number": "M3"},
        {"id": "crs2", "district": "d0000001", "name": "Science 7", "number": "S7"},
    ]
    teachers = [
        _user(
            "t1",
            "Ada",
            "Lovelace",
            "ada@fake.k12.us",
            {"teacher": {"sis_id": "T-1", "school": "sch1", "schools": ["sch1"], "title": "Teacher"}},
        ),
        _user(
            "t2",
            "Alan",
            "Turing",
            "alan@fake.k12.us",
            {"teacher": {"sis_id": "T-2", "school": "sch2", "schools": ["sch2", "sch1"]}},
        ),
        _user(
            "t3",
            "Grace",
            "Hopper",
            "grace@fake.k12.us",
            {"teacher": {"sis_id": "T-3", "school": "sch2", "schools": ["sch2"]}},
        ),
    ]
    students = []
    for s, school in enumerate(("sch1", "sch2")):
        for i in range(students_per_school):
            n = s * students_per_school + i + 1
            students.append(
                _user(
                    f"s{n}",
                    f"Kid{n}",
                    "Student",
                    None,
                    {
                        "student": {
                            "sis_id": f"S-{n}",
                            "student_number": f"{1000 + n}",
                            "school": school,
                            "schools": [school],
                            "grade": "3" if school == "sch1" else "7",
                            "dob": f"3/{n}/2015",
                            "gender": "F" if n % 2 else "M",
                        }
                    },
                )
            )
    staff = [
        _user(
            "st1",
            "Pat",
            "Office",
            "pat@fake.k12.us",
            {"staff": {"staff_id": "ST-1", "title": "Clerk", "schools": ["sch1", "sch2"]}},
        )
    ]
    contacts = [
        # sis_id: keyed by it.
        {
            "id": "c-a1",
            "district": "d0000001",
            "email": "mom1@example.com",
            "name": {"last": "Mary Parent"},
            "roles": {
                "contact": {
                    "sis_id": "P-1",
                    "phone": "(555) 010-0001",
                    "phone_type": "Cell",
                    "student_relationships": [
                        {"student": "s1", "relationship": "Parent", "type": "Parent/Guardian"},
                        {"student": "s2", "relationship": "Parent", "type": "Parent/Guardian"},
                    ],
                }
            },
        },
        # no sis_id, an email: keyed by email.
        {
            "id": "c-b7",
            "district": "d0000001",
            "email": "Dad2@Example.com",
            "name": {"last": "John Guardian"},
            "roles": {
                "contact": {
                    "phone": "555-010-0002",
                    "student_relationships": [
                        {"student": "s7", "relationship": "Grandparent", "type": "Emergency"}
                    ],
                }
            },
        },
        # no sis_id, no email: name + phone.
        {
            "id": "c-c9",
            "district": "d0000001",
            "name": {"last": "Ann Aunt"},
            "roles": {
                "contact": {
                    "phone": "555 010 0003",
                    "student_relationships": [
                        {"student": "s8", "relationship": "Aunt/Uncle", "type": "Family"}
                    ],
                }
            },
        },
    ]
    sections = [
        {
            "id": "sec1",
            "school": "sch1",
            "course": "crs1",
            "term_id": "term1",
            "name": "Math 3 A",
            "section_number": "1",
            "subject": "math",
            "grade": "3",
            "period": "1",
            "teacher": "t1",
            "teachers": ["t2", "t1"],
            "students": [u["id"] for u in students[:students_per_school]],
        },
        {
            "id": "sec2",
            "school": "sch2",
            "course": "crs2",
            "term_id": "term1",
            "name": "Science 7 A",
            "section_number": "1",
            "subject": "science",
            "grade": "7",
            "period": "2",
            "teacher": "t2",
            "teachers": ["t2", "t3"],
            "students": [u["id"] for u in students[students_per_school:]],
        },
        {
            "id": "sec3",
            "school": "sch2",
            "course": "crs2",
            "term_id": "term1",
            "name": "Science 7 B",
            "section_number": "2",
            "subject": "science",
            "grade": "7",
            "period": "3",
            "teacher": "t3",
            "teachers": ["t3"],
            "students": [u["id"] for u in students[students_per_school : students_per_school + 2]],
        },
    ]
    return {
        "district": {"id": "d0000001", "name": "Fake USD", "state": "running"},
        "data": {"schools": schools, "terms": terms, "courses": courses, "sections": sections},
        "users": {"student": students, "teacher": teachers, "staff": staff, "contact": contacts},
    }


def oneroster_collections() -> dict[str, list[dict[str, Any]]]:
    """A small OneRoster 1.1 data set as the REST binding returns it."""

    def ref(sid: str, kind: str) -> dict[str, str]:
        return {"href": f"/{kind}s/{sid}", "sourcedId": sid, "type": kind}

    orgs: list[dict[str, Any]] = [
        {"sourcedId": "dist", "status": "active", "name": "Fake USD", "type": "district"},
        {
            "sourcedId": "org1",
            "status": "active",
            "name": "North ES",
            "type": "school",
            "identifier": "101",
            "parent": ref("dist", "org"),
        },
        {
            "sourcedId": "org2",
            "status": "active",
            "name": "South MS",
            "type": "school",
            "identifier": "102",
            "parent": ref("dist", "org"),
        },
    ]
    users: list[dict[str, Any]] = [
        {
            "sourcedId": "u-t1",
            "status": "active",
            "enabledUser": True,
            "role": "teacher",
            "givenName": "Ada",
            "familyName": "Lovelace",
            "email": "ada@fake.k12.us",
            "identifier": "T-1",
            "orgs": [ref("org1", "org")],
            "agents": [],
            "grades": [],
        },
    ]
    for n in range(1, 9):
        org = "org1" if n <= 4 else "org2"
        users.append(
            {
                "sourcedId": f"u-s{n}",
                "status": "active",
                "enabledUser": True,
                "role": "student",
                "givenName": f"Kid{n}",
                "familyName": "Student",
                "identifier": f"S-{n}",
                "orgs": [ref(org, "org")],
                "agents": [ref("u-p1", "user")] if n == 1 else [],
                "grades": ["03"],
            }
        )
    users.append(
        {
            "sourcedId": "u-p1",
            "status": "active",
            "enabledUser": True,
            "role": "guardian",
            "givenName": "Mary",
            "familyName": "Parent",
            "email": "mom1@example.com",
            "orgs": [ref("org1", "org")],
            "agents": [ref("u-s1", "user")],
        }
    )
    sessions: list[dict[str, Any]] = [
        {
            "sourcedId": "as1",
            "status": "active",
            "title": "2024-25",
            "type": "schoolYear",
            "startDate": "2024-08-20",
            "endDate": "2025-06-10",
        }
    ]
    courses: list[dict[str, Any]] = [
        {
            "sourcedId": "c1",
            "status": "active",
            "title": "Math",
            "courseCode": "M",
            "org": ref("dist", "org"),
            "grades": ["03"],
            "subjects": ["math"],
        }
    ]
    classes: list[dict[str, Any]] = [
        {
            "sourcedId": "cl1",
            "status": "active",
            "title": "Math A",
            "classCode": "1",
            "classType": "scheduled",
            "course": ref("c1", "course"),
            "school": ref("org1", "org"),
            "terms": [ref("as1", "academicSession")],
            "grades": ["03"],
            "subjects": ["math"],
            "periods": ["1"],
        },
        {
            "sourcedId": "cl2",
            "status": "active",
            "title": "Math B",
            "classCode": "2",
            "classType": "scheduled",
            "course": ref("c1", "course"),
            "school": ref("org2", "org"),
            "terms": [ref("as1", "academicSession")],
            "periods": ["2"],
        },
    ]
    enrollments: list[dict[str, Any]] = [
        {
            "sourcedId": "e-t1",
            "status": "active",
            "role": "teacher",
            "primary": True,
            "user": ref("u-t1", "user"),
            "class": ref("cl1", "class"),
            "school": ref("org1", "org"),
        },
    ]
    for n in range(1, 9):
        cls, org = ("cl1", "org1") if n <= 4 else ("cl2", "org2")
        enrollments.append(
            {
                "sourcedId": f"e-s{n}",
                "status": "active",
                "role": "student",
                "primary": False,
                "user": ref(f"u-s{n}", "user"),
                "class": ref(cls, "class"),
                "school": ref(org, "org"),
            }
        )
    demographics: list[dict[str, Any]] = [
        {"sourcedId": "u-s1", "status": "active", "birthDate": "2015-03-01", "sex": "female"}
    ]
    return {
        "orgs": orgs,
        "academicSessions": sessions,
        "courses": courses,
        "classes": classes,
        "users": users,
        "enrollments": enrollments,
        "demographics": demographics,
    }
