"""The pipeline's steps on moto: settle, lock (supersede, pause), normalize, evaluate, apply."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import boto3
import pyarrow.compute as pc
import pytest

from rostersync.pipeline import steps
from rostersync.pipeline.events import (
    ApplyInput,
    AwaitDecisionInput,
    DiffInput,
    EvaluateInput,
    FinishInput,
    LockInput,
    NormalizeInput,
    SettleInput,
)
from rostersync.pipeline.models import DecisionToken
from rostersync.pipeline.ports import Deps
from rostersync.settings import DistrictSettings, HoldSettings, PauseWindow
from rostersync.snapshot import latest_version, read_version
from rostersync_tools import synthetic
from tests.support.pipeline_helpers import (
    RAW,
    SNAP,
    Clock,
    RecordingWorkflow,
    copy_fixture,
    sent_emails,
    upload_folder,
)

D = "d1"


def ref(sync_id: str) -> dict[str, str]:
    return {"district_id": D, "sync_id": sync_id}


def quiet_settings(deps: Deps, **extra: object) -> None:
    """Settings that hold only on removals (the fixtures' emergency contacts are allowed)."""
    deps.repo.put_settings(
        DistrictSettings(
            district_id=D,
            admin_emails=["admin@example.org"],
            holds=HoldSettings(emergency_contacts="allow", mass_removal_min_count=1),
            **extra,  # type: ignore[arg-type]
        )
    )


def run_to_evaluate(deps: Deps, sync_id: str) -> tuple[object, object, object]:
    norm = steps.normalize(NormalizeInput(step="normalize", **ref(sync_id)), deps)
    diff = steps.diff(DiffInput(step="diff", normalize=norm, **ref(sync_id)), deps)
    ev = steps.evaluate(EvaluateInput(step="evaluate", normalize=norm, diff=diff, **ref(sync_id)), deps)
    return norm, diff, ev


def write_district(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Day 1 of a two-school district, and a day 2 where both schools lose half their students."""
    district = synthetic.generate_district(students=120, seed=7, schools=2, district_id=D)
    schools = sorted(district.tables["schools"].column("school_id").to_pylist())
    day2 = synthetic.drop_school_students(district, schools[0], 0.5)
    day2 = synthetic.drop_school_students(day2, schools[1], 0.5, seed=1)
    synthetic.write_clever_csv(district, tmp_path / "day1")
    synthetic.write_clever_csv(day2, tmp_path / "day2")
    return tmp_path / "day1", tmp_path / "day2", schools


# --- settle ---------------------------------------------------------------------------------------


def test_settle_waits_for_an_incomplete_set_and_processes_nothing(deps: Deps, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    (folder / "enrollments.csv").unlink()
    keys = upload_folder(folder)

    out = steps.settle(SettleInput(step="settle", object_key=keys[0], **ref("s1")), deps)

    assert out.outcome == "waiting"
    assert out.missing == ["enrollments.csv"]
    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.status == "waiting"


def test_settle_coalesces_when_a_later_file_arrived(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    later = deps.raw.describe(keys[-1])[0].last_modified + timedelta(seconds=5)
    deps.raw.describe = lambda prefix, _orig=deps.raw.describe: [  # type: ignore[method-assign]
        o if o.key != keys[-1] else type(o)(o.key, o.etag, later, o.size) for o in _orig(prefix)
    ]

    out = steps.settle(SettleInput(step="settle", object_key=keys[0], **ref("s1")), deps)

    assert out.outcome == "coalesced"


def test_settle_lets_one_sync_of_the_same_set_proceed(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    first = steps.settle(SettleInput(step="settle", object_key=None, **ref("s1")), deps)

    second = steps.settle(SettleInput(step="settle", object_key=keys[0], **ref("s2")), deps)

    assert (first.outcome, second.outcome) == ("ready", "coalesced")


# --- lock -----------------------------------------------------------------------------------------


def test_lock_waits_while_another_sync_is_active(deps: Deps) -> None:
    deps.repo.acquire_lock(D, "old", deps.clock())

    out = steps.lock(LockInput(step="lock", **ref("new")), deps)

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

    out = steps.lock(LockInput(step="lock", **ref("new")), deps)

    assert out.acquired and out.superseded_sync_id == "old"
    assert workflow.successes == [("tok-old", {"action": "superseded", "schools": None, "actor": "sync:new"})]
    lock = deps.repo.get_lock(D)
    assert lock is not None and lock.owner == "new"


def test_a_superseded_sync_does_not_release_the_lock_it_lost(deps: Deps) -> None:
    now = deps.clock()
    deps.repo.acquire_lock(D, "old", now)
    deps.repo.set_lock_state(D, "old", "held")
    deps.repo.take_over_lock(D, "old", "new", now)

    out = steps.finish(FinishInput(step="finish", status="superseded", **ref("old")), deps)

    assert not out.lock_released
    lock = deps.repo.get_lock(D)
    assert lock is not None and lock.owner == "new"


def test_lock_reports_a_pause_window_of_today(deps: Deps, clock: Clock) -> None:
    today = clock.now.date()
    deps.repo.put_settings(
        DistrictSettings(
            district_id=D, pause_windows=[PauseWindow(first_day=today, last_day=date(2025, 8, 1))]
        )
    )

    out = steps.lock(LockInput(step="lock", **ref("s1")), deps)

    assert out.acquired and out.paused


def test_lock_takes_the_hold_timeout_from_the_district_or_the_deployment(deps: Deps) -> None:
    default = steps.lock(LockInput(step="lock", **ref("s1")), deps)
    deps.repo.put_settings(DistrictSettings(district_id=D, hold_expiry_days=3))

    district = steps.lock(LockInput(step="lock", **ref("s1")), deps)

    assert (default.hold_timeout_seconds, district.hold_timeout_seconds) == (120, 3 * 86400)


# --- normalize and evaluate ----------------------------------------------------------------------


def test_normalize_copies_the_set_to_the_sync_prefix_and_keeps_the_inbox(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))

    out = steps.normalize(NormalizeInput(step="normalize", **ref("s1")), deps)

    assert out.raw_prefix == "syncs/d1/s1/raw/"
    assert sorted(deps.raw.list(out.raw_prefix)) == sorted(
        out.raw_prefix + k.rsplit("/", 1)[-1] for k in keys
    )
    assert deps.raw.list("inbox/d1/") == keys
    assert not out.invalid and out.counts["students"] > 0
    assert out.errors_key is not None and deps.snapshots.exists(out.errors_key)
    assert out.staged_prefix is not None and deps.snapshots.exists(out.staged_prefix + "/manifest.json")


def test_file_problems_become_an_invalid_files_hold_not_a_crash(deps: Deps, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    text = (folder / "students.csv").read_text(encoding="utf-8")
    (folder / "students.csv").write_text(text.replace("Student_id", "Studnet_id", 1), encoding="utf-8")
    upload_folder(folder)

    norm, _diff, ev = run_to_evaluate(deps, "s1")

    assert norm.invalid and norm.file_problems >= 1  # type: ignore[attr-defined]
    assert ev.held and not ev.progress.releasable  # type: ignore[attr-defined]
    holds = json.loads(deps.snapshots.get(ev.holds_key))  # type: ignore[attr-defined]
    assert {h["type"] for h in holds} == {"invalid_files"}
    assert latest_version(deps.snapshots, "districts/d1") is None


def test_await_decision_stores_the_token_behind_a_hold_id_and_emails_the_admins(
    deps: Deps, tmp_path: Path
) -> None:
    _day1, day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day2)
    _norm, _diff, ev = run_to_evaluate(deps, "s1")

    out = steps.await_decision(
        AwaitDecisionInput(
            step="await_decision",
            task_token="secret-token",
            progress=ev.progress,
            hold_timeout_seconds=60,
            **ref("s1"),  # type: ignore[attr-defined]
        ),
        deps,
    )

    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.status == "held" and record.hold_id
    token = deps.repo.get_token(record.hold_id)
    assert token is not None and token.task_token == "secret-token"
    assert "secret-token" not in json.dumps(record.model_dump(mode="json"))
    assert out.emailed and len(sent_emails()) == 1


# --- apply ----------------------------------------------------------------------------------------


def _apply(deps: Deps, sync_id: str, norm: object, diff: object, progress: object, schools: list[str] | None):
    return steps.apply(
        ApplyInput(
            step="apply", normalize=norm, diff=diff, progress=progress, schools=schools, **ref(sync_id)
        ),  # type: ignore[arg-type]
        deps,
    )


def test_apply_of_some_schools_promotes_only_their_changes(deps: Deps, tmp_path: Path) -> None:
    day1, day2, schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm1, diff1, ev1 = run_to_evaluate(deps, "s1")
    _apply(deps, "s1", norm1, diff1, ev1.progress, None)  # type: ignore[attr-defined]
    upload_folder(day2)
    norm2, diff2, ev2 = run_to_evaluate(deps, "s2")
    assert ev2.progress.held_schools == schools  # type: ignore[attr-defined]

    out = _apply(deps, "s2", norm2, diff2, ev2.progress, [schools[0]])  # type: ignore[attr-defined]

    assert (out.version, out.complete) == (2, False)
    assert out.progress.held_schools == [schools[1]] and out.progress.applied_schools == [schools[0]]
    v1, v2 = (read_version(deps.snapshots, "districts/d1", v).table("students") for v in (1, 2))
    for school, expected_change in ((schools[0], True), (schools[1], False)):
        before = v1.filter(pc.equal(v1.column("school_id"), school)).num_rows
        after = v2.filter(pc.equal(v2.column("school_id"), school)).num_rows
        assert (after < before) is expected_change


def test_releasing_the_rest_applies_what_is_left_once(deps: Deps, tmp_path: Path) -> None:
    day1, day2, schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm1, diff1, ev1 = run_to_evaluate(deps, "s1")
    _apply(deps, "s1", norm1, diff1, ev1.progress, None)  # type: ignore[attr-defined]
    upload_folder(day2)
    norm2, diff2, ev2 = run_to_evaluate(deps, "s2")
    partial = _apply(deps, "s2", norm2, diff2, ev2.progress, [schools[0]])  # type: ignore[attr-defined]

    final = _apply(deps, "s2", norm2, diff2, partial.progress, None)

    assert (final.version, final.complete) == (3, True)
    v3 = read_version(deps.snapshots, "districts/d1", 3).table("students")
    assert sorted(v3.column("person_id").to_pylist()) == sorted(
        steps.read_snapshot(deps.snapshots, norm2.staged_prefix)
        .table("students")
        .column("person_id")
        .to_pylist()  # type: ignore[attr-defined]
    )


def test_a_retried_apply_returns_the_same_version_and_emits_once(deps: Deps, tmp_path: Path) -> None:
    day1, _day2, _schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm, diff, ev = run_to_evaluate(deps, "s1")
    events = boto3.client("dynamodb")

    first = _apply(deps, "s1", norm, diff, ev.progress, None)  # type: ignore[attr-defined]
    again = _apply(deps, "s1", norm, diff, ev.progress, None)  # type: ignore[attr-defined]

    assert first.version == again.version == 1
    assert latest_version(deps.snapshots, "districts/d1") == 1
    markers = events.query(
        TableName="rostersync-table",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
        ExpressionAttributeValues={":pk": {"S": "DISTRICT#d1"}, ":sk": {"S": "MARK#EVENT#"}},
    )["Items"]
    assert len(markers) == 1


def test_finish_failed_records_the_reason_and_releases_the_lock(deps: Deps) -> None:
    deps.repo.acquire_lock(D, "s1", deps.clock())
    error = {"Error": "ValueError", "Cause": json.dumps({"errorMessage": "boom", "errorType": "ValueError"})}

    out = steps.finish(FinishInput(step="finish", status="failed", error=error, **ref("s1")), deps)

    record = deps.repo.get_sync(D, "s1")
    assert out.lock_released and deps.repo.get_lock(D) is None
    assert record is not None and record.status == "failed" and record.reason == "ValueError: boom"


@pytest.mark.parametrize("bucket", [SNAP])
def test_arrival_ignores_objects_outside_a_district_inbox(deps: Deps, bucket: str) -> None:
    from rostersync.pipeline.events import S3ObjectCreatedEvent

    event = S3ObjectCreatedEvent.model_validate(
        {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": RAW}, "object": {"key": "syncs/d1/x/raw/a.csv"}},
        }
    )

    out = steps.arrival(event, deps)

    assert not out.started and out.reason == "not an inbox file"
