"""The files of a Microsoft School Data Sync v2.1 CSV set: documented headers and values.

Taken from Microsoft's SDS v2.1 CSV file format and "default list of values" pages and its sample
set (github.com/OfficeDev/O365-EDU-Tools, "CSV Samples/SDS v2.1"); the reader is ``sds.py``.
"""

from __future__ import annotations

from rostersync.formats.csvio import FileSpec

# Documented values (Microsoft's "default list of values" for SDS v2.1), lower-cased: values
# are matched case-insensitively.
ORG_TYPES = (
    "school",
    "district",
    "department",
    "local",
    "state",
    "national",
    "ministryofeducation",
    "localauthority",
    "university",
    "region",
    "college",
    "division",
    "campus",
    "province",
    "adulteducation",
    "researchcenter",
    "municipality",
    "program",
    "departmentofeducation",
    "academictrust",
)
USER_ROLES = (
    "principal",
    "chair",
    "professor",
    "researcher",
    "adjunct",
    "affiliate",
    "occupationaltherapist",
    "physicaltherapist",
    "speechtherapist",
    "visiontherapist",
    "paraprofessional",
    "specialservices",
    "advisor",
    "proctor",
    "nurse",
    "officestaff",
    "lecturer",
    "itadmin",
    "administrator",
    "teacher",
    "faculty",
    "staff",
    "teacherassistant",
    "assistant",
    "instructor",
    "substitute",
    "coach",
    "alumni",
    "student",
    "other",
)
RELATIONSHIP_ROLES = ("Parent", "Guardian", "Relative", "Other", "Doctor", "Aide")
SESSION_TYPES = ("schoolYear", "semester", "term", "gradingPeriod", "quarter")
SEXES = ("male", "female", "other", "unspecified")
ENROLLMENT_ROLES = ("student", "teacher")
# A guardian's organisation role when it has one (SDS asks for a role row for every user).
CONTACT_ONLY_ROLE = "other"

ORGS = FileSpec(
    "orgs.csv",
    columns={"sourcedId": "org_id", "name": "name", "type": "type", "parentSourcedId": "parent_id"},
    required=("sourcedId", "name", "type"),
)
USERS = FileSpec(
    "users.csv",
    columns={
        "sourcedId": "person_id",
        "username": "username",
        "givenName": "first_name",
        "familyName": "last_name",
        "email": "email",
        "phone": "phone",
        "sms": "sms",
    },
    required=("sourcedId", "username", "givenName", "familyName"),
    ignored=("password", "activeDirectoryMatchId"),
)
ROLES = FileSpec(
    "roles.csv",
    columns={
        "userSourcedId": "user_id",
        "orgSourcedId": "org_id",
        "role": "role",
        "grade": "grade",
        "isPrimary": "is_primary",
    },
    required=("userSourcedId", "orgSourcedId", "role"),
    ignored=("sessionSourcedId", "roleStartDate", "roleEndDate"),
)
CLASSES = FileSpec(
    "classes.csv",
    columns={
        "sourcedId": "section_id",
        "orgSourcedId": "org_id",
        "title": "name",
        "sessionSourcedIds": "terms",
        "courseSourcedId": "course_id",
        "code": "section_number",
    },
    required=("sourcedId", "orgSourcedId", "title"),
)
ENROLLMENTS = FileSpec(
    "enrollments.csv",
    columns={"classSourcedId": "section_id", "userSourcedId": "person_id", "role": "role"},
    required=("classSourcedId", "userSourcedId", "role"),
)
ACADEMIC_SESSIONS = FileSpec(
    "academicSessions.csv",
    columns={
        "sourcedId": "term_id",
        "title": "name",
        "type": "type",
        "startDate": "start_date",
        "endDate": "end_date",
    },
    required=("sourcedId", "title", "type", "startDate", "endDate"),
    ignored=("schoolYear",),
)
COURSES = FileSpec(
    "courses.csv",
    columns={
        "sourcedId": "course_id",
        "orgSourcedId": "org_id",
        "title": "name",
        "code": "course_code",
        "subject": "subject",
        "grade": "grades",
    },
    required=("sourcedId", "orgSourcedId", "title"),
    ignored=("schoolYearSourcedId",),
)
RELATIONSHIPS = FileSpec(
    "relationships.csv",
    columns={
        "userSourcedId": "student_id",
        "relationshipUserSourcedId": "contact_id",
        "relationshipRole": "relationship",
    },
    required=("userSourcedId", "relationshipUserSourcedId", "relationshipRole"),
)
DEMOGRAPHICS = FileSpec(
    "demographics.csv",
    columns={"userSourcedId": "person_id", "sex": "gender", "birthDate": "birth_date"},
    required=("userSourcedId",),
    ignored=("birthCity", "birthState", "birthCountry", "ethnicityCodes", "raceCodes"),
)

REQUIRED_FILES = (ORGS, USERS, ROLES)
CLASS_FILES = (CLASSES, ENROLLMENTS)
OPTIONAL_FILES = (ACADEMIC_SESSIONS, COURSES, RELATIONSHIPS, DEMOGRAPHICS)
# Accepted in a set and not read (flags for Microsoft 365 features).
UNREAD_FILES = ("userFlags.csv",)
