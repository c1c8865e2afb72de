"""Test doubles shared by the unit tests of the pipeline and of the API: a deployment's
environment under moto, the roster table as template.yaml declares it (created in moto), a
workflow that records starts and callbacks, a fixed clock, a Lambda context with the fields
Powertools reads, and a function's handler loaded from functions/<name>/app.py."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rostersync import runtime
from rostersync.pipeline.ports import TaskGoneError

NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)
_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def moto_deployment(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> Iterator[None]:
    """Set a deployment's environment and run under moto, with the cached settings, adapters and
    clients forgotten on the way in and out (so each test reads its own environment)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        runtime.reset()
        yield
    runtime.reset()


def create_table(name: str) -> None:
    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"}
            for n in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
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
            },
            {
                "IndexName": "gsi2",
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )


@dataclass
class RecordingWorkflow:
    """A Workflow that records starts and task callbacks; ``gone`` makes every callback fail."""

    state_machine: str = "rostersync-sync"
    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    successes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: bool = False
    statuses: dict[str, str] = field(default_factory=dict)  # execution ARN -> status

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        if name in self.started:
            return None
        self.started[name] = payload
        return f"arn:aws:states:us-east-1:123456789012:execution:{self.state_machine}:{name}"

    def send_success(self, task_token: str, output: dict[str, Any]) -> None:
        if self.gone:
            raise TaskGoneError("Task Timed Out")
        self.successes.append((task_token, output))

    def execution_status(self, execution_arn: str) -> str | None:
        """RUNNING for every started execution unless ``statuses`` says otherwise."""
        if execution_arn in self.statuses:
            return self.statuses[execution_arn]
        return "RUNNING" if execution_arn.rsplit(":", 1)[-1] in self.started else None

    def stop(self, execution_arn: str, cause: str) -> None:
        self.statuses[execution_arn] = "ABORTED"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def workflow() -> RecordingWorkflow:
    return RecordingWorkflow()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class FakeLambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "rostersync-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:rostersync-test"
    aws_request_id: str = "2d9d1f0e-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/rostersync-test"
    log_stream_name: str = "2025/03/03/[$LATEST]0000"
    remaining_millis: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def load_handler(function: str) -> ModuleType:
    """``functions/<function>/app.py`` under a module name of its own (never plain ``app``)."""
    path = _ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"rostersync_test_{function}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
