"""Scheduled pulls of the local product: which pull times come due, in each district's zone."""

from __future__ import annotations

from datetime import UTC, datetime, time

from rostersync.api.onboarding_models import DistrictProfile
from rostersync_tools.local.schedules import DuePull, PullScheduler, due_pulls

CREATED = datetime(2025, 3, 1, tzinfo=UTC)


def profile(district_id: str, zone: str, *times: time, status: str = "active") -> DistrictProfile:
    return DistrictProfile(
        district_id=district_id,
        name=district_id,
        time_zone=zone,
        pull_times=list(times),
        status=status,  # type: ignore[arg-type]
        created_at=CREATED,
        created_by="ops",
    )


def test_a_pull_time_is_due_in_the_districts_own_time_zone() -> None:
    chicago = profile("d1", "America/Chicago", time(2, 0))  # 08:00 UTC in March (CST)

    due = due_pulls(
        [chicago],
        {"d1"},
        datetime(2025, 3, 3, 7, 59, tzinfo=UTC),
        datetime(2025, 3, 3, 8, 0, tzinfo=UTC),
    )

    assert due == [DuePull("d1", datetime(2025, 3, 3, 8, 0, tzinfo=UTC))]


def test_a_pull_time_before_the_window_is_not_due_again() -> None:
    chicago = profile("d1", "America/Chicago", time(2, 0))

    due = due_pulls(
        [chicago], {"d1"}, datetime(2025, 3, 3, 8, 0, tzinfo=UTC), datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    )

    assert due == []


def test_every_pull_time_of_a_long_window_is_due_once_in_order() -> None:
    twice = profile("d2", "UTC", time(13, 0), time(1, 0))

    due = due_pulls(
        [twice], {"d2"}, datetime(2025, 3, 3, 0, 0, tzinfo=UTC), datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
    )

    assert [d.scheduled_time.hour for d in due] == [1, 13, 1]


def test_deactivated_and_upload_districts_are_never_pulled() -> None:
    stopped = profile("d3", "UTC", time(1, 0), status="deactivated")
    uploads = profile("d4", "UTC", time(1, 0))

    due = due_pulls(
        [stopped, uploads],
        {"d3"},
        datetime(2025, 3, 3, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 3, 2, 0, tzinfo=UTC),
    )

    assert due == []


def test_the_event_is_what_eventbridge_scheduler_sends_the_ingest_function() -> None:
    event = DuePull("d1", datetime(2025, 3, 3, 8, 0, tzinfo=UTC)).event()

    assert event == {
        "source": "rostersync.scheduler",
        "district_id": "d1",
        "scheduled_time": "2025-03-03T08:00:00Z",
    }


def test_the_scheduler_fires_each_due_pull_once_across_checks() -> None:
    now = [datetime(2025, 3, 3, 0, 59, tzinfo=UTC)]
    fired: list[DuePull] = []
    scheduler = PullScheduler(
        lambda: ([profile("d1", "UTC", time(1, 0))], {"d1"}), fired.append, clock=lambda: now[0]
    )

    now[0] = datetime(2025, 3, 3, 1, 0, 30, tzinfo=UTC)
    scheduler.check()
    now[0] = datetime(2025, 3, 3, 1, 5, tzinfo=UTC)
    scheduler.check()

    assert fired == [DuePull("d1", datetime(2025, 3, 3, 1, 0, tzinfo=UTC))]
