"""Create the resources of a transformed template in moto, one CloudFormation type at a time.

The SAM translator has already expanded the template (:mod:`rostersync_tools.local.template`);
what is left is what CloudFormation itself would do with the result and no library does
locally: give each resource its physical name and ARN (:func:`physical_resource`, so ``Ref`` and
``Fn::GetAtt`` resolve in any order) and call moto's APIs to create it (:class:`MotoCreator`:
S3 buckets with versioning, encryption, public access block and EventBridge notifications;
DynamoDB tables with keys, GSIs, billing, streams and TTL; EventBridge buses; SQS queues; SNS
topics; Lambda functions whose code is a stand-in, their invocations being routed to the real
handler; Step Functions state machines from their local definition file with
``DefinitionSubstitutions`` applied). EventBridge rules that target a function become
:class:`EventRoute` records, since moto's EventBridge cannot invoke Lambda targets.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.events.models import EventPattern

from rostersync_tools.local.template import PhysicalResource, artifact_path

# Resource types of the transformed template created in moto, in creation order (rules, which
# target functions, last).
CFN_CREATED_TYPES = (
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "AWS::Events::Rule",
)
# Resource types that have no local counterpart, and why.
SKIPPED_TYPES: dict[str, str] = {
    "AWS::IAM::Role": "moto does not enforce IAM; functions and state machines get a stand-in role",
    "AWS::IAM::Policy": "moto does not enforce IAM",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM",
    "AWS::Logs::LogGroup": "log groups hold no behaviour; handlers log to the test output",
    "AWS::Serverless::LayerVersion": "the layer's package is imported from the source tree",
    "AWS::Lambda::LayerVersion": "the layer's package is imported from the source tree",
    "AWS::Lambda::Permission": "moto does not enforce resource policies",
    "AWS::Transfer::Server": "SFTP is not emulated; tests upload to the inbox prefix directly",
    "AWS::Transfer::User": "SFTP is not emulated; tests upload to the inbox prefix directly",
    "AWS::Serverless::Api": "the API is exercised through its handler, not API Gateway",
    "AWS::Serverless::HttpApi": "the API is exercised through its handler, not API Gateway",
    "AWS::ApiGateway::RestApi": "the API is exercised through its handler, not API Gateway",
    "AWS::ApiGateway::Deployment": "the API is exercised through its handler, not API Gateway",
    "AWS::ApiGateway::Stage": "the API is exercised through its handler, not API Gateway",
    "AWS::Scheduler::Schedule": "schedules are triggered by tests",
    "AWS::S3::BucketPolicy": "moto does not enforce bucket policies",
    "AWS::SQS::QueuePolicy": "moto does not enforce queue policies",
    "AWS::SES::EmailIdentity": "identities are verified in moto from SENDER_EMAIL instead",
    "AWS::CloudWatch::Alarm": "alarms hold no behaviour locally",
    "AWS::SNS::Subscription": "subscriptions hold no behaviour locally",
}
Client = Callable[[str], Any]


class LocalStackError(RuntimeError):
    """The local stack cannot be built or used as asked."""


@dataclass
class Declared:
    """A resource of the transformed template, and its physical identity once named."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None
    physical: PhysicalResource | None = None

    @property
    def ref(self) -> str:
        assert self.physical is not None, f"{self.logical_id} has no physical name yet"
        return self.physical.ref


@dataclass(frozen=True)
class FunctionSpec:
    """What the local stack needs to create and route one function."""

    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class EventRoute:
    """An EventBridge rule of the template that targets one of its functions."""

    source: str  # "Rule <logical id>"
    function_logical_id: str
    event_bus_name: str
    pattern: Mapping[str, Any]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return EventPattern.load(json.dumps(self.pattern)).matches_event(dict(event))  # type: ignore[arg-type]


def default_name(
    stack_name: str, logical_id: str, suffix: str, *, lower: bool = False, limit: int = 64
) -> str:
    """A generated physical name, as CloudFormation makes one: stack, logical id, random suffix."""
    name = f"{stack_name}-{logical_id}-{suffix}"
    name = name[-limit:] if len(name) > limit else name
    return name.lower() if lower else name


# (name property, lowercase, length limit) of the types whose physical name the stack chooses.
_NAMING: dict[str, tuple[str, bool, int]] = {
    "AWS::S3::Bucket": ("BucketName", True, 63),
    "AWS::DynamoDB::Table": ("TableName", False, 255),
    "AWS::Events::EventBus": ("Name", False, 64),
    "AWS::SQS::Queue": ("QueueName", False, 80),
    "AWS::SNS::Topic": ("TopicName", False, 256),
    "AWS::Lambda::Function": ("FunctionName", False, 64),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", False, 80),
    "AWS::Events::Rule": ("Name", False, 64),
}


