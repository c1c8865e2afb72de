"""The release API's request and response bodies (pydantic; they make its OpenAPI document).

Requests forbid unknown fields and bound every list, so a malformed or oversized body is a 422
before any route runs. Responses are views of the pipeline's records: a decision token's task
token, S3 keys and execution ARNs never appear in them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rostersync.pipeline.models import RemovalsOption, SchoolState, SyncStatus, Trigger
from rostersync.records import HOLD_RESOLUTIONS, EntityCounts, Hold, HoldType
from rostersync.settings import (
    EMAIL_PATTERN,
    MAX_EXPECTED_SYNC_HOURS,
    HoldSettings,
    PauseWindow,
    RemovalsMode,
    SafetyFloors,
    SyncDays,
    ordered_pause_windows,
)
from rostersync.sources import SourceSettings

ID_PATTERN = r"^[A-Za-z0-9_-]+$"
DistrictId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
SyncId = Annotated[str, Field(min_length=1, max_length=80, pattern=ID_PATTERN)]
SchoolId = Annotated[str, Field(min_length=1, max_length=255)]
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)]
ShortText = Annotated[str, Field(min_length=1, max_length=255)]
MAX_SCHOOLS = 5000


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors --------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error the API returns: a stable code, a message for people, field errors for 422."""

    error: str
    message: str
    detail: list[dict[str, Any]] | None = None


# --- syncs and holds -----------------------------------------------------------------------------


class HoldView(BaseModel):
    """One tripped safety rule with the numbers that explain it and what the admin can do."""

    type: str
    school_id: str | None = Field(description="None: a district-wide hold")
    entity: str | None = None
    numerator: int = 0
    denominator: int | None = None
    threshold: float | None = None
    percent: float | None = None
    message: str
    resolution: str

    @classmethod
    def of(cls, recorded: dict[str, Any]) -> HoldView:
        hold = Hold.model_validate(recorded)
        return cls(
            type=hold.type,
            school_id=hold.school_id,
            entity=hold.entity,
            numerator=hold.numerator,
            denominator=hold.denominator,
            threshold=hold.threshold,
            percent=round(hold.percent, 1) if hold.percent is not None else None,
            message=hold.message,
            resolution=HOLD_RESOLUTIONS.get(hold.type, ""),
        )


class SchoolFindings(BaseModel):
    """What a sync found for one school (or district-wide) and where that school stands in it."""

    school_id: str | None
    state: Literal["held", "applied", "not_applied"]
    holds: list[HoldView]


class SyncSummary(BaseModel):
    district_id: str
    sync_id: str
    status: SyncStatus
    reason: str | None = None
    trigger: Trigger
    source_version: int | None = Field(None, description="rollbacks: the accepted version re-synced")
    attempt: int
    held_schools: list[str]
    applied_schools: list[str]
    hold_count: int
    versions: list[int] = Field(description="accepted versions this sync promoted")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    hold_expires_at: datetime | None = None
    delivery: Literal["pending", "delivered", "failed"] | None = Field(
        None,
        description="after an apply: the RosterChangesApplied event and email (failed: see delivery_error)",
    )
    delivery_error: str | None = None


class SyncDetail(SyncSummary):
    counts: dict[str, Any]
    changes: list[EntityCounts] = Field(
        default_factory=list,
        description="the diff preview: per record type and school, the records before and after "
        "and those added, removed, changed and re-keyed (id_changed: one per suspected source-ID "
        "change, in the new record's school, counted in neither added nor removed); empty before "
        "the diff",
    )
    releasable: bool
    holds: list[HoldView]
    schools: list[SchoolFindings]
    downloads: list[Literal["changes.csv", "changes.csv.gz", "errors.csv"]]
    applying: bool = Field(
        False,
        description="a decision on this sync is still being applied: until its next decision round "
        "opens (after a partial release) or it ends, a decision is refused (409 decision_in_progress)",
    )


class SyncList(BaseModel):
    district_id: str
    syncs: list[SyncSummary]


class OpenHold(BaseModel):
    """A held sync waiting for a decision (or, with ``status=closed``, one that was decided)."""

    district_id: str
    sync_id: str
    status: SyncStatus
    held_schools: list[str]
    applied_schools: list[str]
    district_wide: bool
    hold_types: list[str]
    holds: list[HoldView]
    releasable: bool
    hold_expires_at: datetime | None = None


class HoldList(BaseModel):
    district_id: str
    status: Literal["open", "closed", "all"]
    holds: list[OpenHold]


# --- decisions -----------------------------------------------------------------------------------


class ReleaseRequest(_Request):
    """Release a held sync: all its held schools (``schools`` omitted) or some of them (the rest
    stay on hold). ``hold_types`` must name every type of hold being released: the admin
    acknowledges what they confirm (e.g. ``mass_removal``: the removals are intended)."""

    schools: list[SchoolId] | None = Field(None, min_length=1, max_length=MAX_SCHOOLS)
    hold_types: list[HoldType] = Field(max_length=20)
    comment: str | None = Field(None, max_length=1000)
    removals: RemovalsOption = Field(
        "apply",
        description="apply: the removals released apply (default); keep_held: apply the additions "
        "and changes only, the removals stay held and a later release of the sync applies them",
    )


