"""The pull side of the pipeline: the schedule's entry point and the ``fetch`` step.

:func:`start_scheduled` turns the pull schedule's event into one execution per pulled district
(``trigger: schedule``, ``pull: true``), named ``<district>-<id of the scheduled time>`` so a
redelivered event starts nothing new. :func:`fetch` runs after the lock: it reads the district's
source settings and secret, pulls (Clever / OneRoster pages as NDJSON, or the SFTP site's files)
into ``syncs/<d>/<sync>[/attempt-N]/raw/`` of the raw bucket and writes ``fetch.json`` (the
:class:`~rostersync.connectors.pages.PullManifest`) beside it; only keys and counts go back to the
state machine. A source failure is not an exception but an outcome: ``held`` with the
``credentials`` or ``disconnected`` hold and a reason (evaluate turns it into a non-releasable
hold), or ``paused``. :func:`load_pulled` is what normalize calls for an API pull.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from rostersync.connectors.errors import SourceConfigError, SourceError, SourcePausedError
from rostersync.connectors.pages import PageWriter, PullManifest, read_manifest
from rostersync.connectors.sources import (
    API_KINDS,
    PULL_KINDS,
    CleverSource,
    OneRosterSource,
    SftpPullSource,
)
from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.events import FetchInput, FetchOutput, ScheduledSyncEvent, ScheduledSyncOutput
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import Deps, Secrets
from rostersync.records import Hold
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
    from rostersync.pipeline.steps import upload_id

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
    return out


# --- fetch --------------------------------------------------------------------------------------


def _retry(config: PipelineConfig) -> Any:
    from rostersync.connectors.http import RetryPolicy

    return RetryPolicy(
        attempts=config.source_retry_attempts,
        backoff_seconds=config.source_backoff_seconds,
        max_backoff_seconds=max(config.source_backoff_seconds, 60.0),
        max_retry_after_seconds=config.source_max_retry_after_seconds,
        read_timeout=config.source_timeout_seconds,
        connect_timeout=min(config.source_timeout_seconds, 10.0),
    )


def _secret(secrets: Secrets | None, secret_id: str) -> dict[str, Any]:
    if secrets is None:
        raise SourceConfigError("no secret store is configured for pulled sources")
    return secrets.get_json(secret_id)


def _pull_clever(source: CleverSource, deps: Deps, writer: PageWriter, today: Any) -> None:
    from rostersync.connectors.clever import CleverClient
    from rostersync.connectors.http import HttpClient

    token = _secret(deps.secrets, source.secret_id).get("token")
    if not token:
        raise SourceConfigError(f"secret {source.secret_id!r} has no 'token'")
    client = CleverClient(
        source.base_url,
        str(token),
        HttpClient(retry=_retry(deps.config), source="Clever"),
        api_version=source.api_version,
        page_size=source.page_size,
    )
    client.pull(writer, today)


def _pull_oneroster(source: OneRosterSource, deps: Deps, writer: PageWriter) -> None:
    from rostersync.connectors.http import HttpClient
    from rostersync.connectors.oneroster import OneRosterClient, client_credentials_token, oauth1

    secret = _secret(deps.secrets, source.secret_id)
    http = HttpClient(retry=_retry(deps.config), source="the OneRoster provider")
    if source.auth == "oauth1":
        if not secret.get("client_id") or not secret.get("client_secret"):
            raise SourceConfigError(f"secret {source.secret_id!r} needs 'client_id' and 'client_secret'")
        client = OneRosterClient(
            source.base_url,
            http,
            auth=oauth1(str(secret["client_id"]), str(secret["client_secret"])),
            page_size=source.page_size,
        )
    else:
        token = secret.get("token")
        if not token and source.token_url and secret.get("client_id") and secret.get("client_secret"):
            token = client_credentials_token(
                source.token_url, str(secret["client_id"]), str(secret["client_secret"])
            )
        if not token:
            raise SourceConfigError(
                f"secret {source.secret_id!r} needs a 'token', or 'client_id'/'client_secret' and a token_url"
            )
        client = OneRosterClient(source.base_url, http, token=str(token), page_size=source.page_size)
    client.pull(writer)


def _pull_sftp(source: SftpPullSource, deps: Deps, writer: PageWriter) -> None:
    from rostersync.connectors.sftp import SftpPuller

    puller = SftpPuller(
        _secret(deps.secrets, source.secret_id),
        source.host_key,
        remote_dir=source.remote_dir,
        timeout=deps.config.source_timeout_seconds,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for path in puller.download(Path(tmp)):
            key = f"{writer.prefix}{path.name}"
            put_file = getattr(writer.store, "put_file", None)
            if put_file is not None:
                put_file(key, path)  # streamed (multipart) upload
            else:
                writer.store.put(key, path.read_bytes())
            writer.manifest.files.append(path.name)


def fetch(inp: FetchInput, deps: Deps) -> FetchOutput:
    """Pull the district's source into the sync's raw prefix (see the module docstring)."""
    from rostersync.pipeline.steps import sync_prefix

    now = deps.clock()
    settings = deps.repo.get_settings(inp.district_id)
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    attempt = record.attempt if record is not None else 1
    prefix = sync_prefix(inp.district_id, inp.sync_id, attempt)
    raw_prefix = f"{prefix}/raw/"
    source = settings.source
    out = FetchOutput(outcome="push", kind=source.kind, attempt=attempt, prefix=prefix, raw_prefix=raw_prefix)
    if source.kind not in PULL_KINDS:
        return out
    writer = PageWriter(deps.raw, raw_prefix, source.kind)
    try:
        if isinstance(source, CleverSource):
            _pull_clever(source, deps, writer, now.date())
        elif isinstance(source, OneRosterSource):
            _pull_oneroster(source, deps, writer)
        elif isinstance(source, SftpPullSource):
            _pull_sftp(source, deps, writer)
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


__all__ = [
    "API_KINDS",
    "fetch",
    "fetch_hold",
    "load_pulled",
    "pulled_manifest",
    "start_scheduled",
]
