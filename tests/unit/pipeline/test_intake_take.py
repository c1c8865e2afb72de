"""settle takes a ready set out of the inbox (moto): archived, copied exactly, paused, grace."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3

from rostersync.pipeline import inbox, intake
from rostersync.pipeline.events import SettleInput, SettleOutput
from rostersync.pipeline.ports import Deps
from rostersync.settings import DistrictSettings, PauseWindow
from tests.support.pipeline_helpers import RAW, Clock, D, copy_fixture, ref, upload_folder


def _keys(prefix: str) -> list[str]:
    return sorted(
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=RAW, Prefix=prefix).get("Contents", [])
    )


def _settle(deps: Deps, sync_id: str = "s1") -> SettleOutput:
    return intake.settle(SettleInput(step="settle", object_key=None, **ref(sync_id)), deps)


def _late(clock: Clock, delta: timedelta) -> None:
    newest = max(o["LastModified"] for o in boto3.client("s3").list_objects_v2(Bucket=RAW)["Contents"])
    clock.now = newest + delta


def test_a_ready_set_is_copied_and_moved_to_the_archive(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    names = sorted(k.rsplit("/", 1)[1] for k in keys)

    out = _settle(deps)

    assert out.outcome == "ready"
    assert _keys(f"inbox/{D}/") == []
    assert _keys(f"archive/{D}/s1/") == [f"archive/{D}/s1/{n}" for n in names]
    assert _keys(f"syncs/{D}/s1/raw/") == [f"syncs/{D}/s1/raw/{n}" for n in names]
    taken = json.loads(
        boto3.client("s3").get_object(Bucket=RAW, Key=f"syncs/{D}/s1/taken.json")["Body"].read()
    )
    assert sorted(f["name"] for f in taken["files"]) == names and taken["archived"] is True


def test_a_retried_settle_finds_the_set_it_took_and_finishes_its_archive(deps: Deps, tmp_path: Path) -> None:
    # The first invocation took the set and died while archiving it: one file is still in the
    # inbox (the same object: the same content, so the same ETag).
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    names = sorted(k.rsplit("/", 1)[1] for k in keys)
    first = _settle(deps)
    archived = {"Bucket": RAW, "Key": f"archive/{D}/s1/{names[0]}"}
    boto3.client("s3").copy_object(Bucket=RAW, Key=f"inbox/{D}/{names[0]}", CopySource=archived)

    again = _settle(deps)

    assert (again.outcome, again.format, again.files) == ("ready", first.format, first.files)
    assert _keys(f"inbox/{D}/") == []
    assert _keys(f"archive/{D}/s1/") == [f"archive/{D}/s1/{n}" for n in names]


def test_a_file_replaced_after_settle_looked_is_not_mixed_in(deps: Deps, tmp_path: Path) -> None:
    upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    listed = intake.inbox_set(deps, D)
    assert listed is not None
    boto3.client("s3").put_object(Bucket=RAW, Key=f"inbox/{D}/students.csv", Body=b"a newer upload")

    taken = intake.take(deps, D, "s1", listed.files, fmt=listed.format, missing=[], archive=True)

    assert taken is None
    assert _keys(f"archive/{D}/") == []  # nothing left the inbox: the newer upload's sync takes it


def test_a_paused_district_keeps_its_files_in_the_inbox(deps: Deps, clock: Clock, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    _late(clock, timedelta(seconds=1))
    today = clock.now.date()
    deps.repo.put_settings(
        DistrictSettings(district_id=D, pause_windows=[PauseWindow(first_day=today, last_day=today)])
    )

    out = _settle(deps)

    assert out.outcome == "paused"
    assert _keys(f"inbox/{D}/") == sorted(keys)
    record = deps.repo.get_sync(D, "s1")
    assert record is not None and record.status == "paused"


def test_an_incomplete_set_past_its_grace_is_taken_but_left_in_the_inbox(
    deps: Deps, clock: Clock, tmp_path: Path
) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    (folder / "enrollments.csv").unlink()
    keys = upload_folder(folder)
    _late(clock, timedelta(minutes=61))

    out = _settle(deps)

    assert (out.outcome, out.missing) == ("ready", ["enrollments.csv"])
    assert _keys(f"inbox/{D}/") == sorted(keys)
    assert len(_keys(f"syncs/{D}/s1/raw/")) == len(keys)


def test_an_incomplete_set_within_its_grace_waits(deps: Deps, clock: Clock, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    (folder / "enrollments.csv").unlink()
    upload_folder(folder)
    _late(clock, timedelta(minutes=59))

    out = _settle(deps)

    assert (out.outcome, out.missing) == ("waiting", ["enrollments.csv"])
    assert _keys(f"syncs/{D}/") == []


def test_a_retry_takes_the_same_set_with_the_files_uploaded_since(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    assert _settle(deps).outcome == "ready"
    boto3.client("s3").put_object(Bucket=RAW, Key=f"inbox/{D}/students.csv", Body=b"fixed students")

    taken = inbox.taken_set(deps, D, "s1", attempt=2)

    assert sorted(f.name for f in taken.files) == sorted(k.rsplit("/", 1)[1] for k in keys)
    body = (
        boto3.client("s3")
        .get_object(Bucket=RAW, Key=f"syncs/{D}/s1/attempt-2/raw/students.csv")["Body"]
        .read()
    )
    assert body == b"fixed students"
    assert _keys(f"inbox/{D}/") == []


def test_an_incomplete_sets_files_are_archived_once_when_its_hold_ends_and_a_newer_upload_stays(
    deps: Deps, tmp_path: Path
) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    (folder / "enrollments.csv").unlink()
    (folder / "notes.txt").write_text("not a roster file", encoding="utf-8")
    upload_folder(folder)
    listed = intake.inbox_set(deps, D)
    assert listed is not None and listed.missing == ["enrollments.csv"]
    intake.take(deps, D, "s1", listed.files, fmt=listed.format, missing=listed.missing, archive=False)
    assert len(_keys(f"inbox/{D}/")) == 6  # left for the missing file's upload
    boto3.client("s3").put_object(Bucket=RAW, Key=f"inbox/{D}/students.csv", Body=b"a newer upload")

    moved = inbox.archive_left(deps, D, "s1")
    again = inbox.archive_left(deps, D, "s1")

    assert (moved, again) == (5, 0)
    assert _keys(f"inbox/{D}/") == [f"inbox/{D}/students.csv"]  # the newer upload, for its own sync
    assert f"archive/{D}/s1/notes.txt" in _keys(f"archive/{D}/s1/")