class DecisionNote(_Request):
    """Optional note on a reject or retry, kept in the audit log."""

    comment: str | None = Field(None, max_length=1000)


class DecisionResponse(BaseModel):
    district_id: str
    sync_id: str
    action: Literal["release", "reject", "retry"]
    schools: list[str] | None
    actor: str
    decided_at: datetime


class BulkReleaseRequest(_Request):
    """Release across a district's held syncs at once: the named schools wherever they are held
    (all held schools and district-wide holds when ``schools`` is omitted), optionally only in
    the syncs named."""

    schools: list[SchoolId] | None = Field(None, min_length=1, max_length=MAX_SCHOOLS)
    sync_ids: list[SyncId] | None = Field(None, min_length=1, max_length=100)
    hold_types: list[HoldType] = Field(max_length=20)
    comment: str | None = Field(None, max_length=1000)
    removals: RemovalsOption = Field(
        "apply",
        description="as in a single release: keep_held applies the additions and changes of each "
        "sync released and keeps its removals held",
    )


class BulkReleaseItem(BaseModel):
    sync_id: str
    outcome: Literal["released", "refused"]
    schools: list[str] | None
    status_code: int = Field(description="what the single-sync release would have answered")
    error: str | None = None
    message: str | None = None


class BulkReleaseResponse(BaseModel):
    district_id: str
    results: list[BulkReleaseItem]
    not_held: list[str] = Field(description="named schools that no held sync holds")


class DownloadLink(BaseModel):
    """A short-lived presigned GET URL of a sync's CSV."""

    sync_id: str
    filename: str
    url: str
    expires_in: int


# --- settings and pause windows ------------------------------------------------------------------


# Fields a PUT must carry: it replaces the settings, so an omitted field would silently reset
# (an omitted admin_emails once left a district's holds emailing nobody).
PUT_REQUIRED = ("admin_emails", "school_ids", "excluded_contact_types", "holds")


class SettingsRequest(_Request):
    """A district's settings, replaced as a whole: ``admin_emails``, ``school_ids``,
    ``excluded_contact_types`` and ``holds`` are required (use PATCH to change some fields only).
    ``pause_windows`` (see ``/pause-windows``) and ``source`` and ``floors`` (operator only) are
    kept unless given; ``hold_expiry_days`` omitted means the deployment's default. Thresholds
    omitted inside ``holds`` take the catalogue defaults."""

    name: str | None = Field(None, max_length=255)
    admin_emails: list[Email] = Field(max_length=50)
    school_ids: list[SchoolId] = Field(max_length=MAX_SCHOOLS)
    excluded_contact_types: list[ShortText] = Field(max_length=50)
    holds: HoldSettings
    hold_expiry_days: int | None = Field(None, ge=1, le=365)
    removals: RemovalsMode | None = Field(
        None,
        description="when removals hold: hold_over_threshold (past the mass_removal thresholds, the "
        "default) or hold_always (any removal of people or enrollments holds its school); omitted: "
        "unchanged",
    )
    expected_sync_hours: int | None = Field(
        None,
        ge=1,
        le=MAX_EXPECTED_SYNC_HOURS,
        description="the district's sync cadence: its newest accepted version is overdue (alarm, "
        "email) once older than this many hours; omitted: unchanged (unset: the stack's default)",
    )
    expected_sync_days: SyncDays | None = Field(
        None,
        description="weekdays: Saturdays and Sundays (district calendar) do not count towards "
        "expected_sync_hours; omitted: unchanged",
    )
    time_zone: str | None = Field(
        None,
        max_length=64,
        description="IANA time zone (e.g. America/Chicago) the pause windows, reminders, sync cadence "
        "and pull times are read in; omitted: unchanged",
    )
    pause_windows: list[PauseWindow] | None = Field(None, max_length=50)
    source: SourceSettings | None = Field(
        None,
        description="where the roster comes from; omitted: unchanged. Only an operator may change it "
        "(it names the secret the scheduled pulls read).",
    )
    floors: SafetyFloors | None = Field(
        None, description="limits on the district's own safety settings; omitted: unchanged. Operator only."
    )

    @model_validator(mode="before")
    @classmethod
    def _whole(cls, data: Any) -> Any:
        if isinstance(data, dict):
            missing = [name for name in PUT_REQUIRED if name not in data]
            if missing:
                raise ValueError(
                    f"PUT replaces the whole settings document; missing: {', '.join(missing)}. Send "
                    "them too, or use PATCH to change only some fields"
                )
        return data

    @field_validator("pause_windows")
    @classmethod
    def _ordered(cls, value: list[PauseWindow] | None) -> list[PauseWindow] | None:
        return None if value is None else ordered_pause_windows(value)


