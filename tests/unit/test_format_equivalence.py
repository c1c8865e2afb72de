"""A format switch diffs to zero changes.

Property: any district the synthetic generator writes as Clever-style CSV, re-expressed as
OneRoster 1.1, OneRoster 1.2 and Microsoft SDS v2.1 CSV, reads (read -> validate) into the same
canonical tables, compared row by row sorted by key, grades and sex included (normalised to the
canonical vocabulary; only the ``*_raw`` columns keep each format's spelling). Fields a format
genuinely cannot carry are listed below, per format and table, each with the reason; nothing
else is left out.

Every format also reports the same facts: the same issues, told apart only by the file they
name. A generated district is valid, so the only issues are the gap alerts its data really has:
a contact with neither phone nor email (the generator leaves ~12% of emails and ~3% of phones
blank, as real SIS exports do) and, in a tiny district, a school that drew no students (grades
are drawn first, then a school offering the grade, so with 2 students in 3 schools one can be
empty). Both are derived here from the generated tables, independently of any reader.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rostersync.formats import load_roster
from rostersync.model import ENTITY_BY_NAME, conform
from rostersync.roster import RosterSet
from rostersync_tools.synthetic import (
    SyntheticDistrict,
    generate_district,
    write_clever_csv,
    write_oneroster_csv,
    write_sds_csv,
)

# Clever-style fields OneRoster (1.1 and 1.2) has no column for, or a coarser vocabulary.
ONEROSTER_CANNOT_CARRY: dict[str, set[str]] = {
    # orgs.csv has a name and an identifier only.
    "schools": {"state_id", "low_grade", "high_grade", "phone"},
    # academicSessions.csv has no school (Clever terms are per school); Clever has no term type or
    # parent (so OneRoster's are extra information, not a difference the other way round).
    "terms": {"school_id", "type", "parent_id"},
    # users.csv has no title; OneRoster staff carry their role (administrator, principal...).
    "teachers": {"title"},
    # Clever staff.csv has no staff number (OneRoster carries identifier); title as for teachers.
    "staff": {"title", "sis_id"},
    # users.csv has no phone type.
    "contacts": {"phone_type"},
    # The relationship is the guardian's role (parent / guardian / relative): Grandparent, Aunt/Uncle
    # and Sibling all become Relative; OneRoster has no contact type.
    "contact_links": {"relationship", "contact_type"},
}
# OneRoster 1.1 users.csv has no state ID column (1.2 has userMasterIdentifier).
ONEROSTER_11_CANNOT_CARRY: dict[str, set[str]] = {"students": {"state_id"}, "teachers": {"state_id"}}
# What SDS v2.1 lacks on top of what OneRoster lacks.
SDS_CANNOT_CARRY: dict[str, set[str]] = {
    # orgs.csv has no identifier.
    "schools": {"school_number"},
    # users.csv has no SIS number, state ID or middle name.
    "students": {"sis_id", "state_id", "middle_name"},
    "teachers": {"sis_id", "state_id", "middle_name"},
    # No identifier; SDS requires a username for guardians (their email), Clever has none.
    "contacts": {"sis_id", "username"},
    # classes.csv has no subject, grade or period.
    "sections": {"subject", "grade", "period"},
}
# Normalised to the canonical vocabulary (Clever's "Kindergarten"/"F" and OneRoster's
# "KG"/"female" read the same): compared for every format that carries them.
VOCABULARY_COLUMNS: dict[str, set[str]] = {
    "students": {"grade", "gender"},
    "sections": {"grade"},
    "courses": {"grades"},
}
# The gap alerts of rostersync/gaps.py a generated district can raise; {file} is the file the
# format sends the people in (students.csv for Clever, users.csv for OneRoster and SDS).
NO_STUDENTS = (
    "No student in {file} belongs to this school (or all of them were left out because of errors); "
    "the school was kept."
)
UNREACHABLE = (
    "This contact has neither a phone number nor an email address that can be used, so they cannot "
    "be reached; the contact was kept."
)
FILE_NAME = re.compile(r"\b\w+\.csv\b")


def _merge(*maps: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in maps:
        for table, columns in m.items():
            out[table] = out.get(table, set()) | columns
    return out


WRITERS: dict[str, tuple[Callable[[SyntheticDistrict, Path], Any], dict[str, set[str]]]] = {
    "oneroster_1.1": (
        lambda d, p: write_oneroster_csv(d, p, "1.1"),
        _merge(ONEROSTER_CANNOT_CARRY, ONEROSTER_11_CANNOT_CARRY),
    ),
    "oneroster_1.2": (lambda d, p: write_oneroster_csv(d, p, "1.2"), _merge(ONEROSTER_CANNOT_CARRY)),
    "sds_2.1": (write_sds_csv, _merge(ONEROSTER_CANNOT_CARRY, SDS_CANNOT_CARRY)),
}


def _canonical(roster: RosterSet, name: str, excluded: set[str]) -> pa.Table:
    entity = ENTITY_BY_NAME[name]
    table = conform(roster.tables[name], entity)
    if name == "contacts":
        # Clever sends one Contact_name; where a family name of several words starts ("David De La
        # Cruz") is a guess of the Clever reader, while OneRoster and SDS send given and family name
        # apart. What every format does carry is the full name: compare that instead of the split.
        full = pc.binary_join_element_wise(
            table.column("first_name"), table.column("last_name"), " ", null_handling="skip"
        )
        table = table.drop_columns(["first_name", "last_name"]).append_column("full_name", full)
    keep = [c for c in table.column_names if c not in excluded and not c.endswith("_raw")]
    return table.select(keep).sort_by([(k, "ascending") for k in entity.key])


def _differences(reference: RosterSet, other: RosterSet, excluded: dict[str, set[str]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in ENTITY_BY_NAME:
        a = _canonical(reference, name, excluded.get(name, set()))
        b = _canonical(other, name, excluded.get(name, set()))
        if name == "terms":
            # Clever derives terms from sections, so it can only carry terms some section uses;
            # OneRoster and SDS also send the others. Compare the shared ones; the extra ones must
            # be exactly those no section refers to.
            used = reference.tables["sections"].column("term_id")
            unused = b.filter(pc.invert(pc.is_in(b.column("term_id"), value_set=a.column("term_id"))))
            if pc.any(pc.is_in(unused.column("term_id"), value_set=used)).as_py():
                found["terms (extra)"] = unused.column("term_id").to_pylist()
            b = b.filter(pc.is_in(b.column("term_id"), value_set=a.column("term_id")))
        if a.num_rows != b.num_rows:
            found[name] = f"{a.num_rows} rows in Clever, {b.num_rows} here"
            continue
        columns = [c for c in a.column_names if a.column(c).to_pylist() != b.column(c).to_pylist()]
        if columns:
            found[name] = {
                c: [
                    (x, y)
                    for x, y in zip(a.column(c).to_pylist(), b.column(c).to_pylist(), strict=True)
                    if x != y
                ][:3]
                for c in columns
            }
    return found


Fact = tuple[str, str, str]  # (severity, value, message with the file it names as {file})


def _facts(result: Any) -> list[Fact]:
    """Each issue as a format switch must keep it: its severity, the value it is about and what it
    says. Only the file, row and column, which name where each format sends that value, differ."""
    return sorted(
        (issue["severity"], issue["value"], FILE_NAME.sub("{file}", issue["message"]))
        for issue in result.issues.to_pylist()
    )


def _expected_facts(district: SyntheticDistrict) -> list[Fact]:
    """The gap alerts the generated tables call for, computed from them (not from any reader)."""
    schools = district.table("schools").column("school_id")
    students = district.table("students").column("school_id")
    empty = pc.filter(schools, pc.invert(pc.is_in(schools, value_set=students))).to_pylist()
    contacts = district.table("contacts")
    unreachable = contacts.filter(
        pc.and_(pc.is_null(contacts.column("phone")), pc.is_null(contacts.column("email")))
    )
    return sorted(
        [("alert", school, NO_STUDENTS) for school in empty]
        + [("alert", person, UNREACHABLE) for person in unreachable.column("person_id").to_pylist()]
    )


def _read(
    district: SyntheticDistrict, directory: Path, write: Callable[[SyntheticDistrict, Path], Any]
) -> Any:
    write(district, directory)
    result = load_roster(directory)
    assert _facts(result) == _expected_facts(district)
    return result


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    students=st.integers(min_value=1, max_value=60),
    schools=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
    sibling_rate=st.sampled_from([0.0, 0.15, 0.5]),
)
# Always tried: a school that drew no students (SCH0002), and a contact with neither phone nor
# email (C1000002).
@example(students=2, schools=3, seed=1, sibling_rate=0.0)
@example(students=20, schools=1, seed=1, sibling_rate=0.0)
def test_a_format_switch_reads_the_same_canonical_tables(
    students: int, schools: int, seed: int, sibling_rate: float
) -> None:
    district = generate_district(students=students, schools=schools, seed=seed, sibling_rate=sibling_rate)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clever = _read(district, root / "clever", write_clever_csv)
        for name, (write, excluded) in WRITERS.items():
            other = _read(district, root / name, write)
            assert other.roster.counts() | {"terms": 0} == clever.roster.counts() | {"terms": 0}, name
            assert _differences(clever.roster, other.roster, excluded) == {}, name


@pytest.mark.parametrize("name", list(WRITERS))
def test_grades_and_sex_are_compared(name: str) -> None:
    # Grades, sex and course grades share one vocabulary: a format switch must not change them,
    # so none may be excluded (sections.grade only where the format has no column for it).
    _, excluded = WRITERS[name]
    compared = {t: c - excluded.get(t, set()) for t, c in VOCABULARY_COLUMNS.items()}
    assert compared == {
        "students": {"grade", "gender"},
        "sections": set() if name == "sds_2.1" else {"grade"},
        "courses": {"grades"},
    }


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_excluded_column_is_a_canonical_column(name: str) -> None:
    # A typo in the lists above would silently compare nothing less: guard against it.
    _, excluded = WRITERS[name]
    for table, columns in excluded.items():
        assert columns <= set(ENTITY_BY_NAME[table].schema.names), (table, columns)
