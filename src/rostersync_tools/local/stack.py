"""A local copy of the SAM stack in moto, created from what ``template.yaml`` declares.

:class:`LocalAws` starts ``mock_aws`` with moto's Step Functions interpreter and the Docker-free
Lambda backend, reads the template, and creates every resource moto can hold: S3 buckets
(versioning, encryption, public access block, EventBridge notifications), DynamoDB tables (keys,
GSIs, billing, streams, TTL), EventBridge buses, SQS queues, SNS topics, each
``AWS::Serverless::Function`` (a moto function whose invocations are routed to the real handler,
see :mod:`rostersync_tools.local.routing`) and each ``AWS::Serverless::StateMachine`` (its
``DefinitionUri`` file with the resolved ``DefinitionSubstitutions``). Everything else (IAM, log
groups, layers, the Transfer server, APIs, schedules) is listed in :attr:`LocalAws.skipped` with
the reason; EventBridge rules that target a function are kept as routes that
:meth:`LocalAws.deliver_event` applies, since moto's EventBridge cannot invoke Lambda targets.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import boto3
import moto
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.events.models import EventPattern

from rostersync_tools.local import routing
from rostersync_tools.local.template import (
    PhysicalResource,
    Resolver,
    TemplateError,
    load_template,
    parameter_values,
)

ACCOUNT_ID = "123456789012"  # moto's default account
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

# Resource types the local stack creates in moto, in creation order (rules become routes).
CREATED_TYPES = (
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
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
    "AWS::Scheduler::Schedule": "schedules are triggered by tests",
    "AWS::S3::BucketPolicy": "moto does not enforce bucket policies",
    "AWS::SES::EmailIdentity": "identities are verified in moto from SENDER_EMAIL instead",
    "AWS::CloudWatch::Alarm": "alarms hold no behaviour locally",
    "AWS::SNS::Subscription": "subscriptions hold no behaviour locally",
}
_FUNCTION_EVENT_RULE_TYPES = ("EventBridgeRule", "CloudWatchEvent")
_T = TypeVar("_T")
_DESERIALIZER = TypeDeserializer()
_ACTIVE: list[LocalAws] = []
_ACTIVE_LOCK = threading.Lock()


class LocalStackError(RuntimeError):
    """The local stack cannot be built or used as asked."""


class InvocationError(LocalStackError):
    """A function invoked by a helper returned a Lambda error payload."""

    def __init__(self, function: str, payload: Mapping[str, Any]) -> None:
        super().__init__(f"{function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = dict(payload)


@dataclass
class LocalFunction:
    """A function of the template as created locally."""

    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    route: routing.HandlerRoute


@dataclass(frozen=True)
class EventRoute:
    """An EventBridge rule of the template that targets one of its functions."""

    source: str  # "Rule <logical id>" or "<function>.Events.<name>"
    function_logical_id: str
    event_bus_name: str
    pattern: Mapping[str, Any]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return EventPattern.load(json.dumps(self.pattern)).matches_event(dict(event))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Delivery:
    """An event handed to the functions the template's rules route it to, and their results."""

    event: dict[str, Any]
    results: dict[str, Any]


@dataclass(frozen=True)
class SentEmail:
    """An email SES accepted in moto."""

    source: str
    to: list[str]
    subject: str | None
    text: str | None
    html: str | None
    raw: str | None


@dataclass
class _Declared:
    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None
    physical: PhysicalResource | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "app.py",
            "def lambda_handler(event, context):\n"
            "    raise RuntimeError('rostersync_tools.local routes this function in-process')\n",
        )
    return buffer.getvalue()


