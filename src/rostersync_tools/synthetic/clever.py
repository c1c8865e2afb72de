"""A synthetic district as a Clever-style CSV set."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync_tools.synthetic.arrowkit import _col, _dashed, _index_of, _join, _strings
from rostersync_tools.synthetic.csvout import (
    _clever_grade,
    _list_slot,
    _lookup,
    _student_contact_rows,
    _us_date,
    _write_csv,
)
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.vocab import SEXES


def write_clever_csv(
    district: SyntheticDistrict, directory: str | Path, *, staff: bool = True
) -> dict[str, Path]:
    """Write the district as a Clever-style CSV set (schools, students with one row per contact,
    teachers, sections, enrollments, and staff unless ``staff`` is false)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    t = district.tables
    written: dict[str, Path] = {}

    s = t["schools"]
    written["schools.csv"] = _write_csv(
        pa.table(
            {
                "School_id": s["school_id"],
                "School_name": s["name"],
                "School_number": s["school_number"],
                "State_id": s["state_id"],
                "Low_grade": _clever_grade(_col(s, "low_grade")),
                "High_grade": _clever_grade(_col(s, "high_grade")),
                "Principal": s["principal"],
                "Principal_email": s["principal_email"],
                "School_address": s["address"],
                "School_city": s["city"],
                "School_state": s["state"],
                "School_zip": s["zip"],
                "School_phone": _dashed(s["phone"]),
            }
        ),
        out / "schools.csv",
    )

    # Format per student and per contact, then expand to one row per contact with two takes.
    st = t["students"]
    per_student = pa.table(
        {
            "School_id": st["school_id"],
            "Student_id": st["person_id"],
            "Student_number": st["sis_id"],
            "State_id": st["state_id"],
            "Last_name": st["last_name"],
            "Middle_name": st["middle_name"],
            "First_name": st["first_name"],
            "Grade": _clever_grade(_col(st, "grade")),
            "Gender": _strings(["F", "M", "X"]).take(
                pc.index_in(_col(st, "gender"), value_set=_strings(SEXES))
            ),
            "Graduation_year": st["graduation_year"],
            "DOB": _us_date(_col(st, "birth_date")),
            "Race": st["race"],
            "Hispanic_Latino": st["hispanic_latino"],
            "Home_language": st["home_language"],
            "Ell_status": st["ell_status"],
            "Frl_status": st["frl_status"],
            "IEP_status": st["iep_status"],
            "Student_email": st["email"],
            "Username": st["username"],
        }
    )
    lk, co = t["contact_links"], t["contacts"]
    contact_at = _index_of(_col(lk, "contact_id"), _col(co, "person_id"))
    ct = co.take(pa.array(contact_at, mask=contact_at < 0))
    per_link = pa.table(
        {
            "Contact_name": _join(_col(ct, "first_name"), _col(ct, "last_name"), sep=" "),
            "Contact_type": lk["contact_type"],
            "Contact_relationship": lk["relationship"],
            "Contact_phone": _dashed(ct["phone"]),
            "Contact_phone_type": ct["phone_type"],
            "Contact_email": ct["email"],
            "Contact_sis_id": lk["contact_id"],
        }
    )
    del ct
    student_rep, link_at = _student_contact_rows(district)
    rows = per_student.take(student_rep)
    for name, column in zip(per_link.column_names, per_link.take(link_at).columns, strict=True):
        rows = rows.append_column(name, column)
    written["students.csv"] = _write_csv(rows, out / "students.csv")
    del rows, per_student, per_link

    te = t["teachers"]
    written["teachers.csv"] = _write_csv(
        pa.table(
            {
                "School_id": te["school_id"],
                "Teacher_id": te["person_id"],
                "Teacher_number": te["sis_id"],
                "State_teacher_id": te["state_id"],
                "Teacher_email": te["email"],
                "First_name": te["first_name"],
                "Middle_name": te["middle_name"],
                "Last_name": te["last_name"],
                "Title": te["title"],
                "Username": te["username"],
            }
        ),
        out / "teachers.csv",
    )

    if staff:
        sf = t["staff"]
        written["staff.csv"] = _write_csv(
            pa.table(
                {
                    "School_id": sf["school_id"],
                    "Staff_id": sf["person_id"],
                    "Staff_email": sf["email"],
                    "First_name": sf["first_name"],
                    "Last_name": sf["last_name"],
                    "Department": sf["department"],
                    "Title": sf["title"],
                    "Username": sf["username"],
                }
            ),
            out / "staff.csv",
        )

    se = t["sections"]
    teacher_ids = _col(se, "teacher_ids")
    course_id = _col(se, "course_id")
    term_id = _col(se, "term_id")
    terms = t["terms"]
    written["sections.csv"] = _write_csv(
        pa.table(
            {
                "School_id": se["school_id"],
                "Section_id": se["section_id"],
                "Teacher_id": _list_slot(teacher_ids, 0),
                "Teacher_2_id": _list_slot(teacher_ids, 1),
                "Teacher_3_id": _list_slot(teacher_ids, 2),
                "Teacher_4_id": _list_slot(teacher_ids, 3),
                "Name": se["name"],
                "Section_number": se["section_number"],
                "Grade": _clever_grade(_col(se, "grade")),
                "Course_name": _lookup(course_id, t["courses"], "course_id", "name"),
                "Course_number": _lookup(course_id, t["courses"], "course_id", "course_code"),
                "Period": se["period"],
                "Subject": se["subject"],
                "Term_name": _lookup(term_id, terms, "term_id", "name"),
                "Term_start": _us_date(_lookup(term_id, terms, "term_id", "start_date")),
                "Term_end": _us_date(_lookup(term_id, terms, "term_id", "end_date")),
            }
        ),
        out / "sections.csv",
    )

    en = t["enrollments"]
    written["enrollments.csv"] = _write_csv(
        pa.table(
            {
                "School_id": en["school_id"],
                "Section_id": en["section_id"],
                "Student_id": en["person_id"],
            }
        ),
        out / "enrollments.csv",
    )
    return written
