"""Hold rules at and around their thresholds, per-school scoping, and prepare_staged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from builders import Row, change_set, entity_changes, table

from rostersync import holds
from rostersync.issues import ISSUE_SCHEMA, FileProblem
from rostersync.model import (
    CONTACT_LINKS,
    ENROLLMENTS,
    ENTITIES,
    ENTITY_BY_NAME,
    SCHOOLS,
    SECTIONS,
    STAFF,
    STUDENTS,
    TEACHERS,
    UNKNOWN_SCHEMA,
)
from rostersync.records import HOLD_TYPES
from rostersync.roster import FORMAT_CLEVER_CSV, RosterSet
from rostersync.settings import DistrictSettings, HoldSettings

T0 = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)

# -- builders ------------------------------------------------------------------------------------


def people(school: str, n: int, prefix: str = "S", start: int = 0) -> list[Row]:
    return [{"person_id": f"{prefix}{school}-{i:04d}", "school_id": school} for i in range(start, start + n)]


def roster(
    tables: dict[str, Sequence[Row]] | None = None,
    *,
    received_at: datetime | dict[str, datetime] = T0,
    missing: Iterable[str] = (),
    unknown: Sequence[Row] = (),
) -> RosterSet:
    built = {name: table(ENTITY_BY_NAME[name], rows) for name, rows in (tables or {}).items()}
    if isinstance(received_at, datetime):
        received_at = {e.name: received_at for e in ENTITIES}
    return RosterSet(
        tables=built,
        format=FORMAT_CLEVER_CSV,
        unknown=pa.Table.from_pylist(list(unknown), schema=UNKNOWN_SCHEMA),
        missing=frozenset(missing),
        received_at=dict(received_at),
    )


def settings(**hold_settings: Any) -> DistrictSettings:
    return DistrictSettings(holds=HoldSettings(**hold_settings))


def link(student: str, contact: str, school: str = "1", contact_type: str = "Primary") -> Row:
    return {"student_id": student, "contact_id": contact, "school_id": school, "contact_type": contact_type}


# -- mass_removal --------------------------------------------------------------------------------


@pytest.mark.parametrize(("removed", "trips"), [(50, False), (51, True)])
def test_mass_removal_seed_example_501_students_at_10_percent(removed: int, trips: bool) -> None:
    school = people("102", 501)
    accepted = roster({"students": school})
    changes = change_set(entity_changes(STUDENTS, removed=school[:removed]))

    result = holds.mass_removal(changes, accepted, settings())

    assert bool(result) is trips


def test_mass_removal_stores_numbers_and_explains_them() -> None:
    school = people("102", 501)
    changes = change_set(entity_changes(STUDENTS, removed=school[:230]))

    (hold,) = holds.mass_removal(changes, roster({"students": school}), settings())

    assert (hold.type, hold.school_id, hold.entity) == ("mass_removal", "102", "students")
    assert (hold.numerator, hold.denominator, hold.threshold) == (230, 501, 10.0)
    assert hold.message == "School 102: would remove 230 of 501 students (45.9 %, limit 10 %)"


def test_mass_removal_exactly_at_percent_does_not_trip() -> None:
    school = people("1", 100)
    accepted = roster({"students": school})

    at_limit = holds.mass_removal(
        change_set(entity_changes(STUDENTS, removed=school[:10])), accepted, settings()
    )
    over = holds.mass_removal(change_set(entity_changes(STUDENTS, removed=school[:11])), accepted, settings())

    assert at_limit == []
    assert [h.numerator for h in over] == [11]


def test_mass_removal_decimal_percent_is_compared_exactly() -> None:
    school = people("1", 1000)
    accepted = roster({"students": school})
    rule = settings(mass_removal_percent=33.3)

    at_limit = holds.mass_removal(change_set(entity_changes(STUDENTS, removed=school[:333])), accepted, rule)
    over = holds.mass_removal(change_set(entity_changes(STUDENTS, removed=school[:334])), accepted, rule)

    assert at_limit == []
    assert len(over) == 1


@pytest.mark.parametrize(("removed", "trips"), [(4, False), (5, True)])
def test_mass_removal_needs_min_count(removed: int, trips: bool) -> None:
    school = people("1", 20)  # 4 of 20 is 20 %, well over 10 %
    changes = change_set(entity_changes(STUDENTS, removed=school[:removed]))

    assert bool(holds.mass_removal(changes, roster({"students": school}), settings())) is trips


def test_mass_removal_denominator_is_the_school_not_the_district() -> None:
    small, large = people("A", 100), people("B", 1000)
    accepted = roster({"students": small + large})
    # 20 of 100 in A trips; 20 of 1,100 district-wide would not; 20 of 1,000 in B does not.
    changes = change_set(entity_changes(STUDENTS, removed=small[:20] + large[:20]))

    result = holds.mass_removal(changes, accepted, settings())

    assert [(h.school_id, h.numerator, h.denominator) for h in result] == [("A", 20, 100)]


def test_mass_removal_is_per_entity_type() -> None:
    students, teachers = people("1", 100), people("1", 10, prefix="T")
    accepted = roster({"students": students, "teachers": teachers})
    changes = change_set(
        entity_changes(STUDENTS, removed=students[:5]),  # 5 %
        entity_changes(TEACHERS, removed=teachers[:5]),  # 50 %
    )

    result = holds.mass_removal(changes, accepted, settings())

    assert [(h.entity, h.numerator, h.denominator) for h in result] == [("teachers", 5, 10)]


def test_mass_removal_of_schools_is_district_wide() -> None:
    schools = [{"school_id": str(i)} for i in range(20)]
    changes = change_set(entity_changes(SCHOOLS, removed=schools[:6]))

    (hold,) = holds.mass_removal(changes, roster({"schools": schools}), settings())

    assert hold.school_id is None
    assert (hold.numerator, hold.denominator) == (6, 20)
    assert hold.message.startswith("District: would remove 6 of 20 schools")


def test_mass_removal_without_accepted_snapshot_never_holds() -> None:
    changes = change_set(entity_changes(STUDENTS, removed=people("1", 50)))

    assert holds.mass_removal(changes, None, settings()) == []


def test_mass_removal_samples_at_most_20_sorted_ids_of_the_school() -> None:
    school = people("1", 100)
    changes = change_set(entity_changes(STUDENTS, removed=list(reversed(school[:60]))))

    (hold,) = holds.mass_removal(changes, roster({"students": school}), settings())

    assert hold.sample_ids == [r["person_id"] for r in school[:20]]


def test_mass_removal_composite_key_samples_read_student_slash_contact() -> None:
    links = [link("S1", f"P{i}") for i in range(10)]
    changes = change_set(entity_changes(CONTACT_LINKS, removed=links))

    (hold,) = holds.mass_removal(changes, roster({"contact_links": links}), settings())

    assert hold.sample_ids[0] == "S1/P0"
    assert "10 of 10 contact links" in hold.message


# -- removals: hold_always -----------------------------------------------------------------------


def always(**hold_settings: Any) -> DistrictSettings:
    return DistrictSettings(removals="hold_always", holds=HoldSettings(**hold_settings))


def test_removals_default_mode_is_hold_over_threshold() -> None:
    assert DistrictSettings().removals == "hold_over_threshold"


def test_removals_mode_rejects_an_unknown_value() -> None:
    with pytest.raises(ValueError, match="removals"):
        DistrictSettings(removals="sometimes")  # type: ignore[arg-type]


def test_hold_always_holds_a_single_student_removal_and_names_the_setting() -> None:
    school = people("102", 501)
    changes = change_set(entity_changes(STUDENTS, removed=school[:1]))

    (hold,) = holds.mass_removal(changes, roster({"students": school}), always())

    assert (hold.type, hold.school_id, hold.entity) == ("mass_removal", "102", "students")
    assert (hold.numerator, hold.denominator, hold.threshold) == (1, 501, 0.0)
    assert hold.message == (
        "School 102: would remove 1 of 501 students (0.2 %); the district holds every removal of "
        "people and enrollments (setting removals: hold_always)"
    )
    assert hold.sample_ids == [school[0]["person_id"]]


def test_hold_always_holds_only_the_schools_with_removals() -> None:
    a, b = people("A", 100), people("B", 100)
    changes = change_set(entity_changes(STUDENTS, removed=a[:2]))

    result = holds.mass_removal(changes, roster({"students": a + b}), always())

    assert [(h.school_id, h.numerator) for h in result] == [("A", 2)]


def test_hold_always_holds_enrollment_removals() -> None:
    rows = [
        {"section_id": "SEC1", "person_id": f"S{i}", "school_id": "1", "role": "student"} for i in range(30)
    ]
    changes = change_set(entity_changes(ENROLLMENTS, removed=rows[:1]))

    (hold,) = holds.mass_removal(changes, roster({"enrollments": rows}), always())

    assert (hold.entity, hold.school_id, hold.numerator, hold.denominator) == ("enrollments", "1", 1, 30)


def test_hold_always_makes_one_hold_per_school_and_entity_even_over_the_threshold() -> None:
    school = people("1", 100)
    changes = change_set(entity_changes(STUDENTS, removed=school[:50]))

    result = holds.mass_removal(changes, roster({"students": school}), always())

    assert [(h.entity, h.numerator, h.threshold) for h in result] == [("students", 50, 0.0)]


def test_hold_always_keeps_the_threshold_for_sections() -> None:
    sections = [{"section_id": f"SEC{i}", "school_id": "1"} for i in range(100)]
    accepted = roster({"sections": sections})

    under = holds.mass_removal(
        change_set(entity_changes(SECTIONS, removed=sections[:10])), accepted, always()
    )
    over = holds.mass_removal(change_set(entity_changes(SECTIONS, removed=sections[:11])), accepted, always())

    assert under == []
    assert [(h.entity, h.numerator, h.threshold) for h in over] == [("sections", 11, 10.0)]


def test_hold_always_without_accepted_snapshot_never_holds() -> None:
    changes = change_set(entity_changes(STUDENTS, removed=people("1", 3)))

    assert holds.mass_removal(changes, None, always()) == []


def test_hold_always_is_evaluated_with_the_other_rules() -> None:
    school = people("1", 100)
    accepted = roster({"students": school})
    staged = roster({"students": school[1:]})
    changes = change_set(entity_changes(STUDENTS, removed=school[:1]))

    default = holds.evaluate_holds(changes, staged, accepted, settings())
    held = holds.evaluate_holds(changes, staged, accepted, always())

    assert default == []
    assert [(h.type, h.school_id, h.numerator) for h in held] == [("mass_removal", "1", 1)]


def test_never_automatic_holds_any_removal_of_any_entity_and_names_the_setting() -> None:
    sections = [{"section_id": f"SEC{i}", "school_id": "1"} for i in range(100)]
    changes = change_set(entity_changes(SECTIONS, removed=sections[:1]))
    rule = DistrictSettings(removals="never_automatic")

    (hold,) = holds.mass_removal(changes, roster({"sections": sections}), rule)

    assert (hold.type, hold.school_id, hold.entity, hold.threshold) == ("mass_removal", "1", "sections", 0.0)
    assert hold.message == (
        "School 1: would remove 1 of 100 sections (1.0 %); removals are never applied automatically "
        "(setting removals: never_automatic)"
    )


# -- mass_update ---------------------------------------------------------------------------------


def _updated(rows: Sequence[Row]) -> list[tuple[Row, Row, list[str]]]:
    return [(row, {**row, "email": "new@example.org"}, ["email"]) for row in rows]


@pytest.mark.parametrize(("changed", "trips"), [(75, False), (76, True)])
def test_mass_update_trips_only_above_75_percent(changed: int, trips: bool) -> None:
    school = people("7", 100)
    changes = change_set(entity_changes(STUDENTS, changed=_updated(school[:changed])))

    result = holds.mass_update(changes, roster({"students": school}), settings())

    assert bool(result) is trips


def test_mass_update_message_carries_numbers_and_most_changed_fields() -> None:
    school = people("7", 100)
    changes = change_set(entity_changes(STUDENTS, changed=_updated(school[:80])))

    (hold,) = holds.mass_update(changes, roster({"students": school}), settings())

    assert (hold.numerator, hold.denominator, hold.threshold) == (80, 100, 75.0)
    assert hold.message == (
        "School 7: would change 80 of 100 students (80.0 %, limit 75 %); most changed: email (80)"
    )


@pytest.mark.parametrize(("changed", "trips"), [(4, False), (5, True)])
def test_mass_update_needs_min_count(changed: int, trips: bool) -> None:
    school = people("7", 5)
    changes = change_set(entity_changes(STUDENTS, changed=_updated(school[:changed])))

    assert bool(holds.mass_update(changes, roster({"students": school}), settings())) is trips


def test_mass_update_counts_a_moved_record_in_its_accepted_school() -> None:
    school = people("A", 10)
    moved = [(row, {**row, "school_id": "B"}, ["school_id"]) for row in school]
    accepted = roster({"students": school})

    (hold,) = holds.mass_update(change_set(entity_changes(STUDENTS, changed=moved)), accepted, settings())

    assert (hold.school_id, hold.numerator, hold.denominator) == ("A", 10, 10)


# -- too_many_contacts ---------------------------------------------------------------------------


def _family(student: str, n: int, school: str = "1") -> list[Row]:
    return [link(student, f"{student}-P{i}", school) for i in range(n)]


def test_too_many_contacts_trips_at_six_links_with_a_new_one() -> None:
    links = _family("S1", 6) + _family("S2", 5)
    staged = roster(
        {"students": [*people("1", 3), {"person_id": "S1", "school_id": "1"}], "contact_links": links}
    )
    changes = change_set(entity_changes(CONTACT_LINKS, added=[links[5], links[10]]))

    (hold,) = holds.too_many_contacts(changes, staged, settings())

    assert (hold.type, hold.school_id, hold.numerator, hold.denominator, hold.threshold) == (
        "too_many_contacts",
        "1",
        1,
        4,
        6.0,
    )
    assert hold.sample_ids == ["S1"]
    assert "1 of 4 students have 6 or more contacts (most: 6)" in hold.message


def test_too_many_contacts_five_links_do_not_trip() -> None:
    links = _family("S1", 5)
    staged = roster({"students": [{"person_id": "S1", "school_id": "1"}], "contact_links": links})

    assert (
        holds.too_many_contacts(change_set(entity_changes(CONTACT_LINKS, added=links)), staged, settings())
        == []
    )


def test_too_many_contacts_ignores_students_without_new_links() -> None:
    links = _family("S1", 8) + _family("S2", 2)
    staged = roster({"students": [{"person_id": "S1", "school_id": "1"}], "contact_links": links})
    changes = change_set(entity_changes(CONTACT_LINKS, added=[links[-1]]))  # S2 gained a link

    assert holds.too_many_contacts(changes, staged, settings()) == []


def test_too_many_contacts_first_sync_counts_everyone() -> None:
    links = _family("S1", 7) + _family("S2", 6)
    staged = roster(
        {"students": [{"person_id": s, "school_id": "1"} for s in ("S1", "S2")], "contact_links": links}
    )

    (hold,) = holds.too_many_contacts(
        change_set(entity_changes(CONTACT_LINKS, added=links)), staged, settings()
    )

    assert hold.numerator == 2
    assert "(most: 7)" in hold.message


def test_too_many_contacts_is_per_school_of_the_student() -> None:
    links = _family("A1", 6, "A") + _family("B1", 2, "B")
    students = [{"person_id": "A1", "school_id": "A"}, {"person_id": "B1", "school_id": "B"}]
    staged = roster({"students": students + people("B", 3), "contact_links": links})

    result = holds.too_many_contacts(
        change_set(entity_changes(CONTACT_LINKS, added=links)), staged, settings()
    )

    assert [(h.school_id, h.numerator, h.denominator) for h in result] == [("A", 1, 1)]


def test_too_many_contacts_counts_a_student_missing_from_the_students_in_the_school_of_its_links() -> None:
    links = _family("A1", 6, "A") + _family("B1", 6, "B")
    staged = roster({"students": [{"person_id": "A1", "school_id": "C"}], "contact_links": links})

    result = holds.too_many_contacts(
        change_set(entity_changes(CONTACT_LINKS, added=links)), staged, settings()
    )

    assert [(h.school_id, h.numerator, h.sample_ids) for h in result] == [("B", 1, ["B1"]), ("C", 1, ["A1"])]


# -- emergency_contacts --------------------------------------------------------------------------


def test_emergency_contacts_counts_types_case_insensitively_per_school() -> None:
    added = [
        link("S1", "P1", "1", "emergency"),
        link("S1", "P2", "1", "SECONDARY"),
        link("S1", "P3", "1", "Parent/Guardian"),
        link("S2", "P4", "2", "Primary"),
    ]
    changes = change_set(entity_changes(CONTACT_LINKS, added=added))

    (hold,) = holds.emergency_contacts(changes, settings())

    assert (hold.school_id, hold.numerator, hold.denominator) == ("1", 2, 3)
    assert hold.sample_ids == ["S1/P1", "S1/P2"]
    assert hold.message.startswith("School 1: 2 of 3 new contact links are of type Emergency or Secondary")


@pytest.mark.parametrize("mode", ["drop", "allow"])
def test_emergency_contacts_only_hold_in_hold_mode(mode: str) -> None:
    changes = change_set(entity_changes(CONTACT_LINKS, added=[link("S1", "P1", "1", "Emergency")]))

    assert holds.emergency_contacts(changes, settings(emergency_contacts=mode)) == []


def test_emergency_contacts_existing_links_do_not_hold() -> None:
    same = link("S1", "P1", "1", "Emergency")
    changes = change_set(
        entity_changes(
            CONTACT_LINKS, changed=[(same, {**same, "relationship": "Aunt/Uncle"}, ["relationship"])]
        )
    )

    assert holds.emergency_contacts(changes, settings()) == []


# -- class_id_reuse ------------------------------------------------------------------------------


def _section(section_id: str, term: str | None, school: str = "1", name: str = "Math") -> Row:
    return {"section_id": section_id, "school_id": school, "term_id": term, "name": name}


def test_class_id_reuse_trips_when_a_section_changes_term() -> None:
    changed = [
        (_section("C1", "T1"), _section("C1", "T2"), ["term_id"]),
        (_section("C2", "T1"), _section("C2", "T1", name="Algebra"), ["name"]),
    ]

    (hold,) = holds.class_id_reuse(change_set(entity_changes(SECTIONS, changed=changed)), settings())

    assert (hold.type, hold.school_id, hold.entity, hold.numerator) == ("class_id_reuse", "1", "sections", 1)
    assert hold.sample_ids == ["C1"]
    assert "C1: term T1 → T2" in hold.message


def test_class_id_reuse_ignores_a_term_set_for_the_first_time() -> None:
    changed = [(_section("C1", None), _section("C1", "T2"), ["term_id"])]

    assert holds.class_id_reuse(change_set(entity_changes(SECTIONS, changed=changed)), settings()) == []


def test_class_id_reuse_is_per_school_and_can_be_disabled() -> None:
    changed = [
        (_section("A1", "T1", "A"), _section("A1", "T2", "A"), ["term_id"]),
        (_section("B1", "T1", "B"), _section("B1", "T1", "B", "Art"), ["name"]),
    ]
    changes = change_set(entity_changes(SECTIONS, changed=changed))

    assert [h.school_id for h in holds.class_id_reuse(changes, settings())] == ["A"]
    assert holds.class_id_reuse(changes, settings(class_id_reuse=False)) == []


# -- stale_upload --------------------------------------------------------------------------------


def _stale(days: float, removed: int) -> list[Any]:
    staff = people("1", 100, prefix="F")
    accepted = roster({"staff": staff}, received_at=T0)
    staged = roster({"staff": staff[removed:]}, received_at=T0 + timedelta(days=days))
    changes = change_set(entity_changes(STAFF, removed=staff[:removed]))
    return holds.stale_upload(changes, staged, accepted, settings())


def test_stale_upload_holds_removals_of_a_file_not_seen_for_more_than_90_days() -> None:
    (hold,) = _stale(91, 3)

    assert (hold.type, hold.school_id, hold.entity) == ("stale_upload", "1", "staff")
    assert (hold.numerator, hold.threshold) == (3, 90.0)
    assert "last received 91 days before this upload (limit 90 days)" in hold.message
    assert "3 removals" in hold.message


def test_stale_upload_exactly_90_days_does_not_trip() -> None:
    assert _stale(90, 3) == []


def test_stale_upload_needs_removals() -> None:
    assert _stale(400, 0) == []


def test_stale_upload_accepts_naive_and_aware_times() -> None:
    staff = people("1", 2, prefix="F")
    accepted = roster({"staff": staff}, received_at=datetime(2025, 1, 1))
    staged = roster({"staff": []}, received_at=datetime(2025, 6, 1, tzinfo=UTC))

    result = holds.stale_upload(
        change_set(entity_changes(STAFF, removed=staff)), staged, accepted, settings()
    )

    assert [h.numerator for h in result] == [2]


# -- invalid_files -------------------------------------------------------------------------------


def test_invalid_files_one_district_hold_per_file_problem() -> None:
    problems = [
        FileProblem("students.csv", "required header Student_id missing (closest: Student_ID)"),
        FileProblem("sections.csv", "file missing"),
    ]

    result = holds.invalid_files(roster(), None, problems)

    assert [(h.type, h.school_id, h.entity) for h in result] == [
        ("invalid_files", None, "students"),
        ("invalid_files", None, "sections"),
    ]
    assert result[0].message == "students.csv: required header Student_id missing (closest: Student_ID)"


def test_invalid_files_empty_where_the_snapshot_had_rows() -> None:
    accepted = roster({"students": people("1", 501), "teachers": people("1", 3, "T")})
    staged = roster({"teachers": people("1", 3, "T")})

    (hold,) = holds.invalid_files(staged, accepted)

    assert hold.entity == "students"
    assert (hold.numerator, hold.denominator) == (0, 501)
    assert hold.message == "students: file is empty but the accepted snapshot has 501 rows"


def test_invalid_files_says_when_rows_were_unreadable() -> None:
    accepted = roster({"students": people("1", 4)})
    staged = roster(unknown=[{"entity": "students", "key": "S1"}, {"entity": "students", "key": "S2"}])

    (hold,) = holds.invalid_files(staged, accepted)

    assert (
        hold.message == "students: no valid rows (2 could not be read) but the accepted snapshot has 4 rows"
    )


def test_invalid_files_ignores_entities_not_supplied_and_first_syncs() -> None:
    accepted = roster({"staff": people("1", 4, "F")})

    assert holds.invalid_files(roster(missing=["staff"]), accepted) == []
    assert holds.invalid_files(roster(), None) == []


# -- schools_not_found ---------------------------------------------------------------------------


def test_schools_not_found_lists_configured_ids_absent_from_the_data() -> None:
    staged = roster({"schools": [{"school_id": "101"}, {"school_id": "999"}]})
    config = DistrictSettings(school_ids=["101", "102", "103"])

    (hold,) = holds.schools_not_found(staged, config)

    assert (hold.school_id, hold.numerator, hold.denominator) == (None, 2, 3)
    assert hold.sample_ids == ["102", "103"]
    assert hold.message == "2 of 3 configured school IDs are not in the data received: 102, 103"


def test_schools_not_found_quiet_when_all_present_unconfigured_or_disabled() -> None:
    staged = roster({"schools": [{"school_id": "101"}]})

    assert holds.schools_not_found(staged, DistrictSettings(school_ids=["101"])) == []
    assert holds.schools_not_found(staged, DistrictSettings()) == []
    off = DistrictSettings(school_ids=["102"], holds=HoldSettings(schools_not_found=False))
    assert holds.schools_not_found(staged, off) == []


# -- evaluate_holds ------------------------------------------------------------------------------


def test_evaluate_holds_runs_every_rule_in_catalogue_then_school_order() -> None:
    a, b = people("B", 10), people("A", 10)
    accepted = roster({"students": a + b})
    staged = roster({"students": [], "schools": []}, received_at=T0 + timedelta(days=1))
    changes = change_set(
        entity_changes(STUDENTS, removed=a + b),
        entity_changes(CONTACT_LINKS, added=[link("S1", "P1", "A", "Emergency")]),
    )
    config = DistrictSettings(school_ids=["A"])

    result = holds.evaluate_holds(
        changes, staged, accepted, config, file_problems=[FileProblem("x.csv", "unreadable")]
    )

    assert [(h.type, h.school_id) for h in result] == [
        ("mass_removal", "A"),
        ("mass_removal", "B"),
        ("emergency_contacts", "A"),
        ("invalid_files", None),
        ("invalid_files", None),
        ("schools_not_found", None),
    ]
    assert [h.type for h in result] == sorted((h.type for h in result), key=HOLD_TYPES.index)


def test_evaluate_holds_quiet_sync_has_no_holds() -> None:
    school = people("1", 100)
    accepted = roster({"students": school})
    staged = roster({"students": school[1:]})
    changes = change_set(entity_changes(STUDENTS, removed=school[:1]))

    assert holds.evaluate_holds(changes, staged, accepted, settings()) == []


def test_hold_summary_table_rows_are_readable() -> None:
    school = people("102", 501)
    changes = change_set(entity_changes(STUDENTS, removed=school[:230]))
    result = holds.mass_removal(changes, roster({"students": school}), settings())

    (row,) = holds.hold_summary_table(result)

    assert row["school"] == "102"
    assert (row["numerator"], row["denominator"], row["percent"], row["threshold"]) == (230, 501, 45.9, 10.0)


# -- prepare_staged ------------------------------------------------------------------------------


def _district() -> RosterSet:
    return roster(
        {
            "schools": [{"school_id": "1"}, {"school_id": "2"}],
            "terms": [
                {"term_id": "T1", "school_id": "1"},
                {"term_id": "T2", "school_id": "2"},
                {"term_id": "TD", "school_id": "district"},
            ],
            "students": [{"person_id": "S1", "school_id": "1"}, {"person_id": "S2", "school_id": "2"}],
            "teachers": [
                {"person_id": "T1", "school_id": "1", "school_ids": ["1"]},
                {"person_id": "T2", "school_id": "2", "school_ids": ["2", "1"]},
                {"person_id": "T3", "school_id": "2", "school_ids": ["2"]},
            ],
            "sections": [
                {"section_id": "C1", "school_id": "1", "term_id": "TD"},
                {"section_id": "C2", "school_id": "2", "term_id": "T2"},
            ],
            "enrollments": [
                {"section_id": "C1", "person_id": "S1", "school_id": "1"},
                {"section_id": "C2", "person_id": "S2", "school_id": "2"},
            ],
            "contacts": [
                {"person_id": "P1", "school_id": "1"},
                {"person_id": "P2", "school_id": "2"},  # also linked to S1
                {"person_id": "P3", "school_id": "2"},
                {"person_id": "P4", "school_id": "1"},
            ],
            "contact_links": [
                link("S1", "P1", "1", "Primary"),
                link("S2", "P2", "2", "Primary"),
                link("S1", "P2", "1", "Secondary"),
                link("S2", "P3", "2", "Primary"),
                link("S1", "P4", "1", "Emergency"),
            ],
        }
    )


def _ids(staged: RosterSet, name: str) -> list[str]:
    entity = ENTITY_BY_NAME[name]
    rows = staged.table(name).select(list(entity.key)).to_pylist()
    return ["/".join(str(r[k]) for k in entity.key) for r in rows]


def test_prepare_staged_without_settings_changes_nothing() -> None:
    staged = _district()

    prepared, issues = holds.prepare_staged(staged, settings(emergency_contacts="hold"))

    assert prepared.counts() == staged.counts()
    assert issues.num_rows == 0
    assert issues.schema == ISSUE_SCHEMA


def test_prepare_staged_keeps_only_configured_schools() -> None:
    prepared, _ = holds.prepare_staged(_district(), DistrictSettings(school_ids=["1"]))

    assert _ids(prepared, "schools") == ["1"]
    assert _ids(prepared, "students") == ["S1"]
    assert _ids(prepared, "sections") == ["C1"]
    assert _ids(prepared, "enrollments") == ["C1/S1"]
    assert _ids(prepared, "terms") == ["T1", "TD"]  # TD is a district term used by a kept section
    assert _ids(prepared, "contact_links") == ["S1/P1", "S1/P2", "S1/P4"]
    assert _ids(prepared, "contacts") == ["P1", "P2", "P4"]  # P3's only student is in school 2


def test_prepare_staged_moves_people_listing_a_configured_school() -> None:
    prepared, issues = holds.prepare_staged(_district(), DistrictSettings(school_ids=["1"]))

    teachers = prepared.table("teachers").select(["person_id", "school_id"]).to_pylist()
    contacts = prepared.table("contacts").select(["person_id", "school_id"]).to_pylist()
    assert teachers == [{"person_id": "T1", "school_id": "1"}, {"person_id": "T2", "school_id": "1"}]
    assert {"person_id": "P2", "school_id": "1"} in contacts
    assert any(
        "1 people whose main school is not configured" in m for m in issues.column("message").to_pylist()
    )


def test_prepare_staged_reports_counts_not_records() -> None:
    _, issues = holds.prepare_staged(_district(), DistrictSettings(school_ids=["1"]))

    messages = issues.column("message").to_pylist()
    assert set(issues.column("severity").to_pylist()) == {"alert"}
    assert "students: 1 rows outside the configured schools were left out" in messages
    assert "contact_links: 2 rows outside the configured schools were left out" in messages
    assert "contacts: 1 contacts left with no linked student were left out" in messages


def test_prepare_staged_drops_emergency_contacts_in_drop_mode() -> None:
    prepared, issues = holds.prepare_staged(_district(), settings(emergency_contacts="drop"))

    assert _ids(prepared, "contact_links") == ["S1/P1", "S2/P2", "S2/P3"]
    # P4 lost its only link; P2 keeps its Primary link to S2.
    assert _ids(prepared, "contacts") == ["P1", "P2", "P3"]
    rows = issues.select(["column", "value", "message"]).to_pylist()
    assert {
        "column": "contact_type",
        "value": "Emergency",
        "message": "contact_links: 1 contact links of type Emergency were left out (district setting)",
    } in rows
    assert "contacts: 1 contacts left with no linked student were left out" in [r["message"] for r in rows]


def test_prepare_staged_keeps_emergency_contacts_in_hold_mode_for_the_hold_rule() -> None:
    prepared, issues = holds.prepare_staged(_district(), settings(emergency_contacts="hold"))

    assert prepared.table("contact_links").num_rows == 5
    assert issues.num_rows == 0


def test_prepare_staged_excluded_contact_types_apply_in_any_mode() -> None:
    config = DistrictSettings(
        excluded_contact_types=["secondary"], holds=HoldSettings(emergency_contacts="allow")
    )

    prepared, _ = holds.prepare_staged(_district(), config)

    assert _ids(prepared, "contact_links") == ["S1/P1", "S2/P2", "S2/P3", "S1/P4"]
    assert _ids(prepared, "contacts") == ["P1", "P2", "P3", "P4"]


def test_prepare_staged_keeps_metadata() -> None:
    staged = roster(
        {"students": [{"person_id": "S1", "school_id": "1"}]},
        missing=["staff"],
        unknown=[{"entity": "students", "key": "S9"}],
    )

    prepared, _ = holds.prepare_staged(staged, DistrictSettings(school_ids=["1"]))

    assert prepared.missing == frozenset({"staff"})
    assert prepared.received_at == staged.received_at
    assert prepared.unknown.num_rows == 1
    assert prepared.format == staged.format


def test_prepare_then_emergency_rule_sees_dropped_contacts_gone() -> None:
    staged = _district()
    prepared, _ = holds.prepare_staged(staged, settings(emergency_contacts="drop"))
    changes = change_set(entity_changes(CONTACT_LINKS, added=prepared.table("contact_links").to_pylist()))

    assert holds.emergency_contacts(changes, settings(emergency_contacts="hold")) == []


def test_enrollment_entity_is_school_scoped_for_holds() -> None:
    enrollments = [{"section_id": f"C{i}", "person_id": "S1", "school_id": "9"} for i in range(10)]
    changes = change_set(entity_changes(ENROLLMENTS, removed=enrollments))

    (hold,) = holds.mass_removal(changes, roster({"enrollments": enrollments}), settings())

    assert (hold.school_id, hold.entity, hold.sample_ids[0]) == ("9", "enrollments", "C0/S1")


def test_rows_without_a_school_are_grouped_and_named() -> None:
    rows = [{"person_id": f"S{i}"} for i in range(10)]
    changes = change_set(entity_changes(STUDENTS, removed=rows))

    (hold,) = holds.mass_removal(changes, roster({"students": rows}), settings())

    assert hold.school_id is None
    assert hold.message.startswith("Records with no school: would remove 10 of 10 students")
