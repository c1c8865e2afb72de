"""The steps of the sync state machine (``statemachine/sync.asl.json``), one function each.

Order: arrival (S3 event → execution) → settle → lock (with the pause check) → normalize → diff →
evaluate → await_decision (when held) → apply → notify → finish. Each step reads and writes S3
through the injected blob stores, records the sync in the repository, and returns a small model:
keys, ids and counts. Steps are idempotent under a Lambda retry: fixed keys, conditional writes
and deduplicated side effects.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from rostersync import holds as holds_mod
from rostersync import reports
from rostersync.changes import ChangeSet
from rostersync.diff import apply_changes, diff_rosters, summarize
from rostersync.formats import load_roster
from rostersync.formats.detect import (
    CLEVER_REQUIRED,
    ONEROSTER_12_REQUIRED,
    ONEROSTER_REQUIRED,
    declared_absent,
    manifest_version,
)
from rostersync.issues import FileProblem, InvalidFilesError, concat_issues, empty_issues
from rostersync.pipeline import emails
from rostersync.pipeline.changesets import (
    change_counts,
    change_schools,
    only_schools,
    read_change_set,
    without_schools,
    write_change_set,
)
from rostersync.pipeline.events import (
    ApplyInput,
    ApplyOutput,
    ArrivalOutput,
    AwaitDecisionInput,
    AwaitDecisionOutput,
    DiffInput,
    DiffOutput,
    EvaluateInput,
    EvaluateOutput,
    FetchInput,
    FinishInput,
    FinishOutput,
    LockInput,
    LockOutput,
    NormalizeInput,
    NormalizeOutput,
    NotifyInput,
    NotifyOutput,
    Progress,
    S3ObjectCreatedEvent,
    ScheduledSyncEvent,
    SettleInput,
    SettleOutput,
)
from rostersync.pipeline.models import AuditEntry, DecisionToken, SchoolState, SchoolStatus, SyncRecord
from rostersync.pipeline.ports import Deps, ObjectInfo, TaskGoneError
from rostersync.records import Hold
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings
from rostersync.snapshot import (
    join_key,
    latest_version,
    promote_version,
    read_snapshot,
    read_version,
    version_prefix,
    write_snapshot,
)

log = logging.getLogger(__name__)

APPLIED_DETAIL_TYPE = "RosterChangesApplied"
# Execution names are at most 80 characters: district (<= 64) + "-" + 12 hex digits.
_UPLOAD_ID_LENGTH = 12
_DISTRICT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A hold token outlives its timeout by a day in the table (TTL), so a late decision is told
# "expired" rather than "not found".
_TOKEN_TTL_MARGIN = timedelta(days=1)
_MAX_RECORDED_HOLDS = 200
# The "format" a rollback's input is read in: an accepted snapshot version.
ROLLBACK_FORMAT = "snapshot"


# --- keys ----------------------------------------------------------------------------------------


def inbox_prefix(district_id: str) -> str:
    return f"inbox/{district_id}/"


def district_prefix(district_id: str) -> str:
    """Where a district's accepted versions live in the snapshot bucket."""
    return f"districts/{district_id}"


def sync_prefix(district_id: str, sync_id: str, attempt: int = 1) -> str:
    """A sync's own prefix (raw copy in the raw bucket; staged data, changes and reports in the
    snapshot bucket). A retried sync ("I fixed it") reads the inbox again into a fresh prefix so
    the earlier attempt's files stay as they were."""
    base = f"syncs/{district_id}/{sync_id}"
    return base if attempt <= 1 else f"{base}/attempt-{attempt}"


def upload_id(object_key: str, version_tag: str | None) -> str:
    """A short id of one upload of one object: its key plus the S3 sequencer (or ETag)."""
    digest = hashlib.sha256(f"{object_key}\n{version_tag or ''}".encode()).hexdigest()
    return digest[:_UPLOAD_ID_LENGTH]


def hold_timeout_seconds(settings: DistrictSettings, default_seconds: int) -> int:
    """The district's ``hold_expiry_days`` when it set one, else the deployment's default."""
    if "hold_expiry_days" in settings.model_fields_set:
        return settings.hold_expiry_days * 86400
    return default_seconds


