"""The fault matrix, scheduled work (issue 12 item 9, docs/reliability.md): the tick and a
scheduled pull's event delivered twice for the same time, and a Secrets Manager outage during a
scheduled pull. One stack for the file (each case its own district); the Clever source is the
local fake (tests/support/clever_server.py), its credentials a secret in (moto's) Secrets Manager.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rostersync.aws import clients
from rostersync.sources import CleverSource
from rostersync_tools.local import LocalAws
from tests.support.clever_server import FakeClever
from tests.support.data import clever_district
from tests.support.faults import When, pinned_crash, service_error

from .conftest import (
    FAST,
    TEMPLATE,
    TIMEOUT,
    DistrictData,
    accepted_version,
    district_settings,
    lock_item,
    put_settings,
    raw_keys,
    wait_ended,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalAws]:
    stack = LocalAws(TEMPLATE, parameters=FAST, stack_name="schedules")
    with stack:
        yield stack


@pytest.fixture
def clever() -> Iterator[FakeClever]:
    data = clever_district()
    with FakeClever(district=data["district"], data=data["data"], users=data["users"], lifetime=60) as server:
        yield server


def _pulled(stack: LocalAws, clever: FakeClever, district: str) -> str:
    secret = f"it/districts/{district}/clever"
    stack.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"token": "district-token"})
    )
    source = CleverSource(kind="clever", secret_id=secret, base_url=clever.url, page_size=5)
    put_settings(stack, district_settings(district, source=source))
    return secret


def _schedule(stack: LocalAws, district: str, scheduled_time: str) -> list[str]:
    """Deliver the district's pull schedule event (EventBridge Scheduler -> ingest)."""
    event = {"source": "rostersync.scheduler", "district_id": district, "scheduled_time": scheduled_time}
    return list(stack.invoke("IngestFunction", event)["started"])


