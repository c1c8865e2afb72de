"""The next nightly sync derived from a district: removals, additions, changes, edge cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_tools.synthetic.arrowkit import (
    _col,
    _digits,
    _index_of,
    _join,
    _level_of,
    _phones,
    _pick,
    _rng,
    _slug,
    _strings,
)
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.generator import _make_contacts, _make_enrollments, _make_students
from rostersync_tools.synthetic.vocab import (
    CONTACT_TYPE_VALUES,
    ENROLLMENTS_PER_STUDENT,
    GRADE_CODES,
    LAST_NAMES,
    Bools,
    Ints,
)

# ---------------------------------------------------------------------------------------------
# Deriving the next day and demo scenarios


def _school_index(district: SyntheticDistrict, school_ids: pa.Array | pa.ChunkedArray) -> Ints:
    return _index_of(school_ids, _col(district.tables["schools"], "school_id"))


def _remove_students(district: SyntheticDistrict, remove: Bools) -> SyntheticDistrict:
    """Drop students (mask over the students table), their enrollments and contact links, and
    contacts no longer linked to any student."""
    t = district.tables
    students = t["students"]
    gone = _col(students, "person_id").filter(pa.array(remove))
    keep_links = pc.invert(pc.is_in(t["contact_links"].column("student_id"), value_set=gone))
    links = t["contact_links"].filter(keep_links)
    still_linked = pc.unique(_col(links, "contact_id"))
    contacts = t["contacts"].filter(pc.is_in(t["contacts"].column("person_id"), value_set=still_linked))
    enrollments = t["enrollments"].filter(
        pc.invert(pc.is_in(t["enrollments"].column("person_id"), value_set=gone))
    )
    return district.replace_tables(
        students=students.filter(pa.array(~remove)),
        contact_links=links,
        contacts=contacts,
        enrollments=enrollments,
    )


def _add_students(
    district: SyntheticDistrict, rng: np.random.Generator, n: int, *, per_student: int
) -> SyntheticDistrict:
    """``n`` new students in existing schools (weighted by current size), with new contacts and
    enrollments in existing sections."""
    if n <= 0:
        return district
    t = district.tables
    schools = t["schools"]
    current = (
        np.bincount(
            _school_index(district, t["students"].column("school_id")), minlength=schools.num_rows
        ).astype(np.float64)
        + 1.0
    )
    school_of = np.sort(rng.choice(schools.num_rows, size=n, p=current / current.sum()))
    low = _level_of(_col(schools, "low_grade"))[school_of]
    high = _level_of(_col(schools, "high_grade"))[school_of]
    level = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    numbers = district.next_student_number + np.arange(n, dtype=np.int64)
    new = _make_students(
        rng,
        numbers,
        school_of,
        level,
        _col(schools, "school_id"),
        district.school_year,
        district.domain,
    )
    none = np.zeros(0, dtype=np.int64)
    contacts, links = _make_contacts(
        rng,
        new,
        np.arange(n, dtype=np.int64),
        none,
        none,
        district.next_contact_number,
        district.area_codes,
    )
    enrollments = _make_enrollments(rng, new, school_of, level, t["sections"], schools, per_student)
    return dataclasses.replace(
        district,
        tables={
            **t,
            "students": pa.concat_tables([t["students"], new]),
            "contacts": pa.concat_tables([t["contacts"], contacts]),
            "contact_links": pa.concat_tables([t["contact_links"], links]),
            "enrollments": pa.concat_tables([t["enrollments"], enrollments]),
        },
        next_student_number=district.next_student_number + n,
        next_contact_number=district.next_contact_number + contacts.num_rows,
    )


def _set_column(table: pa.Table, name: str, rows: Ints, values: pa.Array) -> pa.Table:
    """``table`` with ``name`` replaced by ``values`` at ``rows`` (sorted, distinct)."""
    mask = np.zeros(table.num_rows, dtype=np.bool_)
    mask[rows] = True
    column = pc.replace_with_mask(_col(table, name), pa.array(mask), values)
    return table.set_column(table.schema.get_field_index(name), name, column)


def _change_students(district: SyntheticDistrict, rng: np.random.Generator, rows: Ints) -> SyntheticDistrict:
    """Change one field of each student at ``rows``: last name, email, grade, or the phone of
    the student's first contact (email instead for a student without contacts)."""
    t = district.tables
    students, contacts, links = t["students"], t["contacts"], t["contact_links"]
    kind = rng.integers(0, 4, len(rows))
    ids = _col(students, "person_id")
    first_link = _index_of(ids.take(pa.array(rows)), _col(links, "student_id"))
    kind = np.where((kind == 3) & (first_link < 0), 1, kind)

    name_rows = np.sort(rows[kind == 0])
    old_last = _index_of(_col(students, "last_name").take(pa.array(name_rows)), _strings(LAST_NAMES))
    shift = rng.integers(1, len(LAST_NAMES), len(name_rows))
    students = _set_column(
        students,
        "last_name",
        name_rows,
        _pick(LAST_NAMES, (np.maximum(old_last, 0) + shift) % len(LAST_NAMES)),
    )

    email_rows = np.sort(rows[kind == 1])
    picked = students.take(pa.array(email_rows))
    new_email = _join(
        _join(_slug(_col(picked, "first_name")), _slug(_col(picked, "last_name")), sep="."),
        _col(picked, "sis_id"),
        "@students." + district.domain,
    )
    students = _set_column(students, "email", email_rows, new_email)

    grade_rows = np.sort(rows[kind == 2])
    schools = t["schools"]
    school = _school_index(district, _col(students, "school_id").take(pa.array(grade_rows)))
    high = _level_of(_col(schools, "high_grade"))[school]
    low = _level_of(_col(schools, "low_grade"))[school]
    level = _level_of(_col(students, "grade").take(pa.array(grade_rows)))
    level = np.where(level < high, level + 1, np.maximum(level - 1, low))
    students = _set_column(students, "grade", grade_rows, _pick(GRADE_CODES, level + 1))
    students = _set_column(
        students,
        "graduation_year",
        grade_rows,
        _digits(district.school_year + 13 - np.maximum(level, 0)),
    )

    # Phone: the first contact of the student (shared contacts change for all their students).
    contact_ids = _col(links, "contact_id").take(pa.array(first_link[kind == 3]))
    phone_rows = np.unique(_index_of(contact_ids, _col(contacts, "person_id")))
    contacts = _set_column(contacts, "phone", phone_rows, _phones(rng, len(phone_rows), district.area_codes))
    old_type = _col(contacts, "phone_type").take(pa.array(phone_rows))
    contacts = _set_column(contacts, "phone_type", phone_rows, pc.fill_null(old_type, "Cell"))
    return district.replace_tables(students=students, contacts=contacts)


