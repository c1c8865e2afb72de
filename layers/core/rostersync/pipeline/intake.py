"""The intake stage: an upload arrives and the set settles (the lock is :mod:`rostersync.pipeline.locks`).

:func:`arrival` turns an S3 "Object Created" event under ``inbox/<district>/`` into one execution
of the sync state machine, named after the upload so a duplicated event starts nothing new.
:func:`settle` runs after the quiet period: is this still the newest upload, is the district
paused (in its time zone), and is the file set complete? It takes a ready set out of the inbox
(:mod:`rostersync.pipeline.inbox`); an incomplete one waits until its grace period ends, then is
taken as it is for an ``invalid_files`` hold. The district's lock is :mod:`rostersync.pipeline.locks`.
A rollback skips the inbox: its input is an accepted version.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rostersync.formats.detect import (
    CLEVER_REQUIRED,
    ONEROSTER_12_REQUIRED,
    ONEROSTER_REQUIRED,
    declared_absent,
    manifest_version,
    read_manifest,
    sds_21_required,
)
from rostersync.pipeline.events import (
    ArrivalOutput,
    S3ObjectCreatedEvent,
    SettleInput,
    SettleOutput,
)
from rostersync.pipeline.inbox import finish_taking, take
from rostersync.pipeline.layout import file_name, inbox_files, name_problem, newest_by_name, upload_id
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import Deps, ObjectInfo
from rostersync.settings import DistrictSettings

log = logging.getLogger(__name__)

_DISTRICT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The "format" a rollback's input is read in: an accepted snapshot version.
ROLLBACK_FORMAT = "snapshot"


def missing_files(names: list[str], manifest: dict[str, str] | None = None) -> tuple[str | None, list[str]]:
    """The format a set of file names is for, and the required files it still lacks.

    OneRoster when a ``manifest.csv`` is present (1.2 needs ``roles.csv`` too, when the manifest
    says 1.2), SDS v2.1 when SDS file names are (``detect.sds_21_required``), else Clever-style CSV.
    """
    present = {n.lower() for n in names}
    required: tuple[str, ...]
    sds = sds_21_required(present)
    if sds is not None:
        fmt, required = "sds_2.1_csv", sds
    elif "manifest.csv" in present:
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
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        path.write_bytes(data)
        return read_manifest(path)


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
    problem = name_problem(parts[2])
    if problem is not None:  # set aside: inbox_files never picks it up either
        log.warning("upload set aside in %s's inbox: the name %r %s", district_id, parts[2], problem)
        return ArrivalOutput(
            started=False, district_id=district_id, reason=f"unusable file name: it {problem}"
        )
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


def grace_ends(settings: DistrictSettings, newest: datetime, quiet_seconds: int) -> datetime:
    """When an incomplete set whose newest file arrived at ``newest`` becomes a hold: the quiet
    period plus the district's grace period after it."""
    return newest + timedelta(seconds=quiet_seconds, minutes=settings.missing_files_grace_minutes)


@dataclass(frozen=True)
class InboxSet:
    """The inbox as a file set: the newest file of each name, its format and what it lacks."""

    files: list[ObjectInfo]
    format: str | None
    missing: list[str]
    # Older files a newer one of the same name (compared without case) replaced.
    shadowed: list[ObjectInfo] = field(default_factory=list)

    @property
    def newest(self) -> datetime:
        return max(o.last_modified for o in self.files)


def inbox_set(deps: Deps, district_id: str) -> InboxSet | None:
    """The district's inbox as a file set; None when it is empty."""
    every = inbox_files(deps.raw, district_id)
    files = newest_by_name(every)
    if not files:
        return None
    names = [file_name(o.key) for o in files]
    manifest_key = next((o.key for o in files if file_name(o.key).lower() == "manifest.csv"), None)
    manifest = _read_manifest_properties(deps.raw.get(manifest_key)) if manifest_key else None
    fmt, missing = missing_files(names, manifest)
    chosen = {o.key for o in files}
    shadowed = [o for o in every if o.key not in chosen]
    return InboxSet(files=files, format=fmt, missing=missing, shadowed=shadowed)


