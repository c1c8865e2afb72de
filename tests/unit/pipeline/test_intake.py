"""The intake stage on moto: arrival, settle (complete set, newest upload)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rostersync.pipeline import intake
from rostersync.pipeline.events import S3ObjectCreatedEvent, SettleInput
from rostersync.pipeline.ports import Deps
from tests.support.pipeline_helpers import (
    RAW,
    SNAP,
    D,
    copy_fixture,
    ref,
    upload_folder,
)

# --- arrival --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", [SNAP])
def test_arrival_ignores_objects_outside_a_district_inbox(deps: Deps, bucket: str) -> None:
    event = S3ObjectCreatedEvent.model_validate(
        {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": RAW}, "object": {"key": "syncs/d1/x/raw/a.csv"}},
        }
    )

    out = intake.arrival(event, deps)

    assert not out.started and out.reason == "not an inbox file"


# --- settle ---------------------------------------------------------------------------------------


def test_settle_waits_for_an_incomplete_set_and_processes_nothing(deps: Deps, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    (folder / "enrollments.csv").unlink()
    keys = upload_folder(folder)

    out = intake.settle(SettleInput(step="settle", object_key=keys[0], **ref("s1")), deps)

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

    out = intake.settle(SettleInput(step="settle", object_key=keys[0], **ref("s1")), deps)

    assert out.outcome == "coalesced"


def test_settle_lets_one_sync_of_the_same_set_proceed(deps: Deps, tmp_path: Path) -> None:
    keys = upload_folder(copy_fixture("clever_basic", tmp_path / "set"))
    first = intake.settle(SettleInput(step="settle", object_key=None, **ref("s1")), deps)

    second = intake.settle(SettleInput(step="settle", object_key=keys[0], **ref("s2")), deps)

    assert (first.outcome, second.outcome) == ("ready", "coalesced")


@pytest.mark.parametrize("name", ["..\\..\\win.csv", "evil\nname.csv", "students\u202ecsv.exe"])
def test_arrival_sets_aside_an_upload_whose_name_is_unusable(deps: Deps, name: str) -> None:
    event = S3ObjectCreatedEvent.model_validate(
        {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": RAW}, "object": {"key": f"inbox/{D}/{name}"}},
        }
    )

    out = intake.arrival(event, deps)

    assert not out.started
    assert out.reason is not None and out.reason.startswith("unusable file name: it contains a")
    assert deps.repo.list_syncs(D) == []
