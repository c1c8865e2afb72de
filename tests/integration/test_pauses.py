"""Pause windows, whole lifecycle, on the district's calendar (local stack, the clock advanced).

Uploads during a pause are kept in the inbox; when the window ends the scheduled tick starts the
sync that processes them and the schools paused by it are connected again; admins are emailed
the day before a window starts and on its last day, once each.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rostersync.settings import DistrictSettings, PauseWindow
from rostersync_tools.local import LocalAws

from .conftest import (
    DistrictData,
    accepted_version,
    deps_of,
    district_settings,
    put_settings,
    raw_keys,
    sync_set,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"


def _zone_off_utc_today() -> str:
    """A time zone whose calendar day differs from UTC's right now (UTC+14 or UTC-11)."""
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        if DistrictSettings(time_zone=zone).local_date(datetime.now(UTC)) != datetime.now(UTC).date():
            return zone
    raise AssertionError("one of the two zones is always on another day")


def _paused(zone: str, first: date, last: date) -> DistrictSettings:
    return district_settings(D, time_zone=zone, pause_windows=[PauseWindow(first_day=first, last_day=last)])


def test_an_upload_during_a_pause_is_processed_when_the_window_ends(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D))
    applied = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(applied["sync_id"]))["status"] == "SUCCEEDED"
    zone = _zone_off_utc_today()
    today = DistrictSettings(time_zone=zone).local_date(stack.clock())
    put_settings(stack, _paused(zone, today, today))
    day2 = data.files(data.without_students_of(data.schools[0], fraction=0.05), "day2-paused")

    paused = sync_set(stack, D, day2, {"paused", "applied", "failed"})
    assert paused["status"] == "paused", paused
    assert wait_ended(stack, str(paused["sync_id"]))["status"] == "SUCCEEDED"
    assert len(raw_keys(stack, f"inbox/{D}/")) == len(day2)  # kept
    assert {s.status for s in deps_of(stack).repo.list_school_status(D)} == {"paused"}
    assert stack.tick()["started"] == []  # still paused: nothing processed

    stack.clock.advance(timedelta(days=1))
    (resumed,) = stack.tick()["started"]

    record = stack.wait_for_sync(D, resumed, {"applied", "failed", "held"})
    assert record["status"] == "applied", record
    assert accepted_version(stack, D) == 2
    assert raw_keys(stack, f"inbox/{D}/") == []
    assert {s.status for s in deps_of(stack).repo.list_school_status(D)} == {"connected"}


def test_the_pause_is_read_in_the_districts_time_zone(stack: LocalAws, data: DistrictData) -> None:
    zone = _zone_off_utc_today()
    utc_today = stack.clock().date()
    # Paused on today's UTC date only: in the district's zone that day is not today.
    put_settings(stack, _paused(zone, utc_today, utc_today))

    record = sync_set(stack, D, data.day1, {"paused", "applied", "failed"})

    assert record["status"] == "applied", record


def test_admins_are_emailed_the_day_before_a_pause_starts_and_on_its_last_day(stack: LocalAws) -> None:
    zone = _zone_off_utc_today()
    today = DistrictSettings(time_zone=zone).local_date(stack.clock())
    first, last = today + timedelta(days=1), today + timedelta(days=2)
    put_settings(stack, _paused(zone, first, last))

    starting = stack.tick()
    again = stack.tick()
    stack.clock.advance(timedelta(days=2))
    ending = stack.tick()

    assert starting["emailed"] == [f"pause-start-{first}"]
    assert again["emailed"] == []
    assert ending["emailed"] == [f"pause-end-{last}"]
    subjects = [m.subject or "" for m in stack.sent_emails()]
    assert len(subjects) == 2
    assert "pauses tomorrow" in subjects[0] and str(first) in subjects[0]
    assert "resumes tomorrow" in subjects[1] and str(last + timedelta(days=1)) in subjects[1]
