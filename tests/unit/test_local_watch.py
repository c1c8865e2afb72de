"""serve's status watcher: it reads only what changed, prints every value as text, and a failure
never ends it."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from rostersync.pipeline.models import SyncRecord
from rostersync_tools.local.outbox import Outbox, OutboxEmail
from rostersync_tools.local.watch import SyncWatcher, describe_sync

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _record(status: str = "held", **fields: object) -> SyncRecord:
    return SyncRecord.model_validate(
        {"district_id": "d1", "sync_id": "s1", "status": status, "created_at": NOW, "updated_at": NOW}
        | fields
    )


def _printed(markup: str) -> str:
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(markup)
    return console.export_text()


def test_a_held_sync_with_markup_in_its_school_ids_and_messages_prints_them_as_text() -> None:
    record = _record(
        held_schools=["[/]", "[link=https://evil.example]A[/link]"],
        holds=[{"type": "mass_removal", "message": "School [/] would lose [bold]80 %[/bold]"}],
    )

    text = _printed(describe_sync(record))

    assert "([/], [link=https://evil.example]A[/link])" in text
    assert "mass_removal: School [/] would lose [bold]80 %[/bold]" in text


def test_a_line_break_in_a_reason_cannot_start_a_forged_line() -> None:
    record = _record("failed", reason="bad file\nd1 sync s2: applied")

    text = _printed(describe_sync(record))

    assert text.strip().splitlines() == ["d1 sync s1: failed: bad file\\nd1 sync s2: applied"]


class _Harness:
    def __init__(self, tmp_path: Path, fail_first: bool = False) -> None:
        self.reads: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.records = {("d1", "s1"): _record("running")}
        self.fail_first = fail_first
        self.emails: list[OutboxEmail] = []
        self.watcher = SyncWatcher(self._read, Outbox(tmp_path, lambda: self.emails), self.lines.append)
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()

    def _read(self, district_id: str, sync_id: str) -> SyncRecord | None:
        self.reads.append((district_id, sync_id))
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("table [/] unavailable")
        return self.records.get((district_id, sync_id))

    def settle(self) -> None:
        deadline = time.monotonic() + 5
        while not self.watcher._changes.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)

    def close(self) -> None:
        self.watcher.stop()
        self.thread.join(timeout=5)


def test_an_idle_watcher_reads_nothing(tmp_path: Path) -> None:
    harness = _Harness(tmp_path)
    try:
        time.sleep(0.5)
    finally:
        harness.close()

    assert harness.reads == [] and harness.lines == []


def test_a_change_is_read_once_and_reported_and_a_recheck_rereads_syncs_still_going(tmp_path: Path) -> None:
    harness = _Harness(tmp_path)
    try:
        harness.watcher.sync_changed("d1", "s1")
        harness.settle()
        harness.records[("d1", "s1")] = _record("applied", versions=[3])
        harness.watcher.recheck()
        harness.settle()
        harness.watcher.recheck()  # s1 is over now: nothing is read again
        harness.settle()
    finally:
        harness.close()

    assert harness.reads == [("d1", "s1"), ("d1", "s1")]
    assert [line.split(": ", 1)[1] for line in harness.lines] == [
        "processing (normalize → diff → holds)",
        "[bold green]applied[/bold green] → accepted snapshot version 3",
    ]


def test_a_failure_is_logged_and_the_watcher_goes_on(tmp_path: Path) -> None:
    harness = _Harness(tmp_path, fail_first=True)
    try:
        harness.watcher.sync_changed("d1", "s1")
        harness.settle()
        harness.watcher.sync_changed("d1", "s1")
        harness.settle()
    finally:
        harness.close()

    assert harness.lines[0] == "[yellow]watcher: table \\[/] unavailable[/yellow]"
    assert harness.lines[1].endswith("processing (normalize → diff → holds)")


def test_a_recorded_email_is_written_and_reported_with_its_subject_escaped(tmp_path: Path) -> None:
    harness = _Harness(tmp_path)
    try:
        harness.emails.append(OutboxEmail("from@x.org", ["a@x.org"], "Sync [/] held", "text", None))
        harness.watcher.mail_sent()
        harness.settle()
    finally:
        harness.close()

    (line,) = harness.lines
    assert "“Sync \\[/] held”" in line and line.endswith("0001-sync-held.eml")
