"""Sets of a known but unsupported format are refused by name, saying what to send instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from rostersync.formats import detect_format
from rostersync.issues import UnknownFormatError

SEND_INSTEAD = (
    "Please send one of the supported formats instead: Clever-style CSV, OneRoster 1.1 or 1.2 CSV "
    "(bulk, with manifest.csv), or Microsoft School Data Sync v2.1 CSV (orgs.csv, users.csv, "
    "roles.csv, ...)."
)


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def _refusal(directory: Path) -> str:
    with pytest.raises(UnknownFormatError) as caught:
        detect_format(directory)
    (problem,) = caught.value.problems
    return problem.message


def test_sds_v1_is_refused_by_name(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "School.csv": "SIS ID,Name\n10001,Maple Valley Elementary\n",
            "Section.csv": "SIS ID,School SIS ID,Section Name\n20001,10001,Math 3\n",
            "Student.csv": "SIS ID,School SIS ID,Username\n30001,10001,mlindqvist\n",
            "Teacher.csv": "SIS ID,School SIS ID,Username\n40001,10001,dokafor\n",
            "StudentEnrollment.csv": "Section SIS ID,SIS ID\n20001,30001\n",
            "TeacherRoster.csv": "Section SIS ID,SIS ID\n20001,40001\n",
        },
    )

    assert _refusal(tmp_path) == (
        "these files (School.csv, Section.csv, Student.csv, Teacher.csv, StudentEnrollment.csv, "
        "TeacherRoster.csv) are Microsoft School Data Sync v1 CSV, which rostersync does not read. "
        "Export SDS v2.1 CSV from your SIS or from SDS instead (orgs.csv, users.csv, roles.csv, "
        "classes.csv, enrollments.csv, and optionally academicSessions.csv, courses.csv, "
        f"relationships.csv, demographics.csv). {SEND_INSTEAD}"
    )


def test_a_lone_singular_file_is_not_taken_for_sds_v1(tmp_path: Path) -> None:
    _write(tmp_path, {"student.csv": "SIS ID,First Name\n1,Ana\n"})

    assert _refusal(tmp_path).startswith("these files match no supported roster format (found: student.csv)")


def test_canvas_sis_import_is_refused_by_name(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "users.csv": "user_id,login_id,first_name,last_name,email,status\n"
            "u1,ana,Ana,Rivera,a@x.org,active\n",
            "accounts.csv": "account_id,parent_account_id,name,status\nA1,,District,active\n",
            "courses.csv": "course_id,short_name,long_name,account_id,term_id,status\n"
            "C1,M3,Math 3,A1,T1,active\n",
            "enrollments.csv": "course_id,user_id,role,section_id,status\nC1,u1,student,,active\n",
        },
    )

    assert _refusal(tmp_path) == (
        "these files are a Canvas SIS import (accounts.csv), which rostersync does not read: Canvas "
        f"imports describe an LMS's courses, not a school roster. {SEND_INSTEAD}"
    )


def test_canvas_is_recognised_from_the_users_header_alone(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "users.csv": "user_id,login_id,first_name,last_name,status\nu1,ana,Ana,Rivera,active\n",
            "enrollments.csv": "course_id,user_id,role,status\nC1,u1,student,active\n",
        },
    )

    assert _refusal(tmp_path).startswith(
        "these files are a Canvas SIS import (users.csv has user_id and login_id)"
    )


def test_oneroster_without_manifest_is_refused_naming_the_missing_manifest(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "orgs.csv": "sourcedId,status,dateLastModified,name,type\nO1,active,,Lincoln,school\n",
            "users.csv": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,"
            "familyName\n"
            "U1,active,,true,O1,student,Ana,Rivera\n",
            "roles.csv": "sourcedId,userSourcedId,roleType,role,orgSourcedId\nR1,U1,primary,student,O1\n",
        },
    )

    assert _refusal(tmp_path) == (
        "these files look like a OneRoster CSV set (users.csv has status; users.csv has datelastmodified; "
        "users.csv has enableduser) but manifest.csv is missing. Send the complete OneRoster export "
        "including manifest.csv (it says which OneRoster version the files are and that they are bulk "
        "files)."
    )


def test_sds_v2_0_is_refused_by_name(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "orgs.csv": "sourcedId,name,type\n10001,Maple Valley Elementary,school\n",
            "users.csv": "sourcedId,orgSourcedIds,givenName,familyName,username,password,role,grade\n"
            "13001,10001,Ora,Klein,oklein@x.org,,Student,6\n",
            "classes.csv": "sourcedId,orgSourcedId,title\n1,10001,Math\n",
            "enrollments.csv": "classSourcedId,userSourcedId,role\n1,13001,student\n",
        },
    )

    assert _refusal(tmp_path).startswith(
        "these files look like Microsoft School Data Sync v2.0 CSV (users.csv has role and orgSourcedIds, "
        "there is no roles.csv), which Microsoft retired in 2022"
    )


def test_unknown_set_lists_what_sds_needs(tmp_path: Path) -> None:
    _write(tmp_path, {"people.csv": "id,name\n1,Ana\n"})

    assert "Microsoft School Data Sync v2.1 CSV needs orgs.csv, users.csv, roles.csv" in _refusal(tmp_path)
