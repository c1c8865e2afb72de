"""The ports of the pipeline: the adapters its stages are given, as protocols, and their errors.

AWS (blob stores, repository, mailer, event bus, workflow, secrets) is implemented in
:mod:`rostersync.aws`; the :class:`SourcePuller` that reads Clever, OneRoster and SFTP sources in
:mod:`rostersync.connectors`. Stages depend on these interfaces only, so the pipeline never
imports boto3, requests or paramiko, and tests (or the local stack) pass the moto-backed adapters
or fakes through :class:`Deps`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

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
from rostersync.sources import PullSource
from rostersync.storage import BlobStore

if TYPE_CHECKING:
    # The page writer is the pull's output format (shared with the mapping of pulled pages); the
    # API imports this module and must not load the connectors package for a type.
    from rostersync.connectors.pages import PageWriter


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

    def copy_if_unchanged(self, source_key: str, dest_key: str, etag: str) -> bool:
        """Copy while the source's ETag is ``etag``; False if it changed or is gone."""
        ...

    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        """Delete while the object's ETag is ``etag``; False if it changed or is gone."""
        ...


class TaskGoneError(Exception):
    """The task token is no longer accepted (timed out, already used, or unknown)."""


class Repository(Protocol):
    def get_settings(self, district_id: str) -> DistrictSettings: ...
    def put_settings(self, settings: DistrictSettings) -> None: ...
    def list_settings(self) -> builtins.list[DistrictSettings]: ...

    def get_sync(self, district_id: str, sync_id: str) -> SyncRecord | None: ...
    def find_sync(self, sync_id: str) -> SyncRecord | None: ...
    def list_syncs(self, district_id: str) -> builtins.list[SyncRecord]: ...
    def list_open_holds(self, district_id: str) -> builtins.list[SyncRecord]: ...
    def recent_syncs(
        self, district_id: str, limit: int, *, status: str | None = None, hide: str | None = "coalesced"
    ) -> builtins.list[SyncRecord]: ...
    def ensure_sync_index(self, district_id: str) -> int: ...
    def put_sync(self, record: SyncRecord) -> None: ...
    def create_sync(self, record: SyncRecord) -> bool: ...
    def update_sync(self, district_id: str, sync_id: str, now: datetime, **fields: Any) -> None: ...

    def get_lock(self, district_id: str) -> Lock | None: ...
    def acquire_lock(
        self, district_id: str, sync_id: str, now: datetime, execution_arn: str | None = None
    ) -> bool: ...
    def take_over_lock(
        self,
        district_id: str,
        old_owner: str,
        new_owner: str,
        now: datetime,
        execution_arn: str | None = None,
    ) -> bool: ...
    def take_over_stranded_lock(
        self, district_id: str, old_owner: str, new_owner: str, now: datetime, execution_arn: str | None
    ) -> bool: ...
    def set_lock_state(self, district_id: str, owner: str, state: LockState) -> bool: ...
    def release_lock(self, district_id: str, owner: str) -> bool: ...

    def put_token(self, token: DecisionToken) -> None: ...
    def get_token(self, hold_id: str) -> DecisionToken | None: ...
    def decide_token(self, hold_id: str, action: str, actor: str | None, now: datetime) -> bool: ...
    def close_token(self, hold_id: str, status: str) -> None: ...
    def token_sent(self, hold_id: str, now: datetime) -> None: ...

    def put_audit(self, entry: AuditEntry) -> None: ...
    def list_audit(self, district_id: str) -> builtins.list[AuditEntry]: ...

    def put_school_status(self, status: SchoolStatus) -> None: ...
    def list_school_status(self, district_id: str) -> builtins.list[SchoolStatus]: ...

    def claim(self, district_id: str, marker: str, now: datetime, owner: str | None = None) -> bool: ...
    def unclaim(self, district_id: str, marker: str) -> None: ...
    def claim_owner(self, district_id: str, marker: str) -> str | None: ...
    def take_over_claim(
        self, district_id: str, marker: str, now: datetime, owner: str, previous_owner: str
    ) -> bool: ...


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

    def execution_status(self, execution_arn: str) -> str | None:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED`` (DescribeExecution);
        None when no such execution exists."""
        ...

    def stop(self, execution_arn: str, cause: str) -> None:
        """Stop a running execution (StopExecution); an execution that has ended is left alone."""
        ...


# --- sources ---------------------------------------------------------------------------------------

SourceHold = Literal["credentials", "disconnected"]


class SourceError(Exception):
    """The source could not be read; ``hold`` names the hold the sync is put on.

    Every connector raises one of these (never a ``requests`` or ``paramiko`` exception), so the
    pull stage maps them to the hold catalogue without knowing the transport: rejected credentials
    (401/403, SFTP authentication) are ``credentials``; an unreachable source (connection errors,
    timeouts, 5xx after retries, a refused host key, Clever's district ``state: error``) is
    ``disconnected``.
    """

    hold: SourceHold = "disconnected"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CredentialsError(SourceError):
    """The source rejected our credentials (HTTP 401/403, SFTP authentication failed)."""

    hold: SourceHold = "credentials"


class DisconnectedError(SourceError):
    """The source could not be reached after retries, or reports an error state."""

    hold: SourceHold = "disconnected"


class HostKeyError(DisconnectedError):
    """The SFTP server's host key is not the pinned one (changed, or the server is not known)."""


class SourcePausedError(Exception):
    """The source reports that syncing is paused (e.g. Clever's district ``pause_start``/``pause_end``)."""


class SourceConfigError(Exception):
    """The source settings or its secret are incomplete (a failure, not a hold: fix settings)."""


class Secrets(Protocol):
    def get_json(self, secret_id: str) -> dict[str, Any]:
        """The secret as a JSON object (a bare string secret is ``{"token": ...}``)."""
        ...


class SourcePuller(Protocol):
    """Reads a pulled district's source (Clever, OneRoster or its SFTP site) into the raw bucket."""

    def pull(self, source: PullSource, writer: PageWriter, today: date) -> None:
        """Write what ``source`` holds into ``writer``: API pages as NDJSON, or the site's files.

        Raises :class:`SourceError` (the hold the sync is put on), :class:`SourcePausedError`
        (the sync ends as ``paused``) or :class:`SourceConfigError` (the sync fails).
        """
        ...


# --- the deps object -------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Everything a stage may touch, injected by the composition root (or a test)."""

    config: PipelineConfig
    raw: RawStore
    snapshots: BlobStore
    repo: Repository
    mailer: Mailer
    bus: EventBus
    workflow: Workflow
    clock: Callable[[], datetime] = field(default=_utcnow)
    # Reads the sources of pulled districts (the pull stage); None where nothing is pulled.
    puller: SourcePuller | None = None
