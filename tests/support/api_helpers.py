"""Helpers and fixtures of the release API tests: moto table and bucket, the API handler loaded
under its own module name, proxy events from events/api_*.json, callers, seeded held syncs."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from rostersync import runtime
from rostersync.api.deps import ApiDeps
from rostersync.aws import DynamoRepository, S3BlobStore
from rostersync.aws.presign import S3Presigner
from rostersync.pipeline.config import get_config
from rostersync.pipeline.models import DecisionToken, SyncRecord
from tests.support.aws_fakes import NOW as NOW
from tests.support.aws_fakes import Clock as Clock
from tests.support.aws_fakes import FakeLambdaContext as FakeLambdaContext
from tests.support.aws_fakes import RecordingWorkflow as RecordingWorkflow
from tests.support.aws_fakes import clock as clock
from tests.support.aws_fakes import create_table, load_handler, moto_deployment
from tests.support.aws_fakes import workflow as workflow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
SNAP, TABLE = "snapshot-bucket", "rostersync-table"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:rostersync-sync"

SYNC = "d1-0123456789ab"  # the sync id of events/api_*.json

ADMIN_D1: dict[str, Any] = {
    "sub": "5f1c2a9e-3b7d-4c1e-9a55-0d2b8e6f4a10",
    "email": "admin@d1.example.org",
    "cognito:username": "d1-admin",
    "cognito:groups": "district_admin",
    "custom:districts": "d1",
}
ADMIN_D2: dict[str, Any] = {
    "sub": "0b9e8d7c-2222-4c1e-9a55-0d2b8e6f4a22",
    "email": "admin@d2.example.org",
    "cognito:groups": "district_admin",
    "custom:districts": "d2",
}
OPERATOR: dict[str, Any] = {
    "sub": "9a9a9a9a-0000-4000-8000-000000000001",
    "email": "ops@vendor.example.com",
    "cognito:groups": "[operator]",
}
NO_ROLE: dict[str, Any] = {"sub": "1234", "email": "someone@example.org", "cognito:groups": "readers"}


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@pytest.fixture
def moto_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with the table and snapshot bucket of a deployment, and the API's environment."""
    env = {
        "SNAPSHOT_BUCKET": SNAP,
        "RAW_BUCKET": "raw-bucket",
        "TABLE_NAME": TABLE,
        "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
        "SENDER_EMAIL": "rostersync@example.org",
        "LOCK_RETRY_SECONDS": "7",
    }
    with moto_deployment(monkeypatch, env):
        boto3.client("s3").create_bucket(Bucket=SNAP)
        create_table(TABLE)
        yield


@pytest.fixture
def api_deps(moto_api: None, workflow: RecordingWorkflow, clock: Clock) -> Iterator[ApiDeps]:
    deps = ApiDeps(
        config=get_config(),
        repo=DynamoRepository(TABLE),
        snapshots=S3BlobStore(SNAP),
        workflow=workflow,
        presigner=S3Presigner(SNAP),
        clock=clock,
    )
    with runtime.provided(runtime.Provider(api=lambda: deps)):
        yield deps


@pytest.fixture(scope="session")
def handler_module() -> ModuleType:
    return load_handler("api")


def api_event(
    name: str,
    *,
    sync_id: str | None = None,
    district_id: str | None = None,
    body: Any = ...,
    raw_body: str | None = None,
    query: Mapping[str, str] | None = ...,  # type: ignore[assignment]
    claims: Mapping[str, Any] | None = ...,  # type: ignore[assignment]
) -> dict[str, Any]:
    """``events/api_<name>.json`` with the sync id, district, body, query or claims replaced."""
    event: dict[str, Any] = json.loads((EVENTS / f"api_{name}.json").read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    for old, new in (
        (SYNC, sync_id),
        ("/districts/d1/", f"/districts/{district_id}/" if district_id else None),
    ):
        if new is not None:
            event["path"] = event["path"].replace(old, new)
            event["requestContext"]["path"] = event["requestContext"]["path"].replace(old, new)
    params = event.get("pathParameters") or {}
    if sync_id is not None and "sync_id" in params:
        params["sync_id"] = sync_id
    if district_id is not None and "district_id" in params:
        params["district_id"] = district_id
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not ...:
        event["body"] = None if body is None else json.dumps(body)
    if query is not ...:
        event["queryStringParameters"] = dict(query) if query else None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    if claims is not ...:
        if claims is None:
            event["requestContext"].pop("authorizer", None)
        else:
            event["requestContext"]["authorizer"] = {"claims": dict(claims)}
    return event


def invoke(module: ModuleType, event: dict[str, Any]) -> ApiResponse:
    result = module.lambda_handler(event, FakeLambdaContext())
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return ApiResponse(status=result["statusCode"], headers=headers, text=result.get("body") or "")


# --- seeding -------------------------------------------------------------------------------------

MASS_REMOVAL = {
    "type": "mass_removal",
    "entity": "students",
    "numerator": 230,
    "denominator": 501,
    "threshold": 10.0,
    "message": "would remove 230 of 501 students",
}


def hold(school_id: str | None, type_: str = "mass_removal", **extra: Any) -> dict[str, Any]:
    return {**MASS_REMOVAL, "type": type_, "school_id": school_id, **extra}


def seed_sync(
    deps: ApiDeps,
    *,
    district_id: str = "d1",
    sync_id: str = SYNC,
    status: str = "held",
    held_schools: list[str] | None = None,
    holds: list[dict[str, Any]] | None = None,
    token_status: str = "open",
    expires_in: timedelta = timedelta(days=14),
    releasable: bool = True,
    keys: dict[str, str] | None = None,
    created_at: datetime = NOW,
) -> SyncRecord:
    """A sync record; when held, with its open decision token and the district's lock held."""
    held_schools = ["sch-001", "sch-002"] if held_schools is None else held_schools
    holds = [hold(s) for s in held_schools] if holds is None else holds
    waiting = status in ("held", "partially_applied")
    hold_id = f"hold-{sync_id}" if waiting or token_status != "open" else None
    record = SyncRecord(
        district_id=district_id,
        sync_id=sync_id,
        status=status,  # type: ignore[arg-type]
        reason="waiting for a decision" if waiting else None,
        held_schools=held_schools,
        holds=holds,
        releasable=releasable,
        hold_id=hold_id,
        hold_expires_at=created_at + expires_in if waiting else None,
        keys=keys or {},
        created_at=created_at,
        updated_at=created_at,
    )
    deps.repo.put_sync(record)
    if hold_id is not None:
        deps.repo.put_token(
            DecisionToken(
                hold_id=hold_id,
                district_id=district_id,
                sync_id=sync_id,
                task_token=f"task-token-of-{sync_id}",
                status=token_status,  # type: ignore[arg-type]
                expires_at=int((created_at + expires_in).timestamp()),
            )
        )
    if waiting:
        deps.repo.acquire_lock(district_id, sync_id, created_at)
        deps.repo.set_lock_state(district_id, sync_id, "held")
    return record


def put_csv(deps: ApiDeps, key: str, text: str = "kind,id\nadded,s1\n") -> str:
    deps.snapshots.put(key, text.encode())
    return key
