"""The scheduled tick: every time-based piece of work, for every district, on one schedule.

EventBridge Scheduler invokes the tick function every few minutes (``TickSchedule`` in
template.yaml; the local stack calls the same :func:`tick` with its own clock). For each district
with stored settings it:

- emails the admins the day before a pause window starts, and on its last day (processing
  resumes the next day), on the district's calendar (``time_zone``);
- puts schools left ``paused`` back to ``connected`` once no window is in force;
- starts a sync for files still in the inbox once they are settled: a complete set kept during a
  pause is processed when the window ends, and an incomplete set past its grace period becomes an
  ``invalid_files`` hold naming each missing file (settle decides which; the tick only starts);
- reminds the admins of a hold about to expire (``hold_reminder_hours`` before), and expires a
  hold at its absolute deadline (the hold's task is resumed with ``expire``);

and then reports the operations metrics of :mod:`rostersync.pipeline.health` and emails the
admins of a district whose newest accepted version is overdue for its cadence (once per version).

Running it twice does nothing twice: a sync's name is derived from the inbox's exact content
(the state machine refuses a name twice, and the sync record is a conditional create), every
email has its own dedupe key (a marker in the table), and an expiry is a conditional write on
the hold's token. One district's failure is logged and the others go on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rostersync.pipeline import emails, health
from rostersync.pipeline.events import Decision
from rostersync.pipeline.intake import grace_ends, inbox_fingerprint, inbox_set
from rostersync.pipeline.layout import upload_id
from rostersync.pipeline.models import AuditEntry, SyncRecord
from rostersync.pipeline.names import names_of
from rostersync.pipeline.ports import Deps, TaskGoneError
from rostersync.pipeline.schools import set_school_states
from rostersync.settings import DistrictSettings

log = logging.getLogger(__name__)

TICK_ACTOR = "rostersync:tick"


class TickEvent(BaseModel):
    """What the tick schedule sends (``<aws.scheduler.scheduled-time>`` for the record only)."""

    model_config = ConfigDict(extra="ignore")

    source: Literal["rostersync.tick"]
    scheduled_time: str | None = Field(None, max_length=64)

    @property
    def step(self) -> str:
        return "tick"


class TickOutput(BaseModel):
    districts: int = 0
    started: list[str] = Field(default_factory=list)
    emailed: list[str] = Field(default_factory=list)
    expired: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


def tick(event: TickEvent, deps: Deps) -> TickOutput:
    """Do the time-based work of every district (see the module docstring)."""
    now = deps.clock()
    out = TickOutput()
    districts = deps.repo.list_settings()
    for settings in districts:
        out.districts += 1
        try:
            district_tick(settings, deps, now, out)
        except Exception as exc:  # one district must not stop the others' reminders and expiries
            log.exception("tick of district %s failed", settings.district_id)
            out.failed[settings.district_id] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        # The alarms' metrics (held sync age, hours since accepted, overdue districts).
        healths = health.report_health(deps)
    except Exception:
        log.exception("the health metrics could not be reported")
        healths = []
    overdue_notices(districts, healths, deps, out)
    return out


def district_tick(settings: DistrictSettings, deps: Deps, now: datetime, out: TickOutput) -> None:
    deps.repo.ensure_sync_index(settings.district_id)  # once: records from before the open-holds index
    pause_reminders(settings, deps, now, out)
    if settings.paused_at(now) is None:
        resume_paused_schools(settings, deps)
        start_settled_inbox(settings, deps, now, out)
    hold_deadline(settings, deps, now, out)


# --- pauses ----------------------------------------------------------------------------------------


def _mail(deps: Deps, settings: DistrictSettings, key: str, email: emails.Email, out: TickOutput) -> None:
    sent = deps.mailer.send(
        district_id=settings.district_id,
        dedupe_key=key,
        to=settings.admin_emails,
        subject=email.subject,
        text=email.text,
        html=email.html,
    )
    if sent:
        out.emailed.append(key)


def pause_reminders(settings: DistrictSettings, deps: Deps, now: datetime, out: TickOutput) -> None:
    """The day before a window's first day, and its last day, on the district's calendar."""
    today = settings.local_date(now)
    for window in settings.pause_windows:
        if today == window.first_day - timedelta(days=1):
            email = emails.pause_starting_email(
                district_id=settings.district_id,
                district_name=settings.name,
                first_day=window.first_day,
                last_day=window.last_day,
                names=names_of(deps, settings.district_id),
            )
            _mail(deps, settings, f"pause-start-{window.first_day}", email, out)
        if today == window.last_day:
            found = inbox_set(deps, settings.district_id)
            email = emails.pause_ending_email(
                district_id=settings.district_id,
                district_name=settings.name,
                last_day=window.last_day,
                waiting_files=len(found.files) if found is not None else 0,
                names=names_of(deps, settings.district_id),
            )
            _mail(deps, settings, f"pause-end-{window.last_day}", email, out)


def resume_paused_schools(settings: DistrictSettings, deps: Deps) -> None:
    """Schools a pause left ``paused`` are ``connected`` again once no window is in force."""
    paused = [s for s in deps.repo.list_school_status(settings.district_id) if s.status == "paused"]
    if paused:
        sync_id = paused[0].sync_id or TICK_ACTOR
        set_school_states(deps, settings.district_id, sync_id, [s.school_id for s in paused], "connected")


# --- sync cadence ----------------------------------------------------------------------------------


def overdue_notices(
    districts: list[DistrictSettings], healths: list[health.DistrictHealth], deps: Deps, out: TickOutput
) -> None:
    """Email the admins of each district whose newest accepted version is overdue for its cadence:
    once per such version (the dedupe key names it), so once per overdue episode."""
    by_id = {s.district_id: s for s in districts}
    for found in healths:
        settings = by_id.get(found.district_id)
        if settings is None or not found.overdue or found.last_version is None:
            continue
        base = deps.config.console_base_url
        email = emails.sync_overdue_email(
            district_id=settings.district_id,
            district_name=settings.name,
            last_version=found.last_version,
            hours_since=found.hours_since_last_accepted or 0.0,
            expected_hours=found.expected_sync_hours or deps.config.sync_cadence_hours,
            weekdays_only=settings.expected_sync_days == "weekdays",
            held_since_days=found.held_sync_age_days,
            console_url=f"{base.rstrip('/')}/districts/{settings.district_id}" if base else None,
        )
        try:
            _mail(deps, settings, f"sync-overdue-v{found.last_version}", email, out)
        except Exception as exc:  # one district's mail must not stop the others'
            log.exception("the overdue email of district %s failed", settings.district_id)
            out.failed[settings.district_id] = f"{type(exc).__name__}: {exc}"[:300]


# --- the inbox -------------------------------------------------------------------------------------


def start_settled_inbox(settings: DistrictSettings, deps: Deps, now: datetime, out: TickOutput) -> None:
    """Start a sync of what is still in the inbox: a complete set once it has been quiet (kept
    during a pause, or never taken), an incomplete one once its grace period has passed."""
    found = inbox_set(deps, settings.district_id)
    if found is None:
        return
    quiet = deps.config.quiet_period_seconds
    due = (
        grace_ends(settings, found.newest, quiet)
        if found.missing
        else found.newest + timedelta(seconds=quiet)
    )
    if now < due:
        return
    district_id = settings.district_id
    sync_id = f"{district_id}-{upload_id(f'tick:{inbox_fingerprint(found.files)}', None)}"
    if deps.repo.get_sync(district_id, sync_id) is not None:
        return
    reason = (
        f"incomplete file set past its grace period: missing {', '.join(found.missing)}"
        if found.missing
        else "files kept in the inbox (a pause ended, or they were never taken)"
    )
    payload = {
        "district_id": district_id,
        "sync_id": sync_id,
        "trigger": "upload",
        "object_key": None,
        # The files have been quiet already; settle judges the grace period from their times.
        "quiet_seconds": 0,
        "lock_retry_seconds": deps.config.lock_retry_seconds,
    }
    arn = deps.workflow.start(sync_id, payload)
    if arn is None:
        return
    record = SyncRecord(
        district_id=district_id,
        sync_id=sync_id,
        status="waiting",
        reason=reason,
        trigger="upload",
        execution_arn=arn,
        created_at=now,
        updated_at=now,
    )
    if not deps.repo.create_sync(record):
        deps.repo.update_sync(district_id, sync_id, now, execution_arn=arn, trigger="upload")
    out.started.append(sync_id)


# --- hold deadlines --------------------------------------------------------------------------------


def hold_deadline(settings: DistrictSettings, deps: Deps, now: datetime, out: TickOutput) -> None:
    """Remind the admins of the district's held sync before its deadline; expire it at it."""
    lock = deps.repo.get_lock(settings.district_id)
    if lock is None or lock.state != "held":
        return
    record = deps.repo.get_sync(settings.district_id, lock.owner)
    if record is None or record.hold_id is None or record.hold_expires_at is None:
        return
    expires = record.hold_expires_at
    if now >= expires:
        if expire_hold(deps, record, now):
            out.expired.append(record.sync_id)
        return
    if now >= expires - timedelta(hours=settings.hold_reminder_hours):
        email = emails.hold_reminder_email(
            district_id=settings.district_id,
            district_name=settings.name,
            sync_id=record.sync_id,
            held_schools=record.held_schools,
            expires_at=expires,
            names=names_of(deps, settings.district_id, record.sync_id),
        )
        _mail(deps, settings, f"hold-reminder-{record.sync_id}-{int(expires.timestamp())}", email, out)


def expire_hold(deps: Deps, record: SyncRecord, now: datetime) -> bool:
    """Close the open decision token as ``expired`` (conditional: an admin's decision made first
    wins) and resume the held execution with ``expire``; True if this call resumed it."""
    assert record.hold_id is not None
    deps.repo.close_token(record.hold_id, "expired")
    token = deps.repo.get_token(record.hold_id)
    if token is None or token.status != "expired":
        return False
    try:
        deps.workflow.send_success(
            token.task_token, Decision(action="expire", actor=TICK_ACTOR).model_dump(mode="json")
        )
    except TaskGoneError:
        return False  # resumed already (a tick run twice, or the state machine's own timeout)
    deps.repo.put_audit(
        AuditEntry(
            district_id=record.district_id,
            at=now,
            actor=TICK_ACTOR,
            action="expired",
            sync_id=record.sync_id,
            details={
                "hold_expires_at": record.hold_expires_at.isoformat() if record.hold_expires_at else None
            },
        )
    )
    return True