def _inbox_files(deps: Deps, district_id: str) -> list[ObjectInfo]:
    prefix = inbox_prefix(district_id)
    return [
        o
        for o in deps.raw.describe(prefix)
        if o.key[len(prefix) :] and "/" not in o.key[len(prefix) :] and not o.key.endswith("/")
    ]


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def missing_files(names: list[str], manifest: dict[str, str] | None = None) -> tuple[str | None, list[str]]:
    """The format a set of file names is for, and the required files it still lacks.

    OneRoster when a ``manifest.csv`` is present (1.2 needs ``roles.csv`` too, when the manifest
    says 1.2), else Clever-style CSV.
    """
    present = {n.lower() for n in names}
    required: tuple[str, ...]
    if "manifest.csv" in present:
        version = manifest_version(manifest or {}) or ""
        if version.startswith("1.2") or (not version and "roles.csv" in present):
            fmt, required = "oneroster_1.2_csv", ONEROSTER_12_REQUIRED
        else:
            fmt, required = "oneroster_1.1_csv", ONEROSTER_REQUIRED
    else:
        fmt, required = "clever_csv", CLEVER_REQUIRED
    absent = declared_absent(manifest or {})
    return fmt, [r for r in required if r.lower() not in present and r.lower() not in absent]


def _read_manifest_properties(data: bytes) -> dict[str, str]:
    from rostersync.formats.detect import read_manifest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        path.write_bytes(data)
        return read_manifest(path)


# --- arrival -------------------------------------------------------------------------------------


def arrival(event: S3ObjectCreatedEvent, deps: Deps) -> ArrivalOutput:
    """An object landed in the raw bucket: start the district's sync under a deterministic name.

    Keys outside ``inbox/<district_id>/<file>`` are ignored. The execution name is
    ``<district_id>-<upload id>``, so a duplicated S3 event starts nothing new.
    """
    key = event.detail.object.key
    bucket = event.detail.bucket.name
    if deps.config.raw_bucket and bucket != deps.config.raw_bucket:
        return ArrivalOutput(started=False, reason=f"not the raw bucket: {bucket}")
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "inbox" or not _DISTRICT_RE.match(parts[1]) or not parts[2]:
        return ArrivalOutput(started=False, reason="not an inbox file")
    district_id = parts[1]
    tag = event.detail.object.sequencer or event.detail.object.etag
    sync_id = f"{district_id}-{upload_id(key, tag)}"
    payload = {
        "district_id": district_id,
        "sync_id": sync_id,
        "trigger": "upload",
        "object_key": key,
        "quiet_seconds": deps.config.quiet_period_seconds,
        "lock_retry_seconds": deps.config.lock_retry_seconds,
    }
    duplicate = ArrivalOutput(
        started=False, district_id=district_id, sync_id=sync_id, reason="duplicate event"
    )
    if deps.repo.get_sync(district_id, sync_id) is not None:
        return duplicate
    # Step Functions answers a repeated name (and input) of a running execution with that
    # execution, and ExecutionAlreadyExists once it has ended: either way nothing new starts.
    arn = deps.workflow.start(sync_id, payload)
    if arn is None:
        return duplicate
    now = deps.clock()
    created = deps.repo.create_sync(
        SyncRecord(
            district_id=district_id,
            sync_id=sync_id,
            status="waiting",
            reason="quiet period after the last upload",
            trigger="upload",
            upload=key,
            execution_arn=arn,
            created_at=now,
            updated_at=now,
        )
    )
    if not created:  # the execution's first step got there first (zero quiet period)
        deps.repo.update_sync(district_id, sync_id, now, execution_arn=arn, trigger="upload", upload=key)
    return ArrivalOutput(started=True, district_id=district_id, sync_id=sync_id)


# --- settle --------------------------------------------------------------------------------------


