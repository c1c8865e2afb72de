"""``rostersync serve --with-sample-sources``: the local Clever and OneRoster sources, a district
pulled from each, and the operator's "pull now" (``rostersync districts pull``) through the real
connectors and state machine to an accepted snapshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rostersync_tools.local.sample_sources import SampleClever, SampleOneRoster
from rostersync_tools.local.serve import Endpoints

CLI = (sys.executable, "-m", "rostersync_tools.cli")
STARTUP_TIMEOUT = 40.0
STEP_TIMEOUT = 45.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, Path]]:
    workdir = tmp_path_factory.mktemp("serve-sources")
    log = workdir / "serve.log"
    command = [sys.executable, "-m", "rostersync_tools.cli", "serve", "--workdir", str(workdir)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--with-sample-sources"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (workdir / "serve.json").exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(0.2)
        yield Endpoints.read(workdir / "serve.json"), workdir
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.parametrize("district_id", ["clever-sample", "oneroster-sample"])
def test_pull_now_reads_the_sample_source_into_an_accepted_version(
    served: tuple[Endpoints, Path], district_id: str
) -> None:
    endpoints, workdir = served
    pulled = subprocess.run(
        [*CLI, "districts", "--serve-json", str(workdir / "serve.json"), "pull", district_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    sync_id = pulled.stdout.split("sync ")[-1].strip()

    headers = {"Authorization": f"Bearer {endpoints.operator_token}"}
    deadline = time.monotonic() + STEP_TIMEOUT
    detail: dict[str, object] = {}
    while time.monotonic() < deadline:
        detail = requests.get(f"{endpoints.api_url}/syncs/{sync_id}", headers=headers, timeout=15).json()
        if detail["status"] not in ("waiting", "running"):
            break
        time.sleep(0.5)

    assert detail["trigger"] == "schedule"
    assert detail["status"] in ("applied", "partially_applied"), detail
    versions = requests.get(
        f"{endpoints.api_url}/districts/{district_id}/versions", headers=headers, timeout=15
    )
    assert versions.json()["latest"] == 1


def test_the_sample_clever_refuses_another_token() -> None:
    clever = SampleClever(token="right").start()
    try:
        wrong = requests.get(
            f"{clever.url}/v3.0/schools", headers={"Authorization": "Bearer wrong"}, timeout=5
        )
        right = requests.get(
            f"{clever.url}/v3.0/schools", headers={"Authorization": "Bearer right"}, timeout=5
        )
    finally:
        clever.stop()

    assert wrong.status_code == 401
    assert [item["data"]["id"] for item in right.json()["data"]] == ["sch1", "sch2"]


def test_the_sample_oneroster_issues_tokens_to_its_client_only() -> None:
    oneroster = SampleOneRoster(client_id="c", client_secret="s").start()
    try:
        refused = requests.post(
            oneroster.token_url,
            data={"grant_type": "client_credentials", "client_id": "c", "client_secret": "x"},
            timeout=5,
        )
        token = requests.post(
            oneroster.token_url,
            data={"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"},
            timeout=5,
        ).json()["access_token"]
        orgs = requests.get(
            f"{oneroster.url}/ims/oneroster/v1p1/orgs",
            params={"limit": "2", "offset": "1"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    finally:
        oneroster.stop()

    assert refused.status_code == 401
    assert orgs.headers["X-Total-Count"] == "3"
    assert [o["sourcedId"] for o in orgs.json()["orgs"]] == ["org1", "org2"]
