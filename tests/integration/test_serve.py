"""``rostersync serve`` as a user meets it: a subprocess on free loopback ports, fed over SFTP
(paramiko), read and decided over HTTP (requests), leaving emails in its outbox and accepted
snapshot versions behind the API."""

from __future__ import annotations

import email
import email.policy
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
import requests

from rostersync_tools.local.demo import build_scenario, sftp_upload
from rostersync_tools.local.serve import Endpoints
from rostersync_tools.synthetic import write_clever_csv

STARTUP_TIMEOUT = 40.0
STEP_TIMEOUT = 30.0


class Served:
    """The running subprocess, its endpoints and an admin's HTTP session."""

    def __init__(self, process: subprocess.Popen[bytes], endpoints: Endpoints, log: Path) -> None:
        self.process, self.endpoints, self.log = process, endpoints, log
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {endpoints.admin_token}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(self.endpoints.api_url + path, params=params or None, timeout=15)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def wait(self, check: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited:\n{self.log.read_text()}"
            value = check()
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; serve output:\n{self.log.read_text()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("serve")
    log = workdir / "serve.log"
    env = {**os.environ, "COLUMNS": "200"}
    command = [
        sys.executable, "-m", "rostersync_tools.cli", "serve",
        "--workdir", str(workdir), "--quiet-seconds", "1", "--sftp-password", "s3cret-pw",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        descriptor = workdir / "serve.json"
        while not descriptor.exists():
            assert process.poll() is None, f"serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start:\n{log.read_text()}"
            time.sleep(0.2)
        time.sleep(0.2)  # written in one call, but let the banner print
        yield Served(process, Endpoints.read(descriptor), log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Path]:
    root = tmp_path_factory.mktemp("district")
    scenario = build_scenario(students=240, seed=5, district_id="demo")
    write_clever_csv(scenario.day1, root / "day1")
    write_clever_csv(scenario.day2, root / "day2")
    return scenario, root / "day1", root / "day2"


def test_serve_runs_a_held_sync_from_sftp_upload_to_released_snapshot(
    served: Served, scenario_files: tuple[Any, Path, Path]
) -> None:
    scenario, day1, day2 = scenario_files
    endpoints = served.endpoints

    # Given day 1 uploaded over SFTP and applied
    uploaded = sftp_upload(endpoints, day1)
    assert {name for name, _ in uploaded} >= {"schools.csv", "students.csv", "enrollments.csv"}
    served.wait(lambda: served.get("/districts/demo/versions")["latest"] == 1, "day 1 to be applied")

    # When day 2 arrives and is held
    sftp_upload(endpoints, day2)
    hold = served.wait(
        lambda: next(iter(served.get("/districts/demo/holds", status="open")["holds"]), None),
        "day 2 to be held",
    )
    held = {(h["school_id"], h["type"]) for h in hold["holds"]}
    assert (scenario.mistaken_school, "mass_removal") in held
    assert (scenario.contacts_school, "emergency_contacts") in held

    # Then the admins got an email about it, with a text and an HTML part
    outbox = Path(endpoints.outbox)
    eml = served.wait(
        lambda: next((p for p in sorted(outbox.glob("*.eml")) if "on-hold" in p.name), None), "the hold email"
    )
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert hold["sync_id"] in str(message["Subject"])
    assert message["To"] == endpoints.admin_email
    assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert scenario.mistaken_school in text and "mass_removal (students): " in text

    # And the changes CSV downloads through the presigned URL the API hands out
    link = served.get(f"/syncs/{hold['sync_id']}/changes.csv")
    assert link["url"].startswith(endpoints.aws_endpoint_url)
    csv = requests.get(link["url"], timeout=15)
    assert csv.status_code == 200 and b"removed" in csv.content

    # And the schools that tripped no hold were applied before the sync started waiting
    assert served.get("/districts/demo/versions")["latest"] == 2

    # When the admin releases the whole sync over HTTP
    response = served.http.post(
        f"{endpoints.api_url}/syncs/{hold['sync_id']}/release",
        json={"hold_types": hold["hold_types"], "comment": "reviewed"},
        timeout=15,
    )
    assert response.status_code == 202, response.text

    # Then the held schools are applied as snapshot version 3
    versions = served.wait(
        lambda: (v := served.get("/districts/demo/versions"))["latest"] == 3 and v, "version 3"
    )
    assert versions["versions"][0]["sync_id"] == hold["sync_id"]
    served.wait(
        lambda: served.get(f"/syncs/{hold['sync_id']}")["status"] == "applied", "the sync to be applied"
    )
    assert served.get("/districts/demo/holds", status="open")["holds"] == []


def test_the_api_refuses_requests_without_a_valid_token(served: Served) -> None:
    url = f"{served.endpoints.api_url}/districts/demo/holds"

    assert requests.get(url, timeout=15).status_code == 401
    assert (
        requests.get(url, headers={"Authorization": "Bearer forged.token.x"}, timeout=15).status_code == 401
    )


def test_a_district_admin_token_cannot_read_another_district(served: Served) -> None:
    response = served.http.get(f"{served.endpoints.api_url}/districts/other/holds", timeout=15)

    assert response.status_code == 403


def test_sftp_refuses_a_wrong_password_and_is_chrooted_to_the_inbox(served: Served) -> None:
    endpoints = served.endpoints
    transport = paramiko.Transport((endpoints.sftp_host, endpoints.sftp_port))
    transport.start_client(timeout=10)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_password(endpoints.sftp_user, "wrong")
    finally:
        transport.close()

    transport = paramiko.Transport((endpoints.sftp_host, endpoints.sftp_port))
    transport.connect(username=endpoints.sftp_user, password=endpoints.sftp_password)
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        assert sftp.normalize("../../..") == "/"
        # Processed sets leave the inbox (archived): put one file there to see it from "/../..".
        sftp.putfo(io.BytesIO(b"probe"), "probe.txt")
        names = sftp.listdir("/../..")
        assert "probe.txt" in names  # the district's own inbox, nothing above it
        assert not any(name in ("inbox", "syncs", "demo") for name in names)
    finally:
        transport.close()


def test_hostile_file_names_are_refused_and_later_uploads_are_still_processed(
    served: Served, scenario_files: tuple[Any, Path, Path]
) -> None:
    _scenario, day1, _day2 = scenario_files
    endpoints = served.endpoints
    transport = paramiko.Transport((endpoints.sftp_host, endpoints.sftp_port))
    transport.connect(username=endpoints.sftp_user, password=endpoints.sftp_password)
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        for name in ("[/].csv", "..\\..\\win.csv", "x\n[cyan]demo[/cyan] ⇢ forged.csv"):
            with pytest.raises(PermissionError, match="refused: the file name"):
                sftp.putfo(io.BytesIO(b"a,b\n1,2\n"), name)
        sftp.put(str(day1 / "schools.csv"), "schools.csv")
    finally:
        transport.close()

    served.wait(lambda: "schools.csv received over SFTP" in served.log.read_text(), "the next upload")
    lines = served.log.read_text().splitlines()
    assert not any("Traceback" in line for line in lines)
    assert not any(line.startswith("demo ⇢ forged.csv") for line in lines)  # the name is one line
