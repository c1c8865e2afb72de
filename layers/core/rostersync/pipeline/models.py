"""Records the pipeline keeps in its table (sync, lock, decision token, audit, school status).

The DynamoDB adapter stores and returns these models; the API reads them. A decision token's
``task_token`` never leaves the adapter and the decision path: it is excluded from every dump.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SyncStatus = Literal[
    "waiting",
    "running",
    "held",
    "applied",
    "partially_applied",
    "rejected",
    "expired",
    "superseded",
    "paused",
    "failed",
    "coalesced",
]
# A sync in one of these statuses is over: the lock is released (or was never taken).
FINAL_STATUSES: frozenset[str] = frozenset(
    {"applied", "rejected", "expired", "superseded", "paused", "failed", "coalesced", "waiting"}
)
Trigger = Literal["upload", "schedule", "retry", "rollback"]
# "expire" is sent by the scheduled tick when a hold reaches its absolute deadline.
DecisionAction = Literal["release", "reject", "retry", "superseded", "expire"]
LockState = Literal["active", "held"]
TokenStatus = Literal["open", "decided", "expired", "closed"]
SchoolState = Literal["connected", "on_hold", "paused", "not_connected", "disconnected", "failed"]
# What a release does with the removals it covers: apply them (default), or apply the additions
# and changes only and keep the removals held, releasable on their own later (docs/holds.md).
RemovalsOption = Literal["apply", "keep_held"]


class SyncRecord(BaseModel):
    """One sync of one district (``DISTRICT#<d>`` / ``SYNC#<sync_id>``)."""

    model_config = ConfigDict(extra="ignore")

    district_id: str
    sync_id: str
    status: SyncStatus
    reason: str | None = None
    trigger: Trigger = "upload"
    upload: str | None = None
    # A rollback's input: the accepted version normalize stages instead of reading the inbox.
    source_version: int | None = None
    attempt: int = 1
    counts: dict[str, Any] = Field(default_factory=dict)
    holds: list[dict[str, Any]] = Field(default_factory=list)
    held_schools: list[str] = Field(default_factory=list)
    applied_schools: list[str] = Field(default_factory=list)
    versions: list[int] = Field(default_factory=list)
    keys: dict[str, str] = Field(default_factory=dict)
    releasable: bool = True
    hold_id: str | None = None
    execution_arn: str | None = None
    hold_expires_at: datetime | None = None
    # When the hold was first placed: its expiry is absolute from here (a partial release or a
    # new decision round does not restart it; a retry re-evaluates and places it afresh).
    hold_placed_at: datetime | None = None
    finished_at: datetime | None = None
    # What follows an apply (applied change set, RosterChangesApplied, the email): "pending"
    # while it is delivered, "delivered", or "failed" (with ``delivery_error``) after retries.
    # An operator's reason for failing the sync, recorded before its execution is stopped.
    stop_reason: str | None = None
    delivery: Literal["pending", "delivered", "failed"] | None = None
    delivery_error: str | None = None
    created_at: datetime
    updated_at: datetime


class Lock(BaseModel):
    """A district's lock (``DISTRICT#<d>`` / ``LOCK``): which sync owns it and whether it waits."""

    district_id: str
    owner: str
    state: LockState
    acquired_at: datetime
    # The Step Functions execution of the owner: a lock whose execution no longer runs is stranded.
    execution_arn: str | None = None


class DecisionToken(BaseModel):
    """The open decision of a held sync (``HOLD#<hold_id>`` / ``TOKEN``)."""

    hold_id: str
    district_id: str
    sync_id: str
    task_token: str = Field(repr=False, exclude=True)
    status: TokenStatus
    round: int = 0
    # The sync's first wait (its hold email went out), not a later round after a partial
    # release; a retried AwaitDecision keeps it from the crashed attempt's token.
    first_round: bool = True
    expires_at: int
    decided_by: str | None = None
    action: str | None = None
    # When the decision reached the execution (SendTaskSuccess answered): a decided token without
    # it may never have reached it, and the same decision can be taken again (submit_decision).
    sent_at: datetime | None = None


class AuditEntry(BaseModel):
    """Who decided or changed what (about which sync, if any), and when.

    ``actor`` is what people read (an email, or ``sync:<id>`` for the pipeline itself);
    ``actor_id`` the caller's stable identity (the Cognito ``sub``) when a person acted.
    ``details`` holds what else the action carried (hold types acknowledged, a version).
    """

    district_id: str
    at: datetime
    actor: str
    actor_id: str | None = None
    action: str
    sync_id: str | None = None
    schools: list[str] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class SchoolStatus(BaseModel):
    """Per-school status shown to admins (``DISTRICT#<d>`` / ``SCHOOL#<school_id>``)."""

    district_id: str
    school_id: str
    status: SchoolState
    sync_id: str | None = None  # the sync that last changed the status
    last_applied_sync_id: str | None = None  # the sync whose changes were last accepted
    last_applied_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
