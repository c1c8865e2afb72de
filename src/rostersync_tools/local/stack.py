"""A local copy of the SAM stack in moto, and the composition root of the functions that run in it.

:class:`LocalAws` starts ``mock_aws`` with moto's Step Functions interpreter and the Docker-free
Lambda backend, loads ``template.yaml`` with cfn-lint and expands it with the SAM translator
(:mod:`rostersync_tools.local.template`), names every resource and creates in moto each one moto
can hold (:mod:`rostersync_tools.local.resources`); each function's invocations are routed to its
real handler (:mod:`rostersync_tools.local.routing`, the one moto seam). Everything else (IAM, log
groups, layers, the Transfer server, APIs, schedules) is listed in :attr:`LocalAws.skipped` (the
template's own resources) or :attr:`LocalAws.generated` (those the transform added) with the
reason. Step Functions' execution status-change events (which moto does not emit) are built when
an execution ends and delivered to the template's rules that match them (:mod:`routing`). While
the stack is active it is the functions' composition root: it hands them its
adapters through :func:`rostersync.runtime.provided` (built from the template's resolved
settings; ``adapt`` lets the caller swap one, e.g. the serve command's recording mailer), and the
functions' environment is set once for the stack's lifetime. The steps' clock is
:attr:`LocalAws.clock` (a :class:`LocalClock` tests advance), and :meth:`LocalAws.tick` runs the
scheduled tick as ``TickSchedule`` does on AWS.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto import mock_aws
from moto.core.config import DefaultConfig

from rostersync import runtime
from rostersync.pipeline.config import PipelineConfig
from rostersync_tools.local import routing
from rostersync_tools.local.operations import (
    TERMINAL_EXECUTION_STATUSES,
    Delivery,
    InvocationError,
    LocalClock,
    SentEmail,
    StackOperations,
    wait_for,
)
from rostersync_tools.local.resources import (
    CFN_CREATED_TYPES,
    SKIPPED_TYPES,
    Declared,
    EventRoute,
    LocalStackError,
    MotoCreator,
    default_name,
    ignored,
    physical_resource,
    rule_routes,
    substitute_definition,
)
from rostersync_tools.local.template import (
    PhysicalResource,
    Resolver,
    TemplateError,
    load_template,
    parameter_values,
    sam_transform,
)

if TYPE_CHECKING:
    from rostersync.api.deps import ApiDeps
    from rostersync.console.signin import SignIn
    from rostersync.pipeline.ports import Deps

ACCOUNT_ID = "123456789012"  # moto's default account
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# Resource types of template.yaml the local stack creates (SAM types through what the transform
# makes of them; rules become routes).
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
_ACTIVE: list[LocalAws] = []
_ACTIVE_LOCK = threading.Lock()

__all__ = [
    "CREATED_TYPES",
    "TERMINAL_EXECUTION_STATUSES",
    "Delivery",
    "EventRoute",
    "InvocationError",
    "LocalAws",
    "LocalClock",
    "LocalFunction",
    "LocalStackError",
    "SentEmail",
    "substitute_definition",
    "wait_for",
]


# Read by native libraries when a process starts (Arrow's allocator mimalloc, numpy): in the
# local stack's one running process a function's value cannot take effect, so they are neither
# set nor compared (template.yaml gives the ingest function its own purge delay).
PROCESS_START_VARIABLES = frozenset({"MIMALLOC_PURGE_DELAY", "MIMALLOC_ALLOW_THP", "NUMPY_MADVISE_HUGEPAGE"})


def shared_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The one environment of the functions' variables (``environments``: by logical ID).

    The functions share one process, hence one ``os.environ``: a variable two functions set
    differently is refused rather than swapped per call (moto's execution threads and botocore
    read the environment concurrently). Test code that calls the pipeline package directly
    therefore reads the functions' settings too. :data:`PROCESS_START_VARIABLES` are left out.
    """
    shared: dict[str, str] = {}
    owners: dict[str, str] = {}
    for logical_id, variables in environments.items():
        for name, value in variables.items():
            if name in PROCESS_START_VARIABLES:
                continue
            if name in shared and shared[name] != value:
                raise LocalStackError(
                    f"{owners[name]} and {logical_id} set {name} differently ({shared[name]!r}, "
                    f"{value!r}); the local stack runs every function with one environment"
                )
            shared[name], owners[name] = value, logical_id
    return shared


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


