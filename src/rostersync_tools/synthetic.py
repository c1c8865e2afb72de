"""Seeded synthetic K-12 districts for tests, the demo and the benchmark.

:func:`generate_district` builds a district directly in the canonical model (one Arrow table per
entity, :mod:`rostersync.model`) with the proportions of a large US district (per 600k students:
~400 schools, ~35k teachers, ~2k staff, ~1.2M contact rows, ~150k sections, ~6M enrollments).
:func:`make_day2`, :func:`drop_school_students` and :func:`add_emergency_contacts` derive the next
nightly sync from it, and :func:`write_clever_csv` / :func:`write_oneroster_csv` render a district
as the files a district drops on SFTP. Everything is vectorised with numpy and Arrow (no Python loop
over rows), so the largest size takes seconds, and every output is a pure function of the seeds.

Canonical value conventions (what a reader should produce from the written files): grades are
CEDS codes (``PK``, ``KG``, ``01``..``12``; Clever files spell them ``PreKindergarten``,
``Kindergarten``, ``1``..``12``), genders ``female``/``male``/``other`` (Clever files: ``F``/``M``/``X``),
``phone_extension`` and the ``*_raw`` columns (the values as sent) are null,
subjects use Clever's subject vocabulary, contact names are split into first and last name
(Clever's ``Contact_name`` is "First Last"). A contact's school is the school of its first student;
siblings always share a school, so that is the same whichever sibling comes first. OneRoster has
no contact type: the OneRoster writers drop it and map the relationship to the user's role.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rostersync.model import ENTITIES, ENTITY_BY_NAME, conform
from rostersync.roster import RosterSet

# Bump when the output for a given seed changes, so cached data sets (bench/data) are rebuilt.
GENERATOR_VERSION = 1

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# ---------------------------------------------------------------------------------------------
# Proportions (SPEC "Scale": ~600k students, ~1.2M contacts, ~35k teachers, ~150k sections,
# ~6M enrollments; ~1 school per 1,500 students; ~2k staff).
STUDENTS_PER_SCHOOL = 1500
STUDENTS_PER_TEACHER = 600_000 / 35_000
STUDENTS_PER_STAFF = 300
ENROLLMENTS_PER_STUDENT = 10
SEATS_PER_SECTION = 40  # 6M enrollments / 150k sections
SIBLING_RATE = 0.15  # students who share the contacts of a sibling in the same school

# Contacts per student (0-4, mean 1.98) and, by the contact's position, its type and relationship.
CONTACT_COUNT_WEIGHTS = (0.08, 0.22, 0.42, 0.20, 0.08)
CONTACT_TYPE_VALUES = ("Primary", "Secondary", "Parent/Guardian", "Emergency", "Family", "Other")
CONTACT_TYPE_WEIGHTS = (
    (0.55, 0.03, 0.35, 0.02, 0.03, 0.02),
    (0.10, 0.35, 0.35, 0.10, 0.07, 0.03),
    (0.02, 0.18, 0.10, 0.50, 0.12, 0.08),
    (0.01, 0.10, 0.05, 0.60, 0.14, 0.10),
)
RELATIONSHIP_VALUES = ("Parent", "Grandparent", "Aunt/Uncle", "Sibling", "Other")
RELATIONSHIP_WEIGHTS = (
    (0.92, 0.04, 0.01, 0.00, 0.03),
    (0.80, 0.10, 0.04, 0.01, 0.05),
    (0.15, 0.40, 0.22, 0.08, 0.15),
    (0.15, 0.40, 0.22, 0.08, 0.15),
)
PHONE_TYPES = ("Cell", "Home", "Work")
PHONE_TYPE_WEIGHTS = (0.75, 0.18, 0.07)

# Grade levels -1 (pre-K) .. 12; index = level + 1.
SEXES = ("female", "male", "other")  # canonical; Clever files spell them F, M, X
GRADE_CODES = ("PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")
CLEVER_GRADES = ("PreKindergarten", "Kindergarten", *(str(g) for g in range(1, 13)))
GRADE_LABELS = ("Pre-K", "Kindergarten", *(f"Grade {g}" for g in range(1, 13)))

# School kinds: name suffix, lowest and highest grade level, share of schools. Sizes follow from
# the grades a school covers (a high school ends up about twice an elementary school).
SCHOOL_KINDS = (
    ("Elementary School", 0, 5, 0.52),
    ("Middle School", 6, 8, 0.20),
    ("High School", 9, 12, 0.20),
    ("Academy", 0, 8, 0.08),
    ("School", 0, 12, 0.0),  # K-12, only for districts with fewer than 4 schools
)

# Clever's subject vocabulary (also valid free text for OneRoster), course title stem and code.
SUBJECTS = (
    ("English/Language Arts", "English Language Arts", "ELA", 0.20),
    ("Math", "Mathematics", "MATH", 0.20),
    ("Science", "Science", "SCI", 0.15),
    ("Social Studies", "Social Studies", "SS", 0.13),
    ("Language", "Spanish", "LANG", 0.07),
    ("PE and health", "Physical Education", "PE", 0.08),
    ("Arts and music", "Art and Music", "ART", 0.08),
    ("Technology and engineering", "Computer Science", "TECH", 0.04),
    ("Homeroom/advisory", "Homeroom", "HR", 0.05),
)
TERM_KINDS = (("schoolYear", 0.5), ("semester", 0.25), ("semester", 0.25))  # year, S1, S2

STAFF_TITLES = (
    ("Assistant Principal", "Administration", 0.15),
    ("Counselor", "Counseling", 0.20),
    ("Secretary", "Office", 0.20),
    ("Nurse", "Health", 0.10),
    ("Librarian", "Library", 0.10),
    ("Instructional Coach", "Instruction", 0.15),
    ("Registrar", "Office", 0.10),
)
RACES = (
    ("Caucasian", 0.45),
    ("Black or African American", 0.15),
    ("Asian", 0.06),
    ("American Indian", 0.01),
    ("Hawaiian or Other Pacific Islander", 0.01),
    ("Two or More Races", 0.07),
    ("Unknown", 0.25),
)
# fmt: off
HOME_LANGUAGES = (("English", 0.76), ("Spanish", 0.17), ("Vietnamese", 0.02), ("Chinese", 0.02),
                  ("Arabic", 0.015), ("Tagalog", 0.015))
FRL = (("Paid", 0.5), ("Free", 0.4), ("Reduced", 0.1))

FEMALE_NAMES = (
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Mia", "Isabella", "Ava", "Evelyn", "Luna",
    "Harper", "Sofia", "Camila", "Eleanor", "Elizabeth", "Violet", "Scarlett", "Emily", "Hazel",
    "Lily", "Gianna", "Aurora", "Penelope", "Aria", "Nora", "Chloe", "Ellie", "Mila", "Avery",
    "Layla", "Abigail", "Ella", "Isla", "Eliana", "Nova", "Madison", "Zoe", "Ivy", "Grace",
    "Lucy", "Willow", "Emilia", "Riley", "Naomi", "Victoria", "Stella", "Elena", "Hannah",
    "Valentina", "Maya", "Zoey", "Delilah", "Leah", "Lainey", "Lillian", "Paisley", "Genesis",
    "Madelyn", "Sadie", "Sophie", "Leilani", "Addison", "Natalie", "Josephine", "Alice", "Ruby",
    "Claire", "Kinsley", "Everly", "Emery", "Adeline", "Kennedy", "Maeve", "Audrey", "Autumn",
    "Athena", "Eden", "Iris", "Anna", "Eloise", "Jade", "Maria", "Caroline", "Brooklyn", "Quinn",
    "Aaliyah", "Vivian", "Liliana", "Gabriella", "Hailey", "Sarah", "Savannah", "Cora", "Madeline",
    "Jasmine", "Ximena", "Guadalupe", "Fatima", "Mariana", "Priya", "Mei", "Aisha", "Linh",
    "Ngozi", "Yesenia", "Keisha", "Tamika", "Shanice", "Rosa", "Carmen", "Lucia", "Ana", "Nadia",
)
MALE_NAMES = (
    "Liam", "Noah", "Oliver", "James", "Elijah", "Mateo", "Theodore", "Henry", "Lucas", "William",
    "Benjamin", "Levi", "Sebastian", "Jack", "Ezra", "Michael", "Daniel", "Leo", "Owen", "Samuel",
    "Hudson", "Alexander", "Asher", "Luca", "Ethan", "John", "David", "Jackson", "Joseph", "Mason",
    "Luke", "Matthew", "Julian", "Dylan", "Elias", "Jacob", "Maverick", "Gabriel", "Logan",
    "Aiden", "Thomas", "Isaac", "Miles", "Grayson", "Santiago", "Anthony", "Wyatt", "Carter",
    "Jayden", "Ezekiel", "Caleb", "Cooper", "Josiah", "Charles", "Christopher", "Isaiah", "Nolan",
    "Cameron", "Nathan", "Joshua", "Kai", "Waylon", "Angel", "Lincoln", "Andrew", "Roman",
    "Adrian", "Aaron", "Wesley", "Ian", "Thiago", "Axel", "Brooks", "Bennett", "Weston", "Rowan",
    "Christian", "Theo", "Beau", "Eli", "Silas", "Jonathan", "Ryan", "Leonardo", "Walker",
    "Jaxon", "Micah", "Everett", "Robert", "Enzo", "Parker", "Jeremiah", "Jose", "Colton", "Luis",
    "Carlos", "Juan", "Miguel", "Diego", "Jesus", "Rahul", "Wei", "Omar", "Minh", "Kwame",
    "DeShawn", "Tyrone", "Malik", "Andre", "Marcus", "Hiroshi", "Dmitri", "Ahmed", "Tariq",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner",
    "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
    "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray",
    "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods",
    "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker",
    "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez",
    "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer",
    "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills",
    "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto",
    "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins",
    "O'Brien", "O'Connor", "Smith-Jones", "De La Cruz", "Van Dyke", "Okafor", "Nakamura", "Singh",
)
NAMESAKES = (
    "Lincoln", "Washington", "Jefferson", "Roosevelt", "Franklin", "Kennedy", "Madison", "Adams",
    "Monroe", "Jackson", "Hamilton", "Douglass", "Tubman", "King", "Parks", "Carver", "Edison",
    "Whitman", "Twain", "Emerson", "Thoreau", "Frost", "Hughes", "Angelou", "Keller", "Earhart",
    "Armstrong", "Ride", "Curie", "Einstein", "Chavez", "Sotomayor", "Marshall", "Truman",
    "Eisenhower", "Wilson", "Grant", "Garfield", "McKinley", "Hoover", "Oak Grove", "Maple Ridge",
    "Cedar Park", "Willow Creek", "Pine Valley", "Riverside", "Lakeview", "Hillcrest", "Sunnyside",
    "Meadowbrook", "Fairview", "Highland", "Brookside", "Westwood", "Eastwood", "Northgate",
    "Southridge", "Springdale", "Greenfield", "Oakwood", "Clearwater", "Stonebridge", "Foxhollow",
    "Mission", "Canyon", "Desert Vista", "Bayside", "Harbor", "Mountain View", "Valley", "Prairie",
)
PLACE_PREFIXES = ("", "North ", "South ", "East ", "West ", "Central ", "Upper ", "Lower ")
CITIES = (
    ("Riverton", "TX"), ("Lakewood", "CA"), ("Fairview", "FL"), ("Springfield", "IL"),
    ("Franklin", "TN"), ("Greenville", "NC"), ("Madison", "GA"), ("Clinton", "OH"),
    ("Georgetown", "AZ"), ("Salem", "VA"), ("Marion", "IN"), ("Ashland", "WA"),
)
AREA_CODES = ("210", "214", "305", "312", "404", "469", "512", "602", "615", "704", "713", "919")
STREETS = ("Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
           "School", "College", "Church", "Mill", "River", "Sunset")
STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Way")
CONTACT_EMAIL_DOMAINS = ("example.com", "example.net", "mail.example.org")
# fmt: on

STUDENT_NUMBER_BASE = 1_000_001
CONTACT_NUMBER_BASE = 1_000_001
TEACHER_NUMBER_BASE = 100_001
STAFF_NUMBER_BASE = 100_001
DISTRICT_ORG_ID = "DIST0001"

# Extra, non-canonical columns kept on the synthetic tables because the file formats carry them
# (dropped by :meth:`SyntheticDistrict.to_roster`).
STUDENT_EXTRAS = (
    "graduation_year",
    "race",
    "hispanic_latino",
    "home_language",
    "ell_status",
    "frl_status",
    "iep_status",
)
STAFF_EXTRAS = ("department",)
SCHOOL_EXTRAS = ("principal", "principal_email", "address", "city", "state", "zip")


@dataclass(frozen=True)
class SyntheticDistrict:
    """A synthetic district: canonical tables (plus a few format-only extra columns) and what is
    needed to derive the next day deterministically (ID counters, email domain, area codes)."""

    district_id: str
    name: str
    seed: int
    school_year: int  # the autumn year: 2025 means the 2025-2026 school year
    domain: str
    area_codes: tuple[str, ...]
    tables: Mapping[str, pa.Table]
    next_student_number: int
    next_contact_number: int
    generation: int = 0  # 0 for generate_district, +1 for each derived day

    def table(self, name: str) -> pa.Table:
        return self.tables[name]

    def counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}

    def to_roster(self, fmt: str = "synthetic") -> RosterSet:
        """The district as a canonical :class:`RosterSet` (extra columns dropped)."""
        return RosterSet(
            tables={name: conform(t, ENTITY_BY_NAME[name]) for name, t in self.tables.items()},
            format=fmt,
        )

    def replace_tables(self, **tables: pa.Table) -> SyntheticDistrict:
        return dataclasses.replace(self, tables={**self.tables, **tables})


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers


def _rng(*seeds: int) -> np.random.Generator:
    if any(s < 0 for s in seeds):
        raise ValueError("seeds must be non-negative integers")
    return np.random.default_rng(np.random.SeedSequence(list(seeds)))


def _strings(values: Sequence[str]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _pick(values: Sequence[str] | pa.Array, idx: npt.ArrayLike) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else _strings(values)
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _weights(weights: Sequence[float]) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


def _choice(rng: np.random.Generator, n: int, weights: Sequence[float]) -> Ints:
    return rng.choice(len(weights), size=n, p=_weights(weights)).astype(np.int64)


def _choice_by_position(rng: np.random.Generator, position: Ints, table: Sequence[Sequence[float]]) -> Ints:
    """Draw a category per row, with weights depending on the row's position (capped)."""
    out = np.zeros(len(position), dtype=np.int64)
    capped = np.minimum(position, len(table) - 1)
    for p, weights in enumerate(table):  # a handful of positions, not rows
        rows = np.flatnonzero(capped == p)
        out[rows] = _choice(rng, len(rows), weights)
    return out


