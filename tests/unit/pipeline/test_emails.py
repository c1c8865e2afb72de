"""Emails: the numbers of each hold, how to act, and no student names."""

from __future__ import annotations

from datetime import UTC, datetime

from rostersync.pipeline.emails import applied_email, hold_email
from rostersync.pipeline.names import Names
from rostersync.records import Hold

HOLD = Hold(
    type="mass_removal",
    school_id="SCH0001",
    entity="students",
    numerator=230,
    denominator=501,
    threshold=10.0,
    message="School SCH0001: would remove 230 of 501 students (45.9 %, limit 10 %)",
    sample_ids=["S00017"],
)


def test_the_hold_email_shows_the_numbers_in_text_and_html() -> None:
    email = hold_email(
        district_id="d1", sync_id="d1-abc", holds=[HOLD], expires_at=datetime(2025, 3, 17, tzinfo=UTC)
    )

    for body in (email.text, email.html):
        assert "230 of 501 (45.9 %, limit 10 %)" in body
        assert "SCH0001" in body and "mass_removal" in body
        assert "Release" in body and "2025-03-17" in body


def test_the_hold_email_carries_no_student_names() -> None:
    # The hold records carry IDs and counts only; the student behind S00017 is "Ada Lovelace".
    email = hold_email(
        district_id="d1", sync_id="d1-abc", holds=[HOLD], expires_at=datetime(2025, 3, 17, tzinfo=UTC)
    )

    for body in (email.subject, email.text, email.html):
        assert "Ada" not in body and "Lovelace" not in body


def test_the_hold_email_escapes_html() -> None:
    hold = HOLD.model_copy(update={"school_id": "<b>x</b>"})

    email = hold_email(
        district_id="d1", sync_id="s", holds=[hold], expires_at=datetime(2025, 3, 17, tzinfo=UTC)
    )

    assert "<b>x</b>" not in email.html and "&lt;b&gt;x&lt;/b&gt;" in email.html


def test_the_applied_email_counts_the_changes_per_entity() -> None:
    email = applied_email(
        district_id="d1",
        sync_id="s",
        version=2,
        counts={"added": 3, "removed": 120, "changed": 7},
        schools=["SCH0001"],
        complete=False,
        per_entity={"students": {"added": 3, "removed": 120, "changed": 7}},
        still_held=["SCH0002"],
    )

    assert "accepted version 2" in email.text and "120 removed" in email.text
    assert "students | 3 | 120 | 7" in email.text
    assert "SCH0002 still on hold" in email.html


NAMES = Names(
    district="Springfield Public Schools",
    schools={"SCH0001": "Adams Elementary", "SCH0002": "Lincoln Elementary"},
    link="https://console.example.org/districts/d1/syncs/d1-abc",
)


def test_a_partial_release_sends_one_email_naming_what_applied_and_what_still_waits() -> None:
    email = applied_email(
        district_id="d1",
        sync_id="d1-abc",
        version=3,
        counts={"added": 0, "removed": 40, "changed": 0},
        schools=["SCH0002"],
        complete=False,
        names=NAMES,
        still_held=["SCH0001"],
        hold_expires_at=datetime(2025, 3, 17, 7, 0, tzinfo=UTC),
    )

    assert email.subject == (
        "[rostersync] Springfield Public Schools: Lincoln Elementary (SCH0002) applied; "
        "Adams Elementary (SCH0001) still on hold"
    )
    assert email.text.startswith(
        "Lincoln Elementary (SCH0002) applied; "
        "Adams Elementary (SCH0001) still on hold until 2025-03-17 07:00 UTC."
    )
    assert NAMES.link in email.text and f'href="{NAMES.link}"' in email.html


def test_the_hold_email_groups_a_schools_holds_into_one_line_with_each_number_once() -> None:
    update = HOLD.model_copy(update={"type": "mass_update", "numerator": 60, "threshold": 10.0})

    email = hold_email(
        district_id="d1",
        sync_id="d1-abc",
        holds=[HOLD, update],
        expires_at=datetime(2025, 3, 17, tzinfo=UTC),
        names=NAMES,
    )

    (line,) = [line for line in email.text.splitlines() if line.startswith("- Adams Elementary")]
    assert line == (
        "- Adams Elementary (SCH0001): mass_removal (students): 230 of 501 (45.9 %, limit 10 %); "
        "mass_update (students): 60 of 501 (12 %, limit 10 %)"
    )
    assert email.text.count("230 of 501") == 1
    assert email.subject == "[rostersync] sync d1-abc is on hold: Springfield Public Schools (1 school)"
    assert f"Decide here: {NAMES.link}" in email.text
