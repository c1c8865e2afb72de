"""The fault matrix (issue 12 item 9, docs/reliability.md), on the local stack.

Each case injects one kind of fault into a sync run by the real state machine and then checks the
same invariants: exactly one accepted version per applied sync, at most one
``RosterChangesApplied`` per version, one email per fact (no subject twice), no partial apply
(the accepted version holds the whole upload), the raw files kept, and a sync status that says
why. Faults are injected on the real boto3 clients the functions share (botocore event hooks:
``before-send`` answers a throttling error that botocore's own retry then sees, ``before-call``
raises as a crashed invocation would), by delivering events or invoking steps twice, and by racing
uploads; never by replacing project code.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from rostersync.aws import clients
from rostersync.pipeline.decisions import DecisionError
from rostersync_tools.local import InvocationError, LocalAws
from tests.support.faults import service_error

from .conftest import (
    ROOT,
    DistrictData,
    accepted,
    accepted_version,
    awaiting_decision,
    decide,
    district_settings,
    lock_item,
    processing_sync,
    put_settings,
    raw_keys,
    student_ids,
    sync_set,
    upload,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"
ENDED = {"applied", "failed", "held", "superseded", "rejected"}


# ------------------------------------------------------------------------------- invariants


def assert_invariants(
    stack: LocalAws,
    data: DistrictData,
    district_id: str,
    version: int,
    processed: list[str],
    *,
    events_per_version: int = 1,
    emails_per_subject: int = 1,
) -> None:
    """What every case must leave behind once its syncs have ended (``processed``: the syncs
    that took a file set, whose raw files must be archived whole). A lost response is the one
    fault that delivers a fact twice (at least once, docs/reliability.md): those cases say how
    many deliveries they expect, and each is the same fact (one ``event_id``)."""
    assert accepted_version(stack, district_id) == version
    applied = Counter(
        (e["detail"]["version"], e["detail"]["event_id"])
        for e in stack.captured_events("RosterChangesApplied")
        if e["detail"]["district_id"] == district_id
    )
    assert len({v for v, _ in applied}) == len(applied), f"two event ids for one version: {applied}"
    assert [n for n in applied.values() if n != events_per_version] == [], f"deliveries: {applied}"
    subjects = Counter(m.subject for m in stack.sent_emails())
    assert [s for s, n in subjects.items() if n != emails_per_subject] == [], f"emails: {subjects}"
    for sync_id in processed:
        kept = raw_keys(stack, f"archive/{district_id}/{sync_id}/")
        assert kept == sorted(f"archive/{district_id}/{sync_id}/{n}" for n in data.day1), "raw files lost"
    assert lock_item(stack, district_id) is None


def assert_whole_upload(stack: LocalAws, data: DistrictData, district_id: str, version: int) -> None:
    """No partial apply: every school of the upload is in the accepted version as uploaded."""
    roster = accepted(stack, district_id, version)
    for school in data.schools:
        assert student_ids(roster, school) == student_ids(data.district, school)


def _day1(stack: LocalAws, data: DistrictData, district_id: str = D) -> dict[str, Any]:
    put_settings(stack, district_settings(district_id))
    record = sync_set(stack, district_id, data.day1, ENDED)
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    final = stack.sync_record(district_id, str(record["sync_id"]))
    assert final is not None
    return final


def _applied_emails(stack: LocalAws, sync_id: str) -> list[str]:
    return [str(m.subject) for m in stack.sent_emails() if str(m.subject).endswith(f"{sync_id} applied")]


# ------------------------------------------------------------------------- (1) duplicate events


def test_duplicate_object_created_events_apply_one_version(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    keys = stack.upload_files(D, data.day1)
    first = stack.deliver_object_created(stack.env("RAW_BUCKET"), keys[-1])

    again = stack.deliver_event(first.event)
    twice = stack.deliver_event(first.event)

    sync_id = first.results["IngestFunction"]["sync_id"]
    assert {again.results["IngestFunction"]["sync_id"], twice.results["IngestFunction"]["sync_id"]} == {
        sync_id
    }
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert [e["name"] for e in stack.executions(f"{D}-")] == [sync_id]
    record = stack.sync_record(D, sync_id)
    assert record is not None and (record["status"], record["delivery"]) == ("applied", "delivered")
    assert_invariants(stack, data, D, 1, [sync_id])
    assert_whole_upload(stack, data, D, 1)
    assert len(_applied_emails(stack, sync_id)) == 1


@pytest.mark.parametrize("when", ["before-call", "after-call"])
def test_an_arrival_killed_around_its_start_is_redelivered_and_applies_once(
    stack: LocalAws, data: DistrictData, when: str
) -> None:
    # The arrival function is invoked by EventBridge (asynchronously): an invocation that dies is
    # retried by delivering the same event again. "after-call": the execution was started and
    # the invocation died before it created the sync record.
    put_settings(stack, district_settings(D))
    keys = stack.upload_files(D, data.day1)
    event = stack.object_created_event(stack.env("RAW_BUCKET"), keys[-1])
    with crash_once("stepfunctions", "StartExecution", when) as hook, pytest.raises(InvocationError):
        stack.deliver_event(event)

    again = stack.deliver_event(event)

    sync_id = again.results["IngestFunction"]["sync_id"]
    assert hook.crashed == 1
    assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    assert [e["name"] for e in stack.executions(f"{D}-")] == [sync_id]
    record = stack.sync_record(D, sync_id)
    assert record is not None and (record["status"], record["delivery"], record["versions"]) == (
        "applied",
        "delivered",
        [1],
    )
    assert_invariants(stack, data, D, 1, [sync_id])
    assert_whole_upload(stack, data, D, 1)
    assert len(_applied_emails(stack, sync_id)) == 1


# ------------------------------------------------------------------------ (2) replayed steps


def _step_inputs(stack: LocalAws, sync_id: str, step: str) -> list[dict[str, Any]]:
    """The payloads the state machine gave its tasks of ``step`` (from the execution history)."""
    parameters = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])
        for e in stack.history(sync_id, "TaskScheduled")
    ]
    return [p["Payload"] for p in parameters if p["Payload"].get("step") == step]


@pytest.mark.parametrize(("function", "step"), [("DiffFunction", "apply"), ("HoldsFunction", "notify")])
def test_a_replayed_step_changes_nothing(
    stack: LocalAws, data: DistrictData, function: str, step: str
) -> None:
    record = _day1(stack, data)
    sync_id = str(record["sync_id"])
    payloads = _step_inputs(stack, sync_id, step)
    assert len(payloads) == 1, payloads

    stack.invoke(function, payloads[0])

    after = stack.sync_record(D, sync_id)
    assert after is not None and (after["status"], after["delivery"]) == ("applied", "delivered")
    assert after["versions"] == [1]
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1]
    assert len(_applied_emails(stack, sync_id)) == 1
    assert_invariants(stack, data, D, 1, [sync_id])


# ------------------------------------------------------------------------------ (3) throttling


THROTTLED = {
    "s3": (
        503,
        {},
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    ),
    "dynamodb": (
        400,
        {"x-amzn-ErrorType": "ThrottlingException"},
        json.dumps(
            {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}
        ).encode(),
    ),
}


class Throttle:
    """Answer the first request of every operation of a service with its throttling error.

    The response goes through botocore's retry handler (standard mode, the functions' config),
    as a real SlowDown / ThrottlingException would; the moto answer follows on the retry."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.seen: set[str] = set()
        self.injected = 0

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation in self.seen:
            return None
        self.seen.add(operation)
        self.injected += 1
        status, headers, body = THROTTLED[self.service]
        return service_error(request, status, headers, body)