def make_day2(
    district: SyntheticDistrict,
    *,
    seed: int,
    removed: float = 0.02,
    added: float = 0.03,
    changed: float = 0.05,
    enrollments_per_student: int = ENROLLMENTS_PER_STUDENT,
) -> SyntheticDistrict:
    """The next nightly sync: ``removed`` of the students leave (with their enrollments and
    contact links; contacts left without a student go too), ``added`` new students arrive (with
    contacts and enrollments), and ``changed`` of the remaining students have one field changed
    (last name, email, grade, or the phone of their first contact). Fractions are of the current
    student count and are applied exactly (rounded)."""
    for label, value in (("removed", removed), ("added", added), ("changed", changed)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be a fraction between 0 and 1")
    rng = _rng(district.seed, seed, 2)
    n = district.tables["students"].num_rows
    n_remove, n_add = round(n * removed), round(n * added)
    n_change = min(round(n * changed), n - n_remove)
    picked = rng.permutation(n)
    remove = np.zeros(n, dtype=np.bool_)
    remove[picked[:n_remove]] = True
    change = np.zeros(n, dtype=np.bool_)
    change[picked[n_remove : n_remove + n_change]] = True

    day2 = _change_students(district, rng, np.flatnonzero(change).astype(np.int64))
    day2 = _remove_students(day2, remove)
    day2 = _add_students(day2, rng, n_add, per_student=enrollments_per_student)
    return dataclasses.replace(day2, generation=district.generation + 1)


def drop_school_students(
    district: SyntheticDistrict, school_id: str, fraction: float = 0.8, *, seed: int = 0
) -> SyntheticDistrict:
    """The end-of-term mistake: ``school_id`` loses ``fraction`` of its students (with their
    enrollments, links and orphaned contacts), which should trip ``mass_removal``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be between 0 and 1")
    students = district.tables["students"]
    in_school = np.flatnonzero(
        np.asarray(pc.equal(students.column("school_id"), school_id).to_numpy(), dtype=np.bool_)
    )
    if len(in_school) == 0:
        raise ValueError(f"no students in school {school_id!r}")
    rng = _rng(district.seed, seed, 3)
    chosen = rng.choice(in_school, size=round(len(in_school) * fraction), replace=False)
    remove = np.zeros(students.num_rows, dtype=np.bool_)
    remove[chosen] = True
    return _remove_students(district, remove)


def add_emergency_contacts(
    district: SyntheticDistrict,
    school_id: str,
    n: int,
    *,
    per_student: int = 1,
    contact_type: str = "Emergency",
    seed: int = 0,
) -> SyntheticDistrict:
    """``n`` new contacts of ``contact_type`` for students of ``school_id``, ``per_student`` each
    (the last student may get fewer), appended after each student's existing contacts. Trips
    ``emergency_contacts``; with ``per_student`` of 3 or more it also trips
    ``too_many_contacts`` for students who already had 3 or more."""
    if n < 0 or per_student < 1:
        raise ValueError("n must be >= 0 and per_student >= 1")
    if contact_type not in CONTACT_TYPE_VALUES:
        raise ValueError(f"contact_type must be one of {', '.join(CONTACT_TYPE_VALUES)}")
    t = district.tables
    students = t["students"]
    in_school = np.flatnonzero(
        np.asarray(pc.equal(students.column("school_id"), school_id).to_numpy(), dtype=np.bool_)
    )
    n_students = -(-n // per_student)
    if n_students > len(in_school):
        raise ValueError(f"school {school_id!r} has only {len(in_school)} students")
    rng = _rng(district.seed, seed, 4)
    chosen = np.sort(rng.choice(in_school, size=n_students, replace=False)).astype(np.int64)
    counts = np.full(n_students, per_student, dtype=np.int64)
    if n_students:
        counts[-1] = n - per_student * (n_students - 1)
    none = np.zeros(0, dtype=np.int64)
    contacts, links = _make_contacts(
        rng,
        students,
        chosen,
        none,
        none,
        district.next_contact_number,
        district.area_codes,
        counts=counts,
        contact_type=contact_type,
    )
    # Keep each student's links together: existing first, then the new ones.
    all_links = pa.concat_tables([t["contact_links"], links])
    student_row = _index_of(_col(all_links, "student_id"), _col(students, "person_id"))
    order = np.lexsort((np.arange(all_links.num_rows), student_row))
    return dataclasses.replace(
        district,
        tables={
            **t,
            "contacts": pa.concat_tables([t["contacts"], contacts]),
            "contact_links": all_links.take(pa.array(order)),
        },
        next_contact_number=district.next_contact_number + contacts.num_rows,
    )
