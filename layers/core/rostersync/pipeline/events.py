"""The payloads of the state machine's steps, as pydantic models.

The state machine calls a function with ``{"step": "<name>", ...}``; :data:`StepEvent` is the
discriminated union a handler parses that into. Outputs are what the state keeps (under the
``ResultPath`` of each task): S3 keys, ids and counts only, never rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from rostersync.pipeline.models import DecisionAction, RemovalsOption, SyncStatus, Trigger


class _Model(BaseModel):
    # The state carries more than each step reads; unknown keys are ignored, not an error.
    model_config = ConfigDict(extra="ignore")


class SyncRef(_Model):
    district_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    sync_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")


# --- outputs (kept in the state) ---------------------------------------------------------------


class SettleOutput(_Model):
    outcome: Literal["ready", "coalesced", "waiting", "paused"]
    reason: str | None = None
    format: str | None = None
    files: int = 0
    missing: list[str] = Field(default_factory=list)


class LockOutput(_Model):
    acquired: bool
    # The sync waited longer than the lock wait bound: it ends ``failed`` with ``reason``.
    gave_up: bool = False
    reason: str | None = None
    paused: bool = False
    owner: str | None = None
    superseded_sync_id: str | None = None
    hold_timeout_seconds: int


class NormalizeOutput(_Model):
    attempt: int = 1
    prefix: str
    raw_prefix: str
    staged_prefix: str | None = None
    errors_key: str | None = None
    format: str | None = None
    files: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    error_rows: int = 0
    alert_rows: int = 0
    file_problems: int = 0
    problems_key: str | None = None
    invalid: bool = False


class FetchOutput(_Model):
    """What a pull wrote (keys and counts), or why it did not: a hold to place or a pause."""

    # fetched: pages/files are under raw_prefix; push: nothing to pull (uploads); held: the
    # source failed (``hold`` says which hold); paused: the source reports a pause.
    outcome: Literal["fetched", "push", "held", "paused"]
    kind: str
    attempt: int = 1
    prefix: str
    raw_prefix: str
    manifest_key: str | None = None
    pages: int = 0
    records: int = 0
    files: int = 0
    hold: Literal["credentials", "disconnected"] | None = None
    reason: str | None = None


class DiffOutput(_Model):
    skipped: bool = False
    base_version: int | None = None
    changes_prefix: str | None = None
    changes_key: str | None = None
    summary_key: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)


class Progress(_Model):
    """Where a held sync stands: the version it builds on, and which schools are still held."""

    accepted_version: int | None = None
    applied_schools: list[str] = Field(default_factory=list)
    held_schools: list[str] = Field(default_factory=list)
    district_hold: bool = False
    releasable: bool = True
    applies: int = 0
    # Schools with changes and no hold of their own: applied before the sync waits, so one
    # school's hold does not keep the others' rosters back (empty under a district-wide hold).
    unheld_schools: list[str] = Field(default_factory=list)
    # Schools released with "keep removals held": their additions and changes are applied, their
    # removals wait (they are in held_schools again until released).
    removals_held: list[str] = Field(default_factory=list)
    # Everything but removals has been applied (a complete release that kept the removals held).
    removals_only: bool = False
    # How the unheld schools apply before the sync waits: "keep_held" under the district setting
    # removals: never_automatic (unheld_schools then also names the schools held for removals only).
    unheld_removals: RemovalsOption = "apply"


class EvaluateOutput(_Model):
    held: bool
    holds: int = 0
    holds_key: str | None = None
    held_schools: int = 0
    apply_unheld_first: bool = False
    progress: Progress


class AwaitDecisionOutput(_Model):
    registered: bool
    round: int = 0
    emailed: bool = False


class Decision(_Model):
    """What the decision path sends back through ``SendTaskSuccess``."""

    action: DecisionAction
    schools: list[str] | None = None
    actor: str | None = None
    removals: RemovalsOption = "apply"


class ApplyOutput(_Model):
    version: int | None = None
    previous_version: int | None = None
    promoted: bool = False
    complete: bool
    schools: list[str] | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    changes_prefix: str | None = None
    changes_key: str | None = None
    event_id: str | None = None
    progress: Progress


class NotifyOutput(_Model):
    sent: bool


class DeliveryFailedOutput(_Model):
    delivery: Literal["failed"]
    reason: str


class FinishOutput(_Model):
    status: SyncStatus
    lock_released: bool


# --- inputs ------------------------------------------------------------------------------------


class ArrivalOutput(_Model):
    started: bool
    district_id: str | None = None
    sync_id: str | None = None
    reason: str | None = None


class SettleInput(SyncRef):
    step: Literal["settle"]
    # None for syncs not started by an upload: the whole inbox is then the set.
    object_key: str | None = None
    trigger: Trigger = "upload"
    quiet_seconds: int = 0


class LockInput(SyncRef):
    step: Literal["lock"]
    trigger: Trigger = "upload"
    object_key: str | None = None
    # ``$$.Execution.Id`` and ``$$.Execution.StartTime``: the lock records the execution, and a
    # sync that has waited too long for the lock gives up (see rostersync.pipeline.locks).
    execution_arn: str | None = None
    started_at: datetime | None = None


class NormalizeInput(SyncRef):
    step: Literal["normalize"]


class FetchInput(SyncRef):
    step: Literal["fetch"]
    trigger: Trigger = "schedule"


class DiffInput(SyncRef):
    step: Literal["diff"]
    normalize: NormalizeOutput


class EvaluateInput(SyncRef):
    step: Literal["evaluate"]
    # A pull that failed is evaluated from ``fetch`` alone (its credentials/disconnected hold);
    # otherwise from what normalize and diff wrote.
    normalize: NormalizeOutput | None = None
    diff: DiffOutput | None = None
    fetch: FetchOutput | None = None


class AwaitDecisionInput(SyncRef):
    step: Literal["await_decision"]
    task_token: str = Field(min_length=1, repr=False)
    progress: Progress
    hold_timeout_seconds: int = Field(ge=1)


class ApplyInput(SyncRef):
    step: Literal["apply"]
    normalize: NormalizeOutput
    diff: DiffOutput
    progress: Progress
    # The released schools; None releases everything still held.
    schools: list[str] | None = None
    # "keep_held": apply the additions and changes only; the removals stay held.
    removals: RemovalsOption = "apply"


class NotifyInput(SyncRef):
    step: Literal["notify"]
    apply: ApplyOutput


class DeliveryFailedInput(SyncRef):
    step: Literal["delivery_failed"]
    # The Catch's ``{"Error": ..., "Cause": ...}`` of the Notify task after its retries.
    error: dict[str, Any] | None = None


class FinishInput(SyncRef):
    step: Literal["finish"]
    status: SyncStatus
    reason: str | None = None
    # A Catch's ``{"Error": ..., "Cause": ...}`` on the failure path.
    error: dict[str, Any] | None = None


StepEvent = Annotated[
    SettleInput
    | LockInput
    | NormalizeInput
    | FetchInput
    | DiffInput
    | EvaluateInput
    | AwaitDecisionInput
    | ApplyInput
    | NotifyInput
    | DeliveryFailedInput
    | FinishInput,
    Field(discriminator="step"),
]
STEP_EVENT: TypeAdapter[StepEvent] = TypeAdapter(StepEvent)


def parse_step(event: dict[str, Any]) -> StepEvent:
    """The step model of a state machine payload (pydantic ValidationError if malformed)."""
    return STEP_EVENT.validate_python(event)


# --- S3 "Object Created" through EventBridge ----------------------------------------------------


class S3Bucket(_Model):
    name: str


class S3Object(_Model):
    key: str
    etag: str | None = None
    sequencer: str | None = None
    size: int | None = None


class S3EventDetail(_Model):
    bucket: S3Bucket
    object: S3Object


class S3ObjectCreatedEvent(_Model):
    """The EventBridge event S3 sends when an object is created (source ``aws.s3``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["aws.s3"]
    detail_type: str = Field(alias="detail-type")
    detail: S3EventDetail


# --- EventBridge Scheduler -> ingest ------------------------------------------------------------


class ScheduledSyncEvent(_Model):
    """What the pull schedule sends the ingest function (the ``Input`` of its target).

    Without ``district_id`` every district whose source is pulled gets an execution; with it (a
    per-district schedule made at onboarding) only that district. ``scheduled_time`` is the
    scheduler's ``<aws.scheduler.scheduled-time>``: the same time gives the same sync id, so a
    retried delivery starts nothing new.
    """

    source: Literal["rostersync.scheduler"]
    district_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    scheduled_time: str | None = Field(None, max_length=64)

    @property
    def step(self) -> str:
        return "scheduled_sync"


class ScheduledSyncOutput(_Model):
    started: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)


# --- Step Functions -> holds (execution status change) ------------------------------------------


class ExecutionStatusDetail(_Model):
    """The ``detail`` of a "Step Functions Execution Status Change" event (fields we read)."""

    executionArn: str
    stateMachineArn: str
    name: str
    status: str
    input: str | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionStatusChangeEvent(_Model):
    """What EventBridge delivers when a sync execution ends FAILED, TIMED_OUT or ABORTED."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["aws.states"]
    detail_type: str = Field(alias="detail-type")
    detail: ExecutionStatusDetail

    @property
    def step(self) -> str:
        """What the handlers log and count this event as."""
        return "execution_ended"


class ExecutionEndedOutput(_Model):
    """What the status-change handler did about an execution that ended without finishing."""

    district_id: str | None = None
    sync_id: str | None = None
    failed: bool = False
    lock_released: bool = False
    reason: str | None = None
