"""The pull stage: the schedule starts syncs of pulled districts, and ``fetch`` reads the source.

:func:`start_scheduled` turns the pull schedule's event into one execution per pulled district
(``trigger: schedule``, ``pull: true``), named ``<district>-<id of the scheduled time>`` so a
redelivered event starts nothing new. :func:`fetch` runs after the lock: it hands the district's
source settings to the :class:`~rostersync.pipeline.ports.SourcePuller` it is given (the
connectors, from the composition root), which pulls Clever / OneRoster pages as NDJSON, or the
SFTP site's files, into ``syncs/<d>/<sync>[/attempt-N]/raw/`` of the raw bucket; fetch writes
``fetch.json`` (the :class:`~rostersync.connectors.pages.PullManifest`) beside it; only keys and
counts go back to the state machine. A source failure is not an exception but an outcome:
``held`` with the ``credentials`` or ``disconnected`` hold and a reason (evaluate turns it into a
non-releasable hold), or ``paused``. :func:`load_pulled` is what normalize calls for an API pull.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rostersync.connectors.pages import PageWriter, PullManifest, read_manifest
from rostersync.pipeline import health
from rostersync.pipeline.events import FetchInput, FetchOutput, ScheduledSyncEvent, ScheduledSyncOutput
from rostersync.pipeline.layout import sync_prefix, upload_id
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import (
    Deps,
    SourceConfigError,
    SourceError,
    SourcePausedError,
    SourcePuller,
)
from rostersync.records import Hold
from rostersync.sources import PULL_KINDS, PullSource
from rostersync.storage import BlobNotFoundError, BlobStore

log = logging.getLogger(__name__)

FETCH_MANIFEST = "fetch.json"


def manifest_key(prefix: str) -> str:
    return f"{prefix}/{FETCH_MANIFEST}"


def pulled_manifest(store: BlobStore, prefix: str) -> PullManifest | None:
    """The manifest a fetch wrote for the sync prefix ``prefix``, or None (an upload)."""
    try:
        return read_manifest(store, manifest_key(prefix))
    except BlobNotFoundError:
        return None


def load_pulled(
    store: BlobStore, manifest: PullManifest, *, received_at: datetime, phone_region: str = "US"
) -> Any:
    """Read and validate an API pull (a :class:`~rostersync.validate.LoadResult`)."""
    from rostersync.connectors.mapping import pulled_raw
    from rostersync.validate import validate

    return validate(pulled_raw(store, manifest), received_at=received_at, phone_region=phone_region)


# --- scheduling ---------------------------------------------------------------------------------


def start_scheduled(event: ScheduledSyncEvent, deps: Deps) -> ScheduledSyncOutput:
    """Start one sync per pulled district (or only ``event.district_id``)."""
    now = deps.clock()
    tag = event.scheduled_time or now.strftime("%Y-%m-%dT%H:%M")
    if event.district_id:
        candidates = [deps.repo.get_settings(event.district_id)]
    else:
        candidates = deps.repo.list_settings()
    out = ScheduledSyncOutput()
    for settings in candidates:
        district_id = settings.district_id
        if settings.source.kind not in PULL_KINDS:
            out.skipped[district_id] = f"source is {settings.source.kind}"
            continue
        sync_id = f"{district_id}-{upload_id(f'schedule:{tag}', None)}"
        if deps.repo.get_sync(district_id, sync_id) is not None:
            out.skipped[district_id] = "already started for this scheduled time"
            continue
        payload = {
            "district_id": district_id,
            "sync_id": sync_id,
            "trigger": "schedule",
            "object_key": None,
            "quiet_seconds": 0,
            "lock_retry_seconds": deps.config.lock_retry_seconds,
            "pull": True,
        }
        arn = deps.workflow.start(sync_id, payload)
        if arn is None:
            out.skipped[district_id] = "already started for this scheduled time"
            continue
        created = deps.repo.create_sync(
            SyncRecord(
                district_id=district_id,
                sync_id=sync_id,
                status="waiting",
                reason=f"scheduled pull from {settings.source.kind}",
                trigger="schedule",
                execution_arn=arn,
                created_at=now,
                updated_at=now,
            )
        )
        if not created:
            deps.repo.update_sync(district_id, sync_id, now, execution_arn=arn, trigger="schedule")
        out.started.append(sync_id)
    if not event.district_id:
        # The stack-wide schedule is the one invocation that runs for every district each night.
        health.report_health(deps)
    return out


def _puller(deps: Deps) -> SourcePuller:
    if deps.puller is None:
        raise SourceConfigError("no source puller is configured for pulled sources")
    return deps.puller


def fetch(inp: FetchInput, deps: Deps) -> FetchOutput:
    """Pull the district's source into the sync's raw prefix (see the module docstring)."""
    now = deps.clock()
    settings = deps.repo.get_settings(inp.district_id)
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    attempt = record.attempt if record is not None else 1
    prefix = sync_prefix(inp.district_id, inp.sync_id, attempt)
    raw_prefix = f"{prefix}/raw/"
    source = settings.source
    out = FetchOutput(outcome="push", kind=source.kind, attempt=attempt, prefix=prefix, raw_prefix=raw_prefix)
    if not isinstance(source, PullSource):
        return out
    writer = PageWriter(deps.raw, raw_prefix, source.kind)
    try:
        _puller(deps).pull(source, writer, now.date())
    except SourcePausedError as exc:
        deps.repo.update_sync(inp.district_id, inp.sync_id, now, attempt=attempt, reason=str(exc))
        return out.model_copy(update={"outcome": "paused", "reason": str(exc)})
    except SourceError as exc:
        log.warning("pull of %s failed (%s): %s", inp.district_id, exc.hold, exc)
        deps.repo.update_sync(inp.district_id, inp.sync_id, now, attempt=attempt, reason=str(exc))
        return out.model_copy(update={"outcome": "held", "hold": exc.hold, "reason": str(exc)[:1000]})
    key = writer.finish(manifest_key(prefix))
    manifest = writer.manifest
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        attempt=attempt,
        counts={"fetched": {name: e.records for name, e in manifest.entities.items()}},
        keys={"raw": raw_prefix, "fetch": key},
    )
    return out.model_copy(
        update={
            "outcome": "fetched",
            "manifest_key": key,
            "pages": manifest.pages,
            "records": manifest.records,
            "files": len(manifest.files),
        }
    )


def fetch_hold(fetched: FetchOutput) -> Hold:
    """The hold a failed pull becomes (district-wide; not releasable, only retry or reject)."""
    assert fetched.hold is not None
    return Hold(type=fetched.hold, message=fetched.reason or f"the {fetched.kind} source failed")
