"""The decide stage, API side: an admin's decision on a held sync (release some or all schools,
reject, retry).

:func:`submit_decision` is what the release API (and the tests) call. It finds the open decision
token of the sync behind its opaque hold id, marks it decided with a conditional write (so a
second decision is refused and never resumes the execution twice) and resumes the waiting task
with ``SendTaskSuccess``. The task token never leaves this module and the repository.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from rostersync.pipeline.events import Decision
from rostersync.pipeline.models import AuditEntry, DecisionAction, DecisionToken, RemovalsOption, SyncRecord
from rostersync.pipeline.ports import Repository, TaskGoneError, Workflow

HELD_STATUSES = frozenset({"held", "partially_applied"})


class DecisionError(Exception):
    """A decision that cannot be taken (base of the errors below)."""


class SyncNotFoundError(DecisionError):
    """No sync with that id in that district."""


class NotOnHoldError(DecisionError):
    """The sync is not waiting for a decision (running, finished, or superseded)."""


class AlreadyDecidedError(DecisionError):
    """Someone already decided this hold; the execution was resumed once, by them."""


class DecisionInProgressError(AlreadyDecidedError):
    """The hold's previous decision is still being carried out: the sync has not yet reached its
    next decision round (after a partial release) or its end. Asking again in a few seconds
    gets either the next round or the sync's final status."""


class HoldExpiredError(DecisionError):
    """The hold timed out: the sync ended as ``expired`` and nothing was applied."""


class InvalidDecisionError(DecisionError):
    """The decision does not fit the hold (e.g. releasing a school that is not held)."""


class DecisionResult(BaseModel):
    district_id: str
    sync_id: str
    action: DecisionAction
    schools: list[str] | None
    actor: str
    decided_at: datetime


def _expired(record: SyncRecord) -> HoldExpiredError:
    """The hold timed out (at its deadline, when the sync says it); what it applied is said as it
    is (released schools stay applied)."""
    applied = (
        f"nothing more was applied (already applied: {', '.join(record.applied_schools)})"
        if record.applied_schools
        else "nothing was applied"
    )
    deadline = record.hold_expires_at
    when = f" at {deadline.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if deadline is not None else ""
    return HoldExpiredError(f"the hold of sync {record.sync_id} expired{when}; {applied}")


def _past_deadline(record: SyncRecord, token: DecisionToken, now: datetime) -> bool:
    """The hold is expired, whatever step the sync is at: the tick marked its token ``expired``
    (Finish may not have run yet, so the sync can still say ``held``), the sync ended
    ``expired``, or the open hold's absolute deadline has passed before the tick came round."""
    if token.status == "expired" or record.status == "expired":
        return True
    if token.status != "open":
        return False  # closed by a reject, a supersede or a failure: not on hold, not expired
    deadline = record.hold_expires_at
    return (deadline is not None and now >= deadline) or token.expires_at < int(now.timestamp())


def _in_progress(sync_id: str, token: DecisionToken) -> DecisionInProgressError:
    by = f" by {token.decided_by}" if token.decided_by else ""
    return DecisionInProgressError(
        f"the hold of sync {sync_id} was already decided ({token.action}{by}) and that decision is "
        "still being applied; try again in a few seconds"
    )


def _applying(record: SyncRecord, token: DecisionToken) -> bool:
    """The decision reached the execution (``sent_at``) and the sync still says held: it is being
    carried out. A decided token never sent (the invocation died before SendTaskSuccess) is not:
    the same decision taken again sends it."""
    return record.status in HELD_STATUSES and token.status == "decided" and token.sent_at is not None


def decision_in_progress(repo: Repository, record: SyncRecord) -> bool:
    """True in the gap between a decision and what follows it: the sync still says held (or
    partly applied) while its decision token is decided and sent, i.e. the released changes are
    being applied and, after a partial release, the next decision round is not open yet."""
    if record.status not in HELD_STATUSES or record.hold_id is None:
        return False
    token = repo.get_token(record.hold_id)
    return token is not None and _applying(record, token)


def _open_hold(
    repo: Repository, district_id: str, sync_id: str, now: datetime
) -> tuple[SyncRecord, DecisionToken]:
    """The sync and its open decision token, or the error saying why there is none to decide."""
    record = repo.get_sync(district_id, sync_id)
    if record is None:
        raise SyncNotFoundError(f"no sync {sync_id} in district {district_id}")
    if record.hold_id is None:
        raise NotOnHoldError(f"sync {sync_id} is {record.status}, not on hold")
    token = repo.get_token(record.hold_id)
    if token is None or token.district_id != district_id or token.sync_id != sync_id:
        raise NotOnHoldError(f"sync {sync_id} has no open hold")
    if token.status == "decided":
        if _applying(record, token):
            raise _in_progress(sync_id, token)
        raise AlreadyDecidedError(f"the hold of sync {sync_id} was already decided ({token.action})")
    if _past_deadline(record, token, now):
        raise _expired(record)
    if token.status != "open" or record.status not in HELD_STATUSES:
        raise NotOnHoldError(f"sync {sync_id} is {record.status}, not on hold")
    return record, token


