"""``rostersync demo --keep-serving`` leaves the product running with the console at the URL it
prints, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration
READY = re.compile(r"The console: (http://127\.0\.0\.1:\d+/console)[\s\S]*Ctrl-C stops everything\.")


def test_demo_keep_serving_prints_the_console_url_and_serves_it_until_ctrl_c(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "rostersync_tools.cli",
        "demo",
        "--keep-serving",
        "--workdir",
        str(tmp_path),
    ]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if READY.search("".join(lines)):
                ready.set()
        ready.set()  # the process ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        ready.wait(timeout=240)
        output = "".join(lines)
        console = READY.search(output)
        assert console, output
        url = urlsplit(console.group(1))
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        connection.request("GET", url.path)
        response = connection.getresponse()

        assert response.status == 303
        assert response.getheader("Location") == "/console/auth/sign-in?next=/console"
        assert re.search(
            r"The sync the demo decided: http://127\.0\.0\.1:\d+/console/districts/demo/syncs/demo-", output
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=5)
    assert process.returncode == 0, "".join(lines)
