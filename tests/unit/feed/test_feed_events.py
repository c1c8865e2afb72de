"""The lifecycle events of the change feed, put by the stages on moto's EventBridge and validated
against their JSON Schemas (events/schemas/), as a consumer's queue receives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rostersync.pipeline import decide, finish, release
from rostersync.pipeline.events import ApplyInput, FinishInput, NotifyInput
from rostersync.pipeline.ports import Deps
from tests.support.feed_events import SCHEMAS, BusCapture, schema_errors
from tests.support.pipeline_helpers import (
    BUS,
    D,
    quiet_settings,
    ref,
    run_to_evaluate,
    upload_folder,
    write_district,
)


@pytest.fixture
def bus(deps: Deps) -> BusCapture:
    return BusCapture(BUS)


def _held(deps: Deps, tmp_path: Path) -> tuple[list[str], Any, Any, Any]:
    """Day 1 applied (s1), then day 2, half of both schools' students gone, evaluated (s2): held."""
    day1, day2, schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm1, diff1, ev1 = run_to_evaluate(deps, "s1")
    applied = release.apply(
        ApplyInput(step="apply", normalize=norm1, diff=diff1, progress=ev1.progress, **ref("s1")), deps
    )
    # RosterChangesApplied goes out after the commit, from the notify step
    release.notify(NotifyInput(step="notify", apply=applied, **ref("s1")), deps)
    upload_folder(day2)
    return schools, *run_to_evaluate(deps, "s2")


def test_every_schema_is_a_valid_draft_2020_12_schema_named_after_its_detail_type() -> None:
    names = sorted(p.stem for p in SCHEMAS.glob("*.json"))
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["properties"]["detail-type"] == {"const": path.stem}
    assert names == ["RosterChangesApplied", "SyncExpired", "SyncFailed", "SyncHeld"]


def test_an_applied_sync_puts_roster_changes_applied_matching_its_schema(
    deps: Deps, bus: BusCapture, tmp_path: Path
) -> None:
    _held(deps, tmp_path)

    (event,) = bus.drain("RosterChangesApplied")

    assert schema_errors(event) == []
    assert (event["detail"]["version"], event["detail"]["previous_version"]) == (1, None)


def test_a_held_sync_puts_sync_held_with_its_holds_and_schools(
    deps: Deps, bus: BusCapture, tmp_path: Path
) -> None:
    schools, _norm, _diff, ev = _held(deps, tmp_path)

    (event,) = bus.drain("SyncHeld")

    assert schema_errors(event) == []
    detail = event["detail"]
    assert detail["event_id"] == "s2-a1-held" and detail["sync_id"] == "s2"
    assert detail["held_schools"] == schools and detail["accepted_version"] == 1
    assert detail["hold_count"] == ev.holds == len(detail["holds"])
    assert {h["type"] for h in detail["holds"]} == {"mass_removal"}
    assert detail["holds_key"] == ev.holds_key and detail["releasable"] is True


def test_a_sync_without_holds_puts_no_sync_held(deps: Deps, bus: BusCapture, tmp_path: Path) -> None:
    day1, _day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)

    run_to_evaluate(deps, "s1")

    assert bus.drain("SyncHeld") == []


def test_evaluating_the_same_attempt_twice_puts_sync_held_once(
    deps: Deps, bus: BusCapture, tmp_path: Path
) -> None:
    _schools, norm, diff, _ev = _held(deps, tmp_path)
    from rostersync.pipeline.events import EvaluateInput

    decide.evaluate(EvaluateInput(step="evaluate", normalize=norm, diff=diff, **ref("s2")), deps)

    assert len(bus.drain("SyncHeld")) == 1


def test_a_failed_sync_puts_sync_failed_with_the_admins_reason(deps: Deps, bus: BusCapture) -> None:
    error = {"Error": "ValueError", "Cause": json.dumps({"errorMessage": "boom", "errorType": "ValueError"})}

    finish.finish(FinishInput(step="finish", status="failed", error=error, **ref("s1")), deps)

    (event,) = bus.drain("SyncFailed")
    assert schema_errors(event) == []
    assert event["detail"]["reason"] == "ValueError: boom" and event["detail"]["event_id"] == "s1-failed"


def test_an_expired_hold_puts_sync_expired_naming_the_schools_never_applied(
    deps: Deps, bus: BusCapture, tmp_path: Path
) -> None:
    schools, norm, diff, ev = _held(deps, tmp_path)
    partial = release.apply(
        ApplyInput(
            step="apply", normalize=norm, diff=diff, progress=ev.progress, schools=[schools[0]], **ref("s2")
        ),
        deps,
    )
    deps.repo.update_sync(D, "s2", deps.clock(), hold_expires_at=deps.clock().isoformat())

    finish.finish(FinishInput(step="finish", status="expired", **ref("s2")), deps)

    (event,) = bus.drain("SyncExpired")
    assert schema_errors(event) == []
    detail = event["detail"]
    assert detail["applied_schools"] == [schools[0]] and detail["unapplied_schools"] == [schools[1]]
    assert detail["versions"] == [partial.version] and detail["hold_expires_at"] is not None


@pytest.mark.parametrize("status", ["applied", "rejected", "superseded", "paused"])
def test_other_ends_put_no_lifecycle_event(deps: Deps, bus: BusCapture, status: str) -> None:
    finish.finish(FinishInput(step="finish", status=status, **ref("s1")), deps)  # type: ignore[arg-type]

    assert [e["detail-type"] for e in bus.drain()] == []


def test_an_event_missing_a_documented_field_breaks_its_schema(
    deps: Deps, bus: BusCapture, tmp_path: Path
) -> None:
    finish.finish(FinishInput(step="finish", status="failed", reason="x", **ref("s1")), deps)
    (event,) = bus.drain("SyncFailed")
    del event["detail"]["reason"]
    event["detail"]["surprise"] = 1

    errors = schema_errors(event)

    assert errors == [
        "detail: 'reason' is a required property",
        "detail: Additional properties are not allowed ('surprise' was unexpected)",
    ]
