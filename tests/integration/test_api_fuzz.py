"""Property-based fuzz of the release API against its own OpenAPI document (schemathesis).

docs/openapi.json drives the requests; the handler is served on 127.0.0.1 by the local API
Gateway adapter (rostersync_tools.local.apigw) with a locally issued token for an operator, over moto
(table and snapshot bucket; the recording workflow of tests/support stands in for Step
Functions). Whatever the input, valid or not, the API must never answer 5xx, and its answers must
match the document.
Bounded: a couple of dozen examples per operation, so the whole run stays well under a minute.

One test per operation, its id the operation (``[POST /syncs/{sync_id}/release]``), through
pytest's own parametrize: under pytest 9 the items ``@schema.parametrize()`` makes all share one
node id, so a failure could not be told apart or rerun alone. Each example is drawn from the
operation's positive or negative strategy (schemathesis generates both by default).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from rostersync import runtime
from rostersync.api.deps import ApiDeps, build_api_deps
from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.models import DecisionToken, SyncRecord
from rostersync_tools.local.apigw import ApiServer, bearer_claims, issue_token, serve_api
from tests.support.aws_fakes import RecordingWorkflow, create_table

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
SECRET = "fuzz-secret-long-enough-for-hs256-keys"  # >= 32 bytes (RFC 7518 3.2)
TOKEN = issue_token(
    SECRET, {"sub": "fuzz-operator", "email": "ops@example.org", "cognito:groups": ["operator"]}
)
ENV = {
    "TABLE_NAME": "fuzz-table",
    "SNAPSHOT_BUCKET": "fuzz-snapshots",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:fuzz-sync",
    "RAW_BUCKET": "fuzz-raw",
    "SENDER_EMAIL": "rostersync@example.org",
}

pytestmark = pytest.mark.integration
schema = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS: list[APIOperation] = [result.ok() for result in schema.get_all_operations()]


def _seed(deps: ApiDeps) -> None:
    now = datetime.now(UTC)
    for sync_id in ("d1-0123456789ab", "d1-fedcba987654"):
        deps.repo.put_sync(
            SyncRecord(
                district_id="d1",
                sync_id=sync_id,
                status="held",
                held_schools=["sch-001"],
                holds=[
                    {
                        "type": "mass_removal",
                        "school_id": "sch-001",
                        "numerator": 9,
                        "denominator": 10,
                        "threshold": 10.0,
                        "message": "would remove 9 of 10 students",
                    }
                ],
                hold_id=f"hold-{sync_id}",
                keys={"changes_csv": f"syncs/d1/{sync_id}/changes.csv"},
                created_at=now,
                updated_at=now,
            )
        )
        deps.repo.put_token(
            DecisionToken(
                hold_id=f"hold-{sync_id}",
                district_id="d1",
                sync_id=sync_id,
                task_token="t",
                status="open",
                expires_at=int((now + timedelta(days=1)).timestamp()),
            )
        )
        deps.snapshots.put(f"syncs/d1/{sync_id}/changes.csv", b"kind,id\n")


def load_api_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """``functions/api/app.py`` under a module name of its own."""
    spec = importlib.util.spec_from_file_location(
        "rostersync_fuzz_api_app", ROOT / "functions" / "api" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.lambda_handler
    return handler


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        with mock_aws():
            runtime.reset()
            boto3.client("s3").create_bucket(Bucket=ENV["SNAPSHOT_BUCKET"])
            create_table(ENV["TABLE_NAME"])
            deps = build_api_deps(PipelineConfig.from_env())
            deps.workflow = RecordingWorkflow(state_machine="fuzz-sync")
            _seed(deps)
            handler = load_api_handler()
            with (
                runtime.provided(runtime.Provider(api=lambda: deps)),
                serve_api(
                    "127.0.0.1",
                    0,
                    handler=handler,
                    claims_for=bearer_claims(SECRET),
                    resources=DOCUMENT["paths"],
                ) as api,
            ):
                yield api
            runtime.reset()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
@given(data=st.data())
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_never_answers_5xx_and_keeps_to_its_document(
    operation: APIOperation, data: st.DataObject, server: ApiServer
) -> None:
    case = data.draw(
        st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )
    )
    response = case.call(base_url=server.url, headers={"Authorization": TOKEN}, allow_redirects=False)

    case.validate_response(
        response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )
