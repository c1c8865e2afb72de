"""What the release API's routes do, over the pipeline's repository, blob stores and workflow.

Every function takes the verified :class:`~rostersync.api.auth.Caller` and enforces its district
scope itself: district routes refuse another district (403), and by-id routes look the sync up
and answer "not found" for another district's sync, exactly as for an id that does not exist,
so guessing ids reveals nothing. Decisions go through
:func:`rostersync.pipeline.decisions.submit_decision` (conditional write, one resume) and are
audited with the caller's identity. Nothing here knows HTTP; errors are exceptions that
``rostersync.api.errors`` maps to status codes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from rostersync.api.auth import OPERATOR_GROUP, Caller, ForbiddenError, require_district
from rostersync.api.deps import ApiDeps
from rostersync.api.models import (
    AuditList,
    AuditView,
    BulkReleaseItem,
    BulkReleaseRequest,
    BulkReleaseResponse,
    DecisionResponse,
    DownloadLink,
    FailResponse,
    HoldList,
    HoldView,
    OpenHold,
    PauseWindows,
    ReleaseRequest,
    RollbackRequest,
    RollbackResponse,
    SchoolFindings,
    SchoolList,
    SchoolView,
    SettingsPatch,
    SettingsRequest,
    SyncDetail,
    SyncList,
    SyncSummary,
    VersionList,
    VersionView,
)
from rostersync.pipeline import stranded
from rostersync.pipeline.decisions import (
    HELD_STATUSES,
    DecisionError,
    InvalidDecisionError,
    SyncNotFoundError,
    decision_in_progress,
    submit_decision,
)
from rostersync.pipeline.models import AuditEntry, RemovalsOption, SchoolState, SyncRecord
from rostersync.records import load_summary
from rostersync.settings import DistrictSettings, PauseWindow, floor_violations, settings_changes
from rostersync.sources import PULL_KINDS
from rostersync.storage import BlobNotFoundError

# What each sync status means for the schools it still holds, on the status page.
_DISCONNECTED_HOLDS = frozenset({"credentials", "disconnected"})
# Layout of accepted versions in the snapshot bucket (rostersync.snapshot, read here without
# pyarrow: the API function has no pyarrow layer). tests/unit/api pins it to promote_version.
_VERSION_MARKER = re.compile(r"^(\d{6,})\.json$")
Download = Literal["changes.csv", "changes.csv.gz", "errors.csv"]
# changes.csv.gz: a first sync's full list of changes (its changes.csv counts them per school).
_DOWNLOAD_KEYS: dict[str, str] = {
    "changes.csv": "changes_csv",
    "changes.csv.gz": "changes_full",
    "errors.csv": "errors",
}


class NotFoundError(Exception):
    """Something other than a sync does not exist (a version, a download, a pause window)."""


class ConflictError(Exception):
    """The request contradicts the district's current state (e.g. rolling back to the latest)."""


# --- helpers -------------------------------------------------------------------------------------


def district_prefix(district_id: str) -> str:
    return f"districts/{district_id}"


def sync_for(deps: ApiDeps, caller: Caller, sync_id: str) -> SyncRecord:
    """The sync ``sync_id`` if the caller may see it; otherwise exactly "not found"."""
    record = deps.repo.find_sync(sync_id)
    if record is None or not caller.may_act_for(record.district_id):
        raise SyncNotFoundError(f"no sync {sync_id}")
    return record


def _holds(record: SyncRecord) -> list[HoldView]:
    return [HoldView.of(h) for h in record.holds]


def _pending_holds(record: SyncRecord) -> list[HoldView]:
    """Holds still waiting: those of held schools and the district-wide ones."""
    held = set(record.held_schools)
    return [h for h in _holds(record) if h.school_id is None or h.school_id in held]


def _summary(record: SyncRecord) -> dict[str, Any]:
    return {
        "district_id": record.district_id,
        "sync_id": record.sync_id,
        "status": record.status,
        "reason": record.reason,
        "trigger": record.trigger,
        "source_version": record.source_version,
        "attempt": record.attempt,
        "held_schools": record.held_schools,
        "applied_schools": record.applied_schools,
        "hold_count": len(record.holds),
        "versions": record.versions,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "finished_at": record.finished_at,
        "hold_expires_at": record.hold_expires_at,
        "delivery": record.delivery,
        "delivery_error": record.delivery_error,
    }


