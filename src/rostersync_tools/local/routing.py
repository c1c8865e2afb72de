"""The one seam the local stack patches in moto: ``lambda:invoke`` runs our handlers in-process.

Why: moto (pinned to exactly 5.2.5 in pyproject.toml) runs a state machine's ``lambda:invoke``
tasks by calling the Lambda API, and with ``{"lambda": {"use_docker": False}}`` that API is served
by ``moto.awslambda_simple.models.LambdaSimpleBackend``, whose ``invoke`` only echoes the payload
(or pops a canned result); moto has no public hook to run Python code instead. This is the only
place the local run patches anything: the project's own classes are never patched (the local
stack hands its adapters to the functions through ``rostersync.runtime.provided``), and the
environment is set once per stack, not per call. What: :func:`install` replaces
``LambdaSimpleBackend.invoke`` (signature ``(self, function_name, qualifier, body, headers,
response_headers) -> bytes``) with :func:`_routed_invoke`. For a function registered with
:func:`register` (the local stack registers every ``AWS::Serverless::Function`` of the template)
it imports ``<CodeUri>/<module>.py`` under a unique module name, calls the handler with a
:class:`LambdaContext`, and returns the JSON result; an exception becomes the Lambda runtime's
error payload (``errorMessage``/``errorType``/``stackTrace``) with the ``X-Amz-Function-Error:
Unhandled`` header, so the state machine's ``Retry``/``Catch`` see it as on AWS. Any other
function falls through to moto's own ``invoke``. Handler calls are serialised with one re-entrant
lock: moto runs each execution in its own thread, and on Lambda each invocation has a sandbox of
its own, so handlers (and moto's backends behind them) are not written for concurrent calls.
``tests/unit/test_local_routing.py`` fails if a moto upgrade stops the calls reaching handlers.

The second seam: moto's Step Functions puts no "Step Functions Execution Status Change" event on
EventBridge when an execution ends, and the template routes FAILED, TIMED_OUT and ABORTED ones to
a function. :func:`install` also wraps ``BaseExecutionWorkerCommunication.terminated`` (called in
the execution's thread once its program has ended, after the status is set) so that every
listener added with :func:`on_execution_ended` gets the event AWS documents for it
(:func:`execution_status_event`); the local stack delivers it to the template's rules. And
moto's StopExecution marks the program stopped but leaves a ``waitForTaskToken`` task waiting
for its callback (up to the task's timeout: a held sync's hold expiry), where AWS ends the
execution at once: ``Execution.stop`` is wrapped to interrupt the execution's open callbacks too.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import moto
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

MOTO_VERSION_WRITTEN_AGAINST = "5.2.5"
_EXPECTED_INVOKE_PARAMETERS = ["self", "function_name", "qualifier", "body", "headers", "response_headers"]

# One lock for every routed call (see the module docstring).
_CALL_LOCK = threading.RLock()
_STATE_LOCK = threading.Lock()
_ROUTES: dict[tuple[str, str, str], HandlerRoute] = {}
_ORIGINAL_INVOKE: Callable[..., Any] | None = None
_ORIGINAL_TERMINATED: Callable[..., Any] | None = None
_ORIGINAL_STOP: Callable[..., Any] | None = None
ExecutionListener = Callable[[dict[str, Any]], None]
_EXECUTION_LISTENERS: dict[tuple[str, str], ExecutionListener] = {}


class RoutingError(RuntimeError):
    """The moto patch cannot be installed (moto changed) or a route is inconsistent."""


@dataclass
class LambdaContext:
    """The context object the Lambda Python runtime passes to a handler."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One routed call, kept for tests: the event, the result or the error payload."""

    request_id: str
    event: Any
    result: Any = None
    error: Mapping[str, Any] | None = None
    seconds: float = 0.0


