"""The change feed's lifecycle events: ``SyncHeld``, ``SyncFailed`` and ``SyncExpired``.

Each is a fact a consuming application can act on without polling the API: a sync waits for an
admin (and why), a sync failed (and why), a held sync's decision window ran out. They go through
the :class:`~rostersync.pipeline.ports.EventBus` port once per fact (the event id is the dedupe
key), next to ``RosterChangesApplied``, which the release stage puts. The stages call the
``publish_*`` functions below at the point the fact happens; the details are built here so the
contract lives in one place. ``events/schemas/*.json`` is that contract (JSON Schema 2020-12,
documented in ``docs/events.md``); tests validate every event put against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from rostersync.pipeline.events import Progress
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import Deps
from rostersync.records import Hold

APPLIED = "RosterChangesApplied"
HELD = "SyncHeld"
FAILED = "SyncFailed"
EXPIRED = "SyncExpired"
DETAIL_TYPES = (APPLIED, HELD, FAILED, EXPIRED)
# EventBridge takes entries up to 256 KB: a sync with more holds lists the first ones and says so.
MAX_HOLDS_IN_EVENT = 100


class _Detail(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeldHold(_Detail):
    """One hold of a held sync, as the event carries it (no sample record ids)."""

    type: str
    school_id: str | None
    entity: str | None
    numerator: int
    denominator: int | None
    threshold: float | None
    message: str


class SyncHeldDetail(_Detail):
    event_id: str
    district_id: str
    sync_id: str
    attempt: int
    held_at: datetime
    holds: list[HeldHold]
    hold_count: int
    holds_truncated: bool
    held_schools: list[str]
    district_hold: bool
    releasable: bool
    accepted_version: int | None
    bucket: str
    holds_key: str


class SyncEndedDetail(_Detail):
    """What ``SyncFailed`` and ``SyncExpired`` share: the sync and what it applied before it ended."""

    event_id: str
    district_id: str
    sync_id: str
    reason: str | None
    applied_schools: list[str]
    unapplied_schools: list[str]
    versions: list[int]


class SyncFailedDetail(SyncEndedDetail):
    failed_at: datetime


class SyncExpiredDetail(SyncEndedDetail):
    expired_at: datetime
    hold_expires_at: datetime | None


def held_detail(
    *,
    district_id: str,
    sync_id: str,
    attempt: int,
    held_at: datetime,
    holds: list[Hold],
    progress: Progress,
    bucket: str,
    holds_key: str,
) -> SyncHeldDetail:
    listed = [
        HeldHold(**h.model_dump(include=set(HeldHold.model_fields))) for h in holds[:MAX_HOLDS_IN_EVENT]
    ]
    return SyncHeldDetail(
        event_id=f"{sync_id}-a{attempt}-held",
        district_id=district_id,
        sync_id=sync_id,
        attempt=attempt,
        held_at=held_at,
        holds=listed,
        hold_count=len(holds),
        holds_truncated=len(holds) > len(listed),
        held_schools=progress.held_schools,
        district_hold=progress.district_hold,
        releasable=progress.releasable,
        accepted_version=progress.accepted_version,
        bucket=bucket,
        holds_key=holds_key,
    )


def publish_held(
    deps: Deps,
    *,
    district_id: str,
    sync_id: str,
    attempt: int,
    holds: list[Hold],
    progress: Progress,
    holds_key: str,
) -> str | None:
    """Put ``SyncHeld`` for this attempt of the sync (once); its event id, None if nothing is held."""
    if not holds:
        return None
    detail = held_detail(
        district_id=district_id,
        sync_id=sync_id,
        attempt=attempt,
        held_at=deps.clock(),
        holds=holds,
        progress=progress,
        bucket=deps.config.snapshot_bucket,
        holds_key=holds_key,
    )
    return _put(deps, HELD, detail)


def ended_detail(
    status: Literal["failed", "expired"],
    *,
    district_id: str,
    sync_id: str,
    at: datetime,
    reason: str | None,
    record: SyncRecord | None,
) -> SyncFailedDetail | SyncExpiredDetail:
    applied = sorted(record.applied_schools) if record is not None else []
    unapplied = sorted(set(record.held_schools) - set(applied)) if record is not None else []
    common = {
        "event_id": f"{sync_id}-{status}",
        "district_id": district_id,
        "sync_id": sync_id,
        "reason": reason,
        "applied_schools": applied,
        "unapplied_schools": unapplied,
        "versions": sorted(record.versions) if record is not None else [],
    }
    if status == "failed":
        return SyncFailedDetail(**common, failed_at=at)
    expires = record.hold_expires_at if record is not None else None
    return SyncExpiredDetail(**common, expired_at=at, hold_expires_at=expires)


def publish_ended(
    deps: Deps, *, district_id: str, sync_id: str, status: str, reason: str | None, record: SyncRecord | None
) -> str | None:
    """Put ``SyncFailed`` or ``SyncExpired`` for a sync that ended so (once); None for other ends."""
    if status not in ("failed", "expired"):
        return None
    kind: Literal["failed", "expired"] = "failed" if status == "failed" else "expired"
    detail = ended_detail(
        kind, district_id=district_id, sync_id=sync_id, at=deps.clock(), reason=reason, record=record
    )
    return _put(deps, FAILED if kind == "failed" else EXPIRED, detail)


def _put(deps: Deps, detail_type: str, detail: SyncHeldDetail | SyncEndedDetail) -> str:
    deps.bus.publish(
        district_id=detail.district_id,
        dedupe_key=detail.event_id,
        detail_type=detail_type,
        detail=detail.model_dump(mode="json"),
    )
    return detail.event_id