def _audit(deps: ApiDeps, caller: Caller, district_id: str, action: str, **fields: Any) -> None:
    deps.repo.put_audit(
        AuditEntry(
            district_id=district_id,
            at=deps.clock(),
            actor=caller.label,
            actor_id=caller.sub,
            action=action,
            **fields,
        )
    )


# --- syncs and holds -----------------------------------------------------------------------------


def list_syncs(
    deps: ApiDeps, caller: Caller, district_id: str, *, status: str | None = None, limit: int = 50
) -> SyncList:
    require_district(caller, district_id)
    # Newest first, read page by page (never the whole history). Coalesced records (one per
    # file of an upload that another sync processed) are noise in the default list;
    # status=coalesced shows them.
    records = deps.repo.recent_syncs(district_id, limit, status=status, hide="coalesced")
    return SyncList(district_id=district_id, syncs=[SyncSummary(**_summary(r)) for r in records])


def _school_findings(record: SyncRecord) -> list[SchoolFindings]:
    by_school: dict[str | None, list[HoldView]] = {}
    for hold in _holds(record):
        by_school.setdefault(hold.school_id, []).append(hold)
    for school_id in (*record.held_schools, *record.applied_schools):
        by_school.setdefault(school_id, [])
    findings = []
    for school, holds in sorted(by_school.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
        state: Literal["held", "applied", "not_applied"]
        waiting = record.status in HELD_STATUSES
        if school is not None and school in record.applied_schools:
            state = "applied"
        elif waiting and (school is None or school in record.held_schools):
            state = "held"
        else:
            state = "not_applied"
        findings.append(SchoolFindings(school_id=school, state=state, holds=holds))
    return findings


def get_sync(deps: ApiDeps, caller: Caller, sync_id: str) -> SyncDetail:
    record = sync_for(deps, caller, sync_id)
    downloads: list[Download] = [name for name, key in _DOWNLOAD_KEYS.items() if record.keys.get(key)]  # type: ignore[misc]
    return SyncDetail(
        **_summary(record),
        counts=record.counts,
        changes=load_summary(deps.snapshots, record.keys.get("summary")),
        releasable=record.releasable,
        holds=_holds(record),
        schools=_school_findings(record),
        downloads=downloads,
        applying=decision_in_progress(deps.repo, record),
    )


def _open_hold(record: SyncRecord) -> OpenHold:
    pending = _pending_holds(record) if record.status in HELD_STATUSES else _holds(record)
    return OpenHold(
        district_id=record.district_id,
        sync_id=record.sync_id,
        status=record.status,
        held_schools=record.held_schools if record.status in HELD_STATUSES else [],
        applied_schools=record.applied_schools,
        district_wide=any(h.school_id is None for h in pending),
        hold_types=sorted({h.type for h in pending}),
        holds=pending,
        releasable=record.releasable,
        hold_expires_at=record.hold_expires_at,
    )


def _is_open(record: SyncRecord) -> bool:
    return record.status in HELD_STATUSES and record.hold_id is not None


def list_holds(
    deps: ApiDeps, caller: Caller, district_id: str, *, status: Literal["open", "closed", "all"] = "open"
) -> HoldList:
    require_district(caller, district_id)
    if status == "open":
        # One query of the open holds (gsi2), however long the district's history.
        records = deps.repo.list_open_holds(district_id)
    else:
        records = sorted(deps.repo.list_syncs(district_id), key=lambda r: r.created_at, reverse=True)
    chosen = [r for r in records if r.holds and (status == "all" or (status == "open") == _is_open(r))]
    return HoldList(district_id=district_id, status=status, holds=[_open_hold(r) for r in chosen])


# --- decisions -----------------------------------------------------------------------------------


def _check_acknowledged(record: SyncRecord, schools: list[str] | None, acknowledged: Iterable[str]) -> None:
    """Releasing confirms what the holds warned about: every type being released must be named."""
    released = set(record.held_schools if schools is None else schools)
    required = {
        h.type
        for h in _pending_holds(record)
        if (h.school_id in released) or (h.school_id is None and schools is None)
    }
    missing = sorted(required - set(acknowledged))
    if missing:
        raise InvalidDecisionError(
            f"acknowledge the hold types being released in hold_types: {', '.join(missing)}"
        )


def _decide(
    deps: ApiDeps,
    caller: Caller,
    record: SyncRecord,
    action: Literal["release", "reject", "retry"],
    *,
    schools: list[str] | None = None,
    details: dict[str, Any] | None = None,
    removals: RemovalsOption = "apply",
) -> DecisionResponse:
    result = submit_decision(
        deps.repo,
        deps.workflow,
        district_id=record.district_id,
        sync_id=record.sync_id,
        action=action,
        actor=caller.label,
        actor_id=caller.sub,
        schools=schools,
        now=deps.clock(),
        details={k: v for k, v in (details or {}).items() if v is not None},
        removals=removals,
    )
    return DecisionResponse(
        district_id=result.district_id,
        sync_id=result.sync_id,
        action=action,
        schools=result.schools,
        actor=result.actor,
        decided_at=result.decided_at,
    )


def release(deps: ApiDeps, caller: Caller, sync_id: str, body: ReleaseRequest) -> DecisionResponse:
    record = sync_for(deps, caller, sync_id)
    _check_acknowledged(record, body.schools, body.hold_types)
    return _decide(
        deps,
        caller,
        record,
        "release",
        schools=body.schools,
        details={
            "hold_types": sorted(set(body.hold_types)),
            "comment": body.comment,
            "removals": body.removals if body.removals != "apply" else None,
        },
        removals=body.removals,
    )


def reject(deps: ApiDeps, caller: Caller, sync_id: str, comment: str | None = None) -> DecisionResponse:
    return _decide(deps, caller, sync_for(deps, caller, sync_id), "reject", details={"comment": comment})


def retry(deps: ApiDeps, caller: Caller, sync_id: str, comment: str | None = None) -> DecisionResponse:
    return _decide(deps, caller, sync_for(deps, caller, sync_id), "retry", details={"comment": comment})


_STATUS_OF_ERROR: dict[str, int] = {
    "SyncNotFoundError": 404,
    "NotOnHoldError": 409,
    "AlreadyDecidedError": 409,
    "HoldExpiredError": 410,
    "InvalidDecisionError": 422,
}


def bulk_release(
    deps: ApiDeps, caller: Caller, district_id: str, body: BulkReleaseRequest
) -> BulkReleaseResponse:
    """Release the named schools (or everything) in each held sync of the district; one sync's
    refusal does not stop the others, and each result says what a single release would have."""
    require_district(caller, district_id)
    wanted = None if body.schools is None else set(body.schools)
    held = [r for r in deps.repo.list_syncs(district_id) if _is_open(r)]
    if body.sync_ids is not None:
        held = [r for r in held if r.sync_id in set(body.sync_ids)]
    results: list[BulkReleaseItem] = []
    covered: set[str] = set()
    for record in sorted(held, key=lambda r: r.created_at):
        if wanted is None:
            schools = None
        else:
            schools = sorted(wanted & set(record.held_schools))
            covered |= set(schools)
            if not schools:
                continue
        try:
            _check_acknowledged(record, schools, body.hold_types)
            decision = _decide(
                deps,
                caller,
                record,
                "release",
                schools=schools,
                details={
                    "hold_types": sorted(set(body.hold_types)),
                    "comment": body.comment,
                    "bulk": True,
                    "removals": body.removals if body.removals != "apply" else None,
                },
                removals=body.removals,
            )
        except DecisionError as exc:
            name = type(exc).__name__
            results.append(
                BulkReleaseItem(
                    sync_id=record.sync_id,
                    outcome="refused",
                    schools=schools,
                    status_code=_STATUS_OF_ERROR.get(name, 409),
                    error=_error_code(name),
                    message=str(exc),
                )
            )
        else:
            results.append(
                BulkReleaseItem(
                    sync_id=record.sync_id, outcome="released", schools=decision.schools, status_code=202
                )
            )
    not_held = sorted(wanted - covered) if wanted is not None else []
    return BulkReleaseResponse(district_id=district_id, results=results, not_held=not_held)


def _error_code(exception_name: str) -> str:
    """``AlreadyDecidedError`` → ``already_decided`` (the codes the error handlers use too)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", exception_name.removesuffix("Error")).lower()


# --- downloads -----------------------------------------------------------------------------------


def download(deps: ApiDeps, caller: Caller, sync_id: str, name: Download) -> DownloadLink:
    """A presigned link to one of the sync's CSVs. Every link handed out is audited (who, which
    file, for how long); S3 server access logs record each use of it (docs/security.md)."""
    record = sync_for(deps, caller, sync_id)
    key = record.keys.get(_DOWNLOAD_KEYS[name])
    if not key or not deps.presigner.exists(key):
        raise NotFoundError(f"sync {sync_id} has no {name} (its files could not be read)")
    filename = f"{record.sync_id}-{name}"
    expires = deps.download_expiry_seconds
    _audit(
        deps,
        caller,
        record.district_id,
        "download",
        sync_id=record.sync_id,
        details={"file": name, "expires_in": expires},
    )
    return DownloadLink(
        sync_id=sync_id,
        filename=filename,
        url=deps.presigner.url(key, filename=filename, expires_in=expires),
        expires_in=expires,
    )


# --- settings and pause windows ------------------------------------------------------------------


def get_settings(deps: ApiDeps, caller: Caller, district_id: str) -> DistrictSettings:
    require_district(caller, district_id)
    return deps.repo.get_settings(district_id)


OPERATOR_ONLY_SETTINGS = ("source", "floors")
# Settings a PUT keeps when it omits them (added after PUT's first clients).
KEPT_WHEN_OMITTED = ("expected_sync_hours", "expected_sync_days", "time_zone")


def _refuse_below_floors(settings: DistrictSettings, changed: Iterable[str], whole: bool) -> None:
    """A 422 naming every setting this change takes beyond the district's safety floors (see
    SafetyFloors): a field it changed (dotted path, as in ``changed``), and when the whole
    settings document is written (``whole``) a missing admin email too, so that a district's
    settings are never saved without someone to email while a change of its pause windows alone
    is not held up by it."""
    touched = set(changed)
    found = [
        (loc, message)
        for loc, message in floor_violations(settings)
        if ".".join(loc[:2]) in touched or loc[0] in touched or (whole and loc[0] == "admin_emails")
    ]
    if found:
        raise ValidationError.from_exception_data(
            "DistrictSettings",
            [
                InitErrorDetails(
                    type=PydanticCustomError("beyond_safety_floor", message), loc=loc, input=None
                )
                for loc, message in found
            ],
        )


def _store_settings(
    deps: ApiDeps,
    caller: Caller,
    current: DistrictSettings,
    values: dict[str, Any],
    action: str,
    *,
    whole: bool = True,
) -> DistrictSettings:
    """Validate ``values`` as the district's settings, refuse a change to an operator-only field
    by anyone else and anything beyond the safety floors, store, and audit old and new values."""
    settings = DistrictSettings.model_validate(values)
    if caller.role != OPERATOR_GROUP:
        for name in OPERATOR_ONLY_SETTINGS:
            if getattr(settings, name) != getattr(current, name):
                raise ForbiddenError(f"only an operator may change {name} of a district's settings")
    changes = settings_changes(current, settings)
    _refuse_below_floors(settings, changes, whole)
    deps.repo.put_settings(settings)
    if "time_zone" in changes:
        _time_zone_follows(deps, settings)
    _audit(
        deps, caller, settings.district_id, action, details={"fields": sorted(changes), "changes": changes}
    )
    return deps.repo.get_settings(settings.district_id)


def _time_zone_follows(deps: ApiDeps, settings: DistrictSettings) -> None:
    """The settings own a district's ``time_zone``; its onboarding profile keeps a copy (what its
    pull schedules are made in): a change is written through, and the pull schedule made anew."""
    onboarding = deps.onboarding
    profile = onboarding.directory.get_profile(settings.district_id) if onboarding is not None else None
    if onboarding is None or profile is None or profile.time_zone == settings.time_zone:
        return
    onboarding.directory.put_profile(profile.model_copy(update={"time_zone": settings.time_zone}))
    pulled = settings.source.kind in PULL_KINDS and profile.status == "active" and profile.pull_times
    if onboarding.schedules is not None and pulled:
        onboarding.schedules.put_schedule(settings.district_id, profile.pull_times, settings.time_zone)


def put_settings(deps: ApiDeps, caller: Caller, district_id: str, body: SettingsRequest) -> DistrictSettings:
    """Replace the settings (PUT): the fields a PUT must carry are required by the request model;
    pause windows, the removals mode, source and floors are kept unless given."""
    require_district(caller, district_id)
    current = deps.repo.get_settings(district_id)
    given = body.model_dump(
        exclude_unset=True, exclude={"pause_windows", "hold_expiry_days", "source", "floors", "removals"}
    )
    values: dict[str, Any] = {**given, "district_id": district_id}
    if body.hold_expiry_days is not None:
        values["hold_expiry_days"] = body.hold_expiry_days
    # Omitted, the removals mode is kept: a PUT written before the setting never loosens it.
    if body.removals is not None or "removals" in current.model_fields_set:
        values["removals"] = body.removals or current.removals
    for name in KEPT_WHEN_OMITTED:
        if name not in body.model_fields_set and name in current.model_fields_set:
            values[name] = getattr(current, name)
    windows = body.pause_windows if body.pause_windows is not None else current.pause_windows
    if windows:
        values["pause_windows"] = [w.model_dump() for w in windows]
    for name in OPERATOR_ONLY_SETTINGS:
        if getattr(body, name) is not None:
            values[name] = getattr(body, name).model_dump()
        elif name in current.model_fields_set:
            values[name] = getattr(current, name).model_dump()
    return _store_settings(deps, caller, current, values, "settings_updated")


def patch_settings(deps: ApiDeps, caller: Caller, district_id: str, body: SettingsPatch) -> DistrictSettings:
    """Change the fields given (PATCH); inside ``holds``, the thresholds given. Everything else
    keeps its value."""
    require_district(caller, district_id)
    current = deps.repo.get_settings(district_id)
    values = current.model_dump(exclude_unset=True) | {"district_id": district_id}
    patch = body.model_dump(exclude_unset=True)
    holds = patch.pop("holds", None)
    values |= patch
    if holds is not None:
        values["holds"] = current.holds.model_dump(exclude_unset=True) | holds
    return _store_settings(deps, caller, current, values, "settings_updated")


def _pause_view(deps: ApiDeps, district_id: str, settings: DistrictSettings) -> PauseWindows:
    return PauseWindows(
        district_id=district_id,
        windows=settings.pause_windows,
        active=settings.paused_at(deps.clock()),
    )


def get_pause_windows(deps: ApiDeps, caller: Caller, district_id: str) -> PauseWindows:
    require_district(caller, district_id)
    return _pause_view(deps, district_id, deps.repo.get_settings(district_id))


def _store_windows(
    deps: ApiDeps, caller: Caller, district_id: str, windows: list[PauseWindow], action: str
) -> PauseWindows:
    current = deps.repo.get_settings(district_id)
    # Rebuilt from what the district set, so unset fields keep meaning "the default".
    values = current.model_dump(exclude_unset=True) | {
        "district_id": district_id,
        "pause_windows": [w.model_dump() for w in windows],
    }
    settings = _store_settings(deps, caller, current, values, action, whole=False)
    return _pause_view(deps, district_id, settings)


def put_pause_windows(
    deps: ApiDeps, caller: Caller, district_id: str, windows: list[PauseWindow]
) -> PauseWindows:
    require_district(caller, district_id)
    return _store_windows(deps, caller, district_id, windows, "pause_windows_updated")


def delete_pause_windows(
    deps: ApiDeps, caller: Caller, district_id: str, first_day: Any = None
) -> PauseWindows:
    """Remove the window starting on ``first_day`` (404 if none does), or every window."""
    require_district(caller, district_id)
    current = deps.repo.get_settings(district_id).pause_windows
    if first_day is None:
        kept: list[PauseWindow] = []
    else:
        kept = [w for w in current if w.first_day != first_day]
        if len(kept) == len(current):
            raise NotFoundError(f"no pause window of district {district_id} starts on {first_day}")
    return _store_windows(deps, caller, district_id, kept, "pause_windows_deleted")


# --- school status -------------------------------------------------------------------------------


def list_schools(deps: ApiDeps, caller: Caller, district_id: str) -> SchoolList:
    """Per-school status: the stored status, with today's pause, a source that cannot be reached
    and configured schools never synced laid over it."""
    require_district(caller, district_id)
    settings = deps.repo.get_settings(district_id)
    paused = settings.paused_at(deps.clock()) is not None
    stored = {s.school_id: s for s in deps.repo.list_school_status(district_id)}
    current = next((r for r in deps.repo.list_open_holds(district_id) if _is_open(r)), None)
    disconnected = current is not None and any(h.type in _DISCONNECTED_HOLDS for h in _pending_holds(current))
    views = []
    for school_id in sorted(set(stored) | set(settings.school_ids)):
        item = stored.get(school_id)
        status: SchoolState
        if item is None:
            status = "not_connected"
        elif item.status == "paused" and not paused:
            # The pause ended: the school is as its last accepted sync left it.
            status = "connected" if item.last_applied_at else "not_connected"
        else:
            status = item.status
        if paused:
            status = "paused"
        elif disconnected and status != "not_connected":
            status = "disconnected"
        views.append(
            SchoolView(
                school_id=school_id,
                status=status,
                sync_id=item.sync_id if item else None,
                last_applied_sync_id=item.last_applied_sync_id if item else None,
                last_applied_at=item.last_applied_at if item else None,
                counts=item.counts if item else {},
            )
        )
    return SchoolList(
        district_id=district_id, paused=paused, schools=views, failed_sync=_failed_sync(deps, district_id)
    )


# Pages of the newest syncs read to find the latest finished one (running, waiting and
# coalesced records are skipped); a district with more unfinished syncs than this in a row
# shows no failed sync on the board until they finish.
_FAILED_SYNC_WINDOW = 50


def _failed_sync(deps: ApiDeps, district_id: str) -> SyncSummary | None:
    """The district's latest finished sync when it failed: a sync that failed before any hold
    changed no school, and the board still shows it. Reads the newest syncs, not the history."""
    recent = deps.repo.recent_syncs(district_id, _FAILED_SYNC_WINDOW)
    finished = next((r for r in recent if r.status not in ("coalesced", "waiting", "running")), None)
    return SyncSummary(**_summary(finished)) if finished is not None and finished.status == "failed" else None


# --- versions and rollback -----------------------------------------------------------------------


class _Marker(BaseModel):
    """``versions/NNNNNN.json`` (rostersync.snapshot.VersionMarker)."""

    version: int
    prefix: str
    writer: str | None = None
    created_at: datetime


class _Manifest(BaseModel):
    """The fields of a snapshot's ``manifest.json`` the versions list shows."""

    format: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)


