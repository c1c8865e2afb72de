"""What a message may quote of a district's data: IDs as sent, personal values masked."""

from __future__ import annotations

import pyarrow as pa

from rostersync.issues import ISSUE_SCHEMA, concat_issues
from rostersync.records import Hold
from rostersync.redact import safe_id


def _issue(column: str, value: str) -> dict[str, object]:
    return {
        "severity": "alert",
        "file": "students.csv",
        "row": 2,
        "column": column,
        "value": value,
        "message": "m",
    }


def _values(*rows: dict[str, object]) -> list[str]:
    table = concat_issues([pa.Table.from_pylist(list(rows), schema=ISSUE_SCHEMA)])
    return [str(v) for v in table.column("value").to_pylist()]


def test_ids_codes_and_school_names_are_quoted() -> None:
    rows = [_issue("Student_id", "ST1"), _issue("Grade", "Kindergarten"), _issue("School_name", "Adams")]

    assert sorted(_values(*rows)) == ["Adams", "Kindergarten", "ST1"]


def test_a_value_holding_commas_an_at_sign_or_a_control_character_is_masked() -> None:
    rows = [_issue("Student_id", v) for v in ("S1,Rivera,Ana", "ana@example.org", "S1\x00")]

    assert sorted(_values(*rows)) == [
        "a value of 13 characters",
        "a value of 15 characters",
        "a value of 3 characters",
    ]


def test_a_derived_contact_key_is_not_a_safe_id() -> None:
    assert safe_id("name:maria rivera|phone:5552010001") == "a value of 34 characters"
    assert safe_id("email:maria@example.org") == "a value of 23 characters"
    assert safe_id("C1000003") == "C1000003"


def test_a_holds_sample_ids_never_carry_a_persons_key() -> None:
    hold = Hold(type="mass_removal", message="m", sample_ids=["C1", "name:ana rivera|student:ST1"])

    assert hold.sample_ids == ["C1", "a value of 27 characters"]
