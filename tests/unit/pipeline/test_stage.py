"""Staging on moto: normalize copies the set and stages it; unreadable files become a hold."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import boto3

from rostersync.pipeline import stage
from rostersync.pipeline.events import NormalizeInput
from rostersync.pipeline.ports import Deps
from rostersync.snapshot import latest_version, promote_version, read_snapshot
from tests.support.pipeline_helpers import (
    RAW,
    copy_fixture,
    ref,
    run_to_evaluate,
    upload_folder,
    write_district,
)


def test_normalize_copies_the_set_to_the_sync_prefix_and_keeps_the_inbox(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))

    out = stage.normalize(NormalizeInput(step="normalize", **ref("s1")), deps)

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

    assert norm.invalid and norm.file_problems >= 1
    assert ev.held and not ev.progress.releasable
    holds = json.loads(deps.snapshots.get(ev.holds_key))
    assert {h["type"] for h in holds} == {"invalid_files"}
    assert latest_version(deps.snapshots, "districts/d1") is None


def test_a_first_sync_offers_per_school_counts_and_the_full_list_compressed(
    deps: Deps, tmp_path: Path
) -> None:
    upload_folder(copy_fixture("clever_basic", tmp_path / "set"))

    norm, diff, _ev = run_to_evaluate(deps, "s1")

    summary = deps.snapshots.get(diff.changes_key).decode("utf-8-sig").splitlines()
    assert summary[0] == '"Record type","School ID","Before","After","Added","Removed","Changed","Re-keyed"'
    keys = deps.repo.get_sync("d1", "s1").keys  # type: ignore[union-attr]
    full = gzip.decompress(deps.snapshots.get(keys["changes_full"])).decode("utf-8-sig").splitlines()
    assert len(full) - 1 == sum(norm.counts.values())  # every staged record, added
    assert full[0].startswith('"Record type","School ID","ID","Change"')


def test_a_nightly_sync_lists_every_change_and_no_compressed_copy(deps: Deps, tmp_path: Path) -> None:
    day1, day2, _schools = write_district(tmp_path)
    upload_folder(day1)
    first, _diff, _ev = run_to_evaluate(deps, "s1")
    accepted = read_snapshot(deps.snapshots, first.staged_prefix)
    promote_version(deps.snapshots, "districts/d1", accepted, expected_version=None)
    upload_folder(day2)

    _norm, diff, _ev = run_to_evaluate(deps, "s2")

    rows = deps.snapshots.get(diff.changes_key).decode("utf-8-sig").splitlines()
    assert rows[0].startswith('"Record type","School ID","ID","Change"')
    assert len(rows) - 1 == sum(diff.counts.values())
    assert "changes_full" not in deps.repo.get_sync("d1", "s2").keys  # type: ignore[union-attr]


def test_a_file_with_an_unusable_name_in_the_inbox_is_set_aside_and_the_set_still_stages(
    deps: Deps, tmp_path: Path
) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    boto3.client("s3").put_object(Bucket=RAW, Key="inbox/d1/..\\..\\win.csv", Body=b"a,b\n1,2\n")

    out = stage.normalize(NormalizeInput(step="normalize", **ref("s1")), deps)

    assert sorted(deps.raw.list(out.raw_prefix)) == sorted(
        out.raw_prefix + k.rsplit("/", 1)[-1] for k in keys
    )
    assert not out.invalid and out.counts["students"] > 0
