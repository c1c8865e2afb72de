"""The fault matrix, ``rostersync serve`` killed mid-sync (issue 12 item 9, docs/reliability.md).

``serve`` runs as a subprocess fed over real SFTP; it is killed with SIGKILL while a sync waits
for a decision (the surest point in flight: the execution is parked on its task token) and
started again on the same work directory. The local stack keeps everything in memory
(docs/local.md), so nothing of the killed run survives: the restarted serve must come up clean
(no stale descriptor, lock or email in the way), know nothing of the lost sync, and apply the
next upload exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from rostersync_tools.local.demo import build_scenario, sftp_upload
from rostersync_tools.local.serve import Endpoints
from rostersync_tools.synthetic import write_clever_csv

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT = 40.0
STEP_TIMEOUT = 30.0
D = "demo"


class Serve:
    """``rostersync serve`` on a work directory, started and killed as a process."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoints: Endpoints | None = None
        self.runs = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"serve-{self.runs}.log"

    def start(self) -> Endpoints:
        self.runs += 1
        descriptor = self.workdir / "serve.json"
        before = descriptor.stat().st_mtime_ns if descriptor.exists() else None
        command = [
            sys.executable, "-m", "rostersync_tools.cli", "serve",
            "--workdir", str(self.workdir), "--quiet-seconds", "1", "--sftp-password", "s3cret-pw",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}
            )
        # A killed run leaves its serve.json behind: wait for this run's own.
        self.wait(
            lambda: descriptor.exists() and descriptor.stat().st_mtime_ns != before,
            "serve to start",
            STARTUP_TIMEOUT,
        )
        time.sleep(0.2)  # written in one call, but let the banner print
        self.endpoints = Endpoints.read(descriptor)
        return self.endpoints

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def get(self, path: str, **params: Any) -> Any:
        assert self.endpoints is not None
        response = requests.get(
            self.endpoints.api_url + path,
            params=params or None,
            headers={"Authorization": f"Bearer {self.endpoints.admin_token}"},
            timeout=15,
        )
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def wait(self, check: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    running = Serve(tmp_path / "work")
    running.workdir.mkdir()
    try:
        yield running
    finally:
        running.stop()


def test_serve_killed_while_a_sync_is_held_restarts_clean_and_applies_the_next_upload_once(
    serve: Serve, tmp_path: Path
) -> None:
    scenario = build_scenario(students=120, seed=5, district_id=D)
    day1, day2 = tmp_path / "day1", tmp_path / "day2"
    write_clever_csv(scenario.day1, day1)
    write_clever_csv(scenario.day2, day2)
    endpoints = serve.start()
    sftp_upload(endpoints, day1)
    serve.wait(lambda: serve.get(f"/districts/{D}/versions")["latest"] == 1, "day 1 applied")
    sftp_upload(endpoints, day2)
    held = serve.wait(
        lambda: next(iter(serve.get(f"/districts/{D}/holds", status="open")["holds"]), None), "day 2 held"
    )
    outbox = Path(endpoints.outbox)
    assert any("on-hold" in p.name for p in outbox.glob("*.eml"))

    serve.kill()
    restarted = serve.start()

    # Everything lived in the killed process: the held sync, its versions and emails are gone,
    # and nothing of them is left to strand the district (no open hold, no lock, no old email).
    assert restarted.api_url != endpoints.api_url or restarted.admin_token != endpoints.admin_token
    assert serve.get(f"/districts/{D}/holds", status="open")["holds"] == []
    assert serve.get(f"/districts/{D}/versions")["latest"] is None
    assert list(Path(restarted.outbox).glob("*.eml")) == []
    assert held["sync_id"] not in serve.log.read_text()

    sftp_upload(restarted, day1)

    serve.wait(lambda: serve.get(f"/districts/{D}/versions")["latest"] == 1, "the next upload applied")
    versions = serve.get(f"/districts/{D}/versions")
    assert [v["version"] for v in versions["versions"]] == [1], versions
