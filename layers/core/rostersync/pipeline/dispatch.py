"""The dispatcher: which stage function runs each step of the sync state machine.

``functions/<name>/app.py`` parses its event into a step model (:mod:`rostersync.pipeline.handlers`)
and calls :func:`run_step`, which looks the model's type up below. The stages, in the order a
sync lives: intake (arrival, settle), locks (lock), pull (the schedule, fetch), stage (normalize, diff),
decide (evaluate, await_decision), release (apply, notify), finish; the scheduled tick; and outside
the machine, an execution that ended without finishing (ended).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rostersync.pipeline import decide, ended, finish, intake, locks, pull, release, stage, tick
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
from rostersync.pipeline.ports import Deps

STEPS: dict[type[Any], Callable[[Any, Deps], Any]] = {
    S3ObjectCreatedEvent: intake.arrival,
    SettleInput: intake.settle,
    LockInput: locks.lock,
    ScheduledSyncEvent: pull.start_scheduled,
    FetchInput: pull.fetch,
    NormalizeInput: stage.normalize,
    DiffInput: stage.diff,
    EvaluateInput: decide.evaluate,
    AwaitDecisionInput: decide.await_decision,
    ApplyInput: release.apply,
    NotifyInput: release.notify,
    DeliveryFailedInput: release.delivery_failed,
    FinishInput: finish.finish,
    tick.TickEvent: tick.tick,
    ExecutionStatusChangeEvent: ended.execution_ended,
}


def run_step(event: Any, deps: Deps) -> Any:
    """Run the step ``event`` (a parsed step model) is the input of."""
    return STEPS[type(event)](event, deps)
