"""Apply tells the truth (docs/holds.md, "After the commit"), on the local stack.

The event bus fails after promotion by error injection on the real boto3 EventBridge client the
functions use (a botocore ``before-call`` hook), not by replacing project code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from rostersync_tools.local import LocalAws

from .conftest import (
    DistrictData,
    accepted_version,
    deps_of,
    district_settings,
    lock_item,
    put_settings,
    sync_set,
    wait_ended,
)

pytestmark = pytest.mark.integration

D = "d1"


class BusOutage:
    """PutEvents fails the next ``times`` calls (None: every call) on the functions' client."""

    def __init__(self, times: int | None) -> None:
        self.times = times
        self.calls = 0

    def __call__(self, **_: Any) -> None:
        self.calls += 1
        if self.times is None or self.calls <= self.times:
            raise EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com")


@pytest.fixture
def outage(stack: LocalAws) -> Iterator[Any]:
    events = deps_of(stack).bus.client.meta.events
    installed: list[BusOutage] = []

    def install(times: int | None) -> BusOutage:
        hook = BusOutage(times)
        events.register("before-call.events.PutEvents", hook)
        installed.append(hook)
        return hook

    yield install
    for hook in installed:
        events.unregister("before-call.events.PutEvents", hook)


def _apply_day1(stack: LocalAws, data: DistrictData) -> dict[str, Any]:
    put_settings(stack, district_settings(D))
    record = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(record["sync_id"]))["status"] == "SUCCEEDED"
    final = stack.sync_record(D, str(record["sync_id"]))
    assert final is not None
    return final


def test_a_bus_down_after_promotion_leaves_the_sync_applied_with_delivery_failed(
    stack: LocalAws, data: DistrictData, outage: Any
) -> None:
    hook = outage(None)

    record = _apply_day1(stack, data)

    assert (record["status"], record["delivery"]) == ("applied", "failed")
    assert record["delivery_error"].startswith("EndpointConnectionError")
    assert hook.calls == 4  # the first attempt and the state machine's 3 retries
    assert accepted_version(stack, D) == 1
    assert stack.captured_events("RosterChangesApplied") == []
    assert [m.subject for m in stack.sent_emails()] == [f"[rostersync] {D}: sync {record['sync_id']} applied"]
    assert lock_item(stack, D) is None


def test_a_bus_that_recovers_delivers_the_event_once(
    stack: LocalAws, data: DistrictData, outage: Any
) -> None:
    outage(1)

    record = _apply_day1(stack, data)

    assert (record["status"], record["delivery"]) == ("applied", "delivered")
    assert [e["detail"]["version"] for e in stack.captured_events("RosterChangesApplied")] == [1]
    assert len(stack.sent_emails()) == 1
