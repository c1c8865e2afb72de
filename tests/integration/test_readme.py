"""The README's "Using it by hand" commands, run as written.

The commands are read from README.md (the first two ``sh`` blocks of the section), so this test
fails when they drift from what works. Only what cannot be shared on a test machine is changed:
the fixed ports (8080, 2222) become free ones, ``/tmp/district`` a temporary folder, and the
virtualenv's ``rostersync`` (``make serve`` / ``.venv/bin/rostersync``) this interpreter's. Between
paragraphs of the second block the test waits until serve has nothing in progress, as a reader
would wait for the log line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rostersync_tools.local.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Using it by hand"
STARTUP_TIMEOUT = 40.0
IDLE_TIMEOUT = 60.0
BUSY = {"waiting", "running"}

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("sftp", "curl", "bash", "python3")),
    reason="needs OpenSSH sftp, curl, bash and python3 on PATH",
)


def readme_blocks() -> list[str]:
    """The ``sh`` blocks of the by-hand section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


class Served:
    def __init__(self, cwd: Path, api_port: int, sftp_port: int, district: Path) -> None:
        self.cwd, self.api_port, self.sftp_port, self.district = cwd, api_port, sftp_port, district

    def localize(self, text: str) -> str:
        """The README's text with this machine's ports, folder and interpreter."""
        rostersync = f"{shlex.quote(sys.executable)} -m rostersync_tools.cli"
        text = text.replace(".venv/bin/rostersync", rostersync).replace("/tmp/district", str(self.district))
        text = re.sub(r"\b8080\b", str(self.api_port), text)
        return re.sub(r"\b2222\b", str(self.sftp_port), text)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def operator(self, path: str) -> requests.Response:
        token = json.loads((self.cwd / ".rostersync" / "serve.json").read_text())["operator_token"]
        return requests.get(self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=15)

    def wait_idle(self, quiet: float = 3.0) -> None:
        """Until no sync of the district is waiting or running for ``quiet`` seconds on end."""
        deadline = time.monotonic() + IDLE_TIMEOUT
        idle_since: float | None = None
        while time.monotonic() < deadline:
            syncs = self.operator("/districts/demo/syncs").json()["syncs"]
            if any(s["status"] in BUSY for s in syncs):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= quiet:
                return
            time.sleep(0.3)
        raise AssertionError("serve did not finish its syncs in time")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("newcomer")
    state = Served(cwd, free_port("127.0.0.1"), free_port("127.0.0.1"), cwd / "district")
    (serve_block, _) = readme_blocks()
    (line,) = [x for x in serve_block.splitlines() if x.startswith("make serve")]
    serve_args = shlex.split(state.localize(re.search(r'SERVE_ARGS="([^"]*)"', line).group(1)))  # type: ignore[union-attr]
    log = cwd / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rostersync_tools.cli", "serve", *serve_args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (cwd / ".rostersync" / "serve.json").exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(0.3)
        yield state
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_the_readme_by_hand_commands_run_as_written(served: Served) -> None:
    (_, commands) = readme_blocks()
    paragraphs = [p for p in re.split(r"\n\s*\n", commands) if p.strip()]
    state = served.cwd / "shell-state.sh"
    state.write_text("")
    output = []
    for paragraph in paragraphs:
        # One shell per paragraph, carrying the exported variables (TOKEN) to the next.
        script = f"set -euo pipefail\nsource {shlex.quote(str(state))}\n{served.localize(paragraph)}\n"
        script += f"export -p > {shlex.quote(str(state))}\n"
        result = subprocess.run(
            ["bash", "-c", script], cwd=served.cwd, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{paragraph}\n{result.stdout}{result.stderr}"
        output.append(result.stdout)
        served.wait_idle()

    assert served.operator("/districts/demo/versions").json()["latest"] == 3
    (held,) = served.operator("/districts/demo/holds?status=open").json()["holds"]
    assert held["held_schools"] == ["SCH0001"]
    assert "is-on-hold" in output[-1]  # `ls .rostersync/outbox/` listed the hold email


def test_the_serve_log_lines_are_timestamped(served: Served) -> None:
    lines = (served.cwd / "serve.log").read_text(encoding="utf-8").splitlines()

    progress = [line for line in lines if "received over SFTP" in line]
    assert progress and all(re.match(r"^\d\d:\d\d:\d\d ", line) for line in progress)


def test_the_known_hosts_file_shows_the_printed_fingerprint(served: Served) -> None:
    endpoints = json.loads((served.cwd / ".rostersync" / "serve.json").read_text())

    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(served.cwd / ".rostersync" / "known_hosts")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert endpoints["sftp_host_key_fingerprint"] in listed
    assert f"[127.0.0.1]:{served.sftp_port}" in listed
