"""What ``rostersync serve`` reports as it happens: each sync's status changes and each email.

Driven by events, not by polling, so an idle ``serve`` costs nothing and its cost does not grow
with the history of syncs: the local stack hands the functions a repository that calls
:meth:`SyncWatcher.sync_changed` whenever a sync record is written (:func:`notifying_repository`,
put in through the stack's ``adapt`` hook like the recording mailer), the mail recorder calls
:meth:`SyncWatcher.mail_sent`, and an API request that may change something calls
:meth:`SyncWatcher.recheck` (the watcher then re-reads the syncs it last saw still going). The
watcher reads one record per change. Every value shown comes from outside (district and school
IDs, file names, hold messages) and goes through :func:`rostersync_tools.render.safe`.
Development only: nothing here is deployed.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from rostersync_tools.render import safe

if TYPE_CHECKING:
    from rostersync.pipeline.models import SyncRecord
    from rostersync.pipeline.ports import Repository
    from rostersync_tools.local.outbox import Outbox

logger = logging.getLogger(__name__)

Log = Callable[[str], None]
ReadSync = Callable[[str, str], "SyncRecord | None"]
SyncKey = tuple[str, str]

# Statuses the watcher reports; "waiting" is reported when the upload arrives, and "coalesced"
# (an earlier file's sync folding into the set's last one) only adds noise.
QUIET_STATUSES = frozenset({"waiting", "coalesced"})
# A sync in one of these statuses changes no more; the others are re-read on a recheck.
OVER_STATUSES = frozenset({"applied", "rejected", "expired", "superseded", "paused", "failed", "coalesced"})
_MAIL = ("", "mail")
_RECHECK = ("", "recheck")


class SyncWatcher:
    """Reports changes as they are signalled; :meth:`run` in a thread until :meth:`stop`."""

    def __init__(self, read_sync: ReadSync, outbox: Outbox, log: Log) -> None:
        self.read_sync = read_sync
        self.outbox = outbox
        self.log = log
        self._changes: queue.Queue[SyncKey | None] = queue.Queue()
        self._seen: dict[SyncKey, str] = {}
        self._going: set[SyncKey] = set()

    # -- signals (any thread) ---------------------------------------------------------------------
    def sync_changed(self, district_id: str, sync_id: str) -> None:
        self._changes.put((district_id, sync_id))

    def mail_sent(self) -> None:
        self._changes.put(_MAIL)

    def recheck(self) -> None:
        self._changes.put(_RECHECK)

    def stop(self) -> None:
        self._changes.put(None)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Block on the next signal; handle it with those that came meanwhile. A failure is
        logged and the loop goes on: the watcher never dies silently."""
        while True:
            batch = [self._changes.get()]
            while not self._changes.empty():
                batch.append(self._changes.get_nowait())
            if None in batch:
                return
            try:
                self.handle(cast("list[SyncKey]", batch))
            except Exception as exc:
                logger.exception("the status watcher failed on %r", batch)
                self.log(f"[yellow]watcher: {safe(exc)}[/yellow]")

    def handle(self, batch: list[SyncKey]) -> None:
        keys = set(batch)
        if _RECHECK in keys:
            keys |= self._going
        records = [r for key in sorted(keys - {_MAIL, _RECHECK}) if (r := self.read_sync(*key)) is not None]
        for record in sorted(records, key=lambda r: r.updated_at):
            self._report(record)
        if _MAIL in keys:
            for path, sent in self.outbox.collect():
                to = ", ".join(safe(address) for address in sent.to)
                self.log(f"[magenta]email[/magenta] to {to}: “{safe(sent.subject or '')}” → {safe(path)}")

    def _report(self, record: SyncRecord) -> None:
        key = (record.district_id, record.sync_id)
        if record.status in OVER_STATUSES:
            self._going.discard(key)
        else:
            self._going.add(key)
        if self._seen.get(key) == record.status:
            return
        self._seen[key] = record.status
        if record.status not in QUIET_STATUSES:
            self.log(describe_sync(record))


class _NotifyingRepository:
    """A repository that signals each sync record it writes; everything else passes through."""

    def __init__(self, inner: Repository, changed: Callable[[str, str], None]) -> None:
        self._inner = inner
        self._changed = changed

    def put_sync(self, record: SyncRecord) -> None:
        self._inner.put_sync(record)
        self._changed(record.district_id, record.sync_id)

    def create_sync(self, record: SyncRecord) -> bool:
        created = self._inner.create_sync(record)
        self._changed(record.district_id, record.sync_id)
        return created

    def update_sync(self, district_id: str, sync_id: str, now: datetime, **fields: Any) -> None:
        self._inner.update_sync(district_id, sync_id, now, **fields)
        self._changed(district_id, sync_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def notifying_repository(inner: Repository, changed: Callable[[str, str], None]) -> Repository:
    """``inner``, calling ``changed(district_id, sync_id)`` after each write of a sync record."""
    return cast("Repository", _NotifyingRepository(inner, changed))


def describe_sync(record: SyncRecord) -> str:
    """One readable line (plus one per hold) of a sync's status, every value escaped."""
    head = f"[cyan]{safe(record.district_id)}[/cyan] sync {safe(record.sync_id)}"
    status = record.status
    if status == "running":
        return f"{head}: processing (normalize → diff → holds)"
    if status == "held":
        schools = ", ".join(safe(s) for s in record.held_schools) or "district-wide"
        lines = [
            f"{head}: [bold yellow]HELD[/bold yellow] ({schools}); admins emailed, waiting for a decision"
        ]
        lines += [f"    • {safe(hold.get('type'))}: {safe(hold.get('message'))}" for hold in record.holds]
        if record.applied_schools:
            lines.append(f"    applied so far: {_schools(record)} (versions {record.versions})")
        return "\n".join(lines)
    if status == "applied":
        version = record.versions[-1] if record.versions else "?"
        return f"{head}: [bold green]applied[/bold green] → accepted snapshot version {version}"
    if status == "partially_applied":
        return f"{head}: applied for {_schools(record)} (versions {record.versions})"
    color = "red" if status in ("failed", "expired") else "yellow"
    reason = f": {safe(record.reason)}" if record.reason else ""
    return f"{head}: [{color}]{safe(status)}[/{color}]{reason}"


def _schools(record: SyncRecord) -> str:
    return ", ".join(safe(s) for s in record.applied_schools)
