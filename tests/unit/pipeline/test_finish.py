"""The finish stage on moto: the final status and reason, and the lock given back only if ours."""

from __future__ import annotations

import json

from rostersync.pipeline import finish
from rostersync.pipeline.events import FinishInput
from rostersync.pipeline.models import SchoolStatus
from rostersync.pipeline.ports import Deps
from tests.support.pipeline_helpers import D, ref


def test_a_superseded_sync_does_not_release_the_lock_it_lost(deps: Deps) -> None:
    now = deps.clock()
    deps.repo.acquire_lock(D, "old", now)
    deps.repo.set_lock_state(D, "old", "held")
    deps.repo.take_over_lock(D, "old", "new", now)

    out = finish.finish(FinishInput(step="finish", status="superseded", **ref("old")), deps)

    assert not out.lock_released
    lock = deps.repo.get_lock(D)
    assert lock is not None and lock.owner == "new"


def test_finish_failed_records_the_reason_and_releases_the_lock(deps: Deps) -> None:
    deps.repo.acquire_lock(D, "s1", deps.clock())
    error = {"Error": "ValueError", "Cause": json.dumps({"errorMessage": "boom", "errorType": "ValueError"})}

    out = finish.finish(FinishInput(step="finish", status="failed", error=error, **ref("s1")), deps)

    record = deps.repo.get_sync(D, "s1")
    assert out.lock_released and deps.repo.get_lock(D) is None
    assert record is not None and record.status == "failed" and record.reason == "ValueError: boom"


def _partly_released(deps: Deps) -> None:
    now = deps.clock()
    deps.repo.update_sync(
        D, "s2", now, status="partially_applied", held_schools=["S1"], applied_schools=["S2"], releasable=True
    )
    deps.repo.put_school_status(
        SchoolStatus(district_id=D, school_id="S1", status="on_hold", sync_id="s2", last_applied_sync_id="s1")
    )


def test_a_rejected_sync_holds_nothing_and_cannot_be_released(deps: Deps) -> None:
    _partly_released(deps)

    finish.finish(
        FinishInput(
            step="finish", status="rejected", reason="rejected by an admin; nothing applied", **ref("s2")
        ),
        deps,
    )

    record = deps.repo.get_sync(D, "s2")
    assert record is not None and (record.held_schools, record.releasable) == ([], False)


def test_a_reject_after_a_partial_release_does_not_say_nothing_applied(deps: Deps) -> None:
    _partly_released(deps)

    finish.finish(
        FinishInput(
            step="finish", status="rejected", reason="rejected by an admin; nothing applied", **ref("s2")
        ),
        deps,
    )

    record = deps.repo.get_sync(D, "s2")
    assert record is not None
    assert record.reason == "rejected by an admin; nothing more applied (already applied: S2)"


def test_after_a_reject_the_board_points_at_the_schools_last_applied_sync(deps: Deps) -> None:
    _partly_released(deps)

    finish.finish(FinishInput(step="finish", status="rejected", reason="rejected", **ref("s2")), deps)

    (school,) = deps.repo.list_school_status(D)
    assert (school.status, school.sync_id) == ("connected", "s1")


def test_a_coalesced_sync_carries_a_finish_time(deps: Deps) -> None:
    finish.finish(
        FinishInput(step="finish", status="coalesced", reason="a later upload takes over", **ref("s3")), deps
    )

    record = deps.repo.get_sync(D, "s3")
    assert record is not None and record.finished_at is not None and record.status == "coalesced"