def settle(inp: SettleInput, deps: Deps) -> SettleOutput:
    """After the quiet period: is this still the newest upload, and is the set complete?

    A rollback reads an accepted version, not the inbox: it is always ready."""
    if inp.trigger == "rollback":
        return SettleOutput(outcome="ready", format=ROLLBACK_FORMAT)
    now = deps.clock()
    files = _inbox_files(deps, inp.district_id)

    def end(outcome: str, reason: str, **extra: Any) -> SettleOutput:
        status = "coalesced" if outcome == "coalesced" else "waiting"
        deps.repo.update_sync(inp.district_id, inp.sync_id, now, status=status, reason=reason)
        return SettleOutput.model_validate(
            {"outcome": outcome, "reason": reason, "files": len(files), **extra}
        )

    if inp.object_key is not None:
        mine = next((o for o in files if o.key == inp.object_key), None)
        if mine is None:
            return end("coalesced", f"{_name(inp.object_key)} is no longer in the inbox")
        newer = [o for o in files if o.last_modified > mine.last_modified]
        if newer:
            return end("coalesced", f"a later upload ({_name(newer[-1].key)}) takes over")
    names = [_name(o.key) for o in files]
    manifest_key = next((o.key for o in files if _name(o.key).lower() == "manifest.csv"), None)
    manifest = _read_manifest_properties(deps.raw.get(manifest_key)) if manifest_key else None
    fmt, missing = missing_files(names, manifest)
    if missing:
        return end(
            "waiting", f"incomplete file set: missing {', '.join(missing)}", format=fmt, missing=missing
        )
    # Files uploaded in the same second all look "newest": the first sync to claim this exact
    # set (keys, ETags, times) processes it and the others coalesce.
    fingerprint = hashlib.sha256(
        "\n".join(f"{o.key}|{o.etag}|{o.last_modified.isoformat()}" for o in files).encode()
    ).hexdigest()
    if not deps.repo.claim(inp.district_id, f"UPLOAD#{fingerprint}", now, owner=inp.sync_id):
        return end("coalesced", "the same file set is processed by another sync", format=fmt)
    return SettleOutput(outcome="ready", format=fmt, files=len(files))


# --- lock and pause check ------------------------------------------------------------------------


def _supersede(inp: LockInput, deps: Deps, held_owner: str, now: datetime) -> bool:
    """Take the lock from a *held* sync: decide its token as ``superseded`` (conditional, so an
    admin's concurrent decision wins or loses cleanly), move the lock, resume its execution."""
    record = deps.repo.get_sync(inp.district_id, held_owner)
    if record is None or record.hold_id is None:
        return False
    if not deps.repo.decide_token(record.hold_id, "superseded", f"sync:{inp.sync_id}", now):
        return False  # decided meanwhile: that sync is moving on, wait for it
    token = deps.repo.get_token(record.hold_id)
    taken = deps.repo.take_over_lock(inp.district_id, held_owner, inp.sync_id, now)
    if token is not None:
        try:
            deps.workflow.send_success(
                token.task_token, {"action": "superseded", "schools": None, "actor": f"sync:{inp.sync_id}"}
            )
        except TaskGoneError:
            log.info("held sync %s had already timed out", held_owner)
    deps.repo.put_audit(
        AuditEntry(
            district_id=inp.district_id,
            at=now,
            actor=f"sync:{inp.sync_id}",
            action="superseded",
            sync_id=held_owner,
        )
    )
    return taken


def lock(inp: LockInput, deps: Deps) -> LockOutput:
    """Take the district's lock (conditional write); supersede a held sync; check the pause."""
    now = deps.clock()
    settings = deps.repo.get_settings(inp.district_id)
    timeout = hold_timeout_seconds(settings, deps.config.hold_expiry_seconds)
    acquired = deps.repo.acquire_lock(inp.district_id, inp.sync_id, now)
    superseded = None
    owner = inp.sync_id
    if not acquired:
        current = deps.repo.get_lock(inp.district_id)
        if current is None:
            acquired = deps.repo.acquire_lock(inp.district_id, inp.sync_id, now)
        elif current.state == "held" and _supersede(inp, deps, current.owner, now):
            acquired, superseded = True, current.owner
        else:
            owner = current.owner
    if not acquired:
        deps.repo.update_sync(
            inp.district_id, inp.sync_id, now, status="waiting", reason=f"waiting for sync {owner} to finish"
        )
        return LockOutput(acquired=False, owner=owner, hold_timeout_seconds=timeout)
    window = settings.paused_on(now.date())
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status="running",
        reason=None,
        trigger=inp.trigger,
        upload=inp.object_key,
    )
    return LockOutput(
        acquired=True,
        paused=window is not None,
        owner=inp.sync_id,
        superseded_sync_id=superseded,
        hold_timeout_seconds=timeout,
    )


# --- normalize -----------------------------------------------------------------------------------


