"""The adapters the pipeline's steps are given, as protocols (implemented in ``rostersync.aws``).

Steps depend on these interfaces only, so the domain never imports boto3 and tests can pass the
moto-backed adapters or fakes.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.models import (
    AuditEntry,
    DecisionToken,
    Lock,
    LockState,
    SchoolStatus,
    SyncRecord,
)
from rostersync.settings import DistrictSettings
from rostersync.storage import BlobStore


class ObjectInfo(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def etag(self) -> str: ...
    @property
    def last_modified(self) -> datetime: ...
    @property
    def size(self) -> int: ...


class RawStore(BlobStore, Protocol):
    """The raw bucket: a blob store that can also describe and copy objects."""

    def describe(self, prefix: str) -> Sequence[ObjectInfo]: ...

    def copy(self, source_key: str, dest_key: str) -> None: ...


class TaskGoneError(Exception):
    """The task token is no longer accepted (timed out, already used, or unknown)."""


class Repository(Protocol):
    def get_settings(self, district_id: str) -> DistrictSettings: ...
    def put_settings(self, settings: DistrictSettings) -> None: ...
    def list_settings(self) -> builtins.list[DistrictSettings]: ...

    def get_sync(self, district_id: str, sync_id: str) -> SyncRecord | None: ...
    def find_sync(self, sync_id: str) -> SyncRecord | None: ...
    def put_sync(self, record: SyncRecord) -> None: ...
    def create_sync(self, record: SyncRecord) -> bool: ...
    def update_sync(self, district_id: str, sync_id: str, now: datetime, **fields: Any) -> None: ...

    def get_lock(self, district_id: str) -> Lock | None: ...
    def acquire_lock(self, district_id: str, sync_id: str, now: datetime) -> bool: ...
    def take_over_lock(self, district_id: str, old_owner: str, new_owner: str, now: datetime) -> bool: ...
    def set_lock_state(self, district_id: str, owner: str, state: LockState) -> bool: ...
    def release_lock(self, district_id: str, owner: str) -> bool: ...

    def put_token(self, token: DecisionToken) -> None: ...
    def get_token(self, hold_id: str) -> DecisionToken | None: ...
    def decide_token(self, hold_id: str, action: str, actor: str | None, now: datetime) -> bool: ...
    def close_token(self, hold_id: str, status: str) -> None: ...

    def put_audit(self, entry: AuditEntry) -> None: ...
    def list_audit(self, district_id: str) -> builtins.list[AuditEntry]: ...

    def put_school_status(self, status: SchoolStatus) -> None: ...
    def list_school_status(self, district_id: str) -> builtins.list[SchoolStatus]: ...

    def claim(self, district_id: str, marker: str, now: datetime, owner: str | None = None) -> bool: ...
    def unclaim(self, district_id: str, marker: str) -> None: ...


class Mailer(Protocol):
    def send(
        self,
        *,
        district_id: str,
        dedupe_key: str,
        to: builtins.list[str],
        subject: str,
        text: str,
        html: str,
    ) -> bool:
        """Send once per ``dedupe_key``; False if it was already sent (or nobody to send to)."""
        ...


class EventBus(Protocol):
    def publish(self, *, district_id: str, dedupe_key: str, detail_type: str, detail: dict[str, Any]) -> bool:
        """Put the event once per ``dedupe_key``; False if it was already put."""
        ...


class Workflow(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """Start the sync state machine; the execution ARN, or None if ``name`` already ran."""
        ...

    def send_success(self, task_token: str, output: dict[str, Any]) -> None:
        """Resume a waiting task; :class:`TaskGoneError` if the token is no longer valid."""
        ...


class Secrets(Protocol):
    def get_json(self, secret_id: str) -> dict[str, Any]:
        """The secret as a JSON object (a bare string secret is ``{"token": ...}``)."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Everything a step may touch, injected by the handler (or a test)."""

    config: PipelineConfig
    raw: RawStore
    snapshots: BlobStore
    repo: Repository
    mailer: Mailer
    bus: EventBus
    workflow: Workflow
    clock: Callable[[], datetime] = field(default=_utcnow)
    # Source credentials of pulled districts (the fetch step); None where nothing is pulled.
    secrets: Secrets | None = None
