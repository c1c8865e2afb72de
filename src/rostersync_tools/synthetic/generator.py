"""Generating a district directly in the canonical model (:func:`generate_district`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.model import ENTITIES, ENTITY_BY_NAME
from rostersync_tools.synthetic.arrowkit import (
    _choice,
    _choice_by_position,
    _col,
    _dates,
    _days,
    _digits,
    _first_names,
    _ids,
    _index_of,
    _join,
    _last_names,
    _level_of,
    _null_unless,
    _offsets,
    _phones,
    _pick,
    _rng,
    _single_lists,
    _slug,
    _within,
)
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.vocab import (
    AREA_CODES,
    CITIES,
    CONTACT_COUNT_WEIGHTS,
    CONTACT_EMAIL_DOMAINS,
    CONTACT_NUMBER_BASE,
    CONTACT_TYPE_VALUES,
    CONTACT_TYPE_WEIGHTS,
    ENROLLMENTS_PER_STUDENT,
    FRL,
    GRADE_CODES,
    GRADE_LABELS,
    HOME_LANGUAGES,
    LAST_NAMES,
    NAMESAKES,
    PHONE_TYPE_WEIGHTS,
    PHONE_TYPES,
    PLACE_PREFIXES,
    RACES,
    RELATIONSHIP_VALUES,
    RELATIONSHIP_WEIGHTS,
    SCHOOL_KINDS,
    SEATS_PER_SECTION,
    SEXES,
    SIBLING_RATE,
    STAFF_NUMBER_BASE,
    STAFF_TITLES,
    STREET_KINDS,
    STREETS,
    STUDENT_NUMBER_BASE,
    STUDENTS_PER_SCHOOL,
    STUDENTS_PER_STAFF,
    STUDENTS_PER_TEACHER,
    SUBJECTS,
    TEACHER_NUMBER_BASE,
    TERM_KINDS,
    Ints,
)

# ---------------------------------------------------------------------------------------------
# Generation


def _canonical_table(entity: str, columns: dict[str, pa.Array]) -> pa.Table:
    """The columns as a table, with every other canonical column of ``entity`` added as nulls (the
    ``phone_extension`` and ``*_raw`` columns: a value as sent depends on the format written)."""
    table = pa.table(columns)
    for fld in ENTITY_BY_NAME[entity].schema:
        if fld.name not in table.column_names:
            table = table.append_column(fld, pa.nulls(table.num_rows, fld.type))
    return table


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