def normalize(inp: NormalizeInput, deps: Deps) -> NormalizeOutput:
    """Copy the inbox set to the sync's immutable raw prefix, read and validate it, scope it to
    the district's settings and write the staged snapshot and the errors CSV. File problems
    (missing file, bad headers, unreadable) are returned for an ``invalid_files`` hold."""
    now = deps.clock()
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    attempt = record.attempt if record is not None else 1
    prefix = sync_prefix(inp.district_id, inp.sync_id, attempt)
    raw_prefix = f"{prefix}/raw/"
    if record is not None and record.trigger == "rollback" and record.source_version is not None:
        return _stage_version(inp, deps, record.source_version, attempt, prefix, raw_prefix)
    # A pull (fetch step) already wrote the raw prefix; an upload is copied from the inbox.
    pulled = pulled_manifest(deps.raw, prefix)
    files = _inbox_files(deps, inp.district_id) if pulled is None else []
    for obj in files:
        deps.raw.copy(obj.key, raw_prefix + _name(obj.key))
    count = len(files) if pulled is None else len(pulled.files) or pulled.pages
    out = NormalizeOutput(attempt=attempt, prefix=prefix, raw_prefix=raw_prefix, files=count)
    api_pull = pulled is not None and pulled.kind in API_KINDS
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for key in [] if api_pull else deps.raw.list(raw_prefix):
            (folder / _name(key)).write_bytes(deps.raw.get(key))
        try:
            if pulled is not None and api_pull:
                loaded = load_pulled(deps.raw, pulled, received_at=now)
            else:
                loaded = load_roster(folder, received_at=now)
        except InvalidFilesError as exc:
            problems_key = f"{prefix}/file_problems.json"
            problems = [
                {"file": p.file, "message": p.message, "header": p.header, "closest": p.closest}
                for p in exc.problems
            ]
            deps.snapshots.put(problems_key, json.dumps(problems, indent=2).encode())
            deps.repo.update_sync(
                inp.district_id,
                inp.sync_id,
                now,
                attempt=attempt,
                keys={"raw": raw_prefix, "file_problems": problems_key},
            )
            return out.model_copy(
                update={
                    "invalid": True,
                    "format": exc.format,
                    "file_problems": len(problems),
                    "problems_key": problems_key,
                }
            )
    settings = deps.repo.get_settings(inp.district_id)
    staged, prepare_issues = holds_mod.prepare_staged(loaded.roster, settings)
    staged_prefix = f"{prefix}/staged"
    write_snapshot(deps.snapshots, staged_prefix, staged, meta={"sync_id": inp.sync_id})
    issues = concat_issues([loaded.issues, prepare_issues])
    errors_key = f"{prefix}/errors.csv"
    buffer = io.BytesIO()
    reports.write_errors_csv(issues, buffer)
    deps.snapshots.put(errors_key, buffer.getvalue())
    error_rows = (
        int(pc.sum(pc.equal(issues.column("severity"), "error")).as_py() or 0) if issues.num_rows else 0
    )
    counts = staged.counts()
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        attempt=attempt,
        counts={"staged": counts, "error_rows": error_rows, "alert_rows": issues.num_rows - error_rows},
        keys={"raw": raw_prefix, "staged": staged_prefix, "errors": errors_key},
    )
    return out.model_copy(
        update={
            "staged_prefix": staged_prefix,
            "errors_key": errors_key,
            "format": loaded.format,
            "counts": counts,
            "error_rows": error_rows,
            "alert_rows": issues.num_rows - error_rows,
        }
    )


def _stage_version(
    inp: NormalizeInput, deps: Deps, version: int, attempt: int, prefix: str, raw_prefix: str
) -> NormalizeOutput:
    """A rollback's normalize: stage accepted version ``version`` as it was accepted (it was
    validated and scoped then), so the diff and the holds judge it like any other input."""
    roster = read_version(deps.snapshots, district_prefix(inp.district_id), version)
    staged_prefix = f"{prefix}/staged"
    write_snapshot(
        deps.snapshots, staged_prefix, roster, meta={"sync_id": inp.sync_id, "source_version": version}
    )
    errors_key = f"{prefix}/errors.csv"
    buffer = io.BytesIO()
    reports.write_errors_csv(empty_issues(), buffer)
    deps.snapshots.put(errors_key, buffer.getvalue())
    counts = roster.counts()
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        attempt=attempt,
        counts={"staged": counts, "error_rows": 0, "alert_rows": 0},
        keys={"staged": staged_prefix, "errors": errors_key},
    )
    return NormalizeOutput(
        attempt=attempt,
        prefix=prefix,
        raw_prefix=raw_prefix,
        staged_prefix=staged_prefix,
        errors_key=errors_key,
        format=ROLLBACK_FORMAT,
        counts=counts,
    )


# --- diff ----------------------------------------------------------------------------------------


def _accepted(deps: Deps, district_id: str, version: int | None) -> RosterSet | None:
    return read_version(deps.snapshots, district_prefix(district_id), version) if version else None


