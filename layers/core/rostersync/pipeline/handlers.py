"""What each Lambda function accepts: the step models of its steps, parsed in one call.

``functions/<name>/app.py`` parses its event with the adapter below and hands the model to
:func:`rostersync.pipeline.dispatch.run_step`; a step sent to the wrong function is a validation
error, not a silent no-op.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from rostersync.pipeline.events import (
    ApplyInput,
    AwaitDecisionInput,
    DeliveryFailedInput,
    DiffInput,
    EvaluateInput,
    ExecutionStatusChangeEvent,
    FetchInput,
    FinishInput,
    LockInput,
    NormalizeInput,
    NotifyInput,
    S3ObjectCreatedEvent,
    ScheduledSyncEvent,
    SettleInput,
)
from rostersync.pipeline.tick import TickEvent

IngestStep = Annotated[SettleInput | LockInput | NormalizeInput | FetchInput, Field(discriminator="step")]
DiffStep = Annotated[DiffInput | ApplyInput, Field(discriminator="step")]
HoldsStep = Annotated[
    EvaluateInput | AwaitDecisionInput | NotifyInput | DeliveryFailedInput | FinishInput,
    Field(discriminator="step"),
]

_INGEST: TypeAdapter[IngestStep] = TypeAdapter(IngestStep)
_S3_EVENT: TypeAdapter[S3ObjectCreatedEvent] = TypeAdapter(S3ObjectCreatedEvent)
_SCHEDULED: TypeAdapter[ScheduledSyncEvent] = TypeAdapter(ScheduledSyncEvent)
DIFF_EVENTS: TypeAdapter[DiffStep] = TypeAdapter(DiffStep)
HOLDS_EVENTS: TypeAdapter[HoldsStep] = TypeAdapter(HoldsStep)
_EXECUTION_ENDED: TypeAdapter[ExecutionStatusChangeEvent] = TypeAdapter(ExecutionStatusChangeEvent)


def parse_ingest_event(event: dict[str, Any]) -> Any:
    """An S3 "Object Created" EventBridge event (arrival), the pull schedule's event, or a
    settle/lock/fetch/normalize step."""
    if event.get("source") == "aws.s3":
        return _S3_EVENT.validate_python(event)
    if event.get("source") == "rostersync.scheduler":
        return _SCHEDULED.validate_python(event)
    return _INGEST.validate_python(event)


def parse_diff_event(event: dict[str, Any]) -> Any:
    return DIFF_EVENTS.validate_python(event)


def parse_holds_event(event: dict[str, Any]) -> Any:
    """A holds step, or Step Functions' execution status-change event (an execution that ended
    without finishing)."""
    if event.get("source") == "aws.states":
        return _EXECUTION_ENDED.validate_python(event)
    return HOLDS_EVENTS.validate_python(event)


def parse_tick_event(event: dict[str, Any]) -> TickEvent:
    """The tick schedule's event (``{"source": "rostersync.tick", ...}``)."""
    return TickEvent.model_validate(event)