def physical_resource(
    declared: Declared, name_of: Callable[[str, bool, int], str], region: str, account: str
) -> PhysicalResource:
    """What ``Ref`` and ``Fn::GetAtt`` give for ``declared`` (``name_of(property, lower, limit)``
    gives the declared or a generated name)."""
    kind = declared.type
    if kind not in _NAMING:
        return _placeholder(declared.logical_id)
    name = name_of(*_NAMING[kind])
    arns = {
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{name}",
        "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{name}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
        "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{name}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
        "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{account}:stateMachine:{name}",
        "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
    }
    if kind == "AWS::S3::Bucket":
        return PhysicalResource(
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            },
        )
    arn = arns[kind]
    if kind == "AWS::DynamoDB::Table":
        return PhysicalResource(name, {"Arn": arn, "StreamArn": f"{arn}/stream/local"})
    if kind == "AWS::SQS::Queue":
        return PhysicalResource(
            f"https://sqs.{region}.amazonaws.com/{account}/{name}", {"Arn": arn, "QueueName": name}
        )
    if kind == "AWS::SNS::Topic":
        return PhysicalResource(arn, {"TopicArn": arn, "TopicName": name})
    if kind == "AWS::StepFunctions::StateMachine":
        return PhysicalResource(arn, {"Arn": arn, "Name": name})
    return PhysicalResource(name, {"Arn": arn, "Name": name})


