"""The finish stage on moto: the final status and reason, and the lock given back only if ours."""

from __future__ import annotations

import json

from rostersync.pipeline import finish
from rostersync.pipeline.events import FinishInput
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
