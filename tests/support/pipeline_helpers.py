"""Helpers and fixtures of the pipeline tests: moto-backed resources, the real adapters, a recording
workflow and a fake Lambda context (re-exported as fixtures by tests/unit/pipeline/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from rostersync.aws import DynamoRepository, EventBridgeBus, S3BlobStore, SesMailer
from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.ports import Deps
from tests.support.aws_fakes import NOW as NOW
from tests.support.aws_fakes import Clock as Clock
from tests.support.aws_fakes import FakeLambdaContext as FakeLambdaContext
from tests.support.aws_fakes import RecordingWorkflow as RecordingWorkflow
from tests.support.aws_fakes import clock as clock
from tests.support.aws_fakes import create_table, moto_deployment
from tests.support.aws_fakes import load_handler as load_handler
from tests.support.aws_fakes import workflow as workflow

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
RAW, SNAP, TABLE, BUS, SENDER = (
    "raw-bucket",
    "snapshot-bucket",
    "rostersync-table",
    "rostersync-bus",
    "noreply@example.com",
)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with the buckets, table, bus and SES identity of a deployment."""
    env = {
        "RAW_BUCKET": RAW,
        "SNAPSHOT_BUCKET": SNAP,
        "TABLE_NAME": TABLE,
        "EVENT_BUS_NAME": BUS,
        "SENDER_EMAIL": SENDER,
        # Required by the settings; the steps under test get a RecordingWorkflow instead.
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:unused",
        "QUIET_PERIOD_SECONDS": "0",
        "LOCK_RETRY_SECONDS": "0",
        "HOLD_EXPIRY_SECONDS": "120",
    }
    with moto_deployment(monkeypatch, env):
        s3 = boto3.client("s3")
        for bucket in (RAW, SNAP):
            s3.create_bucket(Bucket=bucket)
        create_table(TABLE)
        boto3.client("events").create_event_bus(Name=BUS)
        boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
        yield


@pytest.fixture
def deps(moto_aws: None, workflow: RecordingWorkflow, clock: Clock) -> Deps:
    config = PipelineConfig.from_env()
    repo = DynamoRepository(TABLE)
    return Deps(
        config=config,
        raw=S3BlobStore(RAW),
        snapshots=S3BlobStore(SNAP),
        repo=repo,
        mailer=SesMailer(SENDER, TABLE),
        bus=EventBridgeBus(BUS, repo),
        workflow=workflow,
        clock=clock,
    )


def upload_folder(folder: Path, district_id: str = "d1") -> list[str]:
    """Put every file of ``folder`` into the district's inbox; the keys, sorted."""
    s3 = boto3.client("s3")
    keys = []
    for path in sorted(folder.iterdir()):
        key = f"inbox/{district_id}/{path.name}"
        s3.put_object(Bucket=RAW, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def copy_fixture(name: str, dest: Path) -> Path:
    shutil.copytree(FIXTURES / name, dest)
    return dest


def sent_emails() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


# --- a district run through the stages ------------------------------------------------------------

D = "d1"


def ref(sync_id: str) -> dict[str, str]:
    return {"district_id": D, "sync_id": sync_id}


def quiet_settings(deps: Deps, **extra: object) -> None:
    """Settings that hold only on removals (the fixtures' emergency contacts are allowed)."""
    from rostersync.settings import DistrictSettings, HoldSettings

    deps.repo.put_settings(
        DistrictSettings(
            district_id=D,
            admin_emails=["admin@example.org"],
            holds=HoldSettings(emergency_contacts="allow", mass_removal_min_count=1),
            **extra,  # type: ignore[arg-type]
        )
    )


def run_to_evaluate(deps: Deps, sync_id: str) -> tuple[Any, Any, Any]:
    """normalize, diff and evaluate of the inbox as it is."""
    from rostersync.pipeline import decide, stage
    from rostersync.pipeline.events import DiffInput, EvaluateInput, NormalizeInput

    norm = stage.normalize(NormalizeInput(step="normalize", **ref(sync_id)), deps)
    diff = stage.diff(DiffInput(step="diff", normalize=norm, **ref(sync_id)), deps)
    ev = decide.evaluate(EvaluateInput(step="evaluate", normalize=norm, diff=diff, **ref(sync_id)), deps)
    return norm, diff, ev


def write_district(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Day 1 of a two-school district, and a day 2 where both schools lose half their students."""
    from rostersync_tools import synthetic

    district = synthetic.generate_district(students=120, seed=7, schools=2, district_id=D)
    schools = sorted(district.tables["schools"].column("school_id").to_pylist())
    day2 = synthetic.drop_school_students(district, schools[0], 0.5)
    day2 = synthetic.drop_school_students(day2, schools[1], 0.5, seed=1)
    synthetic.write_clever_csv(district, tmp_path / "day1")
    synthetic.write_clever_csv(day2, tmp_path / "day2")
    return tmp_path / "day1", tmp_path / "day2", schools
