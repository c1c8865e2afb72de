"""The synthetic district generator: determinism, proportions, day 2, scenarios and writers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rostersync.model import CONTACT_TYPES, ENTITIES, RELATIONSHIPS, conform
from rostersync_tools import synthetic
from rostersync_tools.synthetic import SyntheticDistrict

STUDENTS = 3000


@pytest.fixture(scope="module")
def district() -> SyntheticDistrict:
    return synthetic.generate_district(students=STUDENTS, seed=11, schools=4)


@pytest.fixture(scope="module")
def day2(district: SyntheticDistrict) -> SyntheticDistrict:
    return synthetic.make_day2(district, seed=5)


def _ids(table: pa.Table, column: str = "person_id") -> set[str]:
    return set(table.column(column).to_pylist())


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _changed_ids(old: pa.Table, new: pa.Table, columns: list[str]) -> set[str]:
    before = {r["person_id"]: r for r in old.select(["person_id", *columns]).to_pylist()}
    return {
        r["person_id"]
        for r in new.select(["person_id", *columns]).to_pylist()
        if r["person_id"] in before and before[r["person_id"]] != r
    }


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_tables(district: SyntheticDistrict) -> None:
    again = synthetic.generate_district(students=STUDENTS, seed=11, schools=4)
    for name, table in district.tables.items():
        assert table.equals(again.tables[name]), name


def test_other_seed_gives_other_people(district: SyntheticDistrict) -> None:
    other = synthetic.generate_district(students=STUDENTS, seed=12, schools=4)
    assert not district.tables["students"].equals(other.tables["students"])


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    for fmt in ("clever", "1.1", "1.2", "sds"):
        dirs = [tmp_path / f"{fmt}-a", tmp_path / f"{fmt}-b"]
        for d in dirs:
            fresh = synthetic.generate_district(students=STUDENTS, seed=11, schools=4)
            if fmt == "clever":
                synthetic.write_clever_csv(fresh, d)
            elif fmt == "sds":
                synthetic.write_sds_csv(fresh, d)
            else:
                synthetic.write_oneroster_csv(fresh, d, fmt)  # type: ignore[arg-type]
        names = sorted(p.name for p in dirs[0].iterdir())
        assert names == sorted(p.name for p in dirs[1].iterdir())
        for name in names:
            assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), (fmt, name)


def test_day2_is_deterministic(district: SyntheticDistrict, day2: SyntheticDistrict) -> None:
    again = synthetic.make_day2(district, seed=5)
    for name, table in day2.tables.items():
        assert table.equals(again.tables[name]), name


def test_negative_seed_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        synthetic.generate_district(students=10, seed=-1)


# --- shape and proportions -----------------------------------------------------------------


def test_tables_follow_the_canonical_schemas(district: SyntheticDistrict) -> None:
    assert set(district.tables) == {e.name for e in ENTITIES}
    for entity in ENTITIES:
        table = district.tables[entity.name]
        assert conform(table, entity).schema == entity.schema
        for field in entity.schema:
            assert table.schema.field(field.name).type == field.type, (entity.name, field.name)


def test_keys_are_unique(district: SyntheticDistrict) -> None:
    for entity in ENTITIES:
        table = district.tables[entity.name]
        keys = table.group_by(list(entity.key)).aggregate([]).num_rows
        assert keys == table.num_rows, entity.name


def test_proportions_of_a_large_district() -> None:
    d = synthetic.generate_district(students=30_000, seed=3)
    counts = d.counts()
    n = counts["students"]
    assert n == 30_000
    assert counts["schools"] == 20  # one per 1,500 students
    assert counts["teachers"] == pytest.approx(n * 35_000 / 600_000, rel=0.1)
    assert counts["staff"] == pytest.approx(n * 2_000 / 600_000, rel=0.15)
    assert counts["sections"] == pytest.approx(n * 150_000 / 600_000, rel=0.1)
    assert counts["enrollments"] == pytest.approx(n * 10, rel=0.05)
    assert counts["contact_links"] == pytest.approx(n * 2, rel=0.05)
    # Siblings share contacts, so there are fewer contacts than contact rows.
    assert 0.75 * counts["contact_links"] < counts["contacts"] < counts["contact_links"]


def test_contacts_per_student_are_zero_to_four(district: SyntheticDistrict) -> None:
    links = district.tables["contact_links"]
    per_student = links.group_by("student_id").aggregate([("contact_id", "count")])
    counts = per_student.column("contact_id_count").to_numpy()
    assert counts.max() <= 4
    assert STUDENTS - per_student.num_rows > 0  # some students have no contact at all


def test_contact_types_and_relationships_are_documented_values(
    district: SyntheticDistrict,
) -> None:
    links = district.tables["contact_links"]
    types = set(links.column("contact_type").to_pylist())
    assert types <= set(CONTACT_TYPES)
    assert {"Primary", "Emergency"} <= types
    assert set(links.column("relationship").to_pylist()) <= set(RELATIONSHIPS)


def test_siblings_share_contacts(district: SyntheticDistrict) -> None:
    links = district.tables["contact_links"]
    students_per_contact = links.group_by("contact_id").aggregate([("student_id", "count")])
    assert pc.max(students_per_contact.column("student_id_count")).as_py() >= 2


def test_references_resolve(district: SyntheticDistrict) -> None:
    t = district.tables
    sections = _ids(t["sections"], "section_id")
    students = _ids(t["students"])
    assert _ids(t["enrollments"], "section_id") <= sections
    assert _ids(t["enrollments"]) <= students
    assert _ids(t["contact_links"], "student_id") <= students
    assert _ids(t["contact_links"], "contact_id") == _ids(t["contacts"])
    assert set(pc.list_flatten(t["sections"].column("teacher_ids")).to_pylist()) <= _ids(t["teachers"])
    assert _ids(t["sections"], "term_id") <= _ids(t["terms"], "term_id")
    assert _ids(t["sections"], "course_id") <= _ids(t["courses"], "course_id")


def test_students_enroll_in_sections_of_their_school(district: SyntheticDistrict) -> None:
    t = district.tables
    enrollments, sections = t["enrollments"], t["sections"]
    at = pc.index_in(enrollments.column("section_id"), value_set=sections.column("section_id"))
    section_school = sections.column("school_id").take(at)
    assert pc.all(pc.equal(section_school, enrollments.column("school_id"))).as_py()


def test_sections_have_one_to_three_teachers(district: SyntheticDistrict) -> None:
    lengths = pc.list_value_length(district.tables["sections"].column("teacher_ids"))
    assert pc.min(lengths).as_py() >= 1
    assert pc.max(lengths).as_py() <= 3


def test_students_have_plausible_birth_dates(district: SyntheticDistrict) -> None:
    students = district.tables["students"]
    kindergarten = students.filter(pc.equal(students.column("grade"), "KG"))
    years = pc.year(kindergarten.column("birth_date")).to_numpy()
    # Five on 1 September 2025: born between September 2019 and September 2020.
    assert set(np.unique(years)) <= {2019, 2020}


def test_to_roster_drops_extra_columns(district: SyntheticDistrict) -> None:
    roster = district.to_roster()
    assert "race" not in roster.tables["students"].column_names
    assert roster.counts() == district.counts()


# --- day 2 and scenarios -------------------------------------------------------------------


def test_day2_removes_two_and_adds_three_percent(
    district: SyntheticDistrict, day2: SyntheticDistrict
) -> None:
    before, after = _ids(district.tables["students"]), _ids(day2.tables["students"])
    assert len(before - after) == round(STUDENTS * 0.02)
    assert len(after - before) == round(STUDENTS * 0.03)


def test_day2_changes_five_percent(district: SyntheticDistrict, day2: SyntheticDistrict) -> None:
    students = _changed_ids(
        district.tables["students"], day2.tables["students"], ["last_name", "email", "grade"]
    )
    contacts = _changed_ids(district.tables["contacts"], day2.tables["contacts"], ["phone"])
    target = round(STUDENTS * 0.05)
    assert len(students) == pytest.approx(target * 0.75, rel=0.25)
    # A phone change touches one contact per changed student (shared contacts count once).
    assert len(students) + len(contacts) == pytest.approx(target, rel=0.05)
    assert (
        _changed_ids(
            district.tables["students"], day2.tables["students"], ["first_name", "birth_date", "school_id"]
        )
        == set()
    )


def test_day2_drops_what_hangs_off_removed_students(
    district: SyntheticDistrict, day2: SyntheticDistrict
) -> None:
    gone = _ids(district.tables["students"]) - _ids(day2.tables["students"])
    assert not gone & _ids(day2.tables["enrollments"])
    assert not gone & _ids(day2.tables["contact_links"], "student_id")
    assert _ids(day2.tables["contact_links"], "contact_id") == _ids(day2.tables["contacts"])


def test_day2_new_students_have_contacts_and_enrollments(
    district: SyntheticDistrict, day2: SyntheticDistrict
) -> None:
    new = _ids(day2.tables["students"]) - _ids(district.tables["students"])
    enrolled = _ids(day2.tables["enrollments"]) & new
    with_contacts = _ids(day2.tables["contact_links"], "student_id") & new
    assert len(enrolled) == len(new)
    assert len(with_contacts) > 0.8 * len(new)
    new_contacts = _ids(day2.tables["contacts"]) - _ids(district.tables["contacts"])
    assert len(new_contacts) > len(new)


def test_day2_leaves_schools_sections_and_staff_alone(
    district: SyntheticDistrict, day2: SyntheticDistrict
) -> None:
    for name in ("schools", "terms", "courses", "teachers", "staff", "sections"):
        assert day2.tables[name].equals(district.tables[name]), name


def test_drop_school_students_empties_one_school(district: SyntheticDistrict) -> None:
    students = district.tables["students"]
    school = students.column("school_id")[0].as_py()
    in_school = pc.sum(pc.equal(students.column("school_id"), school)).as_py()
    dropped = synthetic.drop_school_students(district, school, 0.8, seed=1)
    after = dropped.tables["students"]
    left = pc.sum(pc.equal(after.column("school_id"), school)).as_py()
    assert left == in_school - round(in_school * 0.8)
    assert after.num_rows == students.num_rows - (in_school - left)
    assert not (_ids(students) - _ids(after)) & _ids(dropped.tables["enrollments"])


def test_add_emergency_contacts(district: SyntheticDistrict) -> None:
    school = district.tables["schools"].column("school_id")[1].as_py()
    more = synthetic.add_emergency_contacts(district, school, 10, per_student=4, seed=2)
    links = more.tables["contact_links"]
    new = _ids(more.tables["contacts"]) - _ids(district.tables["contacts"])
    assert len(new) == 10
    new_links = links.filter(pc.is_in(links.column("contact_id"), value_set=pa.array(sorted(new))))
    assert set(new_links.column("contact_type").to_pylist()) == {"Emergency"}
    assert set(new_links.column("school_id").to_pylist()) == {school}
    assert len(_ids(new_links, "student_id")) == 3  # 4 + 4 + 2
    # Each student's contacts stay together, the new ones last.
    student_ids = links.column("student_id").to_pylist()
    firsts = {s: i for i, s in reversed(list(enumerate(student_ids)))}
    lasts = {s: i for i, s in enumerate(student_ids)}
    assert all(lasts[s] - firsts[s] + 1 == student_ids.count(s) for s in _ids(new_links, "student_id"))


# --- writers -------------------------------------------------------------------------------

CLEVER_HEADERS = {
    "schools.csv": {"School_id", "School_name", "School_number", "Low_grade", "High_grade"},
    "students.csv": {
        "School_id",
        "Student_id",
        "Student_number",
        "Last_name",
        "First_name",
        "Grade",
        "DOB",
        "Student_email",
        "Contact_name",
        "Contact_type",
        "Contact_relationship",
        "Contact_phone",
        "Contact_phone_type",
        "Contact_email",
        "Contact_sis_id",
    },
    "teachers.csv": {"School_id", "Teacher_id", "Teacher_number", "Teacher_email", "First_name", "Last_name"},
    "staff.csv": {"School_id", "Staff_id", "Staff_email", "First_name", "Last_name", "Title"},
    "sections.csv": {
        "School_id",
        "Section_id",
        "Teacher_id",
        "Teacher_2_id",
        "Teacher_3_id",
        "Teacher_4_id",
        "Name",
        "Term_name",
        "Term_start",
        "Term_end",
        "Course_name",
        "Course_number",
    },
    "enrollments.csv": {"School_id", "Section_id", "Student_id"},
}


@pytest.fixture(scope="module")
def clever_dir(district: SyntheticDistrict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("clever")
    synthetic.write_clever_csv(district, directory)
    return directory


def test_clever_writer_writes_the_documented_headers(clever_dir: Path) -> None:
    assert {p.name for p in clever_dir.iterdir()} == set(CLEVER_HEADERS)
    for name, required in CLEVER_HEADERS.items():
        assert required <= set(_header(clever_dir / name)), name


def test_clever_students_repeat_student_columns_per_contact(
    district: SyntheticDistrict, clever_dir: Path
) -> None:
    rows = _rows(clever_dir / "students.csv")
    links = district.tables["contact_links"]
    per_student = dict(
        zip(
            *links.group_by("student_id").aggregate([("contact_id", "count")]).to_pydict().values(),
            strict=True,
        )
    )
    assert len(rows) == sum(max(1, per_student.get(s, 0)) for s in _ids(district.tables["students"]))
    sibling = next(s for s, n in per_student.items() if n >= 2)
    mine = [r for r in rows if r["Student_id"] == sibling]
    student_part = [{k: v for k, v in r.items() if not k.startswith("Contact_")} for r in mine]
    assert len(mine) == per_student[sibling]
    assert all(part == student_part[0] for part in student_part)
    assert len({r["Contact_sis_id"] for r in mine}) == len(mine)
    lonely = next(s for s in _ids(district.tables["students"]) if s not in per_student)
    (row,) = [r for r in rows if r["Student_id"] == lonely]
    assert row["Contact_sis_id"] == "" and row["Contact_name"] == ""


def test_clever_sections_spread_teachers_over_numbered_columns(
    district: SyntheticDistrict, clever_dir: Path
) -> None:
    rows = {r["Section_id"]: r for r in _rows(clever_dir / "sections.csv")}
    for section in district.tables["sections"].to_pylist()[:200]:
        row = rows[section["section_id"]]
        columns = ["Teacher_id", "Teacher_2_id", "Teacher_3_id", "Teacher_4_id"]
        written = [row[c] for c in columns if row[c]]
        assert written == section["teacher_ids"]
        assert row["Term_start"].count("/") == 2


ONEROSTER_COMMON = {
    "manifest.csv": {"propertyName", "value"},
    "orgs.csv": {"sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"},
    "academicSessions.csv": {
        "sourcedId",
        "title",
        "type",
        "startDate",
        "endDate",
        "parentSourcedId",
        "schoolYear",
    },
    "courses.csv": {
        "sourcedId",
        "schoolYearSourcedId",
        "title",
        "courseCode",
        "grades",
        "orgSourcedId",
        "subjects",
    },
    "classes.csv": {
        "sourcedId",
        "title",
        "grades",
        "courseSourcedId",
        "classCode",
        "classType",
        "location",
        "schoolSourcedId",
        "termSourcedIds",
        "subjects",
        "periods",
    },
    "enrollments.csv": {
        "sourcedId",
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
        "primary",
        "beginDate",
        "endDate",
    },
    "demographics.csv": {"sourcedId", "birthDate", "sex", "hispanicOrLatinoEthnicity"},
}
USERS_COMMON = {
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_oneroster_writer_writes_the_documented_headers(
    district: SyntheticDistrict, tmp_path: Path, version: str
) -> None:
    synthetic.write_oneroster_csv(district, tmp_path, version)  # type: ignore[arg-type]
    expected = {**ONEROSTER_COMMON, "users.csv": USERS_COMMON}
    if version == "1.2":
        expected["roles.csv"] = {
            "sourcedId",
            "userSourcedId",
            "roleType",
            "role",
            "beginDate",
            "endDate",
            "orgSourcedId",
            "userProfileSourcedId",
        }
    assert {p.name for p in tmp_path.iterdir()} == set(expected)
    for name, required in expected.items():
        assert required <= set(_header(tmp_path / name)), name
    users = set(_header(tmp_path / "users.csv"))
    if version == "1.1":
        assert {"orgSourcedIds", "role"} <= users
    else:
        assert not {"orgSourcedIds", "role"} & users
        assert "primaryOrgSourcedId" in users
    manifest = {r["propertyName"]: r["value"] for r in _rows(tmp_path / "manifest.csv")}
    assert manifest["oneroster.version"] == version
    assert manifest["file.users"] == "bulk"
    assert manifest.get("file.roles", "absent") == ("bulk" if version == "1.2" else "absent")


def test_oneroster_links_guardians_and_students_both_ways(
    district: SyntheticDistrict, tmp_path: Path
) -> None:
    synthetic.write_oneroster_csv(district, tmp_path, "1.1")
    users = {r["sourcedId"]: r for r in _rows(tmp_path / "users.csv")}
    links = district.tables["contact_links"].to_pylist()
    link = links[0]
    student, contact = users[link["student_id"]], users[link["contact_id"]]
    assert student["role"] == "student"
    assert contact["role"] in {"parent", "guardian", "relative"}
    assert link["contact_id"] in student["agentSourcedIds"].split(",")
    assert link["student_id"] in contact["agentSourcedIds"].split(",")
    # A list is one quoted field in the file.
    text = (tmp_path / "users.csv").read_text(encoding="utf-8")
    multi = next(u for u in users.values() if "," in u["agentSourcedIds"])
    assert f'"{multi["agentSourcedIds"]}"' in text


def test_oneroster_enrollments_include_teachers(district: SyntheticDistrict, tmp_path: Path) -> None:
    synthetic.write_oneroster_csv(district, tmp_path, "1.2")
    rows = _rows(tmp_path / "enrollments.csv")
    students = [r for r in rows if r["role"] == "student"]
    teachers = [r for r in rows if r["role"] == "teacher"]
    assert len(students) == district.tables["enrollments"].num_rows
    teacher_slots = pc.sum(pc.list_value_length(district.tables["sections"].column("teacher_ids")))
    assert len(teachers) == teacher_slots.as_py()
    primaries = [r for r in teachers if r["primary"] == "true"]
    assert len(primaries) == district.tables["sections"].num_rows


SDS_HEADERS = {
    "orgs.csv": ["sourcedId", "name", "type", "parentSourcedId"],
    "users.csv": [
        "sourcedId",
        "username",
        "givenName",
        "familyName",
        "password",
        "activeDirectoryMatchId",
        "email",
        "phone",
        "sms",
    ],
    "roles.csv": [
        "userSourcedId",
        "orgSourcedId",
        "role",
        "sessionSourcedId",
        "grade",
        "isPrimary",
        "roleStartDate",
        "roleEndDate",
    ],
    "classes.csv": ["sourcedId", "orgSourcedId", "title", "sessionSourcedIds", "courseSourcedId", "code"],
    "enrollments.csv": ["classSourcedId", "userSourcedId", "role"],
    "academicSessions.csv": ["sourcedId", "title", "type", "schoolYear", "startDate", "endDate"],
    "courses.csv": ["sourcedId", "orgSourcedId", "title", "code", "schoolYearSourcedId", "subject", "grade"],
    "relationships.csv": ["userSourcedId", "relationshipUserSourcedId", "relationshipRole"],
    "demographics.csv": [
        "userSourcedId",
        "sex",
        "birthDate",
        "birthCity",
        "birthState",
        "birthCountry",
        "ethnicityCodes",
        "raceCodes",
    ],
}


def test_sds_writer_writes_the_documented_files_and_headers(
    district: SyntheticDistrict, tmp_path: Path
) -> None:
    synthetic.write_sds_csv(district, tmp_path)

    assert {p.name: _header(p) for p in tmp_path.iterdir()} == SDS_HEADERS


def test_sds_writer_gives_every_user_a_role_and_guardians_the_other_role(
    district: SyntheticDistrict, tmp_path: Path
) -> None:
    synthetic.write_sds_csv(district, tmp_path)
    roles = _rows(tmp_path / "roles.csv")
    contacts = set(district.tables["contacts"].column("person_id").to_pylist())

    assert {r["userSourcedId"] for r in roles} == {r["sourcedId"] for r in _rows(tmp_path / "users.csv")}
    assert {r["role"] for r in roles if r["userSourcedId"] in contacts} == {"other"}
    assert len(_rows(tmp_path / "relationships.csv")) == district.tables["contact_links"].num_rows


def test_sds_writer_writes_unpadded_us_dates(district: SyntheticDistrict, tmp_path: Path) -> None:
    synthetic.write_sds_csv(district, tmp_path)
    sessions = _rows(tmp_path / "academicSessions.csv")
    first = district.tables["terms"].column("start_date")[0].as_py()

    assert sessions[0]["startDate"] == f"{first.month}/{first.day}/{first.year}"
