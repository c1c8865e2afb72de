"""The time-based emails: pause starting and ending, hold reminder, hold expired or superseded."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rostersync.pipeline import emails


def test_the_pause_starting_email_names_the_district_and_the_days() -> None:
    email = emails.pause_starting_email(
        district_id="d1", district_name="Demo USD", first_day=date(2026, 6, 15), last_day=date(2026, 8, 20)
    )

    assert email.subject == "[rostersync] Demo USD (d1): syncing pauses tomorrow (2026-06-15)"
    assert "from 2026-06-15 to 2026-08-20 (both days included)" in email.text
    assert "processed automatically" in email.text


def test_the_pause_ending_email_counts_the_files_waiting() -> None:
    email = emails.pause_ending_email(
        district_id="d1", district_name=None, last_day=date(2026, 8, 20), waiting_files=6
    )

    assert email.subject == "[rostersync] d1: syncing resumes tomorrow (2026-08-21)"
    assert "6 files received during the pause will then be processed." in email.text


def test_the_hold_reminder_says_when_it_expires() -> None:
    email = emails.hold_reminder_email(
        district_id="d1",
        district_name="Demo USD",
        sync_id="d1-abc",
        held_schools=["SCH1", "SCH2"],
        expires_at=datetime(2026, 6, 15, 9, 30, tzinfo=UTC),
    )

    assert email.subject == "[rostersync] Demo USD (d1): hold on sync d1-abc expires 2026-06-15 09:30 UTC"
    assert "schools: SCH1, SCH2" in email.text


def test_an_expired_hold_keeps_the_schools_released_before() -> None:
    email = emails.hold_expired_email(
        district_id="d1", district_name=None, sync_id="d1-abc", applied_schools=["SCH1"]
    )

    assert email.subject == "[rostersync] d1: hold on sync d1-abc expired"
    assert "Schools released earlier stay applied: SCH1." in email.text
    assert "SCH1" in email.html


def test_a_superseded_hold_says_the_newer_upload_is_evaluated_afresh() -> None:
    email = emails.hold_superseded_email(
        district_id="d1", district_name=None, sync_id="d1-abc", applied_schools=[]
    )

    assert email.subject == "[rostersync] d1: held sync d1-abc superseded by a newer upload"
    assert "evaluated afresh" in email.text
    assert "released earlier" not in email.text