@dataclass
class HandlerRoute:
    """A function of the local stack and where its handler lives."""

    account_id: str
    region: str
    function_name: str
    function_arn: str
    code_dir: Path
    handler: str  # "app.lambda_handler"
    environment: Mapping[str, str]
    module_name: str
    memory_mb: int = 128
    timeout_seconds: int = 3
    invocations: list[Invocation] = field(default_factory=list)
    closed: bool = False
    _module: ModuleType | None = field(default=None, repr=False)

    @property
    def module_path(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir.joinpath(*module.split(".")).with_suffix(".py")

    def load(self) -> ModuleType:
        """Import the handler module (once per route) under its unique module name."""
        if self._module is None:
            with _CALL_LOCK:
                self._module = _import_file(self.module_name, self.module_path)
        return self._module

    def runtime_environment(self) -> dict[str, str]:
        """The function's variables plus the region the Lambda runtime sets (what identifies the
        function, its name and memory, comes with the :class:`LambdaContext`)."""
        return {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, **self.environment}

    def call(self, event: Any) -> tuple[Any, dict[str, Any] | None, str]:
        """Run the handler: (result, None, request id) or (None, Lambda error payload, request id)."""
        with _CALL_LOCK:
            # Made inside the lock: the invocation's clock starts when its handler can run.
            context = LambdaContext(
                function_name=self.function_name,
                invoked_function_arn=self.function_arn,
                memory_limit_in_mb=self.memory_mb,
                timeout_seconds=self.timeout_seconds,
            )
            if self.closed:  # an execution thread that outlived its stack: never run the handler
                error = {
                    "errorMessage": f"the local stack of {self.function_name} is closed",
                    "errorType": "Runtime.StackClosed",
                    "requestId": context.aws_request_id,
                    "stackTrace": [],
                }
                return self._record(context, event, None, error)
            try:
                module = self.load()
            except Exception as exc:  # the runtime reports import failures per invocation
                error = _error_payload(exc, context.aws_request_id)
                error["errorType"] = "Runtime.ImportModuleError"
                error["errorMessage"] = f"Unable to import module '{self.module_name}': {exc}"
                return self._record(context, event, None, error)
            function_name = self.handler.rpartition(".")[2]
            handler = getattr(module, function_name, None)
            if not callable(handler):
                error = {
                    "errorMessage": f"Handler '{function_name}' missing on module '{self.module_name}'",
                    "errorType": "Runtime.HandlerNotFound",
                    "requestId": context.aws_request_id,
                    "stackTrace": [],
                }
                return self._record(context, event, None, error)
            try:
                result = handler(event, context)
            except Exception as exc:
                return self._record(context, event, None, _error_payload(exc, context.aws_request_id))
            try:
                json.dumps(result)
            except (TypeError, ValueError) as exc:
                error = _error_payload(exc, context.aws_request_id)
                error["errorType"] = "Runtime.MarshalError"
                return self._record(context, event, None, error)
            return self._record(context, event, result, None)

    def _record(
        self, context: LambdaContext, event: Any, result: Any, error: dict[str, Any] | None
    ) -> tuple[Any, dict[str, Any] | None, str]:
        elapsed = time.monotonic() - context._started
        self.invocations.append(Invocation(context.aws_request_id, event, result, error, elapsed))
        return result, error, context.aws_request_id


def _error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    # Drop the frames of this module: Lambda's stackTrace starts in the function's code.
    frames = traceback.format_list(
        [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    )
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": frames,
    }


def _import_file(module_name: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise FileNotFoundError(f"handler module {path} does not exist")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before exec so pydantic and dataclasses can resolve the module's own names.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def bare_function_name(function_name: str) -> str:
    """The function name from a name, ``name:qualifier``, a partial ARN or a full ARN."""
    if function_name.startswith("arn:"):
        return function_name.split(":")[6]
    if ":function:" in function_name:  # "123456789012:function:name[:qualifier]"
        return function_name.split(":")[2]
    return function_name.split(":")[0]


def _routed_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    route = _ROUTES.get((self.account_id, self.region_name, bare_function_name(function_name)))
    if route is None:
        assert _ORIGINAL_INVOKE is not None
        result: str | bytes | None = _ORIGINAL_INVOKE(
            self, function_name, qualifier, body, headers, response_headers
        )
        return result
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = json.loads(body) if body else {}
    result, error, request_id = route.call(event)
    response_headers["x-amzn-RequestId"] = request_id
    if error is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(error).encode("utf-8")
    else:
        payload = json.dumps(result).encode("utf-8")
    invocation_type = (headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "Event":
        # An asynchronous invoke returns 202 and no payload (the handler already ran here).
        payload = b""
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def execution_status_event(execution: Any) -> dict[str, Any]:
    """The EventBridge event Step Functions puts on the default bus when ``execution`` (moto's
    parser ``Execution``) changed status, in the shape AWS documents."""
    status = execution.exec_status.value
    error = execution.error if isinstance(execution.error, str) and execution.error else None
    cause = execution.cause if isinstance(execution.cause, str) and execution.cause else None
    stop = execution.stop_date
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": execution.account_id,
        "time": (stop or execution.start_date).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": status,
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(stop),
            "input": json.dumps(execution.input_data),
            "inputDetails": {"included": True},
            "output": None,
            "outputDetails": None,
            "error": error,
            "cause": cause,
        },
    }


def _terminated(self: BaseExecutionWorkerCommunication) -> None:
    assert _ORIGINAL_TERMINATED is not None
    _ORIGINAL_TERMINATED(self)
    execution = self.execution
    stopped = getattr(execution, "_local_stopped", None)
    if stopped is not None:
        # The interrupted callback fails the task once the program is stopped, and moto then
        # reports FAILED (States.Timeout); AWS reports what happened: ABORTED.
        execution.exec_status = ExecutionStatus.ABORTED
        execution.error, execution.cause = stopped
    listener = _EXECUTION_LISTENERS.get((execution.account_id, execution.region_name))
    if listener is not None:
        listener(execution_status_event(execution))


def on_execution_ended(account_id: str, region: str, listener: ExecutionListener | None) -> None:
    """Call ``listener`` with the status-change event of every execution of that account and
    region once it has ended (None removes it). Installs the routing."""
    install()
    with _STATE_LOCK:
        if listener is None:
            _EXECUTION_LISTENERS.pop((account_id, region), None)
        else:
            _EXECUTION_LISTENERS[(account_id, region)] = listener


def _stop(self: Execution, stop_date: Any, error: str | None, cause: str | None) -> None:
    assert _ORIGINAL_STOP is not None
    self._local_stopped = (error, cause)  # type: ignore[attr-defined]
    _ORIGINAL_STOP(self, stop_date, error, cause)
    worker = self.exec_worker
    pool = getattr(getattr(getattr(worker, "env", None), "callback_pool_manager", None), "_pool", None)
    for endpoint in list((pool or {}).values()):
        endpoint.interrupt_all()


def _install_terminated() -> None:
    global _ORIGINAL_TERMINATED, _ORIGINAL_STOP
    stop = Execution.__dict__.get("stop")
    if stop is None or list(inspect.signature(stop).parameters) != ["self", "stop_date", "error", "cause"]:
        raise RoutingError(
            f"moto {moto.__version__}: Execution.stop(self, stop_date, error, cause) is gone "
            f"(written against {MOTO_VERSION_WRITTEN_AGAINST}); the local routing needs updating"
        )
    _ORIGINAL_STOP = stop
    Execution.stop = _stop  # type: ignore[method-assign]
    original = BaseExecutionWorkerCommunication.__dict__.get("terminated")
    if original is None or list(inspect.signature(original).parameters) != ["self"]:
        raise RoutingError(
            f"moto {moto.__version__}: BaseExecutionWorkerCommunication.terminated(self) is gone "
            f"(written against {MOTO_VERSION_WRITTEN_AGAINST}); the local routing needs updating"
        )
    _ORIGINAL_TERMINATED = original
    BaseExecutionWorkerCommunication.terminated = _terminated  # type: ignore[method-assign]


def install() -> None:
    """Patch moto's simple Lambda backend (idempotent); RoutingError if moto changed shape."""
    global _ORIGINAL_INVOKE
    with _STATE_LOCK:
        if _ORIGINAL_INVOKE is not None:
            return
        original = LambdaSimpleBackend.__dict__.get("invoke")
        if original is None:
            raise RoutingError(
                f"moto {moto.__version__}: LambdaSimpleBackend no longer defines invoke "
                f"(written against {MOTO_VERSION_WRITTEN_AGAINST}); the local routing needs updating"
            )
        parameters = list(inspect.signature(original).parameters)
        if parameters != _EXPECTED_INVOKE_PARAMETERS:
            raise RoutingError(
                f"moto {moto.__version__}: LambdaSimpleBackend.invoke{tuple(parameters)} differs from "
                f"the {MOTO_VERSION_WRITTEN_AGAINST} signature the local routing was written against"
            )
        _install_terminated()
        _ORIGINAL_INVOKE = original
        LambdaSimpleBackend.invoke = _routed_invoke  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own invoke (when no routes are left)."""
    global _ORIGINAL_INVOKE, _ORIGINAL_TERMINATED, _ORIGINAL_STOP
    with _STATE_LOCK:
        if _ORIGINAL_INVOKE is None or _ROUTES or _EXECUTION_LISTENERS:
            return
        LambdaSimpleBackend.invoke = _ORIGINAL_INVOKE  # type: ignore[method-assign]
        _ORIGINAL_INVOKE = None
        if _ORIGINAL_TERMINATED is not None:
            BaseExecutionWorkerCommunication.terminated = _ORIGINAL_TERMINATED  # type: ignore[method-assign]
            _ORIGINAL_TERMINATED = None
        if _ORIGINAL_STOP is not None:
            Execution.stop = _ORIGINAL_STOP  # type: ignore[method-assign]
            _ORIGINAL_STOP = None


def is_installed() -> bool:
    return LambdaSimpleBackend.__dict__.get("invoke") is _routed_invoke


def register(route: HandlerRoute) -> None:
    install()
    key = (route.account_id, route.region, route.function_name)
    with _STATE_LOCK:
        if key in _ROUTES and _ROUTES[key] is not route:
            raise RoutingError(f"function {route.function_name} is already routed by another stack")
        _ROUTES[key] = route


def unregister(route: HandlerRoute) -> None:
    with _CALL_LOCK, _STATE_LOCK:
        route.closed = True
        _ROUTES.pop((route.account_id, route.region, route.function_name), None)
        sys.modules.pop(route.module_name, None)
    uninstall()


@contextmanager
def serialized() -> Iterator[None]:
    """Hold the handler lock: for code that calls the pipeline package directly while executions
    run (a test taking a decision, the serve watcher), so it never interleaves with a handler."""
    with _CALL_LOCK:
        yield
