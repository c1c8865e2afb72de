"""EventBridge events, put at most once per (district, dedupe key) (see :mod:`rostersync.aws.mailer`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rostersync.aws import clients
from rostersync.pipeline.ports import Repository

SOURCE = "rostersync"


class EventPublishError(RuntimeError):
    """EventBridge did not accept the event."""


class EventBridgeBus:
    def __init__(self, bus_name: str, repo: Repository, client: Any = None) -> None:
        self.bus_name = bus_name
        self.repo = repo
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.events()

    def publish(self, *, district_id: str, dedupe_key: str, detail_type: str, detail: dict[str, Any]) -> bool:
        marker = f"EVENT#{dedupe_key}"
        if not self.repo.claim(district_id, marker, datetime.now(UTC)):
            return False
        try:
            response = self.client.put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail, sort_keys=True),
                        "EventBusName": self.bus_name,
                    }
                ]
            )
            if response.get("FailedEntryCount"):
                entry = response["Entries"][0]
                raise EventPublishError(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
        except Exception:
            self.repo.unclaim(district_id, marker)
            raise
        return True
