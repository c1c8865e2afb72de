"""The release stage on moto: apply promotes the released schools' changes, once per version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pyarrow.compute as pc

from rostersync.pipeline import release
from rostersync.pipeline.events import ApplyInput, ApplyOutput, DeliveryFailedInput, NotifyInput
from rostersync.pipeline.ports import Deps
from rostersync.snapshot import latest_version, read_snapshot, read_version
from tests.support.pipeline_helpers import quiet_settings, ref, run_to_evaluate, upload_folder, write_district


def _apply(
    deps: Deps, sync_id: str, norm: Any, diff: Any, progress: Any, schools: list[str] | None
) -> ApplyOutput:
    return release.apply(
        ApplyInput(
            step="apply", normalize=norm, diff=diff, progress=progress, schools=schools, **ref(sync_id)
        ),
        deps,
    )


def _second_sync_evaluated(deps: Deps, tmp_path: Path) -> tuple[list[str], Any, Any, Any]:
    """Day 1 synced and applied in full (s1), then day 2 staged and evaluated (s2): the district's
    schools, and s2's normalize, diff and evaluate outputs."""
    day1, day2, schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm1, diff1, ev1 = run_to_evaluate(deps, "s1")
    _apply(deps, "s1", norm1, diff1, ev1.progress, None)
    upload_folder(day2)
    norm2, diff2, ev2 = run_to_evaluate(deps, "s2")
    return schools, norm2, diff2, ev2


def test_apply_of_some_schools_promotes_only_their_changes(deps: Deps, tmp_path: Path) -> None:
    schools, norm2, diff2, ev2 = _second_sync_evaluated(deps, tmp_path)
    assert ev2.progress.held_schools == schools

    out = _apply(deps, "s2", norm2, diff2, ev2.progress, [schools[0]])

    assert (out.version, out.complete) == (2, False)
    assert out.progress.held_schools == [schools[1]] and out.progress.applied_schools == [schools[0]]
    v1, v2 = (read_version(deps.snapshots, "districts/d1", v).table("students") for v in (1, 2))
    for school, expected_change in ((schools[0], True), (schools[1], False)):
        before = v1.filter(pc.equal(v1.column("school_id"), school)).num_rows
        after = v2.filter(pc.equal(v2.column("school_id"), school)).num_rows
        assert (after < before) is expected_change


def test_releasing_the_rest_applies_what_is_left_once(deps: Deps, tmp_path: Path) -> None:
    schools, norm2, diff2, ev2 = _second_sync_evaluated(deps, tmp_path)
    partial = _apply(deps, "s2", norm2, diff2, ev2.progress, [schools[0]])

    final = _apply(deps, "s2", norm2, diff2, partial.progress, None)

    assert (final.version, final.complete) == (3, True)
    v3 = read_version(deps.snapshots, "districts/d1", 3).table("students")
    assert sorted(v3.column("person_id").to_pylist()) == sorted(
        read_snapshot(deps.snapshots, norm2.staged_prefix).table("students").column("person_id").to_pylist()
    )


def test_a_retried_apply_returns_the_same_version_and_notify_emits_once(deps: Deps, tmp_path: Path) -> None:
    day1, _day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm, diff, ev = run_to_evaluate(deps, "s1")
    events = boto3.client("dynamodb")

    first = _apply(deps, "s1", norm, diff, ev.progress, None)
    again = _apply(deps, "s1", norm, diff, ev.progress, None)
    for _ in range(2):
        release.notify(NotifyInput(step="notify", apply=again, **ref("s1")), deps)

    assert first.version == again.version == 1
    assert latest_version(deps.snapshots, "districts/d1") == 1
    markers = events.query(
        TableName="rostersync-table",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
        ExpressionAttributeValues={":pk": {"S": "DISTRICT#d1"}, ":sk": {"S": "MARK#EVENT#"}},
    )["Items"]
    assert len(markers) == 1


def test_apply_records_the_sync_applied_before_anything_is_delivered(deps: Deps, tmp_path: Path) -> None:
    day1, _day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm, diff, ev = run_to_evaluate(deps, "s1")

    out = _apply(deps, "s1", norm, diff, ev.progress, None)

    record = deps.repo.get_sync("d1", "s1")
    assert record is not None and (record.status, record.delivery) == ("applied", "pending")
    assert (out.version, out.previous_version, out.event_id) == (1, None, "s1-v1")


def test_a_failed_delivery_is_recorded_on_the_applied_sync(deps: Deps) -> None:
    deps.repo.update_sync("d1", "s1", deps.clock(), status="applied", delivery="pending")
    error = {"Error": "EndpointConnectionError", "Cause": "the bus is unreachable"}

    release.delivery_failed(DeliveryFailedInput(step="delivery_failed", error=error, **ref("s1")), deps)

    record = deps.repo.get_sync("d1", "s1")
    assert record is not None
    assert (record.status, record.delivery, record.delivery_error) == (
        "applied",
        "failed",
        "EndpointConnectionError: the bus is unreachable",
    )
