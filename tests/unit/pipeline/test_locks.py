"""The lock step on moto: take, wait, supersede a held sync, take over a stranded one, give up."""

from __future__ import annotations

from datetime import date, timedelta

from rostersync.pipeline import locks
from rostersync.pipeline.events import LockInput
from rostersync.pipeline.models import DecisionToken, SchoolStatus
from rostersync.pipeline.ports import Deps
from rostersync.settings import DistrictSettings, PauseWindow
from tests.support.pipeline_helpers import Clock, D, RecordingWorkflow, ref

ARN = "arn:aws:states:us-east-1:123456789012:execution:rostersync-sync:"


# --- lock -----------------------------------------------------------------------------------------


def test_lock_waits_while_another_sync_is_active(deps: Deps) -> None:
    deps.repo.acquire_lock(D, "old", deps.clock())

    out = locks.lock(LockInput(step="lock", **ref("new")), deps)

    assert not out.acquired and out.owner == "old"


def test_lock_supersedes_a_held_sync(deps: Deps, workflow: RecordingWorkflow) -> None:
    now = deps.clock()
    deps.repo.acquire_lock(D, "old", now)
    deps.repo.set_lock_state(D, "old", "held")
    deps.repo.update_sync(D, "old", now, status="held", hold_id="h-old")
    deps.repo.put_token(
        DecisionToken(
            hold_id="h-old",
            district_id=D,
            sync_id="old",
            task_token="tok-old",
            status="open",
            expires_at=2**40,
        )
    )

    out = locks.lock(LockInput(step="lock", **ref("new")), deps)

    assert out.acquired and out.superseded_sync_id == "old"
    assert workflow.successes == [
        ("tok-old", {"action": "superseded", "schools": None, "actor": "sync:new", "removals": "apply"})
    ]
    lock = deps.repo.get_lock(D)
    assert lock is not None and lock.owner == "new"


def test_lock_reports_a_pause_window_of_today(deps: Deps, clock: Clock) -> None:
    today = clock.now.date()
    deps.repo.put_settings(
        DistrictSettings(
            district_id=D, pause_windows=[PauseWindow(first_day=today, last_day=date(2025, 8, 1))]
        )
    )

    out = locks.lock(LockInput(step="lock", **ref("s1")), deps)

    assert out.acquired and out.paused


def test_lock_takes_the_hold_timeout_from_the_district_or_the_deployment(deps: Deps) -> None:
    default = locks.lock(LockInput(step="lock", **ref("s1")), deps)
    deps.repo.put_settings(DistrictSettings(district_id=D, hold_expiry_days=3))

    district = locks.lock(LockInput(step="lock", **ref("s1")), deps)

    assert (default.hold_timeout_seconds, district.hold_timeout_seconds) == (120, 3 * 86400)


def test_the_lock_records_the_execution(deps: Deps) -> None:
    locks.lock(LockInput(step="lock", execution_arn=ARN + "s1", **ref("s1")), deps)

    lock = deps.repo.get_lock(D)
    assert lock is not None and lock.execution_arn == ARN + "s1"


def test_lock_waits_for_an_owner_whose_execution_runs(deps: Deps, workflow: RecordingWorkflow) -> None:
    workflow.statuses[ARN + "old"] = "RUNNING"
    deps.repo.acquire_lock(D, "old", deps.clock(), ARN + "old")

    out = locks.lock(LockInput(step="lock", execution_arn=ARN + "new", **ref("new")), deps)

    assert not out.acquired and out.owner == "old"


def test_lock_takes_over_from_an_owner_whose_execution_was_stopped(
    deps: Deps, workflow: RecordingWorkflow
) -> None:
    now = deps.clock()
    workflow.statuses[ARN + "old"] = "ABORTED"
    deps.repo.acquire_lock(D, "old", now, ARN + "old")
    deps.repo.update_sync(D, "old", now, status="held", held_schools=["S1"])
    deps.repo.put_school_status(
        SchoolStatus(
            district_id=D, school_id="S1", status="on_hold", sync_id="old", last_applied_sync_id="v1"
        )
    )

    out = locks.lock(LockInput(step="lock", execution_arn=ARN + "new", **ref("new")), deps)

    assert out.acquired
    old = deps.repo.get_sync(D, "old")
    assert old is not None and old.status == "failed"
    assert (
        old.reason == "stranded: its execution ended (ABORTED) without finishing; sync new took over the lock"
    )
    (school,) = deps.repo.list_school_status(D)
    assert (school.status, school.sync_id) == ("connected", "v1")
    lock = deps.repo.get_lock(D)
    assert lock is not None and (lock.owner, lock.execution_arn) == ("new", ARN + "new")


def test_a_sync_waiting_past_the_bound_gives_up(
    deps: Deps, clock: Clock, workflow: RecordingWorkflow
) -> None:
    workflow.statuses[ARN + "old"] = "RUNNING"
    deps.repo.acquire_lock(D, "old", clock.now, ARN + "old")
    bound = locks.wait_bound_seconds(deps.config.lock_retry_seconds)
    started = clock.now - timedelta(seconds=bound)

    out = locks.lock(LockInput(step="lock", started_at=started, **ref("new")), deps)

    assert out.gave_up and not out.acquired
    assert out.reason is not None and out.reason.startswith("waited ")


def test_the_wait_bound_keeps_the_loop_under_the_history_limit() -> None:
    # ~9 history events per Lock/Wait round: the bound must stay far below 25,000 events.
    assert locks.wait_bound_seconds(1) == 2000
    assert locks.wait_bound_seconds(60) == 24 * 3600