def diff(inp: DiffInput, deps: Deps) -> DiffOutput:
    """Diff the staged snapshot against the latest accepted version; write the change set, the
    changes CSV and the per-school summary."""
    base = latest_version(deps.snapshots, district_prefix(inp.district_id))
    if inp.normalize.invalid or inp.normalize.staged_prefix is None:
        return DiffOutput(skipped=True, base_version=base)
    accepted = _accepted(deps, inp.district_id, base)
    staged = read_snapshot(deps.snapshots, inp.normalize.staged_prefix)
    changes = diff_rosters(accepted, staged)
    summary = summarize(changes, accepted, staged)
    prefix = inp.normalize.prefix
    changes_prefix = f"{prefix}/changes"
    write_change_set(deps.snapshots, changes_prefix, changes)
    changes_key = f"{prefix}/changes.csv"
    buffer = io.BytesIO()
    reports.write_changes_csv(changes, buffer)
    deps.snapshots.put(changes_key, buffer.getvalue())
    summary_key = f"{prefix}/summary.json"
    deps.snapshots.put(summary_key, json.dumps(summary.to_pylist(), indent=2).encode())
    counts = change_counts(changes)
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        keys={"changes": changes_prefix, "changes_csv": changes_key, "summary": summary_key},
    )
    return DiffOutput(
        base_version=base,
        changes_prefix=changes_prefix,
        changes_key=changes_key,
        summary_key=summary_key,
        counts=counts,
    )


# --- evaluate ------------------------------------------------------------------------------------


def _file_problems(deps: Deps, key: str) -> list[FileProblem]:
    return [FileProblem(**p) for p in json.loads(deps.snapshots.get(key))]


def _set_schools(deps: Deps, district_id: str, sync_id: str, schools: list[str], state: SchoolState) -> None:
    known = {s.school_id: s for s in deps.repo.list_school_status(district_id)}
    for school in schools:
        previous = known.get(school)
        deps.repo.put_school_status(
            SchoolStatus(
                district_id=district_id,
                school_id=school,
                status=state,
                sync_id=sync_id,
                last_applied_sync_id=previous.last_applied_sync_id if previous else None,
                last_applied_at=previous.last_applied_at if previous else None,
                counts=previous.counts if previous else {},
            )
        )


def evaluate(inp: EvaluateInput, deps: Deps) -> EvaluateOutput:
    """Evaluate the hold rules; write ``holds.json``; record the holds and per-school status."""
    settings = deps.repo.get_settings(inp.district_id)
    releasable = True
    changed_schools: set[str] = set()
    if inp.fetch is not None and inp.fetch.outcome == "held":
        # The source failed: nothing was read, so the only hold is the source's, and it can only
        # be retried (the fetch runs again) or rejected.
        found = [fetch_hold(inp.fetch)]
        base = latest_version(deps.snapshots, district_prefix(inp.district_id))
        releasable = False
        prefix = inp.fetch.prefix
    elif inp.normalize is None or inp.diff is None:
        raise ValueError("evaluate needs the normalize and diff outputs, or a failed fetch")
    elif inp.normalize.invalid:
        base = inp.diff.base_version
        prefix = inp.normalize.prefix
        problems = _file_problems(deps, inp.normalize.problems_key) if inp.normalize.problems_key else []
        if not problems:
            problems = [FileProblem("inbox", "no readable file set")]
        found = holds_mod.invalid_files(RosterSet(tables={}, format=""), None, problems)
        releasable = False
    else:
        base = inp.diff.base_version
        prefix = inp.normalize.prefix
        assert inp.normalize.staged_prefix is not None and inp.diff.changes_prefix is not None
        staged = read_snapshot(deps.snapshots, inp.normalize.staged_prefix)
        accepted = _accepted(deps, inp.district_id, base)
        changes = read_change_set(deps.snapshots, inp.diff.changes_prefix)
        found = holds_mod.evaluate_holds(changes, staged, accepted, settings)
        releasable = not any(h.type == "invalid_files" for h in found)
        changed_schools = change_schools(changes)
    holds_key = f"{prefix}/holds.json"
    deps.snapshots.put(holds_key, json.dumps([h.model_dump(mode="json") for h in found], indent=2).encode())
    held_schools = sorted({h.school_id for h in found if h.school_id is not None})
    district_hold = any(h.school_id is None for h in found)
    unheld = [] if district_hold or not releasable else sorted(changed_schools - set(held_schools))
    progress = Progress(
        accepted_version=base,
        held_schools=held_schools,
        district_hold=district_hold,
        releasable=releasable,
        unheld_schools=unheld if found else [],
    )
    recorded = [h.model_dump(mode="json", exclude={"sample_ids"}) for h in found[:_MAX_RECORDED_HOLDS]]
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        holds=recorded,
        held_schools=held_schools,
        applied_schools=[],
        releasable=releasable,
        keys={"holds": holds_key},
    )
    if held_schools:
        _set_schools(deps, inp.district_id, inp.sync_id, held_schools, "on_hold")
    return EvaluateOutput(
        held=bool(found),
        holds=len(found),
        holds_key=holds_key,
        held_schools=len(held_schools),
        apply_unheld_first=bool(progress.unheld_schools),
        progress=progress,
    )