class HoldSettingsPatch(_Request):
    """Hold thresholds to change; the others keep their current values."""

    mass_removal_percent: float | None = Field(None, ge=0, le=100)
    mass_removal_min_count: int | None = Field(None, ge=0)
    mass_update_percent: float | None = Field(None, ge=0, le=100)
    mass_update_min_count: int | None = Field(None, ge=0)
    max_contacts_per_student: int | None = Field(None, ge=1)
    emergency_contacts: Literal["hold", "drop", "allow"] | None = None
    emergency_contact_types: list[ShortText] | None = Field(None, max_length=50)
    class_id_reuse: bool | None = None
    stale_upload_days: int | None = Field(None, ge=1)
    schools_not_found: bool | None = None
    id_change_percent: float | None = Field(None, ge=0, le=100)
    id_change_min_count: int | None = Field(None, ge=0)


class SettingsPatch(_Request):
    """Some of a district's settings: the fields given replace their current values (inside
    ``holds``, each threshold given); every other field keeps its value. ``source`` and
    ``floors``: operator only."""

    name: str | None = Field(None, max_length=255)
    admin_emails: list[Email] | None = Field(None, max_length=50)
    school_ids: list[SchoolId] | None = Field(None, max_length=MAX_SCHOOLS)
    excluded_contact_types: list[ShortText] | None = Field(None, max_length=50)
    holds: HoldSettingsPatch | None = None
    hold_expiry_days: int | None = Field(None, ge=1, le=365)
    removals: RemovalsMode | None = Field(
        None,
        description="when removals hold: hold_over_threshold or hold_always (see docs/holds.md)",
    )
    pause_windows: list[PauseWindow] | None = Field(None, max_length=50)
    source: SourceSettings | None = None
    floors: SafetyFloors | None = None
    expected_sync_hours: int | None = Field(
        None,
        ge=1,
        le=MAX_EXPECTED_SYNC_HOURS,
        description="the district's sync cadence in hours (overdue alarm and email); null: the "
        "stack's default",
    )
    expected_sync_days: SyncDays | None = Field(
        None, description="every_day, or weekdays (weekends on the district's calendar do not count)"
    )
    time_zone: str | None = Field(
        None,
        max_length=64,
        description="IANA time zone (e.g. America/Chicago) the pause windows, reminders, sync cadence "
        "and pull times are read in",
    )

    @field_validator("pause_windows")
    @classmethod
    def _ordered(cls, value: list[PauseWindow] | None) -> list[PauseWindow] | None:
        return None if value is None else ordered_pause_windows(value)


class PauseWindowsRequest(_Request):
    """The district's pause windows, replaced as a whole (first and last day inclusive)."""

    windows: list[PauseWindow] = Field(max_length=50)

    @field_validator("windows")
    @classmethod
    def _ordered(cls, value: list[PauseWindow]) -> list[PauseWindow]:
        return ordered_pause_windows(value)


class PauseWindows(BaseModel):
    district_id: str
    windows: list[PauseWindow]
    active: PauseWindow | None = Field(description="the window today falls in, if any")


# --- status, versions, rollback, audit -----------------------------------------------------------


class SchoolView(BaseModel):
    school_id: str
    status: SchoolState
    sync_id: str | None = Field(None, description="the sync that last changed this school's status")
    last_applied_sync_id: str | None = Field(None, description="the sync whose changes were last accepted")
    last_applied_at: datetime | None = None
    counts: dict[str, int] = Field(description="changes applied to the school by its last accepted sync")


class SchoolList(BaseModel):
    district_id: str
    paused: bool
    schools: list[SchoolView]
    failed_sync: SyncSummary | None = Field(
        None, description="the district's latest finished sync, when it failed (e.g. before any hold)"
    )


class VersionView(BaseModel):
    version: int
    created_at: datetime
    sync_id: str | None = Field(None, description="the sync that promoted it")
    format: str | None = None
    counts: dict[str, int] = Field(description="rows per entity")


class VersionList(BaseModel):
    district_id: str
    latest: int | None
    versions: list[VersionView]


class RollbackRequest(_Request):
    version: int = Field(ge=1, le=999_999)
    comment: str | None = Field(None, max_length=1000)


class RollbackResponse(BaseModel):
    """The started sync: it stages ``source_version`` and goes through diff and holds."""

    district_id: str
    sync_id: str
    source_version: int
    status: SyncStatus


class AuditView(BaseModel):
    at: datetime
    actor: str
    actor_id: str | None = None
    action: str
    sync_id: str | None = None
    schools: list[str] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditList(BaseModel):
    district_id: str
    entries: list[AuditView]


class FailRequest(_Request):
    """Why an operator fails a stuck sync; kept in the audit log and the sync's reason."""

    comment: str | None = Field(None, max_length=1000)


class FailResponse(BaseModel):
    """An operator failed a sync: ``stopping`` (its execution is being stopped; the sync becomes
    ``failed`` when it has) or ``failed`` (its execution had already ended)."""

    district_id: str
    sync_id: str
    outcome: Literal["stopping", "failed"]
    reason: str
    actor: str
