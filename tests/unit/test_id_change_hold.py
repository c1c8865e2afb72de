"""The ``id_change`` hold: suspected source-ID changes past the count and percent thresholds hold
their school, explained pair by pair without personal data; a re-key is no removal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from builders import table

from rostersync import holds
from rostersync.diff import diff_rosters
from rostersync.model import ENTITY_BY_NAME
from rostersync.pipeline.emails import applied_email, hold_email
from rostersync.records import HOLD_RESOLUTIONS, HOLD_TYPES
from rostersync.rekeys import rekeyed_removals
from rostersync.roster import FORMAT_CLEVER_CSV, RosterSet
from rostersync.settings import DistrictSettings, HoldSettings, SafetyFloors, floor_violations

Row = dict[str, Any]


def person(pid: str, school: str = "1", **values: Any) -> Row:
    return {"person_id": pid, "school_id": school, **values}


def school_people(school: str, n: int) -> list[Row]:
    return [
        person(
            f"S{school}-{i:03d}", school, email=f"kid{school}-{i}@d.org", first_name=f"F{i}", last_name="L"
        )
        for i in range(n)
    ]


def roster(**tables: list[Row]) -> RosterSet:
    built = {name: table(ENTITY_BY_NAME[name], rows) for name, rows in tables.items()}
    return RosterSet(tables=built, format=FORMAT_CLEVER_CSV)


def rekey(rows: list[Row], count: int) -> list[Row]:
    """The first ``count`` people under new ids (same email)."""
    return [{**r, "person_id": f"{r['person_id']}-new"} if i < count else r for i, r in enumerate(rows)]


def settings(**values: Any) -> DistrictSettings:
    return DistrictSettings(holds=HoldSettings(**values))


def holds_of(old: list[Row], new: list[Row], **limits: Any) -> list[Any]:
    accepted = roster(students=old)
    changes = diff_rosters(accepted, roster(students=new))
    return holds.id_change(changes, accepted, settings(**limits))


def test_id_change_is_a_hold_type_with_a_resolution() -> None:
    assert "id_change" in HOLD_TYPES and "id_change" in HOLD_RESOLUTIONS


def test_id_change_defaults_are_5_percent_and_5_people() -> None:
    h = HoldSettings()

    assert (h.id_change_percent, h.id_change_min_count) == (5.0, 5)


@pytest.mark.parametrize(("rekeyed", "trips"), [(5, False), (6, True)])
def test_id_change_trips_only_above_the_percent_of_the_schools_people(rekeyed: int, trips: bool) -> None:
    school = school_people("1", 100)

    found = holds_of(school, rekey(school, rekeyed))

    assert bool(found) is trips


@pytest.mark.parametrize(("rekeyed", "trips"), [(4, False), (5, True)])
def test_id_change_needs_the_minimum_count(rekeyed: int, trips: bool) -> None:
    school = school_people("1", 10)

    found = holds_of(school, rekey(school, rekeyed), id_change_percent=0)

    assert bool(found) is trips


def test_id_change_denominator_is_every_person_of_the_school() -> None:
    kids = school_people("1", 20)
    staff = [person("T1", "1"), person("T2", "1"), person("T3", "2")]
    accepted = roster(students=kids, teachers=staff)
    changes = diff_rosters(accepted, roster(students=rekey(kids, 3), teachers=staff))

    (hold,) = holds.id_change(changes, accepted, settings(id_change_percent=10, id_change_min_count=1))

    assert (hold.school_id, hold.numerator, hold.denominator, hold.threshold) == ("1", 3, 22, 10.0)


def test_id_change_message_names_each_pair_and_what_matched() -> None:
    kids = school_people("7", 10)
    twin = person("S7-900", "7", first_name="Ada", last_name="Byron", birth_date=date(2012, 5, 1))
    old = [*kids, twin]
    new = [*rekey(kids, 2), {**twin, "person_id": "S7-901"}]

    (hold,) = holds_of(old, new, id_change_percent=0, id_change_min_count=1)

    assert hold.message == (
        "School 7: 3 of 11 people look re-keyed in the SIS (27.3 %, limit 0 %): a removed and an "
        "added record match on email (2) or name + birth date (1), e.g. S7-000 → S7-000-new (email), "
        "S7-001 → S7-001-new (email), S7-900 → S7-901 (name + birth date); released, each applies as "
        "an ID change (old ID → new ID), not as a removal and an addition"
    )
    assert hold.sample_ids == [
        "S7-000 → S7-000-new (email)",
        "S7-001 → S7-001-new (email)",
        "S7-900 → S7-901 (name + birth date)",
    ]


def test_id_change_message_and_samples_carry_no_email_name_or_birth_date() -> None:
    twin = person("S1-1", first_name="Ada", last_name="Byron", birth_date=date(2012, 5, 1), email="ada@d.org")
    old = [twin]
    new = [{**twin, "person_id": "S1-2"}]

    (hold,) = holds_of(old, new, id_change_percent=0, id_change_min_count=1)

    shown = hold.message + " ".join(hold.sample_ids)
    assert [v for v in ("ada@d.org", "Ada", "Byron", "2012") if v in shown] == []


def test_id_change_masks_an_id_built_from_an_email() -> None:
    old = [person("email:ada@d.org", email="ada@d.org")]
    new = [person("S1-2", email="ada@d.org")]

    (hold,) = holds_of(old, new, id_change_percent=0, id_change_min_count=1)

    assert hold.sample_ids == ["a value of 15 characters → S1-2 (email)"]
    assert "ada@d.org" not in hold.message


def test_id_change_holds_each_school_on_its_own_numbers() -> None:
    one, two = school_people("1", 10), school_people("2", 100)

    found = holds_of(
        [*one, *two], [*rekey(one, 5), *rekey(two, 5)], id_change_percent=10, id_change_min_count=1
    )

    assert [(h.school_id, h.numerator, h.denominator) for h in found] == [("1", 5, 10)]


def test_id_change_without_accepted_snapshot_never_holds() -> None:
    changes = diff_rosters(None, roster(students=school_people("1", 10)))

    assert holds.id_change(changes, None, settings(id_change_percent=0, id_change_min_count=1)) == []


def test_a_rekeyed_student_is_not_a_removal_for_mass_removal() -> None:
    school = school_people("1", 20)
    accepted = roster(students=school)
    changes = diff_rosters(accepted, roster(students=rekey(school, 10)))

    found = holds.evaluate_holds(changes, roster(students=rekey(school, 10)), accepted, settings())

    assert [(h.type, h.numerator) for h in found] == [("id_change", 10)]


def test_hold_always_does_not_hold_a_rekey_nor_the_enrollments_that_follow_it() -> None:
    school = school_people("1", 20)
    enrollments = [{"section_id": "C1", "person_id": r["person_id"], "school_id": "1"} for r in school]
    accepted = roster(students=school, enrollments=enrollments)
    moved = rekey(school, 1)
    staged = roster(
        students=moved,
        enrollments=[{"section_id": "C1", "person_id": r["person_id"], "school_id": "1"} for r in moved],
    )
    changes = diff_rosters(accepted, staged)
    mode = DistrictSettings(removals="hold_always", holds=HoldSettings(id_change_min_count=2))

    assert holds.evaluate_holds(changes, staged, accepted, mode) == []
    assert rekeyed_removals(changes, "enrollments").to_pylist() == [True]


def test_a_removed_enrollment_of_a_rekeyed_student_without_its_twin_is_a_removal() -> None:
    school = school_people("1", 2)
    accepted = roster(
        students=school, enrollments=[{"section_id": "C1", "person_id": "S1-000", "school_id": "1"}]
    )
    staged = roster(students=rekey(school, 1))
    changes = diff_rosters(accepted, staged)

    assert rekeyed_removals(changes, "enrollments").to_pylist() == [False]


def test_id_change_percent_is_held_to_its_safety_floor() -> None:
    beyond = DistrictSettings(admin_emails=["a@d.org"], holds=HoldSettings(id_change_percent=60))
    within = DistrictSettings(
        admin_emails=["a@d.org"],
        holds=HoldSettings(id_change_percent=60),
        floors=SafetyFloors(max_id_change_percent=70),
    )

    assert [path for path, _ in floor_violations(beyond)] == [("holds", "id_change_percent")]
    assert floor_violations(within) == []


def test_the_hold_email_gives_an_id_change_its_numbers_limit_and_what_to_do() -> None:
    school = school_people("3", 10)
    (hold,) = holds_of(school, rekey(school, 5), id_change_percent=10, id_change_min_count=5)

    email = hold_email(
        district_id="d1", sync_id="s1", holds=[hold], expires_at=datetime(2025, 3, 17, tzinfo=UTC)
    )

    assert "5 of 10 (50 %, limit 10 %)" in email.text
    assert f"id_change: {HOLD_RESOLUTIONS['id_change']}" in email.text
    assert "@" not in email.text


def test_the_applied_email_counts_the_rekeys() -> None:
    email = applied_email(
        district_id="d1",
        sync_id="s1",
        version=2,
        counts={"added": 0, "removed": 0, "changed": 0, "id_changed": 20},
        schools=None,
        complete=True,
    )

    assert "0 added, 0 removed, 0 changed. 20 people were re-keyed" in email.text


def _rekeyed_student_with_links(contact_type: str, links: int) -> tuple[Any, RosterSet]:
    student = person("S1", email="s1@d.org")
    contacts = [person(f"C{i}") for i in range(links)]

    def linked(student_id: str) -> list[Row]:
        return [
            {
                "student_id": student_id,
                "contact_id": c["person_id"],
                "school_id": "1",
                "contact_type": contact_type,
            }
            for c in contacts
        ]

    accepted = roster(students=[student], contacts=contacts, contact_links=linked("S1"))
    staged = roster(students=[{**student, "person_id": "S2"}], contacts=contacts, contact_links=linked("S2"))
    return diff_rosters(accepted, staged), staged


def test_the_emergency_contacts_of_a_rekeyed_student_are_not_new_contacts() -> None:
    changes, _ = _rekeyed_student_with_links("Emergency", 2)

    assert holds.emergency_contacts(changes, settings()) == []
    assert changes["contact_links"].added.num_rows == 2


def test_a_rekeyed_student_does_not_gain_contacts_for_too_many_contacts() -> None:
    changes, staged = _rekeyed_student_with_links("Primary", 7)

    assert holds.too_many_contacts(changes, staged, settings()) == []
