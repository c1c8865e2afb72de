"""The scheduled tick on moto: settled inbox files started once, grace periods, pause reminders
once, holds reminded and expired once, one district's failure isolated."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import boto3

from rostersync.pipeline import tick
from rostersync.pipeline.models import DecisionToken
from rostersync.pipeline.ports import Deps
from rostersync.settings import DistrictSettings, PauseWindow
from tests.support.pipeline_helpers import RAW, Clock, D, RecordingWorkflow, copy_fixture, upload_folder

EVENT = tick.TickEvent(source="rostersync.tick")


def _settings(deps: Deps, **extra: object) -> DistrictSettings:
    settings = DistrictSettings(district_id=D, admin_emails=["admin@example.org"], **extra)  # type: ignore[arg-type]
    deps.repo.put_settings(settings)
    return settings


def _after_upload(clock: Clock, delta: timedelta) -> None:
    newest = max(o["LastModified"] for o in boto3.client("s3").list_objects_v2(Bucket=RAW)["Contents"])
    clock.now = newest + delta


def test_a_complete_set_left_in_the_inbox_is_started_once(
    deps: Deps, clock: Clock, workflow: RecordingWorkflow, tmp_path: Path
) -> None:
    _settings(deps)
    upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    _after_upload(clock, timedelta(seconds=1))  # quiet period 0 in these tests

    first = tick.tick(EVENT, deps)
    second = tick.tick(EVENT, deps)

    (sync_id,) = first.started
    assert second.started == []
    assert workflow.started[sync_id]["object_key"] is None
    record = deps.repo.get_sync(D, sync_id)
    assert record is not None and record.status == "waiting"


def test_an_incomplete_set_is_started_only_after_its_grace_period(
    deps: Deps, clock: Clock, tmp_path: Path
) -> None:
    _settings(deps, missing_files_grace_minutes=30)
    folder = copy_fixture("clever_basic", tmp_path / "set")
    (folder / "enrollments.csv").unlink()
    upload_folder(folder)

    _after_upload(clock, timedelta(minutes=29))
    early = tick.tick(EVENT, deps)
    _after_upload(clock, timedelta(minutes=31))
    late = tick.tick(EVENT, deps)

    assert early.started == []
    (sync_id,) = late.started
    record = deps.repo.get_sync(D, sync_id)
    assert record is not None and record.reason is not None and "enrollments.csv" in record.reason


def test_nothing_is_started_during_a_pause(deps: Deps, clock: Clock, tmp_path: Path) -> None:
    upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    _after_upload(clock, timedelta(days=1))
    today = clock.now.date()
    _settings(deps, pause_windows=[PauseWindow(first_day=today, last_day=today)])

    assert tick.tick(EVENT, deps).started == []


def test_the_pause_start_reminder_is_sent_once(deps: Deps, clock: Clock) -> None:
    first = clock.now.date() + timedelta(days=1)
    _settings(deps, pause_windows=[PauseWindow(first_day=first, last_day=first + timedelta(days=3))])

    sent = tick.tick(EVENT, deps).emailed + tick.tick(EVENT, deps).emailed

    assert sent == [f"pause-start-{first}"]


def _held(deps: Deps, now: datetime, expires: datetime, token_status: str = "open") -> None:
    deps.repo.acquire_lock(D, "s1", now)
    deps.repo.set_lock_state(D, "s1", "held")
    deps.repo.update_sync(
        D, "s1", now, status="held", hold_id="h1", held_schools=["SCH1"], hold_expires_at=expires.isoformat()
    )
    deps.repo.put_token(
        DecisionToken(
            hold_id="h1", district_id=D, sync_id="s1", task_token="tok", status="open", expires_at=2**40
        )
    )
    if token_status == "decided":
        deps.repo.decide_token("h1", "release", "admin", now)


def test_a_hold_past_its_deadline_is_expired_once(
    deps: Deps, clock: Clock, workflow: RecordingWorkflow
) -> None:
    _settings(deps)
    _held(deps, clock.now - timedelta(days=14), clock.now - timedelta(minutes=1))

    first = tick.tick(EVENT, deps)
    workflow.gone = True  # the task was resumed: a second resume is refused
    second = tick.tick(EVENT, deps)

    assert first.expired == ["s1"] and second.expired == []
    assert workflow.successes == [
        ("tok", {"action": "expire", "schools": None, "actor": tick.TICK_ACTOR, "removals": "apply"})
    ]
    token = deps.repo.get_token("h1")
    assert token is not None and token.status == "expired"


def test_a_decided_hold_is_not_expired(deps: Deps, clock: Clock, workflow: RecordingWorkflow) -> None:
    _settings(deps)
    _held(deps, clock.now - timedelta(days=14), clock.now - timedelta(minutes=1), token_status="decided")

    assert tick.tick(EVENT, deps).expired == []
    assert workflow.successes == []


def test_a_hold_is_reminded_within_the_reminder_hours_only(deps: Deps, clock: Clock) -> None:
    _settings(deps, hold_reminder_hours=24)
    expires = clock.now + timedelta(hours=25)
    _held(deps, clock.now, expires)

    early = tick.tick(EVENT, deps)
    clock.now += timedelta(hours=2)
    due = tick.tick(EVENT, deps)

    assert early.emailed == []
    assert due.emailed == [f"hold-reminder-s1-{int(expires.timestamp())}"]


def test_one_districts_failure_does_not_stop_the_others(deps: Deps, clock: Clock) -> None:
    first = clock.now.date() + timedelta(days=1)
    window = [PauseWindow(first_day=first, last_day=first)]
    deps.repo.put_settings(DistrictSettings(district_id="broken", admin_emails=["a@example.org"]))
    _settings(deps, pause_windows=window)
    real = deps.repo.get_lock

    def failing(district_id: str):  # type: ignore[no-untyped-def]
        if district_id == "broken":
            raise RuntimeError("table throttled")
        return real(district_id)

    deps.repo.get_lock = failing  # type: ignore[method-assign]

    out = tick.tick(EVENT, deps)

    assert out.failed == {"broken": "RuntimeError: table throttled"}
    assert out.emailed == [f"pause-start-{first}"]