def _digits(numbers: npt.ArrayLike, width: int = 0) -> pa.Array:
    s = pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string())
    return pc.utf8_lpad(s, width=width, padding="0") if width else s


def _ids(prefix: str, numbers: npt.ArrayLike, width: int) -> pa.Array:
    return pc.binary_join_element_wise(prefix, _digits(numbers, width), "")


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _slug(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_lower(values), pattern="[^a-z0-9]", replacement="")


def _within(counts: Ints) -> Ints:
    """For groups of the given sizes laid out one after another: each row's index in its group."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def _offsets(counts: Ints) -> Ints:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _single_lists(values: pa.Array) -> pa.Array:
    offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def _dates(days: npt.ArrayLike) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32)).cast(pa.date32())


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _canonical_table(entity: str, columns: dict[str, pa.Array]) -> pa.Table:
    """The columns as a table, with every other canonical column of ``entity`` added as nulls (the
    ``phone_extension`` and ``*_raw`` columns: a value as sent depends on the format written)."""
    table = pa.table(columns)
    for fld in ENTITY_BY_NAME[entity].schema:
        if fld.name not in table.column_names:
            table = table.append_column(fld, pa.nulls(table.num_rows, fld.type))
    return table


def _null_unless(values: pa.Array, keep: Bools) -> pa.Array:
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _phones(rng: np.random.Generator, n: int, area_codes: Sequence[str]) -> pa.Array:
    """Ten-digit US numbers, digits only (the canonical form validation produces)."""
    area = _pick(area_codes, rng.integers(0, len(area_codes), n))
    exchange = _digits(rng.integers(200, 1000, n), 3)
    line = _digits(rng.integers(0, 10000, n), 4)
    return _join(area, exchange, line)


def _dashed(phones: pa.Array | pa.ChunkedArray) -> pa.Array:
    """512-555-0123, as SIS exports print them."""
    part = pc.utf8_slice_codeunits
    return _join(part(phones, 0, 3), part(phones, 3, 6), part(phones, 6, 10), sep="-")


def _first_names(rng: np.random.Generator, female: Bools) -> pa.Array:
    n = len(female)
    f = _pick(FEMALE_NAMES, rng.integers(0, len(FEMALE_NAMES), n))
    m = _pick(MALE_NAMES, rng.integers(0, len(MALE_NAMES), n))
    return pc.if_else(pa.array(female), f, m)


def _last_names(rng: np.random.Generator, n: int) -> pa.Array:
    return _pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n))


def _level_of(codes: pa.Array | pa.ChunkedArray) -> Ints:
    idx = pc.index_in(codes, value_set=_strings(GRADE_CODES))
    return np.asarray(pc.fill_null(idx, 1).to_numpy(zero_copy_only=False), dtype=np.int64) - 1


def _index_of(values: pa.Array | pa.ChunkedArray, value_set: pa.Array | pa.ChunkedArray) -> Ints:
    """Row index in ``value_set`` of each value (-1 where absent)."""
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    idx = pc.fill_null(pc.index_in(values, value_set=value_set), -1)
    return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)


def _col(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


# ---------------------------------------------------------------------------------------------
# Generation


def generate_district(
    *,
    students: int,
    seed: int,
    schools: int | None = None,
    district_id: str = "synthetic",
    name: str | None = None,
    school_year: int = 2025,
    sibling_rate: float = SIBLING_RATE,
    enrollments_per_student: int = ENROLLMENTS_PER_STUDENT,
) -> SyntheticDistrict:
    """A district of ``students`` students in ``schools`` schools (default students / 1,500).

    Same arguments, same tables: every random draw comes from ``seed``.
    """
    if students < 1:
        raise ValueError("students must be at least 1")
    rng = _rng(seed, 1)
    city_idx = int(rng.integers(0, len(CITIES)))
    city, state = CITIES[city_idx]
    district_name = name or f"{city} Unified School District"
    domain = f"{city.lower()}usd.example.org"
    area_codes = tuple(str(a) for a in rng.choice(AREA_CODES, size=2, replace=False))
    n_schools = max(1, min(students, schools or round(students / STUDENTS_PER_SCHOOL)))

    school_tab, low, high, size = _make_schools(rng, n_schools, city, state, area_codes)
    school_of, level = _place_students(rng, students, low, high, size)
    per_school = np.bincount(school_of, minlength=n_schools).astype(np.int64)

    numbers = STUDENT_NUMBER_BASE + np.arange(students, dtype=np.int64)
    siblings, sibling_head = _pick_siblings(rng, school_of, sibling_rate)
    student_tab = _make_students(
        rng,
        numbers,
        school_of,
        level,
        _col(school_tab, "school_id"),
        school_year,
        domain,
        sibling_head=(siblings, sibling_head),
    )
    heads = np.setdiff1d(np.arange(students, dtype=np.int64), siblings, assume_unique=True)
    contacts, links = _make_contacts(
        rng, student_tab, heads, siblings, sibling_head, CONTACT_NUMBER_BASE, area_codes
    )

    teachers, teacher_start, teacher_count = _make_teachers(rng, school_tab, per_school, domain)
    staff = _make_staff(rng, school_tab, per_school, domain)
    school_tab = _with_principals(school_tab, staff)
    terms = _make_terms(school_tab, school_year)
    courses, sections = _make_sections(
        rng,
        school_tab,
        terms,
        school_of,
        level,
        teachers,
        teacher_start,
        teacher_count,
        enrollments_per_student,
    )
    enrollments = _make_enrollments(
        rng, student_tab, school_of, level, sections, school_tab, enrollments_per_student
    )
    tables = {
        "schools": school_tab,
        "terms": terms,
        "courses": courses,
        "students": student_tab,
        "teachers": teachers,
        "staff": staff,
        "contacts": contacts,
        "contact_links": links,
        "sections": sections,
        "enrollments": enrollments,
    }
    assert set(tables) == {e.name for e in ENTITIES}
    return SyntheticDistrict(
        district_id=district_id,
        name=district_name,
        seed=seed,
        school_year=school_year,
        domain=domain,
        area_codes=area_codes,
        tables=tables,
        next_student_number=STUDENT_NUMBER_BASE + students,
        next_contact_number=CONTACT_NUMBER_BASE + contacts.num_rows,
    )


def _make_schools(
    rng: np.random.Generator,
    n: int,
    city: str,
    state: str,
    area_codes: Sequence[str],
) -> tuple[pa.Table, Ints, Ints, npt.NDArray[np.float64]]:
    if n < 4:
        kind = np.full(n, len(SCHOOL_KINDS) - 1, dtype=np.int64)
    else:
        shares = [k[3] for k in SCHOOL_KINDS]
        kind = np.concatenate([np.arange(3, dtype=np.int64), _choice(rng, n - 3, shares)])
    low = np.array([k[1] for k in SCHOOL_KINDS], dtype=np.int64)[kind]
    high = np.array([k[2] for k in SCHOOL_KINDS], dtype=np.int64)[kind]
    # A third of elementary schools also have pre-K.
    low = np.where((kind == 0) & (rng.random(n) < 0.33), -1, low)
    size = rng.lognormal(0.0, 0.3, n)

    i = np.arange(n, dtype=np.int64)
    perm = rng.permutation(len(NAMESAKES))
    namesake = _pick(NAMESAKES, perm[i % len(NAMESAKES)])
    prefix = _pick(PLACE_PREFIXES, (i // len(NAMESAKES)) % len(PLACE_PREFIXES))
    suffix = _pick([k[0] for k in SCHOOL_KINDS], kind)
    school_name = _join(_join(prefix, namesake), suffix, sep=" ")
    school_id = _ids("SCH", i + 1, 4)
    street_no = _digits(rng.integers(100, 9999, n))
    street = _join(
        _pick(STREETS, rng.integers(0, len(STREETS), n)),
        _pick(STREET_KINDS, rng.integers(0, len(STREET_KINDS), n)),
        sep=" ",
    )
    table = _canonical_table(
        "schools",
        {
            "school_id": school_id,
            "name": school_name,
            "school_number": _digits(100 + i),
            "state_id": _digits(rng.integers(10**9, 10**10 - 1, n)),
            "low_grade": _pick(GRADE_CODES, low + 1),
            "high_grade": _pick(GRADE_CODES, high + 1),
            "phone": _phones(rng, n, area_codes),
            "principal": pa.nulls(n, pa.string()),
            "principal_email": pa.nulls(n, pa.string()),
            "address": _join(street_no, street, sep=" "),
            "city": pa.array([city] * n, pa.string()),
            "state": pa.array([state] * n, pa.string()),
            "zip": _digits(rng.integers(10000, 99999) + rng.integers(0, 40, n), 5),
        },
    )
    return table, low, high, size


def _place_students(
    rng: np.random.Generator,
    n: int,
    low: Ints,
    high: Ints,
    size: npt.NDArray[np.float64],
) -> tuple[Ints, Ints]:
    """School and grade level of ``n`` students, sorted by school then grade (as an SIS exports
    them). Grades are drawn first (flat, pre-K smaller), then a school offering that grade in
    proportion to its size factor, so every grade has about as many students whatever the mix of
    elementary, middle and high schools."""
    levels = np.arange(-1, 13, dtype=np.int64)
    covers = (low[:, None] <= levels[None, :]) & (levels[None, :] <= high[:, None])
    grade_weight = np.where(levels == -1, 0.35, 1.0) * covers.any(axis=0)
    per_grade = rng.multinomial(n, grade_weight / grade_weight.sum())
    cells = np.zeros(covers.shape, dtype=np.int64)  # schools x grade levels
    for g in np.flatnonzero(per_grade):  # 14 grade levels, not rows
        w = size * covers[:, g]
        cells[:, g] = rng.multinomial(per_grade[g], w / w.sum())
    flat = cells.ravel()  # school-major: sorted by school, then grade
    school_of = np.repeat(np.repeat(np.arange(len(low), dtype=np.int64), len(levels)), flat)
    level = np.repeat(np.tile(levels, len(low)), flat)
    return school_of, level


def _pick_siblings(rng: np.random.Generator, school_of: Ints, rate: float) -> tuple[Ints, Ints]:
    """Students (sorted by school) who share the contacts of another student of their school:
    returns the sibling rows and, aligned, the row of the sibling whose contacts they share."""
    n = len(school_of)
    is_sibling = rng.random(n) < rate
    heads = np.flatnonzero(~is_sibling)
    n_schools = int(school_of.max()) + 1 if n else 0
    head_count = np.bincount(school_of[heads], minlength=n_schools).astype(np.int64)
    head_start = _offsets(head_count)[:-1]
    siblings = np.flatnonzero(is_sibling)
    s_school = school_of[siblings]
    ok = head_count[s_school] > 0  # a school with no head: its would-be siblings stay heads
    siblings, s_school = siblings[ok], s_school[ok]
    pick = (rng.random(len(siblings)) * head_count[s_school]).astype(np.int64)
    return siblings.astype(np.int64), heads[head_start[s_school] + pick].astype(np.int64)


def _make_students(
    rng: np.random.Generator,
    numbers: Ints,
    school_of: Ints,
    level: Ints,
    school_ids: pa.Array,
    school_year: int,
    domain: str,
    *,
    sibling_head: tuple[Ints, Ints] | None = None,
) -> pa.Table:
    n = len(numbers)
    gender = _choice(rng, n, (0.49, 0.49, 0.02))
    first = _first_names(rng, (gender == 0) | ((gender == 2) & (rng.random(n) < 0.5)))
    middle = _null_unless(_first_names(rng, gender == 0), rng.random(n) < 0.6)
    last_idx = rng.integers(0, len(LAST_NAMES), n)
    if sibling_head is not None:
        siblings, heads = sibling_head
        last_idx[siblings] = last_idx[heads]
    last = _pick(LAST_NAMES, last_idx)
    sis_id = _digits(numbers)
    username = _join(pc.utf8_slice_codeunits(_slug(first), 0, 1), _slug(last), sis_id)
    email = _join(username, "@students." + domain)
    # Age on 1 September of the school year is 5 in kindergarten (level 0).
    born_from = np.array([_days(date(school_year - 6 - lv, 9, 2)) for lv in range(-1, 13)], dtype=np.int64)
    birth = born_from[level + 1] + rng.integers(0, 365, n)
    school_id = school_ids.take(pa.array(school_of))
    race = _choice(rng, n, [r[1] for r in RACES])
    return _canonical_table(
        "students",
        {
            "person_id": _join("S", sis_id),
            "school_id": school_id,
            "school_ids": _single_lists(school_id),
            "sis_id": sis_id,
            "state_id": _digits(6_100_000_000 + numbers),
            "username": username,
            "first_name": first,
            "middle_name": middle,
            "last_name": last,
            "email": email,
            "phone": pa.nulls(n, pa.string()),
            "phone_type": pa.nulls(n, pa.string()),
            "grade": _pick(GRADE_CODES, level + 1),
            "birth_date": _dates(birth),
            "gender": _pick(SEXES, gender),
            "title": pa.nulls(n, pa.string()),
            "graduation_year": _digits(school_year + 13 - np.maximum(level, 0)),
            "race": _pick([r[0] for r in RACES], race),
            "hispanic_latino": _pick(("Y", "N"), (rng.random(n) >= 0.27).astype(np.int64)),
            "home_language": _pick(
                [h[0] for h in HOME_LANGUAGES], _choice(rng, n, [h[1] for h in HOME_LANGUAGES])
            ),
            "ell_status": _pick(("Y", "N"), (rng.random(n) >= 0.10).astype(np.int64)),
            "frl_status": _pick([f[0] for f in FRL], _choice(rng, n, [f[1] for f in FRL])),
            "iep_status": _pick(("Y", "N"), (rng.random(n) >= 0.14).astype(np.int64)),
        },
    )


def _make_contacts(
    rng: np.random.Generator,
    students: pa.Table,
    heads: Ints,
    siblings: Ints,
    sibling_head: Ints,
    first_number: int,
    area_codes: Sequence[str],
    *,
    counts: Ints | None = None,
    contact_type: str | None = None,
) -> tuple[pa.Table, pa.Table]:
    """New contacts for the ``heads`` rows of ``students`` (0-4 each unless ``counts`` is given),
    shared with the ``siblings`` rows (aligned with ``sibling_head``, rows of ``heads``).

    Returns (contacts, contact_links); links are ordered by student row, then contact position.
    """
    k = counts if counts is not None else _choice(rng, len(heads), CONTACT_COUNT_WEIGHTS)
    offsets = _offsets(k)
    n_c = int(offsets[-1])
    owner = np.repeat(heads, k)
    pos = _within(k)
    ctype = (
        np.full(n_c, CONTACT_TYPE_VALUES.index(contact_type), dtype=np.int64)
        if contact_type is not None
        else _choice_by_position(rng, pos, CONTACT_TYPE_WEIGHTS)
    )
    rel = _choice_by_position(rng, pos, RELATIONSHIP_WEIGHTS)
    contact_id = _ids("C", first_number + np.arange(n_c, dtype=np.int64), 7)

    female = rng.random(n_c) < np.where(pos == 0, 0.62, np.where(pos == 1, 0.40, 0.55))
    first = _first_names(rng, female)
    owner_arr = pa.array(owner)
    same_last = rng.random(n_c) < np.where(rel == 0, 0.80, 0.35)
    last = pc.if_else(pa.array(same_last), _col(students, "last_name").take(owner_arr), _last_names(rng, n_c))
    domain = _pick(CONTACT_EMAIL_DOMAINS, rng.integers(0, len(CONTACT_EMAIL_DOMAINS), n_c))
    local = _join(_slug(first), _slug(last), pc.utf8_slice_codeunits(contact_id, 1, 8), sep=".")
    email = _null_unless(_join(local, domain, sep="@"), rng.random(n_c) < 0.88)
    has_phone = rng.random(n_c) < 0.97
    phone = _null_unless(_phones(rng, n_c, area_codes), has_phone)
    phone_type = _null_unless(_pick(PHONE_TYPES, _choice(rng, n_c, PHONE_TYPE_WEIGHTS)), has_phone)
    school_id = _col(students, "school_id").take(owner_arr)
    nulls = pa.nulls(n_c, pa.string())
    contacts = _canonical_table(
        "contacts",
        {
            "person_id": contact_id,
            "school_id": school_id,
            "school_ids": _single_lists(school_id),
            "sis_id": contact_id,
            "state_id": nulls,
            "username": nulls,
            "first_name": first,
            "middle_name": nulls,
            "last_name": last,
            "email": email,
            "phone": phone,
            "phone_type": phone_type,
            "grade": nulls,
            "birth_date": pa.nulls(n_c, pa.date32()),
            "gender": nulls,
            "title": nulls,
        },
    )

    # Siblings get links to the same contacts, in the same order.
    ordinal = np.full(students.num_rows, -1, dtype=np.int64)
    ordinal[heads] = np.arange(len(heads), dtype=np.int64)
    s_ord = ordinal[sibling_head]
    s_k = k[s_ord]
    s_src = np.repeat(offsets[:-1][s_ord], s_k) + _within(s_k)
    link_student = np.concatenate([owner, np.repeat(siblings, s_k)])
    link_src = np.concatenate([np.arange(n_c, dtype=np.int64), s_src])
    link_pos = pos[link_src]
    order = np.lexsort((link_pos, link_student))
    link_student, link_src = pa.array(link_student[order]), pa.array(link_src[order])
    links = _canonical_table(
        "contact_links",
        {
            "student_id": _col(students, "person_id").take(link_student),
            "contact_id": contact_id.take(link_src),
            "school_id": _col(students, "school_id").take(link_student),
            "relationship": _pick(RELATIONSHIP_VALUES, rel).take(link_src),
            "contact_type": _pick(CONTACT_TYPE_VALUES, ctype).take(link_src),
        },
    )
    return contacts, links


def _make_teachers(
    rng: np.random.Generator,
    schools: pa.Table,
    per_school: Ints,
    domain: str,
) -> tuple[pa.Table, Ints, Ints]:
    count = np.maximum(1, np.round(per_school / STUDENTS_PER_TEACHER)).astype(np.int64)
    start = _offsets(count)[:-1]
    n = int(count.sum())
    school_of = np.repeat(np.arange(len(count), dtype=np.int64), count)
    numbers = TEACHER_NUMBER_BASE + np.arange(n, dtype=np.int64)
    female = rng.random(n) < 0.76
    first = _first_names(rng, female)
    last = _last_names(rng, n)
    sis_id = _digits(numbers)
    username = _join(_slug(first), _slug(last), sis_id, sep=".")
    school_id = _col(schools, "school_id").take(pa.array(school_of))
    nulls = pa.nulls(n, pa.string())
    table = _canonical_table(
        "teachers",
        {
            "person_id": _join("T", sis_id),
            "school_id": school_id,
            "school_ids": _single_lists(school_id),
            "sis_id": sis_id,
            "state_id": _digits(7_200_000_000 + numbers),
            "username": username,
            "first_name": first,
            "middle_name": _null_unless(_first_names(rng, female), rng.random(n) < 0.3),
            "last_name": last,
            "email": _join(username, domain, sep="@"),
            "phone": nulls,
            "phone_type": nulls,
            "grade": nulls,
            "birth_date": pa.nulls(n, pa.date32()),
            "gender": nulls,
            "title": pa.array(["Teacher"] * n, pa.string()),
        },
    )
    return table, start, count


def _make_staff(rng: np.random.Generator, schools: pa.Table, per_school: Ints, domain: str) -> pa.Table:
    count = np.maximum(1, np.round(per_school / STUDENTS_PER_STAFF)).astype(np.int64)
    n = int(count.sum())
    school_of = np.repeat(np.arange(len(count), dtype=np.int64), count)
    numbers = STAFF_NUMBER_BASE + np.arange(n, dtype=np.int64)
    title_idx = _choice(rng, n, [t[2] for t in STAFF_TITLES]) + 1
    title_idx[_offsets(count)[:-1]] = 0  # the first staff member of each school is its principal
    titles = ["Principal", *(t[0] for t in STAFF_TITLES)]
    departments = ["Administration", *(t[1] for t in STAFF_TITLES)]
    first = _first_names(rng, rng.random(n) < 0.6)
    last = _last_names(rng, n)
    sis_id = _digits(numbers)
    username = _join(_slug(first), _slug(last), sis_id, sep=".")
    school_id = _col(schools, "school_id").take(pa.array(school_of))
    nulls = pa.nulls(n, pa.string())
    return _canonical_table(
        "staff",
        {
            "person_id": _join("F", sis_id),
            "school_id": school_id,
            "school_ids": _single_lists(school_id),
            "sis_id": sis_id,
            "state_id": nulls,
            "username": username,
            "first_name": first,
            "middle_name": nulls,
            "last_name": last,
            "email": _join(username, domain, sep="@"),
            "phone": nulls,
            "phone_type": nulls,
            "grade": nulls,
            "birth_date": pa.nulls(n, pa.date32()),
            "gender": nulls,
            "title": _pick(titles, title_idx),
            "department": _pick(departments, title_idx),
        },
    )


def _with_principals(schools: pa.Table, staff: pa.Table) -> pa.Table:
    principals = staff.filter(pc.equal(staff.column("title"), "Principal"))
    at = _index_of(_col(schools, "school_id"), _col(principals, "school_id"))
    idx = pa.array(at, mask=at < 0)
    name = _join(_col(principals, "first_name"), _col(principals, "last_name"), sep=" ").take(idx)
    email = _col(principals, "email").take(idx)
    schools = schools.set_column(schools.schema.get_field_index("principal"), "principal", name)
    return schools.set_column(schools.schema.get_field_index("principal_email"), "principal_email", email)


def _make_terms(schools: pa.Table, school_year: int) -> pa.Table:
    """Per school: the school year and its two semesters (rows school*3 + kind)."""
    n = schools.num_rows
    year_start, s2_start = date(school_year, 8, 18), date(school_year + 1, 1, 20)
    s1_end, year_end = date(school_year + 1, 1, 16), date(school_year + 1, 6, 5)
    kind = np.tile(np.arange(3, dtype=np.int64), n)
    school = np.repeat(np.arange(n, dtype=np.int64), 3)
    school_id = _col(schools, "school_id").take(pa.array(school))
    names = (f"{school_year}-{school_year + 1}", "Semester 1", "Semester 2")
    start_years = (str(school_year), str(school_year), str(school_year + 1))
    # The ID a Clever reader derives from a section's term columns (school|name|start year).
    term_id = _join(school_id, _pick(names, kind), _pick(start_years, kind), sep="|")
    starts = np.array([_days(year_start), _days(year_start), _days(s2_start)], dtype=np.int64)
    ends = np.array([_days(year_end), _days(s1_end), _days(year_end)], dtype=np.int64)
    parent = _null_unless(term_id.take(pa.array(school * 3)), kind > 0)
    return pa.table(
        {
            "term_id": term_id,
            "school_id": school_id,
            "name": _pick(names, kind),
            "type": _pick([t[0] for t in TERM_KINDS], kind),
            "start_date": _dates(starts[kind]),
            "end_date": _dates(ends[kind]),
            "parent_id": parent,
        }
    )


def _make_sections(
    rng: np.random.Generator,
    schools: pa.Table,
    terms: pa.Table,
    school_of: Ints,
    level: Ints,
    teachers: pa.Table,
    teacher_start: Ints,
    teacher_count: Ints,
    enrollments_per_student: int,
) -> tuple[pa.Table, pa.Table]:
    """Sections per (school, grade), about one per SEATS_PER_SECTION enrollments, with the
    courses they belong to. Sections come out sorted by school then grade."""
    group_key = school_of * 16 + level + 1
    keys, group_students = np.unique(group_key, return_counts=True)
    per_group = np.maximum(1, np.round(group_students * enrollments_per_student / SEATS_PER_SECTION)).astype(
        np.int64
    )
    n = int(per_group.sum())
    key = np.repeat(keys, per_group)
    sec_school, sec_level = key // 16, key % 16 - 1
    subject = _choice(rng, n, [s[3] for s in SUBJECTS])
    period = rng.integers(1, 9, n)
    term_kind = _choice(rng, n, [t[1] for t in TERM_KINDS])

    # Courses: one per (school, grade, subject) in use.
    course_key = key * 16 + subject
    ckeys, course_of = np.unique(course_key, return_inverse=True)
    c_school, c_level, c_subject = ckeys // 256, (ckeys // 16) % 16 - 1, ckeys % 16
    c_school_id = _col(schools, "school_id").take(pa.array(c_school))
    course_name = _join(_pick([s[1] for s in SUBJECTS], c_subject), _pick(GRADE_LABELS, c_level + 1), sep=" ")
    course_code = _join(_pick([s[2] for s in SUBJECTS], c_subject), _pick(GRADE_CODES, c_level + 1), sep="-")
    courses = _canonical_table(
        "courses",
        {
            # The ID a Clever reader derives from a section's course columns (school|number).
            "course_id": _join(c_school_id, course_code, sep="|"),
            "school_id": c_school_id,
            "name": course_name,
            "course_code": course_code,
            "subject": _pick([s[0] for s in SUBJECTS], c_subject),
            "grades": _pick(GRADE_CODES, c_level + 1),
        },
    )

    # Teachers: 1-3 per section, dealt round-robin among the school's teachers.
    school_sections = np.bincount(sec_school, minlength=schools.num_rows).astype(np.int64)
    rank = _within(school_sections)
    n_teach = np.minimum(_choice(rng, n, (0.85, 0.12, 0.03)) + 1, teacher_count[sec_school])
    rows = np.repeat(np.arange(n, dtype=np.int64), n_teach)
    j = _within(n_teach)
    t_idx = teacher_start[sec_school[rows]] + (rank[rows] + j) % teacher_count[sec_school[rows]]
    teacher_ids = pa.ListArray.from_arrays(
        pa.array(_offsets(n_teach).astype(np.int32)), _col(teachers, "person_id").take(pa.array(t_idx))
    )
    school_id = _col(schools, "school_id").take(pa.array(sec_school))
    period_s = _digits(period)
    sections = _canonical_table(
        "sections",
        {
            "section_id": _ids("SEC", np.arange(1, n + 1), 7),
            "school_id": school_id,
            "course_id": _col(courses, "course_id").take(pa.array(course_of)),
            "term_id": terms.column("term_id").take(pa.array(sec_school * 3 + term_kind)),
            "name": _join(course_name.take(pa.array(course_of)), period_s, sep=" - Period "),
            "section_number": _digits(_within(per_group) + 1, 3),
            "subject": _pick([s[0] for s in SUBJECTS], subject),
            "grade": _pick(GRADE_CODES, sec_level + 1),
            "period": period_s,
            "teacher_ids": teacher_ids,
        },
    )
    return courses, sections


def _make_enrollments(
    rng: np.random.Generator,
    students: pa.Table,
    school_of: Ints,
    level: Ints,
    sections: pa.Table,
    schools: pa.Table,
    per_student: int,
) -> pa.Table:
    """About ``per_student`` distinct sections per student, of the student's school and grade
    (any grade of the school if it has no section of that grade)."""
    sec_school = _index_of(_col(sections, "school_id"), _col(schools, "school_id"))
    sec_key = sec_school * 16 + _level_of(_col(sections, "grade")) + 1
    order = np.argsort(sec_key, kind="stable")
    sorted_keys = sec_key[order]
    key = school_of * 16 + level + 1
    lo = np.searchsorted(sorted_keys, key, "left")
    hi = np.searchsorted(sorted_keys, key, "right")
    none = hi == lo
    lo = np.where(none, np.searchsorted(sorted_keys, school_of * 16, "left"), lo)
    hi = np.where(none, np.searchsorted(sorted_keys, school_of * 16 + 16, "left"), hi)
    count = (hi - lo).astype(np.int64)

    n = len(key)
    spread = 2 if per_student > 2 else 0
    k = np.minimum(rng.integers(per_student - spread, per_student + spread + 1, n), count)
    stride = np.maximum(1, count // np.maximum(k, 1))
    start = (rng.random(n) * count).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    j = _within(k)
    # Distinct per student: j * stride < count for every j < k.
    picked = order[lo[rows] + (start[rows] + j * stride[rows]) % count[rows]]
    rows_arr = pa.array(rows)
    return pa.table(
        {
            "section_id": _col(sections, "section_id").take(pa.array(picked)),
            "person_id": _col(students, "person_id").take(rows_arr),
            "school_id": _col(students, "school_id").take(rows_arr),
            "role": pa.repeat(pa.scalar("student", pa.string()), len(rows)),
        }
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


# ---------------------------------------------------------------------------------------------
# Writers

_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False)


def _write_csv(table: pa.Table, path: Path) -> Path:
    """Write ``table`` as CSV: an unquoted header line (as SIS exports have), then the rows
    (strings quoted, nulls as empty fields). A native file, not a Python one: writing through a
    Python file object holds the GIL per chunk and is ~20x slower."""
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode("utf-8"))
        if table.num_rows:
            pacsv.write_csv(table, sink, write_options=_WRITE_OPTIONS)
    return path


def _clever_grade(codes: pa.Array) -> pa.Array:
    idx = pc.index_in(codes, value_set=_strings(GRADE_CODES))
    return _strings(CLEVER_GRADES).take(idx)


def _us_date(values: pa.Array) -> pa.Array:
    """MM/DD/YYYY, rearranged from the ISO text (3x faster than strftime)."""
    iso = values.cast(pa.string())
    part = pc.utf8_slice_codeunits
    return _join(part(iso, 5, 7), part(iso, 8, 10), part(iso, 0, 4), sep="/")


def _list_slot(lists: pa.Array, i: int) -> pa.Array:
    """Element ``i`` of each list (null where the list is shorter)."""
    offsets = np.asarray(lists.offsets.to_numpy(), dtype=np.int64)
    lengths = np.diff(offsets)
    idx = offsets[:-1] + i
    return lists.values.take(pa.array(idx, mask=lengths <= i))


def _lookup(keys: pa.Array, table: pa.Table, key: str, column: str) -> pa.Array:
    at = _index_of(keys, _col(table, key))
    return _col(table, column).take(pa.array(at, mask=at < 0))


def _student_contact_rows(district: SyntheticDistrict) -> tuple[pa.Array, pa.Array]:
    """Row indices for a students.csv with one row per contact: (student row, link row or null).
    A student without contacts gets one row with empty contact columns."""
    t = district.tables
    students, links = t["students"], t["contact_links"]
    student_row = _index_of(_col(links, "student_id"), _col(students, "person_id"))
    order = np.lexsort((np.arange(links.num_rows), student_row))
    order = order[student_row[order] >= 0]
    count = np.bincount(student_row[order], minlength=students.num_rows).astype(np.int64)
    per = np.maximum(count, 1)
    row_start = _offsets(per)[:-1]
    student_rep = np.repeat(np.arange(students.num_rows, dtype=np.int64), per)
    link_at = np.full(len(student_rep), -1, dtype=np.int64)
    link_at[np.repeat(row_start, count) + _within(count)] = order
    return pa.array(student_rep), pa.array(link_at, mask=link_at < 0)


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


def _grouped_list(table: pa.Table, key: str, value: str, keys: pa.Array) -> pa.Array:
    """For each of ``keys``: the ``value``s of ``table`` rows with that ``key``, comma-joined
    (in table order; null when none)."""
    grouped = table.select([key, value]).group_by(key, use_threads=False).aggregate([(value, "list")])
    at = _index_of(keys, _col(grouped, key))
    return pc.binary_join(_col(grouped, f"{value}_list").take(pa.array(at, mask=at < 0)), ",")


def _const(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.repeat(pa.scalar(value, pa.string()), n)


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
                "sourcedId": terms["term_id"],
                "status": _const(None, n),
                "dateLastModified": _const(None, n),
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
                "sourcedId": c["course_id"],
                "status": _const(None, n),
                "dateLastModified": _const(None, n),
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
                "sourcedId": se["section_id"],
                "status": _const(None, n),
                "dateLastModified": _const(None, n),
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
            "sourcedId": _col(table, "person_id"),
            "status": _const(None, n),
            "dateLastModified": _const(None, n),
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
                "userMasterIdentifier": _const(None, n),
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
                        "sourcedId": _join(user, org, sep="-"),
                        "status": _const(None, m),
                        "dateLastModified": _const(None, m),
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
                    "sourcedId": _join(_col(en, "section_id"), _col(en, "person_id"), sep="-"),
                    "status": _const(None, n),
                    "dateLastModified": _const(None, n),
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
                    "sourcedId": _join(section_of_teacher, teacher, sep="-"),
                    "status": _const(None, m),
                    "dateLastModified": _const(None, m),
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
        "sourcedId": _col(st, "person_id"),
        "status": _const(None, n),
        "dateLastModified": _const(None, n),
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