class LocalAws:
    """The stack of ``template.yaml`` in moto, with the functions routed to their handlers.

    ``parameters`` override the template's parameter defaults (e.g. ``QuietPeriodSeconds=0``);
    ``root`` is where ``CodeUri`` and ``DefinitionUri`` are resolved (default: the template's
    folder). Use as a context manager; only one local stack may be active at a time, because moto's
    backends and the process environment are global.
    """

    def __init__(
        self,
        template_path: Path | str = "template.yaml",
        *,
        parameters: Mapping[str, Any] | None = None,
        stack_name: str = "rostersync-local",
        region: str | None = None,
        root: Path | str | None = None,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.root = Path(root).resolve() if root is not None else self.template_path.parent
        self.template = load_template(self.template_path)
        self.parameters = parameter_values(self.template, parameters)
        self.stack_name = stack_name
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = ACCOUNT_ID
        self.suffix = uuid.uuid4().hex[:8]
        self.resolver = Resolver(
            template=self.template,
            parameters=self.parameters,
            pseudo={
                "AWS::Region": self.region,
                "AWS::AccountId": self.account_id,
                "AWS::StackName": self.stack_name,
                "AWS::StackId": (
                    f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/"
                    f"{uuid.uuid4()}"
                ),
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
            resources={},
        )
        self.created: dict[str, str] = {}  # logical id -> type
        self.skipped: dict[str, str] = {}  # logical id -> reason
        self.ignored_properties: dict[str, list[str]] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.state_machines: dict[str, str] = {}  # logical id -> ARN
        self.event_routes: list[EventRoute] = []
        self.environment: dict[str, str] = {}  # Globals.Function.Environment, resolved
        self._declared: dict[str, _Declared] = {}
        self._mock: Any = None
        self._saved_environ: dict[str, str] | None = None
        self._sequencer = 0
        self._capture_queue_url: str | None = None
        self._captured: list[dict[str, Any]] = []
        self._role_arn = ""

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalAws:
        with _ACTIVE_LOCK:
            if _ACTIVE:
                raise LocalStackError("another LocalAws stack is active; moto's backends are global")
            _ACTIVE.append(self)
        try:
            self._saved_environ = dict(os.environ)
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            os.environ["AWS_DEFAULT_REGION"] = self.region
            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start()
            routing.reset_caches()
            self._build()
            # Every variable of every function is set for the stack's lifetime, so routed calls
            # only change values and never remove a variable while moto's execution threads read
            # the environment; the shared (Globals) values win, so test code calling the pipeline
            # package directly (e.g. submit_decision) reads the functions' settings. A variable
            # only some functions declare is therefore visible to all of them.
            for function in self.functions.values():
                os.environ.update(function.route.runtime_environment())
            os.environ.update(self.environment)
            routing.reset_caches()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._mock is not None:
                self._stop_running_executions()
        finally:
            for function in self.functions.values():
                routing.unregister(function.route)
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
            if self._saved_environ is not None:
                with routing.serialized():
                    os.environ.clear()
                    os.environ.update(self._saved_environ)
                self._saved_environ = None
            routing.reset_caches()
            with _ACTIVE_LOCK:
                if self in _ACTIVE:
                    _ACTIVE.remove(self)

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the local stack."""
        return boto3.client(service, region_name=self.region)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        iam = self.client("iam")
        self._role_arn = iam.create_role(
            RoleName=f"{self.stack_name}-local-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        resources = self.template.get("Resources") or {}
        for logical_id, spec in resources.items():
            spec = spec or {}
            self._declared[logical_id] = _Declared(
                logical_id=logical_id,
                type=str(spec.get("Type", "")),
                properties=dict(spec.get("Properties") or {}),
                condition=spec.get("Condition"),
            )
        self._assign_physical_ids()
        self.environment = self._globals_environment()
        creators: dict[str, Callable[[_Declared], None]] = {
            "AWS::S3::Bucket": self._create_bucket,
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::Events::EventBus": self._create_event_bus,
            "AWS::SQS::Queue": self._create_queue,
            "AWS::SNS::Topic": self._create_topic,
            "AWS::Serverless::Function": self._create_function,
            "AWS::Serverless::StateMachine": self._create_state_machine,
            "AWS::Events::Rule": self._record_rule,  # after the functions it may target
        }
        assert tuple(creators) == CREATED_TYPES
        handled = set(creators)
        for kind, create in creators.items():
            for declared in self._declared.values():
                if declared.type == kind and declared.physical is not None:
                    create(declared)
        for declared in self._declared.values():
            if declared.physical is None:
                continue  # its condition is false: CloudFormation would not create it either
            if declared.type not in handled:
                self.skipped[declared.logical_id] = SKIPPED_TYPES.get(
                    declared.type, f"{declared.type} has no local counterpart"
                )
        self._verify_sender()
        self._start_event_capture()

    def _assign_physical_ids(self) -> None:
        """Give every resource its name and ARN first, so references resolve in any order."""
        physical: dict[str, PhysicalResource] = {}
        self.resolver.resources = physical
        pending = dict(self._declared)
        while pending:
            progressed = False
            for logical_id, declared in list(pending.items()):
                try:
                    if declared.condition and not self.resolver.condition(declared.condition):
                        self.skipped[logical_id] = f"condition {declared.condition} is false"
                        pending.pop(logical_id)
                        progressed = True
                        continue
                    physical[logical_id] = self._physical(declared)
                except TemplateError:
                    continue  # a name that refers to a resource not named yet
                declared.physical = physical[logical_id]
                pending.pop(logical_id)
                progressed = True
            if not progressed:
                raise LocalStackError(f"cannot name resources (circular names?): {sorted(pending)}")

    def _name(self, declared: _Declared, key: str | None, *, lower: bool = False, limit: int = 64) -> str:
        if key and key in declared.properties:
            return str(self.resolver.resolve(declared.properties[key]))
        name = f"{self.stack_name}-{declared.logical_id}-{self.suffix}"
        name = name[-limit:] if len(name) > limit else name
        return name.lower() if lower else name

    def _physical(self, declared: _Declared) -> PhysicalResource:
        region, account, lid = self.region, self.account_id, declared.logical_id
        kind = declared.type
        if kind == "AWS::S3::Bucket":
            name = self._name(declared, "BucketName", lower=True, limit=63)
            return PhysicalResource(
                name,
                {
                    "Arn": f"arn:aws:s3:::{name}",
                    "DomainName": f"{name}.s3.amazonaws.com",
                    "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
                },
            )
        if kind == "AWS::DynamoDB::Table":
            name = self._name(declared, "TableName", limit=255)
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return PhysicalResource(name, {"Arn": arn, "StreamArn": f"{arn}/stream/local"})
        if kind == "AWS::Events::EventBus":
            name = self._name(declared, "Name")
            return PhysicalResource(
                name, {"Arn": f"arn:aws:events:{region}:{account}:event-bus/{name}", "Name": name}
            )
        if kind == "AWS::SQS::Queue":
            name = self._name(declared, "QueueName", limit=80)
            return PhysicalResource(
                f"https://sqs.{region}.amazonaws.com/{account}/{name}",
                {"Arn": f"arn:aws:sqs:{region}:{account}:{name}", "QueueName": name},
            )
        if kind == "AWS::SNS::Topic":
            name = self._name(declared, "TopicName", limit=256)
            arn = f"arn:aws:sns:{region}:{account}:{name}"
            return PhysicalResource(arn, {"TopicArn": arn, "TopicName": name})
        if kind == "AWS::Serverless::Function":
            name = self._name(declared, "FunctionName")
            return PhysicalResource(name, {"Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"})
        if kind == "AWS::Serverless::StateMachine":
            name = self._name(declared, "Name", limit=80)
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            return PhysicalResource(arn, {"Arn": arn, "Name": name})
        if kind == "AWS::Events::Rule":
            name = self._name(declared, "Name")
            return PhysicalResource(name, {"Arn": f"arn:aws:events:{region}:{account}:rule/{name}"})
        # Skipped types still resolve, to visibly fake values, so a template referring to them loads.
        return _placeholder(lid, kind)

    def _ignore(self, declared: _Declared, applied: Iterable[str]) -> None:
        ignored = sorted(set(declared.properties) - set(applied))
        if ignored:
            self.ignored_properties[declared.logical_id] = ignored

    def _properties(self, declared: _Declared) -> dict[str, Any]:
        resolved = self.resolver.resolve(declared.properties)
        return resolved if isinstance(resolved, dict) else {}

    def _create_bucket(self, declared: _Declared) -> None:
        props = self._properties(declared)
        assert declared.physical is not None
        name = declared.physical.ref
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
        self._ignore(declared, applied)
        self.created[declared.logical_id] = declared.type

    def _create_table(self, declared: _Declared) -> None:
        props = self._properties(declared)
        assert declared.physical is not None
        name = declared.physical.ref
        billing = props.get("BillingMode", "PROVISIONED")
        throughput = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        kwargs: dict[str, Any] = {
            "TableName": name,
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
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
            applied.add("TimeToLiveSpecification")
        self._ignore(declared, applied)
        self.created[declared.logical_id] = declared.type

    def _create_event_bus(self, declared: _Declared) -> None:
        assert declared.physical is not None
        self.client("events").create_event_bus(Name=declared.physical.ref)
        self._ignore(declared, {"Name"})
        self.created[declared.logical_id] = declared.type

    def _create_queue(self, declared: _Declared) -> None:
        props = self._properties(declared)
        assert declared.physical is not None
        name = declared.physical.attributes["QueueName"]
        attributes = {k: str(v) for k, v in props.items() if k not in ("QueueName", "Tags", "RedrivePolicy")}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        self.client("sqs").create_queue(QueueName=name, Attributes=attributes)
        self.created[declared.logical_id] = declared.type

    def _create_topic(self, declared: _Declared) -> None:
        assert declared.physical is not None
        self.client("sns").create_topic(Name=declared.physical.attributes["TopicName"])
        self._ignore(declared, {"TopicName"})
        self.created[declared.logical_id] = declared.type

    def _globals_environment(self) -> dict[str, str]:
        globals_function = ((self.template.get("Globals") or {}).get("Function")) or {}
        variables = ((globals_function.get("Environment") or {}).get("Variables")) or {}
        resolved = self.resolver.resolve(variables) or {}
        return {str(k): str(v) for k, v in resolved.items()}

    def _function_properties(self, declared: _Declared) -> dict[str, Any]:
        """The function's properties with ``Globals.Function`` merged in, as SAM does."""
        globals_function = dict(((self.template.get("Globals") or {}).get("Function")) or {})
        merged: dict[str, Any] = {**globals_function, **declared.properties}
        global_vars = ((globals_function.get("Environment") or {}).get("Variables")) or {}
        own_vars = ((declared.properties.get("Environment") or {}).get("Variables")) or {}
        merged["Environment"] = {"Variables": {**global_vars, **own_vars}}
        if "Layers" in globals_function and "Layers" in declared.properties:
            merged["Layers"] = [*globals_function["Layers"], *declared.properties["Layers"]]
        resolved = self.resolver.resolve(merged)
        return resolved if isinstance(resolved, dict) else {}

    def _create_function(self, declared: _Declared) -> None:
        assert declared.physical is not None
        props = self._function_properties(declared)
        code_uri = props.get("CodeUri")
        handler = props.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            self.skipped[declared.logical_id] = "only local CodeUri folders with a Handler are routed"
            return
        name = declared.physical.ref
        arn = declared.physical.attributes["Arn"]
        environment = {str(k): str(v) for k, v in props["Environment"]["Variables"].items()}
        memory = int(props.get("MemorySize", 128))
        timeout = int(props.get("Timeout", 3))
        optional: dict[str, Any] = {}
        if "Description" in props:
            optional["Description"] = str(props["Description"])
        if "EphemeralStorage" in props:
            optional["EphemeralStorage"] = {"Size": int(props["EphemeralStorage"]["Size"])}
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime=str(props.get("Runtime", "python3.12")),
            Role=self._role_arn,
            Handler=handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": environment},
            **optional,
        )
        code_dir = (self.root / code_uri).resolve()
        folder = re.sub(r"\W", "_", code_dir.name) or declared.logical_id.lower()
        route = routing.HandlerRoute(
            account_id=self.account_id,
            region=self.region,
            function_name=name,
            function_arn=arn,
            code_dir=code_dir,
            handler=handler,
            environment=environment,
            module_name=f"rostersync_fn_{folder}",
            memory_mb=memory,
            timeout_seconds=timeout,
        )
        routing.register(route)
        self.functions[declared.logical_id] = LocalFunction(
            declared.logical_id, name, arn, code_dir, handler, environment, route
        )
        for event_name, event in (props.get("Events") or {}).items():
            event = event or {}
            event_props = event.get("Properties") or {}
            if event.get("Type") in _FUNCTION_EVENT_RULE_TYPES:
                self.event_routes.append(
                    EventRoute(
                        source=f"{declared.logical_id}.Events.{event_name}",
                        function_logical_id=declared.logical_id,
                        event_bus_name=_bus_name(event_props.get("EventBusName", "default")),
                        pattern=event_props.get("Pattern") or {},
                    )
                )
            else:
                self.skipped[f"{declared.logical_id}.Events.{event_name}"] = (
                    f"{event.get('Type')} event sources are not emulated; tests invoke the function"
                )
        self._ignore(
            declared,
            {
                "CodeUri",
                "Handler",
                "Runtime",
                "MemorySize",
                "Timeout",
                "Environment",
                "Events",
                "FunctionName",
                *optional,
            },
        )
        self.created[declared.logical_id] = declared.type

    def _create_state_machine(self, declared: _Declared) -> None:
        assert declared.physical is not None
        props = self._properties(declared)
        if "DefinitionUri" in props:
            uri = props["DefinitionUri"]
            if not isinstance(uri, str):
                raise LocalStackError(f"{declared.logical_id}: only a local DefinitionUri file is supported")
            definition = (self.root / uri).read_text(encoding="utf-8")
        elif "Definition" in props:
            definition = json.dumps(props["Definition"])
        else:
            raise LocalStackError(f"{declared.logical_id}: no Definition or DefinitionUri")
        substitutions = props.get("DefinitionSubstitutions") or {}
        definition = substitute_definition(definition, substitutions)
        kind = str(props.get("Type", "STANDARD")).upper()
        name = declared.physical.attributes["Name"]
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=self._role_arn, type=kind
        )["stateMachineArn"]
        if arn != declared.physical.ref:
            raise LocalStackError(f"moto gave {arn}, expected {declared.physical.ref}")
        self.state_machines[declared.logical_id] = arn
        for event_name in props.get("Events") or {}:
            self.skipped[f"{declared.logical_id}.Events.{event_name}"] = (
                "state machine event sources are not emulated"
            )
        self._ignore(
            declared, {"DefinitionUri", "Definition", "DefinitionSubstitutions", "Type", "Name", "Events"}
        )
        self.created[declared.logical_id] = declared.type

    def _record_rule(self, declared: _Declared) -> None:
        """Keep a rule that targets a function of the stack as a route (moto cannot run it)."""
        props = self._properties(declared)
        targets = props.get("Targets") or []
        arns = {f.arn: lid for lid, f in self.functions.items()}
        routed = [arns[t.get("Arn")] for t in targets if t.get("Arn") in arns]
        if not routed or "EventPattern" not in props:
            self.skipped[declared.logical_id] = (
                "rules without a function target or an event pattern are not emulated"
            )
            return
        for function_logical_id in routed:
            self.event_routes.append(
                EventRoute(
                    source=f"Rule {declared.logical_id}",
                    function_logical_id=function_logical_id,
                    event_bus_name=_bus_name(props.get("EventBusName", "default")),
                    pattern=props["EventPattern"],
                )
            )
        self.created[declared.logical_id] = declared.type + " (emulated route)"

    def _verify_sender(self) -> None:
        ses = self.client("ses")
        senders = {self.environment.get("SENDER_EMAIL", "")}
        senders.update(str(v) for k, v in self.parameters.items() if k.lower().endswith("senderemail"))
        for function in self.functions.values():
            senders.add(function.environment.get("SENDER_EMAIL", ""))
        for sender in sorted(s for s in senders if s):
            ses.verify_email_identity(EmailAddress=sender)

    def _start_event_capture(self) -> None:
        """Copy every event put on the stack's buses to an SQS queue (moto keeps no event log)."""
        buses = [
            d.physical.ref
            for d in self._declared.values()
            if d.type == "AWS::Events::EventBus" and d.physical
        ]
        if not buses:
            return
        sqs = self.client("sqs")
        self._capture_queue_url = sqs.create_queue(QueueName=f"{self.stack_name}-local-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._capture_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = self.client("events")
        for bus in buses:
            events.put_rule(
                Name=f"{self.stack_name}-local-capture",
                EventBusName=bus,
                EventPattern=json.dumps({"source": [{"prefix": ""}]}),
            )
            events.put_targets(
                Rule=f"{self.stack_name}-local-capture",
                EventBusName=bus,
                Targets=[{"Id": "capture", "Arn": queue_arn}],
            )

    # ------------------------------------------------------------------ outputs
    @property
    def outputs(self) -> dict[str, str]:
        """Physical id (what ``Ref`` gives) of every created resource, by logical id."""
        return {
            lid: d.physical.ref
            for lid, d in self._declared.items()
            if d.physical is not None and lid in self.created
        }

    @property
    def template_outputs(self) -> dict[str, Any]:
        """The template's ``Outputs`` that resolve locally (skipped resources give placeholders)."""
        values: dict[str, Any] = {}
        for name, spec in (self.template.get("Outputs") or {}).items():
            spec = spec or {}
            if spec.get("Condition") and not self.resolver.condition(spec["Condition"]):
                continue
            try:
                values[name] = self.resolver.resolve(spec.get("Value"))
            except TemplateError:
                continue
        return values

    def env(self, name: str) -> str:
        """A variable of the functions' shared environment (``Globals.Function.Environment``)."""
        try:
            return self.environment[name]
        except KeyError:
            raise LocalStackError(f"{name} is not in Globals.Function.Environment of the template") from None

    @property
    def state_machine_arn(self) -> str:
        """The ARN of the (only) state machine."""
        if len(self.state_machines) != 1:
            raise LocalStackError(
                f"expected one state machine, the template has {sorted(self.state_machines)}"
            )
        return next(iter(self.state_machines.values()))

    # ------------------------------------------------------------------ helpers
    def upload_files(self, district_id: str, files: Mapping[str, bytes]) -> list[str]:
        """Put ``files`` into ``s3://RAW_BUCKET/inbox/<district_id>/`` (as SFTP would); their keys."""
        s3 = self.client("s3")
        bucket = self.env("RAW_BUCKET")
        keys = []
        for name, data in files.items():
            key = f"inbox/{district_id}/{name}"
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            keys.append(key)
        return keys

    def object_created_event(self, bucket: str, key: str) -> dict[str, Any]:
        """The EventBridge "Object Created" event S3 sends for ``key`` (shape as AWS documents it)."""
        head = self.client("s3").head_object(Bucket=bucket, Key=key)
        self._sequencer += 1
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": int(head["ContentLength"]),
                "etag": head["ETag"].strip('"'),
                "sequencer": f"{int(time.time() * 1000):012X}{self._sequencer:06X}",
            },
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": self.account_id,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        }
        if head.get("VersionId"):
            detail["object"]["version-id"] = head["VersionId"]
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": detail,
        }

    def deliver_object_created(self, bucket: str, key: str) -> Delivery:
        """Build the S3 "Object Created" event of ``key`` and deliver it as EventBridge would."""
        return self.deliver_event(self.object_created_event(bucket, key))

    def deliver_event(self, event: Mapping[str, Any], *, event_bus_name: str = "default") -> Delivery:
        """Invoke the functions whose template rules match ``event`` on ``event_bus_name``.

        With no rule in the template at all, the event goes to ``IngestFunction`` (the arrival
        step's documented trigger). A template with rules that all miss the event is an error: on
        AWS nothing would run.
        """
        event = dict(event)
        on_bus = [r for r in self.event_routes if r.event_bus_name == _bus_name(event_bus_name)]
        if on_bus:
            targets = [r.function_logical_id for r in on_bus if r.matches(event)]
            if not targets:
                raise LocalStackError(
                    f"no rule of the template on bus {event_bus_name!r} matches the event "
                    f"({[r.source for r in on_bus]})"
                )
        elif "IngestFunction" in self.functions:
            targets = ["IngestFunction"]
        else:
            raise LocalStackError("the template routes no events and has no IngestFunction")
        results = {lid: self.invoke(lid, event) for lid in dict.fromkeys(targets)}
        return Delivery(event=event, results=results)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function through moto's Lambda API; its result, or :class:`InvocationError`."""
        function = self.functions[logical_id]
        response = self.client("lambda").invoke(
            FunctionName=function.name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise InvocationError(logical_id, payload)
        return payload

    def upload_and_deliver(self, district_id: str, files: Mapping[str, bytes]) -> list[Delivery]:
        """Upload ``files`` and deliver one Object Created event per file, in upload order."""
        bucket = self.env("RAW_BUCKET")
        keys = self.upload_files(district_id, files)
        return [self.deliver_object_created(bucket, key) for key in keys]

    # ------------------------------------------------------------------ executions
    def execution_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        sm_name = self.state_machine_arn.rsplit(":", 1)[1]
        return f"arn:aws:states:{self.region}:{self.account_id}:execution:{sm_name}:{name_or_arn}"

    def executions(self, name_prefix: str = "") -> list[dict[str, Any]]:
        """The state machine's executions whose names start with ``name_prefix``, oldest first."""
        sfn = self.client("stepfunctions")
        found: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            found.extend(e for e in page["executions"] if e["name"].startswith(name_prefix))
        return sorted(found, key=lambda e: e["startDate"])

    def wait_for_execution(self, name_or_arn: str, timeout: float = 10.0) -> dict[str, Any]:
        """``describe_execution`` once the execution has ended; TimeoutError with its history if not."""
        arn = self.execution_arn(name_or_arn)
        sfn = self.client("stepfunctions")

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            return described if described["status"] in TERMINAL_EXECUTION_STATUSES else None

        return wait_for(
            ended, timeout, lambda: f"execution {arn} still running:\n{self.history_summary(arn)}"
        )

    def history(self, name_or_arn: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """The execution's history events (of ``event_type`` only, when given), oldest first."""
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(
            executionArn=self.execution_arn(name_or_arn)
        ):
            events.extend(e for e in page["events"] if event_type is None or e["type"] == event_type)
        return events

    def history_summary(self, name_or_arn: str, last: int = 15) -> str:
        """The last events of an execution's history, one line each (for failure messages)."""
        try:
            events = self.history(name_or_arn)
        except Exception as exc:  # a message helper must not mask the real failure
            return f"(no history: {exc})"
        lines = []
        for event in events[-last:]:
            details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
            text = json.dumps(_plain(details), default=str)
            lines.append(f"  {event['id']:>3} {event['type']}: {text[:300]}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ records
    def table_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item of the stack's table (``TABLE_NAME``) as plain Python values."""
        response = self.client("dynamodb").get_item(
            TableName=self.env("TABLE_NAME"), Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()} if item else None

    def table_items(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        """The items of partition ``pk`` whose sort key starts with ``sk_prefix``."""
        dynamodb = self.client("dynamodb")
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("query").paginate(
            TableName=self.env("TABLE_NAME"),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":sk": {"S": sk_prefix}},
        ):
            items.extend(
                {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in i.items()} for i in page["Items"]
            )
        return items

    def sync_record(self, district_id: str, sync_id: str) -> dict[str, Any] | None:
        """The sync item ``DISTRICT#<d>`` / ``SYNC#<sync_id>``, or None."""
        return self.table_item(f"DISTRICT#{district_id}", f"SYNC#{sync_id}")

    def wait_for_sync(
        self, district_id: str, sync_id: str, statuses: Iterable[str], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The sync record once its status is one of ``statuses``; TimeoutError otherwise."""
        wanted = set(statuses)

        def reached() -> dict[str, Any] | None:
            record = self.sync_record(district_id, sync_id)
            return record if record is not None and record.get("status") in wanted else None

        def message() -> str:
            record = self.sync_record(district_id, sync_id)
            status = record.get("status") if record else "no record"
            reason = record.get("reason") if record else None
            text = (
                f"sync {district_id}/{sync_id} is {status!r} (reason {reason!r}), not one of {sorted(wanted)}"
            )
            try:
                return f"{text}\n{self.history_summary(sync_id)}"
            except LocalStackError:
                return text

        return wait_for(reached, timeout, message)

    # ------------------------------------------------------------------ side effects
    def sent_emails(self) -> list[SentEmail]:
        """Every email SES accepted in moto, oldest first."""
        from moto.ses.models import ses_backends

        sent = []
        for message in ses_backends[self.account_id][self.region].sent_messages:
            raw = getattr(message, "raw_data", None)
            if raw is not None:
                sent.append(_raw_email(message.source, list(message.destinations), raw))
                continue
            destinations = message.destinations or {}
            to = [
                a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(key, [])
            ]
            sent.append(SentEmail(message.source, to, message.subject, message.body, None, None))
        return sent

    def captured_events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Events the stack's functions put on its buses (S3's own events excluded), oldest first.

        moto sends S3 EventBridge notifications to the rules of every bus, not only ``default``;
        those are dropped here.
        """
        if self._capture_queue_url is None:
            return []
        sqs = self.client("sqs")
        while True:
            messages = sqs.receive_message(
                QueueUrl=self._capture_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                self._captured.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._capture_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [
            e
            for e in self._captured
            if e.get("source") != "aws.s3" and (detail_type is None or e.get("detail-type") == detail_type)
        ]

    def _stop_running_executions(self) -> None:
        """Stop what still runs, so no execution thread outlives moto and calls real AWS."""
        if not self.state_machines:
            return
        sfn = self.client("stepfunctions")
        for arn in self.state_machines.values():
            try:
                running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            except Exception:
                continue
            for execution in running:
                try:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="local stack closed")
                except Exception:
                    continue


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


def wait_for(
    check: Callable[[], _T | None], timeout: float, message: Callable[[], str], interval: float = 0.05
) -> _T:
    """Poll ``check`` until it returns a value; TimeoutError with ``message()`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"after {timeout:.1f}s: {message()}")
        time.sleep(interval)


def _placeholder(logical_id: str, kind: str) -> PhysicalResource:
    class _AnyAttribute(dict[str, str]):
        def __contains__(self, key: object) -> bool:
            return True

        def __missing__(self, key: str) -> str:
            return f"local-skipped:{logical_id}.{key}"

    return PhysicalResource(f"local-skipped:{logical_id}", _AnyAttribute())


def _bus_name(value: Any) -> str:
    """A bus name from a name or an ARN."""
    text = str(value)
    return text.rsplit("/", 1)[1] if text.startswith("arn:") and "/" in text else text


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _booleans(values: Mapping[str, Any]) -> dict[str, bool]:
    return {k: _truthy(v) for k, v in values.items()}


def _ints(values: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in values.items()}


def _raw_email(source: str, destinations: list[str], raw: str) -> SentEmail:
    import email
    from email.message import Message

    message = email.message_from_string(raw)
    text = html = None
    parts: list[Message] = list(message.walk()) if message.is_multipart() else [message]
    for part in parts:
        content_type = part.get_content_type()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        if content_type == "text/plain" and text is None:
            text = payload.decode(charset)
        elif content_type == "text/html" and html is None:
            html = payload.decode(charset)
    return SentEmail(source, destinations, message.get("Subject"), text, html, raw)


def moto_version() -> str:
    return str(moto.__version__)