# --- await decision ------------------------------------------------------------------------------


def _still_held(found: list[Hold], progress: Progress) -> list[Hold]:
    held = set(progress.held_schools)
    return [h for h in found if h.school_id is None or h.school_id in held]


def await_decision(inp: AwaitDecisionInput, deps: Deps) -> AwaitDecisionOutput:
    """Store the task token behind a new opaque hold id, mark the sync held and email the admins.

    The token is written to the table only: it is never logged, returned or put in an email.
    """
    now = deps.clock()
    hold_id = secrets.token_urlsafe(24)
    expires = now + timedelta(seconds=inp.hold_timeout_seconds)
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    attempt = record.attempt if record is not None else 1
    deps.repo.put_token(
        DecisionToken(
            hold_id=hold_id,
            district_id=inp.district_id,
            sync_id=inp.sync_id,
            task_token=inp.task_token,
            status="open",
            round=inp.progress.applies,
            expires_at=int((expires + _TOKEN_TTL_MARGIN).timestamp()),
        )
    )
    status = "partially_applied" if inp.progress.applies else "held"
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status=status,
        reason="waiting for a decision",
        hold_id=hold_id,
        held_schools=inp.progress.held_schools,
        hold_expires_at=expires.isoformat(),
    )
    deps.repo.set_lock_state(inp.district_id, inp.sync_id, "held")
    holds_key = (record.keys.get("holds") if record is not None else None) or (
        f"{sync_prefix(inp.district_id, inp.sync_id, attempt)}/holds.json"
    )
    found = [Hold.model_validate(h) for h in json.loads(deps.snapshots.get(holds_key))]
    settings = deps.repo.get_settings(inp.district_id)
    email = emails.hold_email(
        district_id=inp.district_id,
        sync_id=inp.sync_id,
        holds=_still_held(found, inp.progress),
        expires_at=expires,
        applied_schools=inp.progress.applied_schools,
        releasable=inp.progress.releasable,
    )
    sent = deps.mailer.send(
        district_id=inp.district_id,
        dedupe_key=f"hold-{inp.sync_id}-{attempt}-{inp.progress.applies}",
        to=settings.admin_emails,
        subject=email.subject,
        text=email.text,
        html=email.html,
    )
    return AwaitDecisionOutput(registered=True, round=inp.progress.applies, emailed=sent)


# --- apply ---------------------------------------------------------------------------------------


def _per_entity(changes: ChangeSet) -> dict[str, dict[str, int]]:
    result = {}
    for name, ec in changes.entities.items():
        added, removed, changed = ec.counts
        if added or removed or changed:
            result[name] = {"added": added, "removed": removed, "changed": changed}
    return result


