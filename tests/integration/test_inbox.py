"""Inbox hygiene on the local stack: a taken set leaves the inbox, a slow file is never mixed with
the previous day's copy, the newest of two names differing in case wins, junk is ignored."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from typing import Any

import pytest

from rostersync.snapshot import read_manifest
from rostersync_tools.local import LocalAws

from .conftest import (
    DistrictData,
    accepted,
    accepted_version,
    district_settings,
    processing_sync,
    put_settings,
    raw_keys,
    snapshots,
    student_ids,
    sync_set,
    upload,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"


def _applied(stack: LocalAws, files: dict[str, bytes]) -> dict[str, Any]:
    record = sync_set(stack, D, files, {"applied", "failed", "held"})
    assert record["status"] == "applied", record
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    return record


def test_a_taken_set_is_moved_from_the_inbox_to_the_archive(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))

    record = _applied(stack, data.day1)

    sync_id = record["sync_id"]
    assert raw_keys(stack, f"inbox/{D}/") == []
    assert raw_keys(stack, f"archive/{D}/") == sorted(f"archive/{D}/{sync_id}/{n}" for n in data.day1)
    assert raw_keys(stack, f"syncs/{D}/{sync_id}/raw/") == sorted(
        f"syncs/{D}/{sync_id}/raw/{n}" for n in data.day1
    )


def test_a_slow_file_is_not_mixed_with_the_previous_days_copy(stack: LocalAws, data: DistrictData) -> None:
    # Day 1 applied; day 2's students.csv (a school lost a few students) is still uploading when
    # the others' quiet period ends. Before the inbox was emptied, day 1's students.csv completed
    # the set and was applied with day 2's other files.
    put_settings(stack, district_settings(D))
    _applied(stack, data.day1)
    day2_district = data.without_students_of(data.schools[2], fraction=0.05)
    day2 = data.files(day2_district, "day2-slow")
    first = {n: b for n, b in day2.items() if n != "students.csv"}

    (early,) = upload(stack, D, first)
    assert wait_ended(stack, early)["status"] == "SUCCEEDED"
    assert stack.sync_record(D, early)["status"] == "waiting"  # type: ignore[index]
    assert accepted_version(stack, D) == 1

    record = sync_set(stack, D, {"students.csv": day2["students.csv"]}, {"applied", "failed", "held"})

    assert record["status"] == "applied", record
    assert accepted_version(stack, D) == 2
    school = data.schools[2]
    assert student_ids(accepted(stack, D, 2), school) == student_ids(day2_district, school)
    assert raw_keys(stack, f"inbox/{D}/") == []


def test_the_newest_of_two_names_differing_in_case_wins(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    newer_district = data.without_students_of(data.schools[1], fraction=0.05)
    newer = data.files(newer_district, "newer-students")["students.csv"]
    stack.upload_files(D, data.day1)
    time.sleep(1.1)  # S3 object times have whole seconds: the second upload must be later

    record = sync_set(stack, D, {"Students.csv": newer}, {"applied", "failed", "held"})

    assert record["status"] == "applied", record
    school = data.schools[1]
    assert student_ids(accepted(stack, D, 1), school) == student_ids(newer_district, school)
    taken = raw_keys(stack, f"syncs/{D}/{record['sync_id']}/raw/")
    assert f"syncs/{D}/{record['sync_id']}/raw/Students.csv" in taken
    assert f"syncs/{D}/{record['sync_id']}/raw/students.csv" not in taken
    assert raw_keys(stack, f"inbox/{D}/") == []


def test_a_file_the_format_does_not_read_is_ignored_with_an_alert(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D))

    record = _applied(stack, {**data.day1, "junk.bin": b"\x00" * 4096})

    sync_id = record["sync_id"]
    assert f"syncs/{D}/{sync_id}/raw/junk.bin" not in raw_keys(stack, f"syncs/{D}/{sync_id}/raw/")
    assert raw_keys(stack, f"inbox/{D}/") == []  # archived with the set it came with
    rows = list(
        csv.DictReader(io.StringIO(snapshots(stack).get(record["keys"]["errors"]).decode("utf-8-sig")))
    )
    junk = [r for r in rows if "junk.bin" in r.values()]
    assert len(junk) == 1, rows[:5]
    assert "ignored" in next(v for k, v in junk[0].items() if k.lower() == "message")


def test_an_entity_is_received_when_its_file_arrived(stack: LocalAws, data: DistrictData) -> None:
    # Processed three days after the files arrived (as after a pause): each entity's received_at
    # is its file's arrival, not the processing time, so stale_upload measures the real gap.
    put_settings(stack, district_settings(D))
    keys = stack.upload_files(D, data.day1)
    arrived = stack.client("s3").head_object(Bucket=stack.env("RAW_BUCKET"), Key=f"inbox/{D}/students.csv")
    processed_at = stack.clock.advance(timedelta(days=3))
    sync_ids = [
        stack.deliver_object_created(stack.env("RAW_BUCKET"), keys[-1]).results["IngestFunction"]["sync_id"]
    ]
    record = stack.wait_for_sync(D, processing_sync(stack, D, sync_ids), {"applied", "failed", "held"})

    staged = read_manifest(snapshots(stack), record["keys"]["staged"])

    assert staged.received_at["students"] == arrived["LastModified"]
    assert staged.received_at["students"] < processed_at - timedelta(days=2)
