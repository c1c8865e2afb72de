"""The finish stage: every sync ends here, whatever its outcome, and gives the district back.

:func:`finish` records the final status and reason, closes an open hold, settles the schools
the sync left on hold, emails the admins about a failure or a rejection, and releases the
district's lock if the sync still owns it. :func:`failure_reason` turns a state machine Catch's
error into the short reason an admin reads. :func:`fail_stranded` is the finish of a sync whose
execution ended without reaching Finish (stopped, crashed, timed out):
:func:`rostersync.pipeline.stranded.settle_stranded`, and the admins are emailed.
"""

from __future__ import annotations

import json
from typing import Any

from rostersync.pipeline import emails, feed, inbox
from rostersync.pipeline.events import FinishInput, FinishOutput
from rostersync.pipeline.models import SchoolState, SyncRecord
from rostersync.pipeline.names import names_of
from rostersync.pipeline.ports import Deps
from rostersync.pipeline.schools import set_school_states
from rostersync.pipeline.stranded import restore_schools, settle_stranded

_NOTHING_MORE = frozenset({"rejected", "expired", "superseded"})
_SCHOOL_STATE_ON_FINISH: dict[str, SchoolState] = {
    "rejected": "connected",
    "expired": "connected",
    "superseded": "connected",
    "failed": "failed",
}


def _cause_message(cause: str) -> tuple[str | None, str]:
    """The error type (if the cause names one) and message of a Lambda error's JSON cause."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return None, cause
    if not isinstance(parsed, dict):
        return None, cause
    message = str(parsed.get("errorMessage") or parsed.get("errorType") or "")
    return (str(parsed["errorType"]) if parsed.get("errorType") else None), message


def failure_reason(error: dict[str, Any] | None) -> str:
    """A short reason from a Catch's ``{"Error", "Cause"}`` (a Lambda error's message, not its trace)."""
    if not error:
        return "unknown error"
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str):
        error_type, message = _cause_message(cause)
        name = error_type or name
    text = f"{name}: {message}" if message else name
    return text[:500]


def truthful_reason(status: str, reason: str | None, applied_schools: list[str]) -> str | None:
    """A reject, expiry or supersede after some schools were released applied nothing *more*:
    the reason says so instead of "nothing applied"."""
    if not reason or not applied_schools or status not in _NOTHING_MORE:
        return reason
    return reason.replace(
        "nothing applied", f"nothing more applied (already applied: {', '.join(applied_schools)})"
    )


def finish(inp: FinishInput, deps: Deps) -> FinishOutput:
    """Record the final status (and reason), close an open hold, release the lock if still ours.

    A finished sync holds nothing and can release nothing: ``held_schools`` is emptied and
    ``releasable`` false, whatever the outcome (the held schools' findings stay in ``holds``)."""
    now = deps.clock()
    reason = inp.reason
    if inp.status == "failed":
        reason = failure_reason(inp.error) if inp.error else (reason or "failed")
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    reason = truthful_reason(inp.status, reason, record.applied_schools if record else [])
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status=inp.status,
        reason=reason,
        finished_at=now.isoformat(),
        held_schools=[],
        releasable=False,
    )
    if record is not None and record.hold_id:
        deps.repo.close_token(record.hold_id, "expired" if inp.status == "expired" else "closed")
    _settle_schools(inp, deps, record)
    if inp.status in ("rejected", "expired") and record is not None:
        # An incomplete set's files leave the inbox with its hold (nothing lost: archived).
        inbox.archive_left(deps, inp.district_id, inp.sync_id, record.attempt)
    _email_outcome(inp, deps, record, reason)
    feed.publish_ended(
        deps,
        district_id=inp.district_id,
        sync_id=inp.sync_id,
        status=inp.status,
        reason=reason,
        record=record,
    )
    released = deps.repo.release_lock(inp.district_id, inp.sync_id)
    return FinishOutput(status=inp.status, lock_released=released)


def _settle_schools(inp: FinishInput, deps: Deps, record: SyncRecord | None) -> None:
    """Schools still on hold go back to connected (or failed); a pause marks every school paused."""
    school_state = _SCHOOL_STATE_ON_FINISH.get(inp.status)
    if record is not None and school_state is not None:
        schools = [s for s in record.held_schools if s not in record.applied_schools]
        if schools and school_state == "connected":
            # Nothing of this sync reached them: the board points at their last applied sync.
            restore_schools(deps.repo, inp.district_id, inp.sync_id, schools)
        elif schools:
            set_school_states(deps, inp.district_id, inp.sync_id, schools, school_state)
    if inp.status == "paused":
        known = [s.school_id for s in deps.repo.list_school_status(inp.district_id)]
        set_school_states(deps, inp.district_id, inp.sync_id, known, "paused")


def _email_outcome(inp: FinishInput, deps: Deps, record: SyncRecord | None, reason: str | None) -> None:
    """Email the admins that the sync failed or was rejected (once per sync)."""
    if inp.status == "failed":
        email = emails.failed_email(
            district_id=inp.district_id,
            sync_id=inp.sync_id,
            reason=reason or "",
            names=names_of(deps, inp.district_id, inp.sync_id),
        )
        _mail_admins(deps, inp.district_id, f"failed-{inp.sync_id}", email)
    if inp.status == "rejected":
        # Who rejected it is on the decided token (the API wrote it there, with the audit entry).
        token = deps.repo.get_token(record.hold_id) if record is not None and record.hold_id else None
        email = emails.rejected_email(
            district_id=inp.district_id,
            sync_id=inp.sync_id,
            actor=token.decided_by if token is not None else None,
            applied_schools=record.applied_schools if record is not None else [],
            names=names_of(deps, inp.district_id, inp.sync_id),
        )
        _mail_admins(deps, inp.district_id, f"rejected-{inp.sync_id}", email)
    if inp.status in ("expired", "superseded") and record is not None and record.hold_id:
        _email_hold_ended(inp, deps, record)


def _email_hold_ended(inp: FinishInput, deps: Deps, record: SyncRecord) -> None:
    """Email the admins that a hold expired or a newer upload superseded it (once per sync)."""
    name = deps.repo.get_settings(inp.district_id).name
    build = emails.hold_expired_email if inp.status == "expired" else emails.hold_superseded_email
    email = build(
        district_id=inp.district_id,
        district_name=name,
        sync_id=inp.sync_id,
        applied_schools=record.applied_schools,
        names=names_of(deps, inp.district_id, inp.sync_id) if record.applied_schools else None,
    )
    _mail_admins(deps, inp.district_id, f"{inp.status}-{inp.sync_id}", email)


def _mail_admins(deps: Deps, district_id: str, dedupe_key: str, email: emails.Email) -> bool:
    settings = deps.repo.get_settings(district_id)
    return deps.mailer.send(
        district_id=district_id,
        dedupe_key=dedupe_key,
        to=settings.admin_emails,
        subject=email.subject,
        text=email.text,
        html=email.html,
    )


def fail_stranded(
    deps: Deps, district_id: str, sync_id: str, *, reason: str, actor: str, release: bool = True
) -> bool:
    """:func:`settle_stranded`, and the admins are emailed that the sync failed (once per sync)."""
    failed = settle_stranded(
        deps.repo, district_id, sync_id, deps.clock(), reason=reason, actor=actor, release=release
    )
    if failed:
        email = emails.failed_email(
            district_id=district_id,
            sync_id=sync_id,
            reason=reason,
            names=names_of(deps, district_id, sync_id),
        )
        _mail_admins(deps, district_id, f"failed-{sync_id}", email)
    return failed
