"""The time-based emails: pause starting and ending, hold reminder, hold expired or superseded."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rostersync.pipeline import emails
from rostersync.pipeline.names import Names


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


NAMES = Names(district="Demo USD", schools={"SCH1": "Adams Elementary", "SCH2": "Baker Middle"})


def test_the_hold_reminder_names_the_held_schools_by_their_roster_names() -> None:
    email = emails.hold_reminder_email(
        district_id="d1",
        district_name="Demo USD",
        sync_id="d1-abc",
        held_schools=["SCH1", "SCH9"],
        expires_at=datetime(2026, 6, 15, 9, 30, tzinfo=UTC),
        names=NAMES,
    )

    assert "(schools: Adams Elementary (SCH1), SCH9)." in email.text
    assert "Adams Elementary (SCH1)" in email.html


def test_the_hold_reminder_links_to_the_console_page_of_the_sync() -> None:
    email = emails.hold_reminder_email(
        district_id="d1",
        district_name=None,
        sync_id="d1-abc",
        held_schools=[],
        expires_at=datetime(2026, 6, 15, 9, 30, tzinfo=UTC),
        names=Names(district="d1", link="https://console.example/districts/d1/syncs/d1-abc"),
    )

    assert "Decide here: https://console.example/districts/d1/syncs/d1-abc" in email.text


def test_the_pause_emails_list_the_districts_schools_by_name() -> None:
    starting = emails.pause_starting_email(
        district_id="d1",
        district_name="Demo USD",
        first_day=date(2026, 6, 15),
        last_day=date(2026, 8, 20),
        names=NAMES,
    )
    ending = emails.pause_ending_email(
        district_id="d1", district_name="Demo USD", last_day=date(2026, 8, 20), waiting_files=0, names=NAMES
    )

    assert "Schools paused: Adams Elementary (SCH1), Baker Middle (SCH2)." in starting.text
    assert "Schools that resume: Adams Elementary (SCH1), Baker Middle (SCH2)." in ending.text


def test_a_pause_email_lists_thirty_schools_and_counts_the_rest() -> None:
    many = Names(district="d1", schools={f"S{i:02}": f"School {i:02}" for i in range(32)})

    email = emails.pause_starting_email(
        district_id="d1",
        district_name=None,
        first_day=date(2026, 6, 15),
        last_day=date(2026, 6, 16),
        names=many,
    )

    line = next(t for t in email.text.splitlines() if t.startswith("Schools paused:"))
    assert line.endswith("School 29 (S29) and 2 more.")
    assert line.count("(S") == 30


def test_a_pause_email_without_known_schools_has_no_schools_line() -> None:
    email = emails.pause_starting_email(
        district_id="d1", district_name=None, first_day=date(2026, 6, 15), last_day=date(2026, 6, 16)
    )

    assert "Schools paused" not in email.text


def test_an_expired_hold_names_the_schools_released_before() -> None:
    email = emails.hold_expired_email(
        district_id="d1", district_name="Demo USD", sync_id="d1-abc", applied_schools=["SCH2"], names=NAMES
    )

    assert "Schools released earlier stay applied: Baker Middle (SCH2)." in email.text
