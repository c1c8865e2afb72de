"""A district's syncs by time without reading its history: the table's gsi2.

Every sync record carries ``gsi2pk`` = ``SYNCS#<district>`` and ``gsi2sk`` = ``OPEN#<created>#<id>``
while its hold is open (status held or partially applied, with a decision token) or
``SYNC#<created>#<id>`` otherwise (:func:`sync_index_keys`, written by the repository with every
write of the record, so a record leaves ``OPEN#`` in the write that ends its hold). The open holds
are one query; the newest syncs are the open holds merged with pages of ``SYNC#`` newest first.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from rostersync.aws.codec import marshal, unmarshal
from rostersync.pipeline.decisions import HELD_STATUSES
from rostersync.pipeline.models import SyncRecord

# gsi2 lists a district's syncs without reading its history: the sync records whose hold is open
# under ``OPEN#`` (a handful), every other one under ``SYNC#``, each by creation time. The keys
# are written with the record (put, create, update), so they follow every status change.
GSI2 = "gsi2"
OPEN_PREFIX = "OPEN#"
SYNC_PREFIX = "SYNC#"


def syncs_pk(district_id: str) -> str:
    return f"SYNCS#{district_id}"


def _utc_stamp(value: Any) -> str:
    """A creation time as a string that sorts as the time does (UTC, microseconds)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sync_index_keys(item: dict[str, Any]) -> dict[str, str]:
    """The gsi2 keys of a sync record (a dict of its fields): ``OPEN#`` while its hold is open
    (held or partially applied, with a decision token), ``SYNC#`` otherwise, then its creation
    time and id."""
    is_open = item.get("status") in HELD_STATUSES and item.get("hold_id") is not None
    prefix = OPEN_PREFIX if is_open else SYNC_PREFIX
    return {
        "gsi2pk": syncs_pk(str(item["district_id"])),
        "gsi2sk": f"{prefix}{_utc_stamp(item['created_at'])}#{item['sync_id']}",
    }


def _shown(record: SyncRecord, status: str | None, hide: str | None) -> bool:
    return record.status == status if status is not None else record.status != hide


class SyncIndex:
    """Queries of gsi2 on table ``table_name`` through the client ``client()`` returns."""

    def __init__(self, table_name: str, client: Callable[[], Any]) -> None:
        self.table_name = table_name
        self._client = client

    def items(
        self,
        district_id: str,
        prefix: str,
        *,
        page: int | None = None,
        status_filter: str | None = None,
        status: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The sync items under ``prefix`` of gsi2, newest first, a page of ``page`` at a time
        (read lazily: stop iterating and no further page is read); ``status_filter`` is a
        condition on ``#status`` with ``:status`` bound to ``status``."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": GSI2,
            "KeyConditionExpression": "gsi2pk = :pk AND begins_with(gsi2sk, :prefix)",
            "ExpressionAttributeValues": marshal({":pk": syncs_pk(district_id), ":prefix": prefix}),
            "ScanIndexForward": False,
        }
        if page is not None:
            kwargs["Limit"] = page
        if status_filter is not None:
            kwargs["FilterExpression"] = status_filter
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            kwargs["ExpressionAttributeValues"] |= marshal({":status": status})
        while True:
            response = self._client().query(**kwargs)
            yield from (unmarshal(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def open_holds(self, district_id: str) -> builtins.list[SyncRecord]:
        """The district's syncs whose hold is open (held or partially applied, with a decision
        token), newest first: one query of gsi2, whatever the length of its history."""
        return [SyncRecord.model_validate(i) for i in self.items(district_id, OPEN_PREFIX)]

    def recent(
        self, district_id: str, limit: int, *, status: str | None = None, hide: str | None = "coalesced"
    ) -> builtins.list[SyncRecord]:
        """The district's ``limit`` newest syncs (only those of ``status`` when given, else all
        but those of status ``hide``): its open holds and the newest pages of the rest, read from
        gsi2 until ``limit`` are found, never its whole history."""
        if status is not None:
            condition: str | None = "#status = :status"
        else:
            condition = "#status <> :status" if hide is not None else None
        wanted = status if status is not None else hide
        found = [r for r in self.open_holds(district_id) if _shown(r, status, hide)]
        rest = self.items(
            district_id, SYNC_PREFIX, page=max(limit, 25), status_filter=condition, status=wanted
        )
        for count, item in enumerate(rest, start=1):
            found.append(SyncRecord.model_validate(item))
            if count >= limit:
                break
        return sorted(found, key=lambda r: r.created_at, reverse=True)[:limit]