def apply(inp: ApplyInput, deps: Deps) -> ApplyOutput:
    """Apply the released part of the change set and promote a new accepted version.

    ``schools`` None (or naming every school still held, with no district-wide hold) applies
    everything not yet applied; otherwise only the changes of those schools, and the rest stay on
    hold. The promotion is a conditional create with ``writer=sync_id``, so a retried apply
    returns the version it already promoted. ``RosterChangesApplied`` is put once per version.
    """
    now = deps.clock()
    progress = inp.progress
    if not progress.releasable:
        raise ValueError("this sync cannot be released: its files are invalid")
    held = set(progress.held_schools)
    schools = inp.schools
    if schools is not None:
        unknown = sorted(set(schools) - held - set(progress.unheld_schools))
        if unknown:
            raise ValueError(f"schools not on hold: {', '.join(unknown)}")
        if held <= set(schools) and not progress.district_hold:
            schools = None
    if inp.normalize.staged_prefix is None or inp.diff.changes_prefix is None:
        raise ValueError("nothing staged to apply")
    changes = without_schools(
        read_change_set(deps.snapshots, inp.diff.changes_prefix), progress.applied_schools
    )
    applying = changes if schools is None else only_schools(changes, schools)
    counts = change_counts(applying)
    per_entity = _per_entity(applying)
    d_prefix = district_prefix(inp.district_id)
    base = progress.accepted_version
    version: int | None = base
    promoted = False
    if sum(counts.values()) or base is None:
        staged = read_snapshot(deps.snapshots, inp.normalize.staged_prefix)
        accepted = _accepted(deps, inp.district_id, base)
        roster = apply_changes(
            accepted, changes, schools=set(schools) if schools is not None else None, staged=staged
        )
        version = promote_version(
            deps.snapshots,
            d_prefix,
            roster,
            expected_version=base,
            writer=inp.sync_id,
            meta={"sync_id": inp.sync_id, "schools": schools},
        )
        promoted = True
    if schools is None and not progress.applied_schools:
        changes_prefix, changes_key = inp.diff.changes_prefix, inp.diff.changes_key
    else:
        changes_prefix = f"{inp.normalize.prefix}/applied/v{version or 0:06d}"
        write_change_set(deps.snapshots, changes_prefix, applying)
        changes_key = f"{changes_prefix}/changes.csv"
        buffer = io.BytesIO()
        reports.write_changes_csv(applying, buffer)
        deps.snapshots.put(changes_key, buffer.getvalue())
    event_id = None
    if promoted and version is not None:
        event_id = f"{inp.sync_id}-v{version}"
        deps.bus.publish(
            district_id=inp.district_id,
            dedupe_key=event_id,
            detail_type=APPLIED_DETAIL_TYPE,
            detail={
                "event_id": event_id,
                "district_id": inp.district_id,
                "sync_id": inp.sync_id,
                "version": version,
                "previous_version": base,
                "schools": schools,
                "complete": schools is None,
                "counts": counts,
                "entities": per_entity,
                "bucket": deps.config.snapshot_bucket,
                "snapshot_prefix": version_prefix(deps.snapshots, d_prefix, version),
                "changes_prefix": changes_prefix,
                "changes_key": changes_key,
            },
        )
    released = sorted(held) if schools is None else sorted(schools)
    new_progress = progress.model_copy(
        update={
            "accepted_version": version,
            "applied_schools": sorted(set(progress.applied_schools) | set(released)),
            "unheld_schools": [] if schools is None else sorted(set(progress.unheld_schools) - set(schools)),
            "held_schools": [] if schools is None else sorted(held - set(schools)),
            "district_hold": False if schools is None else progress.district_hold,
            "applies": progress.applies + 1,
        }
    )
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    versions = sorted({*(record.versions if record else []), *([version] if promoted and version else [])})
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        status="applied" if schools is None else "partially_applied",
        applied_schools=new_progress.applied_schools,
        held_schools=new_progress.held_schools,
        versions=versions,
        keys={**(record.keys if record else {}), "applied_changes": changes_prefix},
    )
    touched = sorted(change_schools(applying) | set(released))
    for school in touched:
        deps.repo.put_school_status(
            SchoolStatus(
                district_id=inp.district_id,
                school_id=school,
                status="connected",
                sync_id=inp.sync_id,
                last_applied_sync_id=inp.sync_id,
                last_applied_at=now,
                counts=_school_counts(applying, school),
            )
        )
    return ApplyOutput(
        version=version,
        promoted=promoted,
        complete=schools is None,
        schools=schools,
        counts=counts,
        changes_prefix=changes_prefix,
        changes_key=changes_key,
        event_id=event_id,
        progress=new_progress,
    )


def _school_counts(changes: ChangeSet, school: str) -> dict[str, int]:
    totals = {"added": 0, "removed": 0, "changed": 0}
    for ec in changes.entities.values():
        for kind, table in (("added", ec.added), ("removed", ec.removed), ("changed", ec.changed_new)):
            if table.num_rows:
                totals[kind] += int(pc.sum(pc.equal(table.column("school_id"), school)).as_py() or 0)
    return totals


# --- notify and finish ---------------------------------------------------------------------------