def inbox_fingerprint(files: list[ObjectInfo]) -> str:
    """One id of the inbox's exact content (keys, ETags, times)."""
    return hashlib.sha256(
        "\n".join(f"{o.key}|{o.etag}|{o.last_modified.isoformat()}" for o in files).encode()
    ).hexdigest()


def _take_over_failed_claim(deps: Deps, inp: SettleInput, marker: str, now: datetime) -> bool:
    """Take the claim on the set from a sync that failed holding it: its settle died between the
    claim and taking the files (they are still in the inbox), so nobody else would process them."""
    owner = deps.repo.claim_owner(inp.district_id, marker)
    if owner is None or owner == inp.sync_id:
        return False
    record = deps.repo.get_sync(inp.district_id, owner)
    if record is None or record.status != "failed":
        return False
    log.info("sync %s failed holding the set of %s; %s takes it", owner, inp.district_id, inp.sync_id)
    return deps.repo.take_over_claim(inp.district_id, marker, now, inp.sync_id, owner)


def settle(inp: SettleInput, deps: Deps) -> SettleOutput:
    """After the quiet period: is this still the newest upload, is the district paused, and is
    the set complete? A ready set is taken (:func:`rostersync.pipeline.inbox.take`).

    An incomplete set waits for its missing files until the district's grace period after the
    quiet period has passed; then it is taken as it is (left in the inbox) and normalize's file
    problems make it an ``invalid_files`` hold naming each missing file. A rollback reads an
    accepted version, not the inbox: it is always ready."""
    if inp.trigger == "rollback":
        return SettleOutput(outcome="ready", format=ROLLBACK_FORMAT)
    already = finish_taking(deps, inp.district_id, inp.sync_id)
    if already is not None:
        # A retried settle: the crashed invocation took the set (and archived it, or began to).
        return SettleOutput(
            outcome="ready", format=already.format, files=len(already.files), missing=already.missing
        )
    now = deps.clock()
    found = inbox_set(deps, inp.district_id)
    files = found.files if found is not None else []

    def end(outcome: str, reason: str, **extra: Any) -> SettleOutput:
        status = {"coalesced": "coalesced", "paused": "paused"}.get(outcome, "waiting")
        deps.repo.update_sync(inp.district_id, inp.sync_id, now, status=status, reason=reason)
        return SettleOutput.model_validate(
            {"outcome": outcome, "reason": reason, "files": len(files), **extra}
        )

    if inp.object_key is not None:
        mine = next((o for o in files if o.key == inp.object_key), None)
        if mine is None:
            return end("coalesced", f"{file_name(inp.object_key)} was taken or replaced meanwhile")
        newer = [o for o in files if o.last_modified > mine.last_modified]
        if newer:
            return end("coalesced", f"a later upload ({file_name(newer[-1].key)}) takes over")
    if found is None:
        return end("coalesced", "the inbox is empty: another sync took the files")
    settings = deps.repo.get_settings(inp.district_id)
    window = settings.paused_at(now)
    if window is not None:
        return end(
            "paused",
            f"district pause window {window.first_day}..{window.last_day}: files kept in the inbox, "
            "processed when the window ends",
        )
    fmt, missing = found.format, found.missing
    if missing and now < grace_ends(settings, found.newest, deps.config.quiet_period_seconds):
        return end(
            "waiting", f"incomplete file set: missing {', '.join(missing)}", format=fmt, missing=missing
        )
    # Files uploaded in the same second all look "newest": the first sync to claim this exact
    # set (keys, ETags, times) processes it and the others coalesce.
    marker = f"UPLOAD#{inbox_fingerprint(found.files)}"
    if not deps.repo.claim(inp.district_id, marker, now, owner=inp.sync_id) and not _take_over_failed_claim(
        deps, inp, marker, now
    ):
        return end("coalesced", "the same file set is processed by another sync", format=fmt)
    taken = take(
        deps,
        inp.district_id,
        inp.sync_id,
        found.files,
        fmt=fmt,
        missing=missing,
        archive=not missing,
        shadowed=found.shadowed,
    )
    if taken is None:
        return end("coalesced", "a file changed while the set was taken; the newer upload takes over")
    return SettleOutput(outcome="ready", format=fmt, files=len(taken.files), missing=missing)
