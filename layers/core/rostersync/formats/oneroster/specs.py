"""The files of a OneRoster 1.1 / 1.2 CSV bulk set: their documented headers and vocabularies.

Required headers are those the IMS CSV binding marks required and this product reads. Headers
documented but not used are accepted silently, as are ``metadata.*`` extension columns.
"""

from __future__ import annotations

from rostersync.formats.csvio import FileSpec

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
    categorical=("school_id", "primary"),
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
    # OneRoster 1.0 named the key userSourcedId; both are read (the old name with an alert).
    columns={
        "sourcedId": "person_id",
        "userSourcedId": "person_id",
        **_STATUS,
        "birthDate": "birth_date",
        "sex": "gender",
    },
    required=(),
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
