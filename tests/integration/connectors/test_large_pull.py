"""A large pull streams: 200k users over 100 pages pass through with bounded memory."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psutil

from rostersync.connectors.clever import CleverClient
from rostersync.connectors.http import HttpClient
from rostersync.connectors.pages import PageWriter
from rostersync.storage import LocalBlobStore
from tests.support.clever_server import FakeClever, Generated

USERS = 200_000
PAGE = 2_000
# Peak growth of the process's resident memory allowed during the pull (client, pages in flight
# and the fake server, which runs in this process). The pulled records are ~56 MB as NDJSON and
# several times that as Python objects: holding them would blow far past this.
PEAK_LIMIT = 48 * 1024 * 1024


class RssPeak:
    """Samples this process's RSS every few milliseconds (no tracing overhead on the pull)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1)
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _student_json(i: int) -> str:
    # The fake server's fast path: the record as text (the same shape as _student).
    school = f"sch{i % 40}"
    return (
        f'{{"id":"u{i:07d}","district":"d0000001","email":"kid{i}@fake.k12.us",'
        f'"name":{{"first":"First{i}","middle":"M","last":"Last{i}"}},"roles":{{"student":{{'
        f'"sis_id":"S{i}","student_number":"{100000 + i}","school":"{school}","schools":["{school}"],'
        f'"grade":"{i % 12 + 1}","dob":"2012-05-04","gender":"F"}}}}}}'
    )


def _student(i: int) -> dict[str, Any]:
    school = f"sch{i % 40}"
    return {
        "id": f"u{i:07d}",
        "district": "d0000001",
        "email": f"kid{i}@fake.k12.us",
        "name": {"first": f"First{i}", "middle": "M", "last": f"Last{i}"},
        "roles": {
            "student": {
                "sis_id": f"S{i}",
                "student_number": f"{100000 + i}",
                "school": school,
                "schools": [school],
                "grade": str(i % 12 + 1),
                "dob": "2012-05-04",
                "gender": "F",
            }
        },
    }


def test_200k_users_are_pulled_page_by_page_with_bounded_memory(tmp_path: Path) -> None:
    users = {"student": Generated(USERS, _student, lambda i: f"u{i:07d}", _student_json)}
    store = LocalBlobStore(tmp_path)
    writer = PageWriter(store, "raw/", "clever")
    with FakeClever(users=users, lifetime=60) as server:
        client = CleverClient(server.url, "district-token", HttpClient(), page_size=PAGE)
        started = time.perf_counter()
        with RssPeak() as rss:
            for page in client.pages("users", role="student"):
                writer.write("users_student", page)
        elapsed = time.perf_counter() - started
        peak = rss.growth

    pages = writer.manifest.entities["users_student"]
    written = sum((tmp_path / key).stat().st_size for key in pages.keys)
    print(
        f"\n{pages.pages} pages, {pages.records:,} users, {written / 1e6:.0f} MB in {elapsed:.1f}s "
        f"({pages.pages / elapsed:.0f} pages/s); peak RSS growth {peak / 1e6:.1f} MB"
    )
    assert pages.records == USERS
    assert pages.pages == USERS // PAGE + 1  # plus the empty page that ends the list
    assert peak < PEAK_LIMIT
    assert written > peak  # the data went to storage, not memory
