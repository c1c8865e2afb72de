"""Helpers and fixtures of the pipeline tests: moto-backed resources, the real adapters, a recording
workflow and a fake Lambda context (re-exported as fixtures by conftest.py)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rostersync import aws as rs_aws
from rostersync.aws import DynamoRepository, EventBridgeBus, S3BlobStore, SesMailer
from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.ports import Deps, TaskGoneError

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
RAW, SNAP, TABLE, BUS, SENDER = (
    "raw-bucket",
    "snapshot-bucket",
    "rostersync-table",
    "rostersync-bus",
    "noreply@example.com",
)
NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)


def create_table(name: str = TABLE) -> None:
    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@dataclass
class RecordingWorkflow:
    """A Workflow that records starts and task callbacks; ``gone`` makes every callback fail."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    successes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: bool = False

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        if name in self.started:
            return None
        self.started[name] = payload
        return f"arn:aws:states:us-east-1:123456789012:execution:sync:{name}"

    def send_success(self, task_token: str, output: dict[str, Any]) -> None:
        if self.gone:
            raise TaskGoneError("Task Timed Out")
        self.successes.append((task_token, output))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with the buckets, table, bus and SES identity of a deployment."""
    env = {
        "RAW_BUCKET": RAW,
        "SNAPSHOT_BUCKET": SNAP,
        "TABLE_NAME": TABLE,
        "EVENT_BUS_NAME": BUS,
        "SENDER_EMAIL": SENDER,
        "QUIET_PERIOD_SECONDS": "0",
        "LOCK_RETRY_SECONDS": "0",
        "HOLD_EXPIRY_SECONDS": "120",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        rs_aws.reset()
        s3 = boto3.client("s3")
        for bucket in (RAW, SNAP):
            s3.create_bucket(Bucket=bucket)
        create_table()
        boto3.client("events").create_event_bus(Name=BUS)
        boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
        yield
    rs_aws.reset()


@pytest.fixture
def workflow() -> RecordingWorkflow:
    return RecordingWorkflow()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(moto_aws: None, workflow: RecordingWorkflow, clock: Clock) -> Deps:
    config = PipelineConfig.from_env()
    repo = DynamoRepository(TABLE)
    return Deps(
        config=config,
        raw=S3BlobStore(RAW),
        snapshots=S3BlobStore(SNAP),
        repo=repo,
        mailer=SesMailer(SENDER, repo),
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


@dataclass
class FakeLambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "rostersync-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:rostersync-test"
    aws_request_id: str = "2d9d1f0e-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/rostersync-test"
    log_stream_name: str = "2025/03/03/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_handler(function: str) -> ModuleType:
    """``functions/<function>/app.py`` under a module name of its own (never plain ``app``)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"rostersync_test_{function}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