@pytest.fixture
def throttle(stack: LocalAws) -> Iterator[Callable[[str], Throttle]]:
    installed: list[tuple[Any, Throttle]] = []

    def install(service: str) -> Throttle:
        hook = Throttle(service)
        events = clients.client(service).meta.events
        events.register_first(f"before-send.{service}", hook)
        installed.append((events, hook))
        return hook

    yield install
    for events, hook in installed:
        events.unregister(f"before-send.{hook.service}", hook)


@pytest.mark.parametrize("services", [("s3",), ("dynamodb",), ("s3", "dynamodb")])
def test_throttling_is_retried_and_the_sync_applies_once(
    stack: LocalAws, data: DistrictData, throttle: Callable[[str], Throttle], services: tuple[str, ...]
) -> None:
    hooks = [throttle(service) for service in services]

    record = _day1(stack, data)

    assert all(hook.injected >= 3 for hook in hooks), [hook.seen for hook in hooks]
    assert (record["status"], record["delivery"]) == ("applied", "delivered")
    assert_invariants(stack, data, D, 1, [str(record["sync_id"])])
    assert_whole_upload(stack, data, D, 1)
    assert len(_applied_emails(stack, str(record["sync_id"]))) == 1


# ------------------------------------------------------------------- (4) crashes
# Every step killed before and after its side effect (apply's promotion and notify's event
# included) is test_fault_matrix_crashes.py; notify's email and the lost responses are below.


# ----------------------------------------------------------------------------------- (5) races


