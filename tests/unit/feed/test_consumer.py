"""rostersync.consumer: the change set of a version, read from the snapshot bucket or a local copy
of it, found from the version alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from rostersync.consumer import FeedError, already_applied, latest_accepted, read_changes, read_version_tables
from rostersync.pipeline import release
from rostersync.pipeline.events import ApplyInput
from rostersync.pipeline.ports import Deps
from rostersync.snapshot import SnapshotError
from tests.support.pipeline_helpers import (
    SNAP,
    quiet_settings,
    ref,
    run_to_evaluate,
    upload_folder,
    write_district,
)


def _two_versions(deps: Deps, tmp_path: Path) -> tuple[list[str], Any]:
    """Day 1 applied (version 1), day 2 applied for its first school only (version 2)."""
    day1, day2, schools = write_district(tmp_path)
    quiet_settings(deps)
    upload_folder(day1)
    norm, diff, ev = run_to_evaluate(deps, "s1")
    release.apply(
        ApplyInput(step="apply", normalize=norm, diff=diff, progress=ev.progress, **ref("s1")), deps
    )
    upload_folder(day2)
    norm, diff, ev = run_to_evaluate(deps, "s2")
    applied = release.apply(
        ApplyInput(
            step="apply", normalize=norm, diff=diff, progress=ev.progress, schools=[schools[0]], **ref("s2")
        ),
        deps,
    )
    return schools, applied


def _download(folder: Path) -> Path:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=SNAP):
        for item in page.get("Contents", []):
            path = folder / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=SNAP, Key=item["Key"])["Body"].read())
    return folder


def test_the_first_version_adds_every_record_of_its_snapshot(deps: Deps, tmp_path: Path) -> None:
    _two_versions(deps, tmp_path)

    feed = read_changes(1, district_id="d1", location=f"s3://{SNAP}")

    students = read_version_tables(1, district_id="d1", location=f"s3://{SNAP}")["students"]
    assert feed.previous_version is None and feed.sync_id == "s1"
    assert feed.entities["students"].added.num_rows == students.num_rows
    assert feed.changes_prefix == "syncs/d1/s1/changes"


def test_a_partial_release_is_read_from_its_own_applied_change_set(deps: Deps, tmp_path: Path) -> None:
    schools, applied = _two_versions(deps, tmp_path)

    feed = read_changes(2, district_id="d1", location=f"s3://{SNAP}")

    removed = feed.entities["students"].removed
    assert feed.changes_prefix == applied.changes_prefix == "syncs/d1/s2/applied/v000002"
    assert set(removed.column("school_id").to_pylist()) == {schools[0]}
    assert sum(e.removed.num_rows for e in feed.entities.values()) == applied.counts["removed"]


def test_a_local_copy_of_the_bucket_reads_the_same_changes(deps: Deps, tmp_path: Path) -> None:
    _two_versions(deps, tmp_path / "data")
    folder = _download(tmp_path / "copy")

    local = read_changes(2, district_id="d1", location=folder)
    remote = read_changes(2, district_id="d1", location=f"s3://{SNAP}")

    assert latest_accepted("d1", str(folder)) == 2
    for name, entity in remote.entities.items():
        assert local.entities[name].removed.equals(entity.removed), name
        assert local.entities[name].changed.equals(entity.changed), name


def test_a_version_that_was_never_promoted_is_refused(deps: Deps, tmp_path: Path) -> None:
    _two_versions(deps, tmp_path)

    with pytest.raises(SnapshotError, match=r"version 3 .* does not exist"):
        read_changes(3, district_id="d1", location=f"s3://{SNAP}")


def test_a_version_whose_change_set_is_gone_names_where_it_looked(deps: Deps, tmp_path: Path) -> None:
    _two_versions(deps, tmp_path)
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=SNAP, Key="syncs/d1/s2/applied/v000002/index.json")
    for item in s3.list_objects_v2(Bucket=SNAP, Prefix="syncs/d1/s2/")["Contents"]:
        if item["Key"].endswith("/changes/index.json"):
            s3.delete_object(Bucket=SNAP, Key=item["Key"])

    with pytest.raises(FeedError, match="no change set of version 2 of d1 under syncs/d1/s2/"):
        read_changes(2, district_id="d1", location=f"s3://{SNAP}")


@pytest.mark.parametrize(
    ("version", "applied", "skip"),
    [(1, None, False), (1, 0, False), (2, 1, False), (1, 1, True), (1, 3, True), (3, 3, True)],
)
def test_an_event_whose_version_is_applied_already_is_skipped(
    version: int, applied: int | None, skip: bool
) -> None:
    detail = {"event_id": f"s1-v{version}", "district_id": "d1", "version": version}

    assert already_applied(detail, applied) is skip