class MotoCreator:
    """Creates resources in moto from their resolved properties; each ``create_*`` returns the
    property names it applied (the rest are recorded as ignored by the stack)."""

    def __init__(self, client: Client, region: str, root: Path, role_arn: str) -> None:
        self.client = client
        self.region = region
        self.root = root
        self.role_arn = role_arn

    def create_bucket(self, declared: Declared, props: Mapping[str, Any]) -> set[str]:
        name = declared.ref
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        applied = {"BucketName"}
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
            applied.add("VersioningConfiguration")
        encryption = props.get("BucketEncryption")
        if encryption:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [
                {("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                 for k, v in rule.items()}
                for rule in encryption.get("ServerSideEncryptionConfiguration") or []
            ]  # fmt: skip
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
            applied.add("BucketEncryption")
        block = props.get("PublicAccessBlockConfiguration")
        if block:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=_booleans(block))
            applied.add("PublicAccessBlockConfiguration")
        notifications = props.get("NotificationConfiguration") or {}
        eventbridge = notifications.get("EventBridgeConfiguration") or {}
        if _truthy(eventbridge.get("EventBridgeEnabled", False)):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
            if set(notifications) == {"EventBridgeConfiguration"}:
                applied.add("NotificationConfiguration")
        return applied

    def create_table(self, declared: Declared, props: Mapping[str, Any]) -> set[str]:
        billing = props.get("BillingMode", "PROVISIONED")
        throughput = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        kwargs: dict[str, Any] = {
            "TableName": declared.ref,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _ints(throughput)
        applied = {"TableName", "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput"}
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = props.get(key)
            if indexes:
                if billing == "PROVISIONED" and key == "GlobalSecondaryIndexes":
                    indexes = [{"ProvisionedThroughput": _ints(throughput), **i} for i in indexes]
                kwargs[key] = indexes
                applied.add(key)
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
            applied.add("StreamSpecification")
        sse = props.get("SSESpecification")
        if sse:
            kwargs["SSESpecification"] = {"Enabled": _truthy(sse.get("SSEEnabled", False))}
            applied.add("SSESpecification")
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _truthy(ttl.get("Enabled", False)):
            dynamodb.update_time_to_live(
                TableName=declared.ref,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
            applied.add("TimeToLiveSpecification")
        return applied

    def create_event_bus(self, declared: Declared, props: Mapping[str, Any]) -> set[str]:
        self.client("events").create_event_bus(Name=declared.ref)
        return {"Name"}

    def create_queue(self, declared: Declared, props: Mapping[str, Any]) -> set[str]:
        assert declared.physical is not None
        attributes = {k: str(v) for k, v in props.items() if k not in ("QueueName", "Tags", "RedrivePolicy")}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        self.client("sqs").create_queue(
            QueueName=declared.physical.attributes["QueueName"], Attributes=attributes
        )
        return set(props)

    def create_topic(self, declared: Declared, props: Mapping[str, Any]) -> set[str]:
        assert declared.physical is not None
        self.client("sns").create_topic(Name=declared.physical.attributes["TopicName"])
        return {"TopicName"}

    def create_function(self, declared: Declared, props: Mapping[str, Any]) -> FunctionSpec | None:
        """The function in moto with stand-in code; None if its code is not a local folder."""
        assert declared.physical is not None
        code_uri = artifact_path(props.get("Code"))
        handler = props.get("Handler")
        if code_uri is None or not isinstance(handler, str):
            return None
        variables = (props.get("Environment") or {}).get("Variables") or {}
        spec = FunctionSpec(
            name=declared.ref,
            arn=declared.physical.attributes["Arn"],
            code_dir=(self.root / code_uri).resolve(),
            handler=handler,
            environment={str(k): str(v) for k, v in variables.items()},
            memory_mb=int(props.get("MemorySize", 128)),
            timeout_seconds=int(props.get("Timeout", 3)),
        )
        optional: dict[str, Any] = {}
        if "Description" in props:
            optional["Description"] = str(props["Description"])
        if "EphemeralStorage" in props:
            optional["EphemeralStorage"] = {"Size": int(props["EphemeralStorage"]["Size"])}
        self.client("lambda").create_function(
            FunctionName=spec.name,
            Runtime=str(props.get("Runtime", "python3.12")),
            Role=self.role_arn,
            Handler=handler,
            Code={"ZipFile": _stand_in_zip()},
            Timeout=spec.timeout_seconds,
            MemorySize=spec.memory_mb,
            Environment={"Variables": spec.environment},
            **optional,
        )
        return spec

    def create_state_machine(self, declared: Declared, props: Mapping[str, Any]) -> str:
        """The state machine in moto; its ARN."""
        assert declared.physical is not None
        location = props.get("DefinitionS3Location")
        if location is not None:
            path = artifact_path(location)
            if path is None:
                raise LocalStackError(f"{declared.logical_id}: only a local DefinitionUri file is supported")
            definition = (self.root / path).read_text(encoding="utf-8")
        elif "DefinitionString" in props:
            definition = str(props["DefinitionString"])
        elif "Definition" in props:
            definition = json.dumps(props["Definition"])
        else:
            raise LocalStackError(f"{declared.logical_id}: no Definition or DefinitionUri")
        definition = substitute_definition(definition, props.get("DefinitionSubstitutions") or {})
        arn: str = self.client("stepfunctions").create_state_machine(
            name=declared.physical.attributes["Name"],
            definition=definition,
            roleArn=self.role_arn,
            type=str(props.get("StateMachineType", "STANDARD")).upper(),
        )["stateMachineArn"]
        if arn != declared.ref:
            raise LocalStackError(f"moto gave {arn}, expected {declared.ref}")
        return arn


def rule_routes(
    declared: Declared, props: Mapping[str, Any], functions: Mapping[str, str]
) -> list[EventRoute]:
    """The routes of a rule whose targets include functions (``functions``: ARN → logical id)."""
    targets = props.get("Targets") or []
    routed = [functions[t.get("Arn")] for t in targets if t.get("Arn") in functions]
    if "EventPattern" not in props:
        return []
    return [
        EventRoute(
            source=f"Rule {declared.logical_id}",
            function_logical_id=function_logical_id,
            event_bus_name=bus_name(props.get("EventBusName", "default")),
            pattern=props["EventPattern"],
        )
        for function_logical_id in routed
    ]


def substitute_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """``definition`` with every ``${Name}`` replaced, as ``DefinitionSubstitutions`` does.

    A placeholder without a substitution is an error here (Step Functions would keep the literal
    text and fail at run time, far from the cause).
    """
    for name, value in substitutions.items():
        definition = definition.replace("${" + name + "}", str(value))
    left = sorted(set(re.findall(r"\$\{([^}]+)\}", definition)))
    if left:
        raise LocalStackError(f"DefinitionSubstitutions has no value for {', '.join(left)}")
    return definition


def bus_name(value: Any) -> str:
    """A bus name from a name or an ARN."""
    text = str(value)
    return text.rsplit("/", 1)[1] if text.startswith("arn:") and "/" in text else text


def ignored(props: Iterable[str], applied: Iterable[str]) -> list[str]:
    return sorted(set(props) - set(applied))


def _placeholder(logical_id: str) -> PhysicalResource:
    """Skipped types still resolve, to visibly fake values, so a template referring to them loads."""

    class _AnyAttribute(dict[str, str]):
        def __contains__(self, key: object) -> bool:
            return True

        def __missing__(self, key: str) -> str:
            return f"local-skipped:{logical_id}.{key}"

    return PhysicalResource(f"local-skipped:{logical_id}", _AnyAttribute())


def _stand_in_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "app.py",
            "def lambda_handler(event, context):\n"
            "    raise RuntimeError('rostersync_tools.local routes this function in-process')\n",
        )
    return buffer.getvalue()


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _booleans(values: Mapping[str, Any]) -> dict[str, bool]:
    return {k: _truthy(v) for k, v in values.items()}


def _ints(values: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in values.items()}
