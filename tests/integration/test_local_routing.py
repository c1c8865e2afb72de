"""The local stack: moto's Lambda invocations reach the real handlers, and what it creates is what
the template declares.

These tests fail when a moto upgrade (or a change to rostersync_tools.local.routing) stops the patched
``LambdaSimpleBackend.invoke`` from routing calls: moto's own simple backend echoes the payload,
which carries none of the values only the handler module computes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

from rostersync_tools.local import (
    InvocationError,
    LocalAws,
    LocalStackError,
    load_template,
    routing,
    substitute_definition,
)
from rostersync_tools.local.stack import CREATED_TYPES

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "local_stack" / "template.yaml"
PROJECT_TEMPLATE = ROOT / "template.yaml"
# What the architecture contract says template.yaml declares and the local stack must create.
CONTRACT_RESOURCES = {
    "RawBucket": "AWS::S3::Bucket",
    "SnapshotBucket": "AWS::S3::Bucket",
    "RosterTable": "AWS::DynamoDB::Table",
    "RosterEventBus": "AWS::Events::EventBus",
    "IngestFunction": "AWS::Serverless::Function",
    "DiffFunction": "AWS::Serverless::Function",
    "HoldsFunction": "AWS::Serverless::Function",
    "SyncStateMachine": "AWS::Serverless::StateMachine",
}


@pytest.fixture
def echo_stack() -> Iterator[LocalAws]:
    with LocalAws(FIXTURE, parameters={"Greeting": "hi"}, stack_name="routing") as stack:
        yield stack


def _run(stack: LocalAws, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(payload)
    )
    described = stack.wait_for_execution(name, timeout=10)
    assert described["status"] == "SUCCEEDED", stack.history_summary(name)
    output: dict[str, Any] = json.loads(described["output"])
    return output


# ------------------------------------------------------------------------------- routing


def test_a_state_machine_task_runs_the_handler_module(echo_stack: LocalAws) -> None:
    output = _run(echo_stack, "routed", {"value": "abc", "second": "echo"})

    echo = output["first"]["echo"]
    assert echo["handled_by"] == "rostersync_fn_echo"
    assert echo["reversed"] == "cba"
    assert echo["event"] == {"action": "echo", "value": "abc"}


def test_the_handler_sees_the_resolved_environment_and_a_lambda_context(echo_stack: LocalAws) -> None:
    output = _run(echo_stack, "context", {"value": "x", "second": "echo"})

    echo = output["first"]["echo"]
    function = echo_stack.functions["EchoFunction"]
    assert echo["greeting"] == "hi"  # Globals, from the parameter override
    assert echo["role"] == "echo"  # the function's own variable
    assert echo["bucket"] == echo_stack.outputs["DataBucket"]
    assert echo["function_name"] == function.name
    assert echo["memory"] == 256
    assert 0 < echo["remaining_ms"] <= 30_000
    assert echo["request_id"] != output["second_result"]["echo"]["request_id"]


def test_a_handler_exception_reaches_the_catch_of_the_state_machine(echo_stack: LocalAws) -> None:
    output = _run(echo_stack, "failing", {"value": "boom", "second": "fail"})

    assert output["error"]["Error"] == "EchoFailedError"
    cause = json.loads(output["error"]["Cause"])
    assert cause["errorType"] == "EchoFailedError"
    assert cause["errorMessage"] == "asked to fail with 'boom'"
    assert any("functions/echo/app.py" in frame for frame in cause["stackTrace"])


def test_a_direct_boto3_invoke_returns_the_handler_result(echo_stack: LocalAws) -> None:
    assert echo_stack.invoke("EchoFunction", {"value": "live"})["reversed"] == "evil"


def test_a_direct_boto3_invoke_of_a_failing_handler_is_an_unhandled_function_error(
    echo_stack: LocalAws,
) -> None:
    response = echo_stack.client("lambda").invoke(
        FunctionName=echo_stack.functions["EchoFunction"].arn,
        Payload=json.dumps({"action": "fail", "value": 1}).encode(),
    )

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "EchoFailedError"
    with pytest.raises(InvocationError, match="EchoFailedError"):
        echo_stack.invoke("EchoFunction", {"action": "fail"})


def test_functions_not_in_the_template_keep_moto_behaviour(echo_stack: LocalAws) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("app.py", "def lambda_handler(e, c):\n    return 'unreachable'\n")
    lam = echo_stack.client("lambda")
    role = echo_stack.client("iam").create_role(RoleName="other", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    lam.create_function(
        FunctionName="other", Runtime="python3.12", Role=role, Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )  # fmt: skip

    response = lam.invoke(FunctionName="other", Payload=b'{"x": 1}')

    assert json.loads(response["Payload"].read()) == {"x": 1}  # moto's simple backend echoes


def test_an_s3_event_is_delivered_only_where_the_template_rule_matches(echo_stack: LocalAws) -> None:
    s3 = echo_stack.client("s3")
    bucket = echo_stack.env("DATA_BUCKET")
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"abc")
    s3.put_object(Bucket=bucket, Key="out/a.csv", Body=b"abc")

    delivery = echo_stack.deliver_object_created(bucket, "in/a.csv")

    received = delivery.results["EchoFunction"]["event"]
    assert received["source"] == "aws.s3"
    assert received["detail-type"] == "Object Created"
    assert received["detail"]["object"]["key"] == "in/a.csv"
    assert received["detail"]["object"]["size"] == 3
    assert received["detail"]["object"]["sequencer"]
    with pytest.raises(LocalStackError, match="no rule"):
        echo_stack.deliver_object_created(bucket, "out/a.csv")


def test_the_patch_lives_only_as_long_as_a_stack() -> None:
    original = LambdaSimpleBackend.__dict__["invoke"]
    assert not routing.is_installed()

    with LocalAws(FIXTURE, stack_name="lifetime"):
        assert routing.is_installed()

    assert LambdaSimpleBackend.__dict__["invoke"] is original


def test_only_one_stack_may_be_active(echo_stack: LocalAws) -> None:
    with pytest.raises(LocalStackError, match="another LocalAws"), LocalAws(FIXTURE, stack_name="second"):
        pass


def test_a_definition_placeholder_without_a_substitution_is_refused() -> None:
    definition = '{"Resource": "${Known}", "Other": "${Missing}"}'

    with pytest.raises(LocalStackError, match="no value for Missing"):
        substitute_definition(definition, {"Known": "arn:aws:lambda:us-east-1:1:function:f"})


# ------------------------------------------------------------------------------- resources


def _declared(template_path: Path, kinds: set[str]) -> dict[str, str]:
    resources = load_template(template_path)["Resources"]
    return {lid: spec["Type"] for lid, spec in resources.items() if spec["Type"] in kinds}


def test_the_fixture_stack_creates_what_its_template_declares(echo_stack: LocalAws) -> None:
    kinds = {
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::Serverless::Function",
        "AWS::Serverless::StateMachine",
    }

    assert echo_stack.created == _declared(FIXTURE, kinds)
    assert set(echo_stack.skipped) == {"EchoLogGroup", "OptionalQueue"}  # a log group; a false condition
    assert [b["Name"] for b in echo_stack.client("s3").list_buckets()["Buckets"]] == [
        echo_stack.outputs["DataBucket"]
    ]
    ttl = echo_stack.client("dynamodb").describe_time_to_live(TableName=echo_stack.outputs["DataTable"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_a_condition_creates_the_resource_when_true() -> None:
    with LocalAws(FIXTURE, parameters={"WithQueue": "true"}, stack_name="cond") as stack:
        assert stack.created["OptionalQueue"] == "AWS::SQS::Queue"
        queue_url = stack.outputs["OptionalQueue"]
        assert stack.client("sqs").get_queue_url(QueueName=queue_url.rsplit("/", 1)[1])["QueueUrl"]


def test_undeclared_parameter_overrides_are_refused() -> None:
    with pytest.raises(ValueError, match="Greting"):
        LocalAws(FIXTURE, parameters={"Greting": "typo"})


@pytest.fixture
def project_stack() -> Iterator[LocalAws]:
    with LocalAws(
        PROJECT_TEMPLATE,
        parameters={"SenderEmail": "rostersync@example.org", "QuietPeriodSeconds": 0},
        stack_name="routing-project",
    ) as stack:
        yield stack


def test_the_project_stack_creates_every_resource_moto_can_hold(project_stack: LocalAws) -> None:
    declared = _declared(PROJECT_TEMPLATE, set(CREATED_TYPES))

    assert CONTRACT_RESOURCES.items() <= declared.items()
    assert {lid: project_stack.created[lid] for lid in CONTRACT_RESOURCES} == CONTRACT_RESOURCES
    # A rule without a function target is skipped; everything else of those types is created.
    assert set(project_stack.created) == set(declared) - set(project_stack.skipped)
    every = set(load_template(PROJECT_TEMPLATE)["Resources"])
    assert set(project_stack.created) | {k for k in project_stack.skipped if "." not in k} == every


def test_the_project_resources_exist_in_moto_with_the_declared_shape(project_stack: LocalAws) -> None:
    out = project_stack.outputs
    s3 = project_stack.client("s3")
    dynamodb = project_stack.client("dynamodb")

    assert {out["RawBucket"], out["SnapshotBucket"]} <= {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert s3.get_bucket_versioning(Bucket=out["RawBucket"])["Status"] == "Enabled"
    table = dynamodb.describe_table(TableName=out["RosterTable"])["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1", "gsi2"]
    ttl = dynamodb.describe_time_to_live(TableName=out["RosterTable"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert project_stack.client("events").describe_event_bus(Name=out["RosterEventBus"])["Name"]
    assert project_stack.state_machine_arn == out["SyncStateMachine"]
    for name in ("IngestFunction", "DiffFunction", "HoldsFunction"):
        environment = project_stack.functions[name].environment
        assert environment["RAW_BUCKET"] == out["RawBucket"]
        assert environment["STATE_MACHINE_ARN"] == out["SyncStateMachine"]


def test_raw_bucket_events_reach_eventbridge_and_match_the_ingest_rule(project_stack: LocalAws) -> None:
    # moto's GetBucketNotificationConfiguration omits EventBridgeConfiguration, so check what it
    # does: the event moto's S3 emits on the default bus matches the template's ingest rule.
    (route,) = [r for r in project_stack.event_routes if r.function_logical_id == "IngestFunction"]
    sqs, events = project_stack.client("sqs"), project_stack.client("events")
    queue_url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="copy-of-ingest-rule", EventPattern=json.dumps(route.pattern))
    events.put_targets(Rule="copy-of-ingest-rule", Targets=[{"Id": "q", "Arn": queue_arn}])

    project_stack.upload_files("d1", {"schools.csv": b"x"})
    project_stack.client("s3").put_object(Bucket=project_stack.env("RAW_BUCKET"), Key="syncs/d1/x", Body=b"x")

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages] == ["inbox/d1/schools.csv"]
    assert route.matches(
        project_stack.object_created_event(project_stack.env("RAW_BUCKET"), "inbox/d1/schools.csv")
    )


def test_the_real_ingest_handler_answers_an_arrival(project_stack: LocalAws) -> None:
    bucket = project_stack.env("RAW_BUCKET")
    project_stack.upload_files("routing-d1", {"schools.csv": b"School_id,School_name\n1,One\n"})

    delivery = project_stack.deliver_object_created(bucket, "inbox/routing-d1/schools.csv")

    result = delivery.results["IngestFunction"]
    assert result["started"] is True
    assert result["district_id"] == "routing-d1"
    assert [e["name"] for e in project_stack.executions("routing-d1-")] == [result["sync_id"]]
    assert project_stack.functions["IngestFunction"].route.invocations[0].event == delivery.event