def _markers(deps: ApiDeps, district_id: str) -> dict[int, str]:
    folder = f"{district_prefix(district_id)}/versions/"
    found = {}
    for key in deps.snapshots.list(folder):
        match = _VERSION_MARKER.match(key[len(folder) :])
        if match:
            found[int(match.group(1))] = key
    return found


def _version_view(deps: ApiDeps, key: str) -> VersionView:
    marker = _Marker.model_validate_json(deps.snapshots.get(key))
    try:
        manifest = _Manifest.model_validate_json(deps.snapshots.get(f"{marker.prefix}/manifest.json"))
    except BlobNotFoundError:
        manifest = _Manifest()
    return VersionView(
        version=marker.version,
        created_at=marker.created_at,
        sync_id=manifest.meta.get("sync_id") or marker.writer,
        format=manifest.format,
        counts=manifest.counts,
    )


def list_versions(deps: ApiDeps, caller: Caller, district_id: str, *, limit: int = 50) -> VersionList:
    require_district(caller, district_id)
    markers = _markers(deps, district_id)
    newest = sorted(markers, reverse=True)[:limit]
    return VersionList(
        district_id=district_id,
        latest=max(markers) if markers else None,
        versions=[_version_view(deps, markers[v]) for v in newest],
    )


def start_requested_sync(
    deps: ApiDeps,
    district_id: str,
    sync_id: str,
    *,
    trigger: Literal["rollback", "schedule"],
    reason: str,
    source_version: int | None = None,
    pull: bool = False,
) -> str:
    """Start a sync someone asked for (a rollback, a pull now): its record first (normalize reads
    what to stage from it), then its execution, whose ARN the record keeps. ``sync_id``."""
    now = deps.clock()
    created = deps.repo.create_sync(
        SyncRecord(
            district_id=district_id,
            sync_id=sync_id,
            status="waiting",
            reason=reason,
            trigger=trigger,
            source_version=source_version,
            created_at=now,
            updated_at=now,
        )
    )
    if not created:  # pragma: no cover - 40 random bits
        raise ConflictError("could not allocate a sync id; try again")
    payload: dict[str, Any] = {
        "district_id": district_id,
        "sync_id": sync_id,
        "trigger": trigger,
        "object_key": None,
        "quiet_seconds": 0,
        "lock_retry_seconds": deps.config.lock_retry_seconds,
    }
    if pull:
        payload["pull"] = True
    arn = deps.workflow.start(sync_id, payload)
    if arn is not None:
        deps.repo.update_sync(district_id, sync_id, now, execution_arn=arn)
    return sync_id