def _unsent(
    repo: Repository, district_id: str, sync_id: str, action: DecisionAction
) -> tuple[SyncRecord, DecisionToken] | None:
    """The hold of a sync still waiting for a decision that was taken (``action``, the token is
    decided) but never reached the execution: the invocation that took it died before
    SendTaskSuccess answered. Taking the same decision again sends it. Not for a retry (its
    attempt count may already have moved)."""
    record = repo.get_sync(district_id, sync_id)
    if action == "retry" or record is None or record.hold_id is None or record.status not in HELD_STATUSES:
        return None
    token = repo.get_token(record.hold_id)
    if token is None or (token.district_id, token.sync_id, token.action) != (district_id, sync_id, action):
        return None
    return (record, token) if token.status == "decided" and token.sent_at is None else None


def _decided_schools(
    record: SyncRecord, action: DecisionAction, schools: list[str] | None
) -> list[str] | None:
    """The schools a decision names (sorted, once each), checked against the hold."""
    if action != "release":
        if schools is not None:
            raise InvalidDecisionError("only a release names schools")
        return None
    if not record.releasable:
        raise InvalidDecisionError(
            "this sync's files are invalid: nothing can be released; send the files again or retry"
        )
    if schools is None:
        return None
    schools = sorted(dict.fromkeys(schools))
    unknown = [s for s in schools if s not in record.held_schools]
    if not schools or unknown:
        raise InvalidDecisionError(
            f"schools not on hold: {', '.join(unknown) or '(none named)'}; "
            f"held: {', '.join(record.held_schools) or 'district-wide only'}"
        )
    return schools


def submit_decision(
    repo: Repository,
    workflow: Workflow,
    *,
    district_id: str,
    sync_id: str,
    action: DecisionAction,
    actor: str,
    schools: list[str] | None = None,
    now: datetime | None = None,
    actor_id: str | None = None,
    details: dict[str, Any] | None = None,
    removals: RemovalsOption = "apply",
) -> DecisionResult:
    """Decide the open hold of ``sync_id`` and resume its execution.

    ``schools`` (release only) names a subset of the held schools: those apply and the rest stay
    on hold; None releases everything. Raises :class:`SyncNotFoundError`,
    :class:`NotOnHoldError`, :class:`AlreadyDecidedError`, :class:`HoldExpiredError` or
    :class:`InvalidDecisionError`. ``actor_id`` (the caller's stable identity) and ``details``
    (e.g. the hold types acknowledged) go to the audit entry. ``removals`` "keep_held"
    (release only) applies the additions and changes and keeps the removals held.
    """
    now = now or datetime.now(UTC)
    try:
        record, token = _open_hold(repo, district_id, sync_id, now)
    except AlreadyDecidedError:
        unsent = _unsent(repo, district_id, sync_id, action)
        if unsent is None:
            raise
        record, token = unsent
    schools = _decided_schools(record, action, schools)
    if removals != "apply" and action != "release":
        raise InvalidDecisionError("only a release can keep removals held")
    # The lock goes back to "active" first, so a newer upload cannot supersede a sync that is
    # being released; if the lock is no longer ours, a newer upload superseded this sync.
    if action != "superseded" and not repo.set_lock_state(district_id, sync_id, "active"):
        raise NotOnHoldError(f"sync {sync_id} was superseded by a newer upload")
    if token.status == "open" and not repo.decide_token(token.hold_id, action, actor, now):
        raise AlreadyDecidedError(f"the hold of sync {sync_id} was already decided")
    if action == "retry":
        # normalize reads the inbox again into a fresh prefix for this attempt.
        repo.update_sync(district_id, sync_id, now, attempt=record.attempt + 1)
    try:
        workflow.send_success(
            token.task_token,
            Decision(action=action, schools=schools, actor=actor, removals=removals).model_dump(mode="json"),
        )
    except TaskGoneError:
        if token.status == "decided":  # sent again, but the first sending had reached it
            raise AlreadyDecidedError(f"the hold of sync {sync_id} was already decided ({action})") from None
        raise _expired(record) from None
    repo.token_sent(token.hold_id, now)
    repo.put_audit(
        AuditEntry(
            district_id=district_id,
            at=now,
            actor=actor,
            actor_id=actor_id,
            action=action,
            sync_id=sync_id,
            schools=schools,
            details=details or {},
        )
    )
    return DecisionResult(
        district_id=district_id, sync_id=sync_id, action=action, schools=schools, actor=actor, decided_at=now
    )
