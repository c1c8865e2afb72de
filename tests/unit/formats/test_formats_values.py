"""Value rules shared by every format (issue 9): phone extensions, two-digit years, one canonical
vocabulary for grades / sex / contacts with the value as sent kept, and silent gaps as alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from formats_helpers import FIXTURES, replace_text, rows_by_key
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rostersync.diff import diff_table
from rostersync.formats import load_roster
from rostersync.formats.values import parse_dates, split_phones
from rostersync.formats.vocab import CONTACT_TYPES, GRADES, RELATIONSHIPS, SEXES, canonical
from rostersync.model import ENTITIES, STUDENTS
from rostersync.settings import DistrictSettings
from rostersync.validate import LoadResult
from rostersync_tools import synthetic

TODAY = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _issue_rows(result: LoadResult) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in result.issues.to_pylist()]


def _columns(result: LoadResult, entity: str, key: str, *columns: str) -> dict[str, tuple[Any, ...]]:
    return {k: tuple(r[c] for c in columns) for k, r in rows_by_key(result, entity, key).items()}


# --- phones and dates (tests/fixtures/values_phones_dates) -------------------------------------


@pytest.fixture(scope="module")
def phones_dates() -> LoadResult:
    return load_roster(FIXTURES / "values_phones_dates", received_at=TODAY)


def test_phone_extensions_are_their_own_field(phones_dates: LoadResult) -> None:
    assert _columns(phones_dates, "contacts", "person_id", "phone", "phone_extension") == {
        "P1": ("8395434396", "372"),  # 839.543.4396 ext. 372
        "P2": ("5551234", "12"),  # 555-1234 #12
        "P3": (None, None),  # 1-800-FLOWERS: cleared, never guessed
        "P4": ("+19195550142", None),
    }
    assert _columns(phones_dates, "schools", "school_id", "phone", "phone_extension") == {
        "S1": ("3365331632", "218")  # (336)533-1632 x218
    }


def test_two_digit_birth_years_are_never_in_the_future(phones_dates: LoadResult) -> None:
    assert _columns(phones_dates, "students", "person_id", "birth_date") == {
        "ST1": (date(1998, 11, 1),),  # 11/1/98
        "ST2": (date(2015, 8, 1),),  # 8/1/15
        "ST3": (date(1926, 12, 31),),  # 12/31/26 is after 4 December 2026
        "ST4": (date(2015, 3, 9),),
    }


def test_two_digit_term_years_keep_the_term_id_year(phones_dates: LoadResult) -> None:
    assert _columns(phones_dates, "terms", "term_id", "start_date", "end_date") == {
        "S1|Year|2015": (date(2015, 8, 1), date(2016, 6, 10))
    }
    assert _columns(phones_dates, "sections", "section_id", "term_id") == {
        "SEC1": ("S1|Year|2015",),
        "SEC2": (None,),  # its term's year is unknowable: no term ID is made
        "SEC3": (None,),  # the same term: one error names it (on its first row)
    }


def test_phones_dates_issue_rows(phones_dates: LoadResult) -> None:
    assert _issue_rows(phones_dates) == [
        (
            "error",
            "sections.csv",
            3,
            "Term_start",
            "Fall",
            "The school year of this term is unknown: Term_start is empty or not a date (use MM/DD/YYYY, "
            "M/D/YY or YYYY-MM-DD), and a term's ID needs its year. The term was left out; its sections "
            "were kept without a term.",
        ),
        (
            "alert",
            "students.csv",
            4,
            "Contact_phone",
            "a value of 13 characters",
            "Not a phone number that can be read without guessing (write the number in digits and an "
            "extension as x218, ext. 218 or #218); the value was ignored.",
        ),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "1-800-FLOWERS",  # the library would turn letters into digits
        "336 533 1632 (cell)",  # a word
        "(336)533-1632 x218 x5",  # two extensions: 218 would be merged into the number
        "555-1234#",  # the library would read 555 with extension 1234
        "ext. 372",  # an extension without a number
    ],
)
def test_a_phone_that_needs_a_guess_is_cleared(value: str) -> None:
    phones = split_phones(pa.array([value]))

    assert (phones.number.to_pylist(), phones.extension.to_pylist()) == ([None], [None])
    assert phones.unreadable.to_pylist() == [True]


def test_phone_region_reads_national_numbers(tmp_path: Path) -> None:
    phones = split_phones(pa.array(["020 7946 0958 ext 12"]), "GB")

    assert (phones.number.to_pylist(), phones.extension.to_pylist()) == (["02079460958"], ["12"])


def test_phone_region_must_be_a_known_region() -> None:
    assert DistrictSettings(phone_region="ca").phone_region == "CA"
    with pytest.raises(ValidationError, match="not a region phone numbers can be read for: ZZ"):
        DistrictSettings(phone_region="ZZ")


_SEPARATORS = st.sampled_from(["-", ".", " ", ""])
_MARKERS = st.sampled_from([" x", "x", " ext. ", " ext ", " extension ", " #", "#", " EXT. ", " X"])


@given(
    area=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    sep=_SEPARATORS,
    bracket=st.booleans(),
    marker=_MARKERS,
    extension=st.integers(1, 99999),
)
def test_a_phone_with_an_extension_never_merges_digits(
    area: int, exchange: int, line: int, sep: str, bracket: bool, marker: str, extension: int
) -> None:
    head = f"({area}){exchange}" if bracket else f"{area}{sep}{exchange}"
    value = f"{head}{sep}{line:04d}{marker}{extension}"

    phones = split_phones(pa.array([value]))

    assert phones.number.to_pylist() == [f"{area}{exchange}{line:04d}"]
    assert phones.extension.to_pylist() == [str(extension)]


@given(st.lists(st.text(alphabet="0123456789 ()-./+", max_size=20), max_size=20))
def test_plain_phones_keep_the_digits_and_a_leading_plus(values: list[str]) -> None:
    phones = split_phones(pa.array(values, pa.string()))

    for value, number in zip(values, phones.number.to_pylist(), strict=True):
        digits = "".join(c for c in value if c.isdigit())
        expected = ("+" if value.startswith("+") else "") + digits
        assert number == (expected if 7 <= len(digits) <= 15 else None)


@given(st.integers(1, 12), st.integers(1, 28), st.integers(0, 99))
def test_two_digit_birth_years_fall_in_the_hundred_years_before_today(month: int, day: int, yy: int) -> None:
    today = date(2026, 12, 4)

    [parsed] = parse_dates(pa.array([f"{month}/{day}/{yy:02d}"]), today=today, past_only=True).to_pylist()

    assert parsed.year % 100 == yy
    assert date(1926, 12, 4) < parsed <= today


@given(st.integers(1, 12), st.integers(1, 28), st.integers(0, 99))
def test_two_digit_term_years_fall_within_fifty_years(month: int, day: int, yy: int) -> None:
    [parsed] = parse_dates(pa.array([f"{month}/{day}/{yy:02d}"]), today=date(2026, 12, 4)).to_pylist()

    assert parsed.year % 100 == yy
    assert 1976 <= parsed.year <= 2075


# --- vocabulary (tests/fixtures/values_vocabulary) ---------------------------------------------


@pytest.fixture(scope="module")
def vocabulary() -> LoadResult:
    return load_roster(FIXTURES / "values_vocabulary", received_at=TODAY)


def test_grades_and_sex_become_canonical_with_the_value_as_sent_kept(vocabulary: LoadResult) -> None:
    assert _columns(vocabulary, "students", "person_id", "grade", "grade_raw", "gender", "gender_raw") == {
        "ST1": ("KG", "Kindergarten", "female", "F"),
        "ST2": ("KG", "K", "male", "M"),
        "ST3": ("KG", "0", "other", "X"),
        "ST4": ("01", "1", "male", "Male"),
        "ST5": ("01", "01", "female", "female"),
        "ST6": ("01", "1st", "Z", "Z"),
        "ST7": ("01", "First grade", None, None),
        "ST8": ("Grade 14", "Grade 14", "female", "F"),
    }
    assert _columns(vocabulary, "schools", "school_id", "low_grade", "high_grade") == {"S1": ("PK", "12")}
    assert _columns(vocabulary, "sections", "section_id", "grade", "grade_raw") == {
        "SEC1": ("KG", "Kindergarten")
    }


def test_relationships_and_contact_types_become_canonical(vocabulary: LoadResult) -> None:
    links = {
        r["contact_id"]: (r["relationship"], r["relationship_raw"], r["contact_type"], r["contact_type_raw"])
        for r in vocabulary.roster.tables["contact_links"].to_pylist()
    }
    assert links == {
        "P1": ("Parent", "Mother", "Primary", "primary"),
        "P2": ("Grandparent", "Grandmother", "Emergency", "EMERGENCY"),
        "P3": ("Guardian", "Guardian", "Primary", "Primary"),
        "P4": ("Neighbour", "Neighbour", "Primary", "Primary"),
    }


def test_unknown_vocabulary_values_are_kept_with_alerts(vocabulary: LoadResult) -> None:
    assert _issue_rows(vocabulary) == [
        (
            "alert",
            "students.csv",
            5,
            "Contact_relationship",
            "Neighbour",
            "Not a known relationship (expected Parent, Guardian, Grandparent, Aunt/Uncle, Sibling, "
            "Relative, Self, Other); it was kept as sent.",
        ),
        (
            "alert",
            "students.csv",
            7,
            "Gender",
            "Z",
            "Not a known sex (expected male, female, other or unspecified; M, F, X and U are read too); "
            "it was kept as sent.",
        ),
        (
            "alert",
            "students.csv",
            9,
            "Grade",
            "Grade 14",
            "Not a known grade (expected a grade code IT, PR, PK, TK, KG, 01-13, PS, UG or Other, or a "
            "spelling of one such as Kindergarten, K, 1, 1st or First grade); it was kept as sent.",
        ),
    ]


@pytest.mark.parametrize("vocab", [GRADES, SEXES, RELATIONSHIPS, CONTACT_TYPES], ids=lambda v: v.name)
def test_every_canonical_code_maps_to_itself(vocab: Any) -> None:
    mapped, unknown = canonical(pa.array(list(vocab.codes)), vocab)

    assert mapped.to_pylist() == list(vocab.codes)
    assert not pc.any(unknown).as_py()


def test_grade_lists_map_item_by_item() -> None:
    mapped, unknown = canonical(pa.array(["9,10", "K, 1", "9,Z", None]), GRADES.as_multi())

    assert mapped.to_pylist() == ["09,10", "KG,01", "9,Z", None]
    assert unknown.to_pylist() == [False, False, True, False]


def test_known_values_and_nulls_are_never_unknown() -> None:
    sent = pa.chunked_array([["Parent", None], ["Sibling"]])

    mapped, unknown = canonical(sent, RELATIONSHIPS)

    assert mapped.to_pylist() == ["Parent", None, "Sibling"]
    assert unknown.to_pylist() == [False, False, False]
    assert canonical(pa.array(["M", None]), SEXES)[0].to_pylist() == ["male", None]


def test_raw_columns_are_never_compared_by_the_diff() -> None:
    for entity in ENTITIES:
        assert not [c for c in entity.value_columns if c.endswith("_raw")], entity.name


def test_a_format_switch_changes_no_vocabulary_field(tmp_path: Path) -> None:
    district = synthetic.generate_district(students=300, seed=5, schools=2)
    synthetic.write_clever_csv(district, tmp_path / "clever")
    synthetic.write_oneroster_csv(district, tmp_path / "oneroster", "1.2")
    clever = load_roster(tmp_path / "clever", received_at=TODAY).roster
    oneroster = load_roster(tmp_path / "oneroster", received_at=TODAY).roster

    changes = diff_table(STUDENTS, clever.tables["students"], oneroster.tables["students"])

    changed = {f for fields in changes.changed_fields.to_pylist() for f in fields}
    assert changed.isdisjoint({"grade", "gender", "grade_raw", "gender_raw"})
    # The values as sent do differ (Clever "Kindergarten"/"F", OneRoster "KG"/"female").
    students = clever.tables["students"]
    assert pc.sum(pc.not_equal(students.column("gender"), students.column("gender_raw"))).as_py() > 0


# --- silent gaps (tests/fixtures/values_gaps) -------------------------------------------------


def test_silent_gaps_are_alerts() -> None:
    result = load_roster(FIXTURES / "values_gaps", received_at=TODAY)

    assert _issue_rows(result) == [
        (
            "alert",
            "schools.csv",
            3,
            "School_id",
            "S2",
            "No student in students.csv belongs to this school (or all of them were left out because of "
            "errors); the school was kept.",
        ),
        (
            "alert",
            "sections.csv",
            3,
            "Course_number",
            None,
            "This section has no course (Course_number is empty); it was kept without a course.",
        ),
        (
            "alert",
            "sections.csv",
            4,
            "Section_id",
            "SEC3",
            "This section has no teacher: none was sent, or none of its teachers is in teachers.csv (or "
            "they were left out because of errors). It was kept without a teacher.",
        ),
        (
            "alert",
            "sections.csv",
            4,
            "Teacher_id",
            "T9",
            "Refers to a teacher that is not in teachers.csv; only this teacher assignment was dropped "
            "from the class.",
        ),
        (
            "alert",
            "students.csv",
            3,
            "Contact_name",
            "P2",
            "This contact has neither a phone number nor an email address that can be used, so they "
            "cannot be reached; the contact was kept.",
        ),
    ]
    assert result.roster.counts()["schools"] == 2  # alerts keep every record
    assert result.roster.counts()["sections"] == 3


def test_a_oneroster_class_without_a_course_is_an_alert(fixture_copy: Any) -> None:
    directory = fixture_copy("oneroster11_basic")
    replace_text(directory / "classes.csv", "Grade 5 Math,05,CO2,", "Grade 5 Math,05,,")

    result = load_roster(directory, received_at=TODAY)

    assert _issue_rows(result) == [
        (
            "alert",
            "classes.csv",
            3,
            "courseSourcedId",
            None,
            "This class has no course (courseSourcedId is empty); it was kept without a course.",
        )
    ]
    assert rows_by_key(result, "sections", "section_id")["C2"]["course_id"] is None


@given(
    st.lists(st.one_of(st.none(), st.text(alphabet="0123456789 ()-+x#A", max_size=18)), max_size=24),
    st.integers(0, 5),
)
def test_a_phone_column_splits_each_value_as_it_would_alone(values: list[str | None], skip: int) -> None:
    # Sliced, with nulls and every kind of value mixed: the fast path over the column's buffers
    # must read each value exactly as a column of that value alone.
    column = pa.array(["(555) 123-4567"] * skip + values, pa.string()).slice(skip)

    phones = split_phones(column)

    for i, value in enumerate(values):
        alone = split_phones(pa.array([value], pa.string()))
        for name in ("number", "extension", "wrong_length", "unreadable"):
            assert getattr(phones, name)[i].as_py() == getattr(alone, name)[0].as_py(), (name, value)