def test_two_uploads_racing_for_one_district_apply_one_version(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    first, second = data.day1, data.files(data.without_students_of(data.schools[2], fraction=0.01), "race-b")

    with ThreadPoolExecutor(2) as pool:
        first_ids, second_ids = pool.map(lambda files: upload(stack, D, files), [first, second])

    syncs = [*first_ids, *second_ids]
    for sync_id in syncs:
        assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
    statuses = {s: (stack.sync_record(D, s) or {}).get("status") for s in syncs}
    applied = [s for s, status in statuses.items() if status == "applied"]
    assert 1 <= len(applied) <= 2, statuses
    assert set(statuses.values()) <= {"applied", "coalesced", "superseded"}, statuses
    versions = [v for s in applied for v in (stack.sync_record(D, s) or {}).get("versions", [])]
    assert sorted(versions) == list(range(1, len(applied) + 1))
    assert_invariants(stack, data, D, len(applied), applied)


def test_two_districts_at_once_each_apply_their_own_version(stack: LocalAws, data: DistrictData) -> None:
    for district in ("d1", "d2"):
        put_settings(stack, district_settings(district))
    files = data.day1  # written once: the threads only upload it

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda d: processing_sync(stack, d, upload(stack, d, files)), ["d1", "d2"]))

    for district, sync_id in zip(("d1", "d2"), ids, strict=True):
        assert wait_ended(stack, sync_id)["status"] == "SUCCEEDED"
        record = stack.sync_record(district, sync_id)
        assert record is not None and record["status"] == "applied", (record or {}).get("holds")
        assert_invariants(stack, data, district, 1, [sync_id])
        assert_whole_upload(stack, data, district, 1)
        assert len(_applied_emails(stack, sync_id)) == 1


# -------------------------------------------------------------------- (6) late decision


def test_a_decision_on_a_superseded_sync_is_refused_and_changes_nothing(
    stack: LocalAws, data: DistrictData
) -> None:
    put_settings(stack, district_settings(D))
    sync_set(stack, D, data.day1, ENDED)
    day2 = data.files(data.without_students_of(data.schools[0]), "late-day2")
    held = sync_set(stack, D, day2, ENDED)
    assert held["status"] == "held", held
    held_id = str(held["sync_id"])
    awaiting_decision(stack, D, held_id)
    fixed = data.files(data.without_students_of(data.schools[2], fraction=0.01), "late-fixed")
    newer = processing_sync(stack, D, upload(stack, D, fixed))
    assert wait_ended(stack, held_id)["status"] == "SUCCEEDED"
    assert wait_ended(stack, newer)["status"] == "SUCCEEDED"

    with pytest.raises(DecisionError) as refused:
        decide(stack, D, held_id, "release")

    assert "superseded" in str(refused.value)
    record = stack.sync_record(D, held_id)
    assert record is not None and record["status"] == "superseded"
    assert accepted_version(stack, D) == 2
    assert_invariants(stack, data, D, 2, [newer])


def test_a_decision_delivered_twice_applies_once(stack: LocalAws, data: DistrictData) -> None:
    put_settings(stack, district_settings(D))
    sync_set(stack, D, data.day1, ENDED)
    day2 = data.files(data.without_students_of(data.schools[0]), "twice-day2")
    held = sync_set(stack, D, day2, ENDED)
    assert held["status"] == "held", held
    held_id = str(held["sync_id"])
    awaiting_decision(stack, D, held_id)

    decide(stack, D, held_id, "release")
    with pytest.raises(DecisionError) as again:
        decide(stack, D, held_id, "release")

    assert "already" in str(again.value)
    assert wait_ended(stack, held_id)["status"] == "SUCCEEDED"
    record = stack.sync_record(D, held_id)
    assert record is not None and (record["status"], record["delivery"], record["versions"]) == (
        "applied",
        "delivered",
        [2],
    )
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1, 2]
    assert len(_applied_emails(stack, held_id)) == 1
    assert_invariants(stack, data, D, 2, [held_id])


