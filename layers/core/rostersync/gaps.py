"""Silent gaps made visible: records that are valid but that a vendor's product would trip over.

Each check is an alert (the record is kept): a class without a course, a class left without a
teacher (worded "class" or "section" as the admin's file calls it), a school without students, a
contact with neither a phone number nor an email address. The checks run on validated rows (after
errors were left out, records marked tobedeleted removed, and bad phones and emails cleared), so
they describe what will actually be synced and never fire for a removed or unknown record.
Whole-column Arrow kernels, no loop over rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.cleaning import column_issues
from rostersync.formats.arrowops import as_array, encode
from rostersync.formats.raw import RawTable


def record_noun(file: str) -> str:
    """What the admin's file calls a section: "class" in classes.csv (OneRoster, SDS), else
    "section" (Clever's sections.csv)."""
    return "class" if file.lower().startswith("class") else "section"


def section_gaps(raw: RawTable, sections: pa.Table, teachers_file: str | None) -> list[pa.Table]:
    """Sections without a course, and sections without any teacher left."""
    issues: list[pa.Table] = []
    names = sections.column_names
    noun = record_noun(raw.file)
    if "course_id" in names:
        header = raw.source("course_id").column
        issues += column_issues(
            raw,
            sections,
            pc.is_null(sections.column("course_id")),
            "course_id",
            f"This {noun} has no course ({header} is empty); it was kept without a course.",
        )
    if "teacher_ids" in names:
        lists = sections.column("teacher_ids")
        empty = pc.fill_null(pc.equal(pc.list_value_length(lists), 0), True)
        where = f"in {teachers_file} " if teachers_file else ""
        issues += column_issues(
            raw,
            sections,
            empty,
            "section_id",
            f"This {noun} has no teacher: none was sent, or none of its teachers is {where}(or they "
            "were left out because of errors). It was kept without a teacher.",
        )
    return issues


def contact_gaps(raw: RawTable, contacts: pa.Table) -> list[pa.Table]:
    """Contacts with neither a (valid) phone number nor a (valid) email address."""
    names = contacts.column_names
    phone = contacts.column("phone") if "phone" in names else pa.nulls(contacts.num_rows, pa.string())
    email = contacts.column("email") if "email" in names else pa.nulls(contacts.num_rows, pa.string())
    unreachable = pc.and_(pc.is_null(phone), pc.is_null(email))
    return column_issues(
        raw,
        contacts,
        unreachable,
        "person_id",
        "This contact has neither a phone number nor an email address that can be used, so they "
        "cannot be reached; the contact was kept.",
    )


def school_gaps(raw: RawTable, schools: pa.Table, students: pa.Table, students_file: str) -> list[pa.Table]:
    """Schools that no kept student belongs to (by ``school_id`` or ``school_ids``)."""
    if schools.num_rows == 0:
        return []
    parts = [students.column("school_id").drop_null()]
    if "school_ids" in students.column_names:
        parts.append(pc.list_flatten(students.column("school_ids")).drop_null())
    present = pa.concat_arrays([as_array(p).cast(pa.string()) for p in parts])
    # Which schools the students name, looked up in the (small) set of schools rather than
    # building a set of every student's school.
    ids = encode(schools.column("school_id"))
    named = pc.index_in(present, value_set=ids.dictionary).drop_null().to_numpy(zero_copy_only=False)
    used = np.append(np.bincount(named, minlength=len(ids.dictionary)) > 0, False)
    empty = pa.array(~used[ids.codes])
    return column_issues(
        raw,
        schools,
        empty,
        "school_id",
        f"No student in {students_file} belongs to this school (or all of them were left out because "
        "of errors); the school was kept.",
    )
