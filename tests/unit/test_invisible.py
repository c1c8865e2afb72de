"""rostersync.invisible: which name changes are only invisible characters, and what the alert says."""

from __future__ import annotations

import pyarrow as pa

from rostersync.invisible import name_change_alerts
from rostersync.model import CONTACTS, SECTIONS, STUDENTS
from tests.unit.builders import change_set, entity_changes


def _student(person_id: str, first: str | None, last: str = "Rivera") -> dict[str, object]:
    return {"person_id": person_id, "school_id": "S1", "first_name": first, "last_name": last}


def _rows(alerts: pa.Table) -> list[tuple[str, str, str]]:
    """(file, column, value) of each alert."""
    columns = [alerts.column(name).to_pylist() for name in ("file", "column", "value")]
    return list(zip(*columns, strict=True))


def test_format_characters_the_reader_keeps_are_found() -> None:
    """The Arabic letter mark (U+061C) and a tag character are format characters the read-time
    normalisation does not remove."""
    changes = change_set(
        entity_changes(
            STUDENTS,
            changed=[
                (_student("A", "Ana"), _student("A", "An\u061ca"), ["first_name"]),
                (_student("B", "Ben"), _student("B", "Ben\U000e0041"), ["first_name"]),
            ],
        )
    )

    assert _rows(name_change_alerts(changes)) == [
        ("students", "first_name", "A"),
        ("students", "first_name", "B"),
    ]


def test_only_the_name_fields_that_changed_invisibly_alert() -> None:
    changes = change_set(
        entity_changes(
            STUDENTS,
            changed=[
                (
                    _student("A", "Ana", "Rivera"),
                    _student("A", "Anna", "Rivera\u2060"),
                    ["first_name", "last_name"],
                ),
                (_student("C", "Li"), _student("C", "Lee"), ["first_name"]),
            ],
        )
    )

    assert _rows(name_change_alerts(changes)) == [("students", "last_name", "A")]


def test_an_accepted_name_of_invisible_characters_only_now_empty_is_an_alert() -> None:
    changes = change_set(
        entity_changes(
            SECTIONS,
            changed=[
                (
                    {"section_id": "X1", "school_id": "S1", "name": "\u200b"},
                    {"section_id": "X1", "school_id": "S1", "name": None},
                    ["name"],
                )
            ],
        )
    )

    assert _rows(name_change_alerts(changes)) == [("sections", "name", "X1")]


def test_a_contact_known_by_a_key_built_from_its_name_is_masked() -> None:
    old = {"person_id": "name:maria rivera", "school_id": "S1", "first_name": "Maria"}
    new = {"person_id": "name:maria rivera", "school_id": "S1", "first_name": "Mar\u200cia"}
    changes = change_set(entity_changes(CONTACTS, changed=[(old, new, ["first_name"])]))

    alerts = name_change_alerts(changes)

    assert alerts.column("value").to_pylist() == ["a value of 17 characters"]
    assert alerts.column("row").to_pylist() == [None]
    assert alerts.column("severity").to_pylist() == ["alert"]


def test_no_changes_no_alerts() -> None:
    assert name_change_alerts(change_set()).num_rows == 0
