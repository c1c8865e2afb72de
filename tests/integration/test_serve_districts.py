"""Two districts side by side on ``rostersync serve`` (a subprocess): each with its own SFTP
login and admin token, neither sees the other's files, syncs or emails; an SFTP user the
operator adds with ``rostersync districts`` logs in at once and is refused once removed."""

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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rostersync_tools.local.demo import build_scenario
from rostersync_tools.local.serve import Endpoints
from rostersync_tools.synthetic import write_clever_csv

STARTUP_TIMEOUT = 40.0
STEP_TIMEOUT = 30.0
DISTRICTS = ("demo", "lakeside")


class Served:
    def __init__(self, process: subprocess.Popen[bytes], endpoints: Endpoints, workdir: Path) -> None:
        self.process, self.endpoints, self.workdir = process, endpoints, workdir
        self.log = workdir / "serve.log"
        self.district = {d["district_id"]: d for d in endpoints.extra["districts"]}

    def get(self, district_id: str, path: str) -> requests.Response:
        token = self.district[district_id]["admin_token"]
        return requests.get(
            self.endpoints.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )

    def wait(self, check: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited:\n{self.log.read_text()}"
            value = check()
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; serve output:\n{self.log.read_text()}")

    def sftp(self, username: str, *, password: str | None = None, key: paramiko.PKey | None = None) -> Any:
        transport = paramiko.Transport((self.endpoints.sftp_host, self.endpoints.sftp_port))
        transport.connect(username=username, password=password, pkey=key)
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        return transport, client

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rostersync_tools.cli", "districts"]
        command += ["--serve-json", str(self.workdir / "serve.json"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("serve-districts")
    command = [
        sys.executable, "-m", "rostersync_tools.cli", "serve", "--workdir", str(workdir),
        "--quiet-seconds", "1", "--district", "lakeside=Lakeside School District",
    ]  # fmt: skip
    with (workdir / "serve.log").open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (workdir / "serve.json").exists():
            assert process.poll() is None, (workdir / "serve.log").read_text()
            assert time.monotonic() < deadline, (workdir / "serve.log").read_text()
            time.sleep(0.2)
        time.sleep(0.2)
        yield Served(process, Endpoints.read(workdir / "serve.json"), workdir)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def uploaded(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Each district's own day 1 uploaded with its own login and applied; its students.csv."""
    root = tmp_path_factory.mktemp("two-districts")
    students = {}
    for seed, district_id in enumerate(DISTRICTS, start=3):
        folder = root / district_id
        write_clever_csv(build_scenario(students=120, seed=seed, district_id=district_id).day1, folder)
        login = served.district[district_id]
        transport, client = served.sftp(login["sftp_user"], password=login["sftp_password"])
        try:
            for path in sorted(folder.glob("*.csv")):
                client.put(str(path), path.name)
        finally:
            transport.close()
        students[district_id] = (folder / "students.csv").read_bytes()
    for district_id in DISTRICTS:
        served.wait(
            lambda d=district_id: served.get(d, f"/districts/{d}/versions").json().get("latest") == 1,
            f"{district_id}'s day 1 to be applied",
        )
    return students


@pytest.fixture(scope="module")
def probes(served: Served, uploaded: dict[str, bytes]) -> dict[str, bytes]:
    """A note each district's login puts in its inbox once its day 1 is applied (a sync moves the
    files it took out of the inbox, so the roster files themselves are no longer there to read)."""
    notes = {}
    for district_id in DISTRICTS:
        login = served.district[district_id]
        transport, client = served.sftp(login["sftp_user"], password=login["sftp_password"])
        try:
            notes[district_id] = f"note of {district_id}\n".encode()
            with client.open(f"note-{district_id}.txt", "wb") as handle:
                handle.write(notes[district_id])
        finally:
            transport.close()
    return notes


def test_each_sftp_login_sees_only_its_own_districts_files(served: Served, probes: dict[str, bytes]) -> None:
    for district_id in DISTRICTS:
        login = served.district[district_id]
        transport, client = served.sftp(login["sftp_user"], password=login["sftp_password"])
        try:
            with client.open(f"note-{district_id}.txt") as handle:
                seen = handle.read()
            here = client.listdir("/")
            names = client.listdir("/../..")
        finally:
            transport.close()

        assert seen == probes[district_id]
        assert {f"note-{d}.txt" for d in DISTRICTS} & set(here) == {f"note-{district_id}.txt"}
        assert not set(names) & {"inbox", "syncs", "archive", *DISTRICTS}


def test_the_two_districts_have_different_rosters(uploaded: dict[str, bytes]) -> None:
    assert uploaded["demo"] != uploaded["lakeside"]


def test_each_admin_reads_its_own_district_and_is_refused_the_other(
    served: Served, uploaded: dict[str, bytes]
) -> None:
    for own, other in (DISTRICTS, tuple(reversed(DISTRICTS))):
        syncs = served.get(own, f"/districts/{own}/syncs").json()["syncs"]
        assert {s["district_id"] for s in syncs} == {own}
        assert all(s["sync_id"].startswith(f"{own}-") for s in syncs)
        assert served.get(own, f"/districts/{other}/syncs").status_code == 403
        other_sync = served.get(other, f"/districts/{other}/syncs").json()["syncs"][0]["sync_id"]
        assert served.get(own, f"/syncs/{other_sync}").status_code == 404


def test_each_admin_is_emailed_about_its_own_district_only(
    served: Served, uploaded: dict[str, bytes]
) -> None:
    outbox = Path(served.endpoints.outbox)

    def applied_emails() -> list[Any]:
        messages = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in outbox.glob("*.eml")
        ]
        return messages if len({str(m["To"]) for m in messages}) == len(DISTRICTS) else []

    messages = served.wait(applied_emails, "an email to each district's admin")
    for message in messages:
        (district_id,) = [d for d in DISTRICTS if served.district[d]["admin_email"] == str(message["To"])]
        other = next(d for d in DISTRICTS if d != district_id)
        subject = str(message["Subject"])
        # "[rostersync] <district name>: sync <district>-… applied"
        assert f"sync {district_id}-" in subject
        body = message.get_body(preferencelist=("plain",)).get_content()
        assert f"{other}-" not in body and f"{other}-" not in subject


def test_an_sftp_user_added_by_the_operator_logs_in_until_removed(
    served: Served, probes: dict[str, bytes], tmp_path: Path
) -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (tmp_path / "sis.pub").write_bytes(public + b" sis@lakeside\n")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))

    added = served.cli("add-user", "lakeside", "lakeside-sis", "--ssh-key", str(tmp_path / "sis.pub"))
    assert added.returncode == 0, added.stdout + added.stderr
    transport, client = served.sftp("lakeside-sis", key=key)
    try:
        with client.open("note-lakeside.txt") as handle:
            assert handle.read() == probes["lakeside"]
    finally:
        transport.close()

    removed = served.cli("remove-user", "lakeside", "lakeside-sis")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    with pytest.raises(paramiko.AuthenticationException):
        served.sftp("lakeside-sis", key=key)


def test_the_operator_lists_both_districts(served: Served) -> None:
    listed = served.cli("list")

    assert listed.returncode == 0, listed.stderr
    assert "demo" in listed.stdout and "lakeside" in listed.stdout