def rollback(deps: ApiDeps, caller: Caller, district_id: str, body: RollbackRequest) -> RollbackResponse:
    """Start a sync whose input is accepted version ``body.version``: it is diffed against the
    latest version and goes through the holds like any upload (trigger ``rollback``)."""
    require_district(caller, district_id)
    markers = _markers(deps, district_id)
    if body.version not in markers:
        raise NotFoundError(f"district {district_id} has no accepted version {body.version}")
    if body.version == max(markers):
        raise ConflictError(f"version {body.version} is already the latest accepted version")
    sync_id = start_requested_sync(
        deps,
        district_id,
        f"{district_id}-rb{secrets.token_hex(5)}",
        trigger="rollback",
        reason=f"rollback to version {body.version} requested",
        source_version=body.version,
    )
    _audit(
        deps,
        caller,
        district_id,
        "rollback",
        sync_id=sync_id,
        details={
            k: v for k, v in {"version": body.version, "comment": body.comment}.items() if v is not None
        },
    )
    return RollbackResponse(
        district_id=district_id, sync_id=sync_id, source_version=body.version, status="waiting"
    )


# --- audit ---------------------------------------------------------------------------------------


def list_audit(
    deps: ApiDeps, caller: Caller, district_id: str, *, sync_id: str | None = None, limit: int = 100
) -> AuditList:
    require_district(caller, district_id)
    entries = sorted(deps.repo.list_audit(district_id), key=lambda e: e.at, reverse=True)
    if sync_id is not None:
        entries = [e for e in entries if e.sync_id == sync_id]
    return AuditList(
        district_id=district_id,
        entries=[AuditView.model_validate(e.model_dump()) for e in entries[:limit]],
    )


# --- operator actions ----------------------------------------------------------------------------


def fail_sync(deps: ApiDeps, caller: Caller, sync_id: str, comment: str | None = None) -> FailResponse:
    """An operator fails a stuck sync (lock released, schools restored; audited). Operators only:
    a district admin gets 403 (a sync of a district it may not see stays "not found")."""
    record = sync_for(deps, caller, sync_id)
    if caller.role != OPERATOR_GROUP:
        raise ForbiddenError("only an operator may fail a sync")
    try:
        outcome = stranded.fail_sync(
            deps.repo,
            deps.workflow,
            deps.clock(),
            district_id=record.district_id,
            sync_id=sync_id,
            actor=caller.label,
            actor_id=caller.sub,
            comment=comment,
        )
    except stranded.SyncNotStuckError as exc:
        raise ConflictError(str(exc)) from None
    return FailResponse(
        district_id=record.district_id,
        sync_id=sync_id,
        outcome=outcome,
        reason=f"failed by operator {caller.label}" + (f": {comment}" if comment else ""),
        actor=caller.label,
    )
