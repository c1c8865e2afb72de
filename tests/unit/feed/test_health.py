"""The operations metrics on moto: how long a sync waits on hold and how long since a district's
last accepted version, written as CloudWatch embedded-metric-format records by Powertools."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rostersync.pipeline import health, pull
from rostersync.pipeline.events import ScheduledSyncEvent
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import Deps
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings, PauseWindow
from rostersync.snapshot import promote_version, read_manifest, version_prefix


@pytest.fixture(autouse=True)
def metrics_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root conftest.py silences Powertools metrics for the suite; these tests read them."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


def _emf(out: str) -> list[dict[str, Any]]:
    """The EMF records printed: {metric name: value} plus the dimensions of each."""
    records = []
    for line in out.splitlines():
        blob = json.loads(line)
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        names = [m["Name"] for m in directive["Metrics"]]
        dims = {d: blob[d] for d in directive["Dimensions"][0]}
        # Powertools writes a value as a list of the values added under that name.
        values = {
            n: blob[n][0] if isinstance(blob[n], list) and len(blob[n]) == 1 else blob[n] for n in names
        }
        records.append({"namespace": directive["Namespace"], "dimensions": dims, **values})
    return records


def _held_sync(deps: Deps, district_id: str, sync_id: str, days_ago: float) -> None:
    started = deps.clock() - timedelta(days=days_ago)
    deps.repo.put_sync(
        SyncRecord(
            district_id=district_id, sync_id=sync_id, status="held", created_at=started, updated_at=started
        )
    )


def _accepted_hours_ago(deps: Deps, district_id: str) -> Any:
    """Promote version 1 of an empty roster; the manifest's creation time."""
    promote_version(
        deps.snapshots,
        f"districts/{district_id}",
        RosterSet(tables={}, format="clever_csv"),
        expected_version=None,
    )
    prefix = version_prefix(deps.snapshots, f"districts/{district_id}", 1)
    return read_manifest(deps.snapshots, prefix).created_at


def test_a_held_sync_ages_in_days_from_when_it_started(deps: Deps) -> None:
    settings = DistrictSettings(district_id="d1")
    _held_sync(deps, "d1", "old", 3.5)
    _held_sync(deps, "d1", "new", 1.0)

    found = health.district_health(deps, settings, deps.clock())

    assert found.held_sync_age_days == 3.5


def test_a_district_without_a_held_sync_has_age_zero_and_no_version_yet(deps: Deps) -> None:
    found = health.district_health(deps, DistrictSettings(district_id="d1"), deps.clock())

    assert (found.held_sync_age_days, found.hours_since_last_accepted) == (0.0, None)


def test_hours_since_last_accepted_count_from_the_newest_version(deps: Deps) -> None:
    created = _accepted_hours_ago(deps, "d1")

    found = health.district_health(deps, DistrictSettings(district_id="d1"), created + timedelta(hours=30))

    assert found.hours_since_last_accepted == 30.0


def test_metrics_are_written_per_district_and_as_the_stack_wide_worst(
    deps: Deps, capsys: pytest.CaptureFixture[str]
) -> None:
    healths = [
        health.DistrictHealth("d1", held_sync_age_days=4.0, hours_since_last_accepted=10.0, paused=False),
        health.DistrictHealth(
            "d2",
            held_sync_age_days=0.0,
            hours_since_last_accepted=70.0,
            paused=False,
            expected_sync_hours=48,
            counted_hours=70.0,
            last_version=3,
        ),
    ]

    health.put_health_metrics(healths)

    records = _emf(capsys.readouterr().out)
    assert records == [
        {
            "namespace": "rostersync",
            "dimensions": {"service": "rostersync", "district_id": "d1"},
            "HeldSyncAgeDays": 4.0,
            "HoursSinceLastAccepted": 10.0,
            "SyncOverdue": 0.0,
        },
        {
            "namespace": "rostersync",
            "dimensions": {"service": "rostersync", "district_id": "d2"},
            "HeldSyncAgeDays": 0.0,
            "HoursSinceLastAccepted": 70.0,
            "SyncOverdue": 1.0,
        },
        {
            "namespace": "rostersync",
            "dimensions": {"service": "rostersync"},
            "OldestHeldSyncAgeDays": 4.0,
            "MaxHoursSinceLastAccepted": 70.0,
            "OverdueDistricts": 1.0,
        },
    ]