@lru_cache(maxsize=8)
def _expanded(path: Path, mtime: float, parameters: str, region: str) -> str:
    """The transformed template as JSON text (the transform takes seconds; tests build many
    stacks of the same template and parameters)."""
    del mtime  # part of the cache key only
    source = load_template(path)
    return json.dumps(sam_transform(source, json.loads(parameters), region))


class LocalAws(StackOperations):
    """The stack of ``template.yaml`` in moto, with the functions routed to their handlers.

    ``parameters`` override the template's parameter defaults (e.g. ``QuietPeriodSeconds=0``);
    ``root`` is where ``CodeUri`` and ``DefinitionUri`` are resolved (default: the template's
    folder); ``adapt`` may replace adapters of the pipeline's :class:`~rostersync.pipeline.ports.Deps`
    the functions get; ``console_sign_in`` is the admin console's sign-in (the Hosted UI stand-in
    of ``rostersync serve``; without it the console's pages cannot sign anyone in). Use as a
    context manager; only one local stack may be active at a time, because moto's backends and
    the process environment are global.
    """

    def __init__(
        self,
        template_path: Path | str = "template.yaml",
        *,
        parameters: Mapping[str, Any] | None = None,
        stack_name: str = "rostersync-local",
        region: str | None = None,
        root: Path | str | None = None,
        adapt: Callable[[Deps], Deps] | None = None,
        console_sign_in: SignIn | None = None,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.root = Path(root).resolve() if root is not None else self.template_path.parent
        self.template = load_template(self.template_path)
        self.parameters = parameter_values(self.template, parameters)
        self.stack_name = stack_name
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.account_id = ACCOUNT_ID
        self.suffix = uuid.uuid4().hex[:8]
        self.transformed: dict[str, Any] = json.loads(
            _expanded(
                self.template_path,
                self.template_path.stat().st_mtime,
                json.dumps(self.parameters, sort_keys=True),
                self.region,
            )
        )
        self.resolver = Resolver(
            template=self.transformed,
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
        self.adapt = adapt
        # The pipeline's clock: tests advance it (pause ends, grace periods, hold deadlines)
        # instead of sleeping; it starts at the wall clock.
        self.clock = LocalClock()
        self.console_sign_in = console_sign_in
        self.created: dict[str, str] = {}  # logical id of template.yaml -> its type
        self.skipped: dict[str, str] = {}  # logical id of template.yaml -> reason
        self.generated: dict[str, str] = {}  # logical id the transform added -> what became of it
        self.ignored_properties: dict[str, list[str]] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.state_machines: dict[str, str] = {}  # logical id -> ARN
        self.event_routes: list[EventRoute] = []
        self.environment: dict[str, str] = {}  # Globals.Function.Environment, resolved
        self._source_types = {
            lid: str((spec or {}).get("Type", "")) for lid, spec in self.template["Resources"].items()
        }
        self._declared: dict[str, Declared] = {}
        self._exits: ExitStack | None = None
        self._saved_environ: dict[str, str] | None = None
        self._sequencer = 0
        self._capture_queue_url: str | None = None
        self._captured: list[dict[str, Any]] = []
        self._deps_lock = threading.Lock()
        self._pipeline_deps: Deps | None = None
        # Step Functions status-change events delivered to the template's rules (and results).
        self.execution_deliveries: list[Delivery] = []
        self._api_deps: ApiDeps | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalAws:
        with _ACTIVE_LOCK:
            if _ACTIVE:
                raise LocalStackError("another LocalAws stack is active; moto's backends are global")
            _ACTIVE.append(self)
        self._exits = ExitStack()
        try:
            self._saved_environ = dict(os.environ)
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            os.environ["AWS_DEFAULT_REGION"] = self.region
            runtime.reset()  # boto3 clients of an earlier moto, settings of an earlier stack
            self._exits.enter_context(mock_aws(config=MOTO_CONFIG))
            self._build()
            self._apply_environment()
            routing.on_execution_ended(self.account_id, self.region, self._execution_ended)
            self._exits.enter_context(
                runtime.provided(
                    runtime.Provider(
                        pipeline=self.pipeline_deps,
                        api=self.api_deps,
                        console=None if self.console_sign_in is None else self._console_sign_in,
                    )
                )
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            # Executions the stack stops on its way out are not a sync's business.
            routing.on_execution_ended(self.account_id, self.region, None)
            if self._exits is not None:
                self._stop_running_executions()
        finally:
            for function in self.functions.values():
                routing.unregister(function.route)
            if self._exits is not None:
                self._exits.close()  # the adapters hook, then moto
                self._exits = None
            if self._saved_environ is not None:
                with routing.serialized():
                    os.environ.clear()
                    os.environ.update(self._saved_environ)
                self._saved_environ = None
            runtime.reset()
            with _ACTIVE_LOCK:
                if self in _ACTIVE:
                    _ACTIVE.remove(self)

    def _apply_environment(self) -> None:
        """Set every function's variables once, for the stack's lifetime (:func:`shared_environment`)."""
        environments = {
            logical_id: function.route.runtime_environment()
            for logical_id, function in self.functions.items()
        }
        os.environ.update(shared_environment(environments))
        os.environ.update(self.environment)

    # ------------------------------------------------------------------ composition root
    @property
    def settings(self) -> PipelineConfig:
        """The functions' settings (``Globals.Function.Environment``, resolved)."""
        return PipelineConfig.from_env(self.environment)

    def pipeline_deps(self) -> Deps:
        """The adapters the pipeline's steps get on this stack (built once, ``adapt`` applied)."""
        with self._deps_lock:
            if self._pipeline_deps is None:
                from rostersync.aws import build_deps

                deps = dataclasses.replace(build_deps(self.settings), clock=self.clock)
                self._pipeline_deps = self.adapt(deps) if self.adapt is not None else deps
            return self._pipeline_deps

    def _console_sign_in(self) -> SignIn:
        assert self.console_sign_in is not None
        return self.console_sign_in

    def api_deps(self) -> ApiDeps:
        """The adapters the release API's services get on this stack (built once)."""
        with self._deps_lock:
            if self._api_deps is None:
                from rostersync.api.deps import build_api_deps

                self._api_deps = build_api_deps(self.settings)
            return self._api_deps

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        role_arn = self.client("iam").create_role(
            RoleName=f"{self.stack_name}-local-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        for logical_id, spec in (self.transformed.get("Resources") or {}).items():
            spec = spec or {}
            self._declared[logical_id] = Declared(
                logical_id=logical_id,
                type=str(spec.get("Type", "")),
                properties=dict(spec.get("Properties") or {}),
                condition=spec.get("Condition"),
            )
        for logical_id, kind in self._source_types.items():
            if logical_id not in self._declared:  # e.g. layers: the transform renames them
                self.skipped[logical_id] = SKIPPED_TYPES.get(kind, f"the SAM transform replaced {kind}")
        self._assign_physical_ids()
        self.environment = self._globals_environment()
        creator = MotoCreator(self.client, self.region, self.root, role_arn)
        for kind in CFN_CREATED_TYPES:
            for declared in self._declared.values():
                if declared.type == kind and declared.physical is not None:
                    self._create(creator, declared)
        for declared in self._declared.values():
            if declared.physical is not None and declared.type not in CFN_CREATED_TYPES:
                reason = SKIPPED_TYPES.get(declared.type, f"{declared.type} has no local counterpart")
                self._record(declared, None, reason)
        self._verify_sender()
        self._start_event_capture()

    def _create(self, creator: MotoCreator, declared: Declared) -> None:
        props = self._properties(declared)
        kind = declared.type
        if kind == "AWS::Lambda::Function":
            self._create_function(creator, declared, props)
        elif kind == "AWS::StepFunctions::StateMachine":
            self.state_machines[declared.logical_id] = creator.create_state_machine(declared, props)
            self._record(
                declared,
                {"DefinitionS3Location", "DefinitionSubstitutions", "StateMachineName", "StateMachineType"},
            )
        elif kind == "AWS::Events::Rule":
            functions = {f.arn: lid for lid, f in self.functions.items()}
            routes = rule_routes(declared, props, functions)
            if routes:
                self.event_routes.extend(routes)
                self._record(declared, set(props), note=" (emulated route)")
            else:
                self._record(
                    declared, None, "rules without a function target or an event pattern are not emulated"
                )
        else:
            create = {
                "AWS::S3::Bucket": creator.create_bucket,
                "AWS::DynamoDB::Table": creator.create_table,
                "AWS::Events::EventBus": creator.create_event_bus,
                "AWS::SQS::Queue": creator.create_queue,
                "AWS::SNS::Topic": creator.create_topic,
            }[kind]
            self._record(declared, create(declared, props))

    def _create_function(self, creator: MotoCreator, declared: Declared, props: dict[str, Any]) -> None:
        spec = creator.create_function(declared, props)
        if spec is None:
            self._record(declared, None, "only local CodeUri folders with a Handler are routed")
            return
        folder = re.sub(r"\W", "_", spec.code_dir.name) or declared.logical_id.lower()
        route = routing.HandlerRoute(
            account_id=self.account_id,
            region=self.region,
            function_name=spec.name,
            function_arn=spec.arn,
            code_dir=spec.code_dir,
            handler=spec.handler,
            environment=spec.environment,
            module_name=f"rostersync_fn_{folder}",
            memory_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        routing.register(route)
        self.functions[declared.logical_id] = LocalFunction(
            declared.logical_id, spec.name, spec.arn, spec.code_dir, spec.handler, spec.environment, route
        )
        applied = {"Code", "Handler", "Runtime", "MemorySize", "Timeout", "Environment", "FunctionName"}
        self._record(declared, applied | {"Description", "EphemeralStorage"} & set(props))

    def _record(
        self, declared: Declared, applied: set[str] | None, reason: str = "", *, note: str = ""
    ) -> None:
        """Book what became of a resource: created (``applied`` properties) or skipped (``reason``)."""
        logical_id = declared.logical_id
        source_type = self._source_types.get(logical_id)
        if applied is not None:
            unused = ignored(declared.properties, applied)
            if unused:
                self.ignored_properties[logical_id] = unused
        if source_type is None:
            self.generated[logical_id] = f"{declared.type}{note}" if applied is not None else reason
        elif applied is not None:
            self.created[logical_id] = f"{source_type}{note}"
        else:
            self.skipped[logical_id] = reason

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
                        self._record(declared, None, f"condition {declared.condition} is false")
                        pending.pop(logical_id)
                        progressed = True
                        continue
                    physical[logical_id] = physical_resource(
                        declared, self._namer(declared), self.region, self.account_id
                    )
                except TemplateError:
                    continue  # a name that refers to a resource not named yet
                declared.physical = physical[logical_id]
                pending.pop(logical_id)
                progressed = True
            if not progressed:
                raise LocalStackError(f"cannot name resources (circular names?): {sorted(pending)}")

    def _namer(self, declared: Declared) -> Callable[[str, bool, int], str]:
        def name_of(key: str, lower: bool, limit: int) -> str:
            if key in declared.properties:
                return str(self.resolver.resolve(declared.properties[key]))
            return default_name(self.stack_name, declared.logical_id, self.suffix, lower=lower, limit=limit)

        return name_of

    def _properties(self, declared: Declared) -> dict[str, Any]:
        resolved = self.resolver.resolve(declared.properties)
        return resolved if isinstance(resolved, dict) else {}

    def _globals_environment(self) -> dict[str, str]:
        globals_function = ((self.template.get("Globals") or {}).get("Function")) or {}
        variables = ((globals_function.get("Environment") or {}).get("Variables")) or {}
        resolved = self.resolver.resolve(variables) or {}
        return {str(k): str(v) for k, v in resolved.items()}

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
        buses = [d.ref for d in self._declared.values() if d.type == "AWS::Events::EventBus" and d.physical]
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

    def _execution_ended(self, event: dict[str, Any]) -> None:
        """Deliver Step Functions' status-change event of an ended execution to the template's
        rules that match it, as EventBridge would (the execution's thread; kept in
        :attr:`execution_deliveries`). A handler error is kept, not raised into moto's thread."""
        try:
            delivery = self.deliver_matching(event)
        except Exception as exc:  # EventBridge would retry; locally the test reads the error
            delivery = Delivery(event=event, results={"error": f"{type(exc).__name__}: {exc}"})
        if delivery.results:
            self.execution_deliveries.append(delivery)

    # ------------------------------------------------------------------ outputs
    @property
    def outputs(self) -> dict[str, str]:
        """Physical id (what ``Ref`` gives) of every created resource of the template, by logical id."""
        return {lid: self._declared[lid].ref for lid in self.created}

    def env(self, name: str) -> str:
        """A variable of the functions' shared environment (``Globals.Function.Environment``)."""
        try:
            return self.environment[name]
        except KeyError:
            raise LocalStackError(f"{name} is not in Globals.Function.Environment of the template") from None