@pytest.mark.parametrize("when", ["before-call", "after-call"])
def test_a_release_killed_around_its_callback_is_taken_again_and_applies_once(
    stack: LocalAws, data: DistrictData, when: str
) -> None:
    # The API's invocation decides the token, then calls SendTaskSuccess. "before-call": it dies
    # before the callback, so the execution still waits on a decided token; "after-call": the
    # callback went through and the response was lost. Either way the admin sends the release
    # again: it resumes the sync (before), or it is sent again to a task that has completed
    # (after: Step Functions refuses it as TaskTimedOut, which is "already decided"; moto accepts
    # it and the execution, past that task, ignores it). The sync applies once either way.
    put_settings(stack, district_settings(D))
    sync_set(stack, D, data.day1, ENDED)
    held = sync_set(stack, D, data.files(data.without_students_of(data.schools[0]), "callback-day2"), ENDED)
    assert held["status"] == "held", held
    held_id = str(held["sync_id"])
    awaiting_decision(stack, D, held_id)
    with crash_once("stepfunctions", "SendTaskSuccess", when) as hook, pytest.raises(RuntimeError):
        decide(stack, D, held_id, "release")

    try:
        decide(stack, D, held_id, "release")
    except DecisionError as refused:
        assert when == "after-call" and "already decided" in str(refused)

    assert hook.crashed == 1
    assert wait_ended(stack, held_id)["status"] == "SUCCEEDED"
    record = stack.sync_record(D, held_id)
    assert record is not None and (record["status"], record["delivery"], record["versions"]) == (
        "applied",
        "delivered",
        [2],
    )
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1, 2]
    assert len(_applied_emails(stack, held_id)) == 1
    assert_invariants(stack, data, D, 2, [held_id])


# ------------------------------------------------------- (4b) notify crashes around its effects


class CrashOnce:
    """The invocation dies once, just before or just after the request of one side effect."""

    def __init__(self) -> None:
        self.crashed = 0

    def __call__(self, **_: Any) -> None:
        if self.crashed == 0:
            self.crashed += 1
            raise RuntimeError("the invocation was killed")


@contextmanager
def crash_once(service: str, operation: str, when: str) -> Iterator[CrashOnce]:
    """``when`` "before-call": the request is never sent; "after-call": the service accepted it
    and the response is lost (the invocation dies before it reads it)."""
    hook = CrashOnce()
    events = clients.client(service).meta.events
    event_name = f"{when}.{service}.{operation}"
    events.register(event_name, hook)
    try:
        yield hook
    finally:
        events.unregister(event_name, hook)


def test_a_notify_crash_before_its_email_sends_it_once(stack: LocalAws, data: DistrictData) -> None:
    with crash_once("ses", "SendEmail", "before-call") as hook:
        record = _day1(stack, data)

    sync_id = str(record["sync_id"])
    assert hook.crashed == 1
    assert (record["status"], record["delivery"]) == ("applied", "delivered"), record.get("delivery_error")
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1]
    assert len(_applied_emails(stack, sync_id)) == 1
    assert_invariants(stack, data, D, 1, [sync_id])


@pytest.fixture(scope="module")
def consumer() -> ModuleType:
    """examples/sqlite_consumer.py, the example consumer of the feed."""
    spec = importlib.util.spec_from_file_location("sqlite_consumer", ROOT / "examples" / "sqlite_consumer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_lost_putevents_response_redelivers_the_same_event_and_the_consumer_applies_it_once(
    stack: LocalAws, data: DistrictData, consumer: ModuleType, tmp_path: Path
) -> None:
    # Delivery is at least once (docs/events.md): a PutEvents whose response is lost counts as
    # not sent, so Notify's retry puts the event again, with the same detail and event_id.
    with crash_once("events", "PutEvents", "after-call") as hook:
        record = _day1(stack, data)

    sync_id = str(record["sync_id"])
    assert hook.crashed == 1
    assert (record["status"], record["delivery"]) == ("applied", "delivered")
    first, again = stack.captured_events("RosterChangesApplied")
    assert first["detail"] == again["detail"] and first["detail"]["event_id"] == f"{sync_id}-v1"
    assert first["id"] != again["id"]  # EventBridge's envelope id is per put: never dedupe on it
    source = f"s3://{stack.env('SNAPSHOT_BUCKET')}"
    with sqlite3.connect(tmp_path / "roster.db") as db:
        assert [consumer.handle_event(db, e, source) for e in (first, again)] == [[1], []]
        assert consumer.applied_version(db, D) == 1
    assert len(_applied_emails(stack, sync_id)) == 1
    assert_invariants(stack, data, D, 1, [sync_id], events_per_version=2)


def test_a_lost_sendemail_response_sends_the_same_email_again(stack: LocalAws, data: DistrictData) -> None:
    # SES has no idempotency token: a SendEmail whose response is lost counts as not sent
    # (Powertools deletes the in-progress record on the error), and Notify's retry sends it again.
    with crash_once("ses", "SendEmail", "after-call") as hook:
        record = _day1(stack, data)

    sync_id = str(record["sync_id"])
    assert hook.crashed == 1
    assert (record["status"], record["delivery"]) == ("applied", "delivered")
    applied = [m for m in stack.sent_emails() if str(m.subject).endswith(f"{sync_id} applied")]
    assert len(applied) == 2 and applied[0] == applied[1]  # the same email, word for word
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1]
    assert_invariants(stack, data, D, 1, [sync_id], emails_per_subject=2)