def test_a_paused_district_is_not_counted_as_overdue(deps: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    healths = [
        health.DistrictHealth(
            "d1",
            held_sync_age_days=0.0,
            hours_since_last_accepted=900.0,
            paused=True,
            expected_sync_hours=48,
            counted_hours=900.0,
            last_version=1,
        )
    ]

    health.put_health_metrics(healths)

    records = _emf(capsys.readouterr().out)
    assert [sorted(k for k in r if k[0].isupper()) for r in records] == [
        ["HeldSyncAgeDays", "SyncOverdue"],
        ["OldestHeldSyncAgeDays", "OverdueDistricts"],
    ]
    assert [records[0]["SyncOverdue"], records[1]["OverdueDistricts"]] == [0.0, 0.0]


def test_a_district_is_overdue_past_its_own_expected_hours(deps: Deps) -> None:
    created = _accepted_hours_ago(deps, "d1")
    settings = DistrictSettings(district_id="d1", expected_sync_hours=24)

    found = health.district_health(deps, settings, created + timedelta(hours=30))

    assert (found.overdue, found.expected_sync_hours, found.last_version) == (True, 24, 1)


def test_without_its_own_cadence_a_district_gets_the_stacks_default(deps: Deps) -> None:
    created = _accepted_hours_ago(deps, "d1")

    found = health.district_health(deps, DistrictSettings(district_id="d1"), created + timedelta(hours=30))

    assert (found.overdue, found.expected_sync_hours) == (False, deps.config.sync_cadence_hours)


def test_a_district_without_a_version_yet_is_not_overdue(deps: Deps) -> None:
    settings = DistrictSettings(district_id="d1", expected_sync_hours=1)

    assert not health.district_health(deps, settings, deps.clock()).overdue


def test_weekday_hours_leave_out_the_weekend_on_the_districts_calendar() -> None:
    zone = ZoneInfo("America/Chicago")
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=zone)  # a Friday
    monday_morning = datetime(2026, 12, 7, 8, 0, tzinfo=zone)

    hours = health.weekday_hours(friday_evening.astimezone(UTC), monday_morning.astimezone(UTC), zone)

    assert hours == 6 + 8


def test_a_weekdays_only_district_does_not_count_the_weekend_against_its_cadence(deps: Deps) -> None:
    created = _accepted_hours_ago(deps, "d1")
    week_later = created + timedelta(days=7)  # any seven days hold five weekdays: 120 hours
    weekdays = DistrictSettings(district_id="d1", expected_sync_hours=130, expected_sync_days="weekdays")
    every_day = DistrictSettings(district_id="d1", expected_sync_hours=130)

    counted = health.district_health(deps, weekdays, week_later)
    elapsed = health.district_health(deps, every_day, week_later)

    assert (counted.counted_hours, counted.overdue) == (120.0, False)
    assert (elapsed.counted_hours, elapsed.overdue) == (168.0, True)


def test_a_district_in_a_pause_window_today_is_paused(deps: Deps) -> None:
    today = deps.clock().date()
    window = PauseWindow(first_day=today - timedelta(days=1), last_day=today + timedelta(days=1))

    found = health.district_health(
        deps, DistrictSettings(district_id="d1", pause_windows=[window]), deps.clock()
    )

    assert found.paused


def test_the_nightly_schedule_reports_every_district(deps: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    for district in ("d1", "d2"):
        deps.repo.put_settings(DistrictSettings(district_id=district))
    _held_sync(deps, "d2", "s1", 2.0)

    pull.start_scheduled(ScheduledSyncEvent(source="rostersync.scheduler", scheduled_time="t"), deps)

    records = _emf(capsys.readouterr().out)
    by_district = {r["dimensions"].get("district_id"): r for r in records}
    assert by_district["d1"]["HeldSyncAgeDays"] == 0.0 and by_district["d2"]["HeldSyncAgeDays"] == 2.0
    assert by_district[None]["OldestHeldSyncAgeDays"] == 2.0