def _twice(call: Any) -> list[Any]:
    """Two deliveries of the same event at the same time (two threads)."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda _: call(), range(2)))


def _subjects(stack: LocalAws, district: str) -> Counter[str]:
    return Counter(str(m.subject) for m in stack.sent_emails() if f"sync {district}-" in str(m.subject))


def _events(stack: LocalAws, district: str) -> Counter[tuple[str, str]]:
    return Counter(
        (e["detail-type"], e["detail"]["event_id"])
        for e in stack.captured_events()
        if e["detail"].get("district_id") == district
    )


def _users_requests(clever: FakeClever) -> list[str]:
    return [path for _, path, _ in clever.log if "/users" in path]


# ------------------------------------------------------------------------ duplicate schedules


def test_the_tick_delivered_twice_at_the_same_time_starts_one_sync(
    shared: LocalAws, data: DistrictData
) -> None:
    district = "tick2"
    put_settings(shared, district_settings(district))
    shared.upload_files(district, data.day1)  # files never taken: no Object Created delivered
    when = shared.clock()

    results = _twice(lambda: shared.tick(when))

    started = [s for r in results for s in r["started"] if s.startswith(f"{district}-")]
    assert len(started) == 1, results
    (sync_id,) = started
    assert wait_ended(shared, sync_id)["status"] == "SUCCEEDED"
    assert [e["name"] for e in shared.executions(f"{district}-")] == [sync_id]
    record = shared.sync_record(district, sync_id) or {}
    assert (record["status"], record["delivery"], record["versions"]) == ("applied", "delivered", [1])
    assert accepted_version(shared, district) == 1
    assert _events(shared, district) == {("RosterChangesApplied", f"{sync_id}-v1"): 1}
    assert _subjects(shared, district) == {f"[rostersync] {district}: sync {sync_id} applied": 1}
    assert len(raw_keys(shared, f"archive/{district}/{sync_id}/")) == len(data.day1)
    assert lock_item(shared, district) is None


def test_a_scheduled_pull_delivered_twice_starts_one_sync_and_pulls_once(
    shared: LocalAws, clever: FakeClever
) -> None:
    district = "pull2"
    _pulled(shared, clever, district)

    results = _twice(lambda: _schedule(shared, district, "2026-03-03T07:00:00Z"))

    assert sorted(len(r) for r in results) == [0, 1], results
    sync_id = next(s for r in results for s in r)
    assert wait_ended(shared, sync_id)["status"] == "SUCCEEDED"
    assert [e["name"] for e in shared.executions(f"{district}-")] == [sync_id]
    scheduled = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])
        for e in shared.history(sync_id, "TaskScheduled")
    ]
    assert [p["Payload"]["step"] for p in scheduled].count("fetch") == 1
    pages = _users_requests(clever)
    assert pages and len(pages) == len(set(pages)), pages  # each page read once: one pull
    record = shared.sync_record(district, sync_id) or {}
    assert (record["status"], record["versions"]) == ("applied", [1])
    assert _events(shared, district) == {("RosterChangesApplied", f"{sync_id}-v1"): 1}
    assert _subjects(shared, district) == {f"[rostersync] {district}: sync {sync_id} applied": 1}
    assert lock_item(shared, district) is None


# ------------------------------------------------------------------------ fetch killed


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_fetch_killed_around_its_manifest_is_retried_and_the_pull_applies_once(
    shared: LocalAws, clever: FakeClever, when: When
) -> None:
    # Fetch writes the pages, then fetch.json (the pull's commit); it retries any error, and the
    # retry pulls again into the same keys (fetch.json names the pages of the pull that wrote it).
    district = f"fetch-{when}"
    _pulled(shared, clever, district)

    def manifest(params: dict[str, Any]) -> bool:
        key = str(params.get("Key", ""))
        return key.startswith(f"syncs/{district}/") and key.endswith("/fetch.json")

    message = f"the fetch invocation was killed {when} writing fetch.json"
    with pinned_crash("s3", "PutObject", manifest, when, message) as hook:
        (sync_id,) = _schedule(shared, district, "2026-03-03T07:00:00Z")
        assert wait_ended(shared, sync_id)["status"] == "SUCCEEDED"

    assert hook.crashed == 1
    assert len(shared.history(sync_id, "TaskFailed")) == 1
    record = shared.sync_record(district, sync_id) or {}
    assert (record["status"], record["delivery"], record["versions"]) == ("applied", "delivered", [1])
    assert accepted_version(shared, district) == 1
    assert _events(shared, district) == {("RosterChangesApplied", f"{sync_id}-v1"): 1}
    assert _subjects(shared, district) == {f"[rostersync] {district}: sync {sync_id} applied": 1}
    assert lock_item(shared, district) is None


# ------------------------------------------------------------------------ Secrets Manager outage


class Outage:
    """Secrets Manager answers every GetSecretValue with 500 InternalServiceError (botocore
    retries it, as it would a real one, and gives up)."""

    BODY = json.dumps({"__type": "InternalServiceError", "message": "An error occurred on the server side."})

    def __init__(self) -> None:
        self.answered = 0

    def __call__(self, request: Any, **_: Any) -> Any:
        self.answered += 1
        return service_error(request, 500, {"x-amzn-ErrorType": "InternalServiceError"}, self.BODY.encode())


def test_a_secrets_manager_outage_fails_the_pull_with_a_reason_and_the_next_pull_applies(
    shared: LocalAws, clever: FakeClever
) -> None:
    district = "outage"
    _pulled(shared, clever, district)
    outage = Outage()
    events = clients.client("secretsmanager").meta.events
    event_name = "before-send.secrets-manager.GetSecretValue"
    events.register_first(event_name, outage)
    try:
        (failed_id,) = _schedule(shared, district, "2026-03-03T07:00:00Z")
        record = shared.wait_for_sync(district, failed_id, {"failed", "held", "applied"}, timeout=TIMEOUT)
        assert wait_ended(shared, failed_id)["status"] == "FAILED"
    finally:
        events.unregister(event_name, outage)

    # Each of Fetch's 3 attempts (the state machine retries any error twice) sends the request
    # and botocore's 5 retries (standard mode, max_attempts 5).
    assert outage.answered == 3 * 6
    assert record["status"] == "failed"
    assert record["reason"].startswith(
        "SecretsUnavailableError: AWS Secrets Manager is unavailable (InternalServiceError): the source's "
        f"credentials ('it/districts/{district}/clever') could not be read and nothing was pulled."
    ), record["reason"]
    assert record["versions"] == [] and accepted_version(shared, district) is None
    assert _users_requests(clever) == []
    assert _events(shared, district) == {("SyncFailed", f"{failed_id}-failed"): 1}
    assert lock_item(shared, district) is None

    (next_id,) = _schedule(shared, district, "2026-03-04T07:00:00Z")

    assert wait_ended(shared, next_id)["status"] == "SUCCEEDED"
    after = shared.sync_record(district, next_id) or {}
    assert (after["status"], after["versions"]) == ("applied", [1])
    assert accepted_version(shared, district) == 1
    assert _subjects(shared, district) == {
        f"[rostersync] {district}: sync {failed_id} failed": 1,
        f"[rostersync] {district}: sync {next_id} applied": 1,
    }