def notify(inp: NotifyInput, deps: Deps) -> NotifyOutput:
    """Email the admins what was applied (once per apply)."""
    settings = deps.repo.get_settings(inp.district_id)
    applied = inp.apply
    per_entity: dict[str, dict[str, int]] = {}
    if applied.changes_prefix:
        try:
            index = json.loads(deps.snapshots.get(join_key(applied.changes_prefix, "index.json")))
            per_entity = index.get("entities", {})
        except KeyError:
            per_entity = {}
    email = emails.applied_email(
        district_id=inp.district_id,
        sync_id=inp.sync_id,
        version=applied.version,
        counts=applied.counts,
        schools=applied.schools,
        complete=applied.complete,
        per_entity=per_entity,
    )
    sent = deps.mailer.send(
        district_id=inp.district_id,
        dedupe_key=f"applied-{inp.sync_id}-{applied.progress.applies}-v{applied.version or 0}",
        to=settings.admin_emails,
        subject=email.subject,
        text=email.text,
        html=email.html,
    )
    return NotifyOutput(sent=sent)


def failure_reason(error: dict[str, Any] | None) -> str:
    """A short reason from a Catch's ``{"Error", "Cause"}`` (a Lambda error's message, not its trace)."""
    if not error:
        return "unknown error"
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            message = cause
        else:
            if isinstance(parsed, dict):
                message = str(parsed.get("errorMessage") or parsed.get("errorType") or "")
                name = str(parsed.get("errorType") or name)
            else:
                message = cause
    text = f"{name}: {message}" if message else name
    return text[:500]


_SCHOOL_STATE_ON_FINISH: dict[str, SchoolState] = {
    "rejected": "connected",
    "expired": "connected",
    "superseded": "connected",
    "failed": "failed",
}


def finish(inp: FinishInput, deps: Deps) -> FinishOutput:
    """Record the final status (and reason), close an open hold, release the lock if still ours."""
    now = deps.clock()
    reason = inp.reason
    if inp.status == "failed":
        reason = failure_reason(inp.error) if inp.error else (reason or "failed")
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    deps.repo.update_sync(
        inp.district_id, inp.sync_id, now, status=inp.status, reason=reason, finished_at=now.isoformat()
    )
    if record is not None and record.hold_id:
        deps.repo.close_token(record.hold_id, "expired" if inp.status == "expired" else "closed")
    school_state = _SCHOOL_STATE_ON_FINISH.get(inp.status)
    if record is not None and school_state is not None:
        schools = [s for s in record.held_schools if s not in record.applied_schools]
        if schools:
            _set_schools(deps, inp.district_id, inp.sync_id, schools, school_state)
    if inp.status == "paused":
        known = [s.school_id for s in deps.repo.list_school_status(inp.district_id)]
        _set_schools(deps, inp.district_id, inp.sync_id, known, "paused")
    if inp.status == "failed":
        email = emails.failed_email(district_id=inp.district_id, sync_id=inp.sync_id, reason=reason or "")
        _mail_admins(deps, inp.district_id, f"failed-{inp.sync_id}", email)
    if inp.status == "rejected":
        # Who rejected it is on the decided token (the API wrote it there, with the audit entry).
        token = deps.repo.get_token(record.hold_id) if record is not None and record.hold_id else None
        email = emails.rejected_email(
            district_id=inp.district_id,
            sync_id=inp.sync_id,
            actor=token.decided_by if token is not None else None,
            applied_schools=record.applied_schools if record is not None else [],
        )
        _mail_admins(deps, inp.district_id, f"rejected-{inp.sync_id}", email)
    released = deps.repo.release_lock(inp.district_id, inp.sync_id)
    return FinishOutput(status=inp.status, lock_released=released)


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


# --- dispatch ------------------------------------------------------------------------------------

STEPS: dict[type[Any], Callable[[Any, Deps], Any]] = {
    S3ObjectCreatedEvent: arrival,
    SettleInput: settle,
    LockInput: lock,
    NormalizeInput: normalize,
    DiffInput: diff,
    EvaluateInput: evaluate,
    AwaitDecisionInput: await_decision,
    ApplyInput: apply,
    NotifyInput: notify,
    FinishInput: finish,
}


# The pull steps live in rostersync.pipeline.fetch, which uses the key helpers above.
from rostersync.pipeline.fetch import (  # noqa: E402
    API_KINDS,
    fetch,
    fetch_hold,
    load_pulled,
    pulled_manifest,
    start_scheduled,
)

STEPS[FetchInput] = fetch
STEPS[ScheduledSyncEvent] = start_scheduled


def run_step(event: Any, deps: Deps) -> Any:
    """Run the step ``event`` (a parsed step model) is the input of."""
    return STEPS[type(event)](event, deps)
