"""The holds list, the sync list and the board do not read a district's history (issue 12 item 7).

Every DynamoDB and S3 request the API function makes is counted with botocore's own event hooks
on the real (moto-backed) clients, with the items each read returned (``ScannedCount``): the
same routes are called for a district with one finished sync and with many, and must make the
same requests and read the same number of items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from rostersync.api.deps import ApiDeps
from rostersync.aws import clients
from rostersync.aws.repository import DynamoRepository, district_pk
from tests.support.api_helpers import NOW, SYNC, api_event, invoke, seed_sync


@dataclass
class Requests:
    """The AWS calls made while ``counting``: (service, operation), and the items read."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    items: int = 0
    counting: bool = False

    def __call__(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self.counting:
            self.calls.append((model.service_model.service_name, model.name))
            self.items += int(parsed.get("ScannedCount", parsed.get("Count", 0)) or 0)

    def measure(self, action: Any) -> tuple[list[tuple[str, str]], int]:
        self.calls, self.items, self.counting = [], 0, True
        try:
            action()
        finally:
            self.counting = False
        return sorted(self.calls), self.items


@pytest.fixture
def requests(api_deps: ApiDeps) -> Iterator[Requests]:
    counter = Requests()
    for client in (clients.dynamodb(), clients.s3()):
        client.meta.events.register("after-call.*.*", counter)
    yield counter
    for client in (clients.dynamodb(), clients.s3()):
        client.meta.events.unregister("after-call.*.*", counter)


def _finished_syncs(deps: ApiDeps, first: int, count: int) -> None:
    """``count`` syncs that were held and then applied, as the pipeline records them (the status
    and the hold change through update_sync)."""
    for n in range(first, first + count):
        sync_id = f"d1-old{n:04d}"
        created = NOW - timedelta(days=400 - n)
        seed_sync(deps, sync_id=sync_id, created_at=created, token_status="decided", status="held")
        deps.repo.update_sync("d1", sync_id, created + timedelta(hours=1), status="applied", held_schools=[])
        deps.repo.release_lock("d1", sync_id)


def _call(handler_module: Any, name: str, **query: str) -> Any:
    response = invoke(handler_module, api_event(name, query=query or None))
    assert response.status == 200, response.text
    return response.json


def test_the_open_holds_list_reads_the_same_with_1_or_60_finished_syncs(
    api_deps: ApiDeps, handler_module: Any, requests: Requests
) -> None:
    _finished_syncs(api_deps, 0, 1)
    seed_sync(api_deps)  # the open hold
    few = requests.measure(lambda: _call(handler_module, "list_holds", status="open"))
    _finished_syncs(api_deps, 1, 59)

    many = requests.measure(lambda: _call(handler_module, "list_holds", status="open"))
    body = _call(handler_module, "list_holds", status="open")

    assert many == few
    assert many[0].count(("dynamodb", "Query")) == 1 and many[1] == 1
    assert [h["sync_id"] for h in body["holds"]] == [SYNC]


def test_the_board_reads_the_same_with_60_or_120_finished_syncs(
    api_deps: ApiDeps, handler_module: Any, requests: Requests
) -> None:
    """The board looks for the latest finished sync among the 50 newest: past that, history
    costs nothing."""
    _finished_syncs(api_deps, 0, 60)
    seed_sync(api_deps)
    few = requests.measure(lambda: _call(handler_module, "list_schools"))
    _finished_syncs(api_deps, 60, 60)

    many = requests.measure(lambda: _call(handler_module, "list_schools"))

    assert many == few
    assert many[1] <= 1 + 50 + 1  # the open hold, the window, the settings item


def test_the_sync_list_reads_one_page_of_the_newest(
    api_deps: ApiDeps, handler_module: Any, requests: Requests
) -> None:
    _finished_syncs(api_deps, 0, 120)
    seed_sync(api_deps)

    calls, items = requests.measure(lambda: _call(handler_module, "list_syncs", limit="5"))
    body = _call(handler_module, "list_syncs", limit="5")

    assert calls == [("dynamodb", "Query"), ("dynamodb", "Query")]  # the open holds, one page
    assert items <= 1 + 25
    assert [s["sync_id"] for s in body["syncs"]] == [
        SYNC,
        "d1-old0119",
        "d1-old0118",
        "d1-old0117",
        "d1-old0116",
    ]


def test_a_released_hold_leaves_the_open_list_and_a_partial_release_stays(api_deps: ApiDeps) -> None:
    seed_sync(api_deps, sync_id="d1-a", created_at=NOW - timedelta(hours=2))
    seed_sync(api_deps, sync_id="d1-b", created_at=NOW - timedelta(hours=1))

    api_deps.repo.update_sync("d1", "d1-a", NOW, status="applied", held_schools=[])
    api_deps.repo.update_sync("d1", "d1-b", NOW, status="partially_applied", applied_schools=["sch-001"])

    assert [r.sync_id for r in api_deps.repo.list_open_holds("d1")] == ["d1-b"]
    api_deps.repo.update_sync("d1", "d1-b", NOW, status="expired", held_schools=[])
    assert api_deps.repo.list_open_holds("d1") == []


def test_records_from_before_the_index_are_indexed_once(api_deps: ApiDeps) -> None:
    seed_sync(api_deps, sync_id="d1-legacy")
    repo = api_deps.repo
    assert isinstance(repo, DynamoRepository)
    repo.client.update_item(
        TableName=repo.table_name,
        Key={"pk": {"S": district_pk("d1")}, "sk": {"S": "SYNC#d1-legacy"}},
        UpdateExpression="REMOVE gsi2pk, gsi2sk",
    )
    assert repo.list_open_holds("d1") == []

    assert repo.ensure_sync_index("d1") == 1
    assert [r.sync_id for r in repo.list_open_holds("d1")] == ["d1-legacy"]
    assert repo.ensure_sync_index("d1") == 0
