"""The scenario of the demo and of ``rostersync sample``: two nights of a district's uploads.

Day 1 is a district whose SIS export leaves emergency contacts out, so its first sync applies
(a first sync has nothing to compare with: no removal or update hold can trip; what could hold
it is the data itself, e.g. emergency contacts, which the ``emergency_contacts`` hold catches on
any sync). Day 2 is the usual overnight churn plus two surprises: the first school exported only
a fifth of its students (an end-of-term mistake: ``mass_removal``) and the second school added
emergency contacts (``emergency_contacts``). At least :data:`MIN_SCHOOLS` schools at every size,
so a per-school release has another school to keep on hold.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from rostersync_tools.synthetic.clever import write_clever_csv
from rostersync_tools.synthetic.days import add_emergency_contacts, drop_school_students, make_day2
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.generator import generate_district
from rostersync_tools.synthetic.oneroster import OneRosterVersion, write_oneroster_csv
from rostersync_tools.synthetic.vocab import STUDENTS_PER_SCHOOL

MIN_SCHOOLS = 4
EMERGENCY_TYPES = ("Emergency", "Secondary")
NEW_CONTACTS = 12
REMOVED_SHARE = 0.8


def without_contact_types(district: SyntheticDistrict, types: tuple[str, ...]) -> SyntheticDistrict:
    """``district`` without contact links of ``types`` (and contacts left with no link): a
    district whose SIS export leaves emergency contacts out, so its first sync applies."""
    links = district.tables["contact_links"]
    keep = pc.invert(pc.is_in(links.column("contact_type"), value_set=pa.array(types)))
    links = links.filter(keep)
    contacts = district.tables["contacts"]
    contacts = contacts.filter(pc.is_in(contacts.column("person_id"), value_set=links.column("contact_id")))
    tables = {**district.tables, "contact_links": links, "contacts": contacts}
    return dataclasses.replace(district, tables=tables)


def school_count(students: int) -> int:
    """Schools of a scenario district: the generator's proportion, but never fewer than
    :data:`MIN_SCHOOLS` (nor more schools than students)."""
    return max(1, min(students, max(MIN_SCHOOLS, round(students / STUDENTS_PER_SCHOOL))))


@dataclasses.dataclass(frozen=True)
class Scenario:
    day1: SyntheticDistrict
    day2: SyntheticDistrict
    mistaken_school: str  # lost most of its students
    contacts_school: str  # gained emergency contacts
    new_contacts: int


def build_scenario(students: int, seed: int, district_id: str, schools: int | None = None) -> Scenario:
    """Day 1 and day 2 of a district: the usual overnight churn, plus the two surprises."""
    day1 = without_contact_types(
        generate_district(
            students=students, schools=schools or school_count(students), seed=seed, district_id=district_id
        ),
        EMERGENCY_TYPES,
    )
    ids = sorted(day1.table("schools").column("school_id").to_pylist())
    if len(ids) < 2:
        raise ValueError(f"the scenario needs at least 2 schools; {students} students make {len(ids)}")
    mistaken, contacts_school = ids[0], ids[1]
    day2 = without_contact_types(make_day2(day1, seed=seed + 1), EMERGENCY_TYPES)
    day2 = drop_school_students(day2, mistaken, REMOVED_SHARE, seed=seed)
    day2 = add_emergency_contacts(day2, contacts_school, NEW_CONTACTS, seed=seed)
    return Scenario(day1, day2, mistaken, contacts_school, NEW_CONTACTS)


def write_sample(
    out: Path,
    *,
    students: int,
    seed: int,
    writer: Literal["clever", "oneroster"] = "clever",
    version: OneRosterVersion = "1.1",
) -> str:
    """Write the scenario's ``day1/`` and ``day2/`` under ``out``; what was written, in words."""
    scenario = build_scenario(students, seed, "sample")
    for name, district in (("day1", scenario.day1), ("day2", scenario.day2)):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        if writer == "clever":
            write_clever_csv(district, folder)
        else:
            write_oneroster_csv(district, folder, version=version)
    schools = scenario.day1.table("schools").num_rows
    before = pc.sum(pc.equal(scenario.day1.table("students").column("school_id"), scenario.mistaken_school))
    after = pc.sum(pc.equal(scenario.day2.table("students").column("school_id"), scenario.mistaken_school))
    return (
        f"Wrote {out / 'day1'} and {out / 'day2'} ({schools} schools, {students:,} students).\n"
        f"day1: the first sync; the export leaves emergency contacts out, so it applies.\n"
        f"day2: overnight churn, plus school {scenario.mistaken_school} exported only {after} of its "
        f"{before} students (held: mass_removal) and school {scenario.contacts_school} added "
        f"{scenario.new_contacts} emergency contacts (held: emergency_contacts); the other schools apply."
    )
