"""The Lambda handlers: events/*.json parse, arrival starts one execution, failure is recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from rostersync.pipeline.handlers import parse_diff_event, parse_holds_event, parse_ingest_event
from tests.support.pipeline_helpers import ROOT, FakeLambdaContext, load_handler

EVENTS = ROOT / "events"
FUNCTION_OF = {
    "s3_object_created.json": parse_ingest_event,
    "scheduled_pull.json": parse_ingest_event,
    "settle.json": parse_ingest_event,
    "lock.json": parse_ingest_event,
    "normalize.json": parse_ingest_event,
    "diff.json": parse_diff_event,
    "apply.json": parse_diff_event,
    "evaluate.json": parse_holds_event,
    "await_decision.json": parse_holds_event,
    "notify.json": parse_holds_event,
    "finish.json": parse_holds_event,
    "finish_failed.json": parse_holds_event,
    "execution_ended.json": parse_holds_event,
    "delivery_failed.json": parse_holds_event,
}


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_every_sample_event_has_a_function() -> None:
    # api_*.json are the release API's proxy events (tests/unit/api).
    steps = [p.name for p in EVENTS.glob("*.json") if not p.name.startswith("api_")]
    assert sorted(steps) == sorted(FUNCTION_OF)


@pytest.mark.parametrize("name", sorted(FUNCTION_OF))
def test_each_sample_event_parses_for_its_function(name: str) -> None:
    model = FUNCTION_OF[name](event(name))

    expected = {
        "s3_object_created.json": "arrival",
        "scheduled_pull.json": "scheduled_sync",
        "delivery_failed.json": "delivery_failed",
    }.get(name, name.removesuffix(".json").removesuffix("_failed"))
    assert getattr(model, "step", "arrival") == expected


def test_a_step_sent_to_the_wrong_function_is_refused() -> None:
    with pytest.raises(ValueError, match="step"):
        parse_diff_event(event("evaluate.json"))


@pytest.fixture
def state_machine(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    from rostersync import runtime

    arn = boto3.client("stepfunctions").create_state_machine(
        name="sync",
        definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("RAW_BUCKET", event("s3_object_created.json")["detail"]["bucket"]["name"])
    runtime.reset()
    return str(arn)


def test_a_duplicated_s3_event_starts_one_execution(
    state_machine: str, lambda_context: FakeLambdaContext
) -> None:
    ingest = load_handler("ingest")

    first = ingest.lambda_handler(event("s3_object_created.json"), lambda_context)
    second = ingest.lambda_handler(event("s3_object_created.json"), lambda_context)

    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=state_machine)["executions"]
    assert first["started"] and not second["started"]
    assert [e["name"] for e in executions] == [first["sync_id"]]
    assert first["sync_id"].startswith("demo-district-")


def test_the_holds_handler_records_a_failed_sync(moto_aws: None, lambda_context: FakeLambdaContext) -> None:
    from rostersync import runtime

    holds = load_handler("holds")
    payload = event("finish_failed.json")
    deps = runtime.pipeline_deps()
    deps.repo.acquire_lock(payload["district_id"], payload["sync_id"], deps.clock())

    out = holds.lambda_handler(payload, lambda_context)

    record = deps.repo.get_sync(payload["district_id"], payload["sync_id"])
    assert out == {"status": "failed", "lock_released": True}
    assert record is not None and record.reason == "ValueError: nothing staged to apply"


def test_handlers_load_under_distinct_module_names() -> None:
    modules = [load_handler(name) for name in ("ingest", "diff", "holds")]

    assert len({m.__name__ for m in modules}) == 3
    assert all(Path(m.__file__ or "").name == "app.py" for m in modules)
