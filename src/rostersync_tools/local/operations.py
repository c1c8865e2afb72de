"""What a test or the local product does with a running local stack: upload, deliver, inspect.

:class:`StackOperations` is the part of :class:`~rostersync_tools.local.stack.LocalAws` that works
on a stack already built: put files into the raw bucket's inbox and deliver S3's "Object Created"
event as EventBridge would (to the functions the template's rules route it to), invoke a
function through moto's Lambda API, follow the state machine's executions and histories, read
the table's records, and read what the functions sent (SES emails, events on the stack's buses).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer

from rostersync_tools.local.resources import EventRoute, LocalStackError, bus_name
from rostersync_tools.local.routing import serialized

TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_T = TypeVar("_T")
_DESERIALIZER = TypeDeserializer()


class InvocationError(LocalStackError):
    """A function invoked by a helper returned a Lambda error payload."""

    def __init__(self, function: str, payload: Mapping[str, Any]) -> None:
        super().__init__(f"{function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = dict(payload)


class LocalClock:
    """The pipeline's clock on the local stack: the wall clock plus an offset a test advances.

    S3 object times and Step Functions keep real time, so the clock moves forward from "now"
    rather than being fixed: an upload made after :meth:`advance` is still newer than one before.
    """

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock ``delta`` forward; the new time."""
        with self._lock:
            self._offset += delta
        return self()


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


class StackOperations:
    """Operations on a built stack; :class:`~rostersync_tools.local.stack.LocalAws` supplies the
    attributes declared here."""

    region: str
    account_id: str
    functions: Mapping[str, Any]  # logical id -> LocalFunction
    event_routes: list[EventRoute]
    state_machines: dict[str, str]
    _sequencer: int
    _capture_queue_url: str | None
    _captured: list[dict[str, Any]]

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the local stack."""
        return boto3.client(service, region_name=self.region)

    def env(self, name: str) -> str:  # pragma: no cover - LocalAws defines it
        raise NotImplementedError

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
        on_bus = [r for r in self.event_routes if r.event_bus_name == bus_name(event_bus_name)]
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

    def deliver_matching(self, event: Mapping[str, Any], *, event_bus_name: str = "default") -> Delivery:
        """Invoke the functions whose template rules match ``event``; none matching is no error
        (e.g. a SUCCEEDED status change, which no rule selects)."""
        event = dict(event)
        targets = [
            r.function_logical_id
            for r in self.event_routes
            if r.event_bus_name == bus_name(event_bus_name) and r.matches(event)
        ]
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

    def tick(self, scheduled_time: datetime | None = None) -> dict[str, Any]:
        """Run the scheduled tick once (``TickFunction``, as ``TickSchedule`` invokes it on AWS)."""
        when = scheduled_time or datetime.now(UTC)
        result: dict[str, Any] = self.invoke(
            "TickFunction",
            {"source": "rostersync.tick", "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        return result

    def upload_and_deliver(self, district_id: str, files: Mapping[str, bytes]) -> list[Delivery]:
        """Upload ``files`` and deliver one Object Created event per file, in upload order."""
        bucket = self.env("RAW_BUCKET")
        keys = self.upload_files(district_id, files)
        # S3 describes each object when it is created: a sync started by an earlier event may
        # take (archive) the set before a later event is delivered.
        events = [self.object_created_event(bucket, key) for key in keys]
        return [self.deliver_event(event) for event in events]

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
        """One item of the stack's table (``TABLE_NAME``) as plain Python values.

        Read under the handler lock: moto's DynamoDB serialises an item by iterating its dict, and a
        handler thread writing the same item meanwhile made it raise "dictionary changed size"."""
        with serialized():
            response = self.client("dynamodb").get_item(
                TableName=self.env("TABLE_NAME"), Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
            )
        item = response.get("Item")
        return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()} if item else None

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


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


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
