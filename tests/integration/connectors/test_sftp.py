"""District SFTP-site pull against a real SFTP server on loopback, with the host key pinned."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from rostersync.connectors.sftp import SftpPuller
from rostersync.pipeline.ports import CredentialsError, DisconnectedError, HostKeyError
from rostersync.sources import SftpPullSource
from tests.support.sftp_server import FakeSftpSite

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clever_basic"


def _known_hosts(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


@pytest.fixture(scope="module")
def host_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture
def site(tmp_path: Path, host_key: paramiko.PKey) -> Iterator[FakeSftpSite]:
    root = tmp_path / "site"
    root.mkdir()
    for path in FIXTURES.iterdir():
        (root / path.name).write_bytes(path.read_bytes())
    (root / "notes.txt").write_text("not a roster file")
    with FakeSftpSite(root, host_key, lifetime=30) as server:
        yield server


def _secret(site: FakeSftpSite, **changes: object) -> dict[str, object]:
    return {"host": "127.0.0.1", "port": site.port, "username": "district", "password": "s3cret", **changes}


def test_the_csv_set_is_downloaded_with_the_pinned_host_key(
    site: FakeSftpSite, host_key: paramiko.PKey, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()

    files = SftpPuller(_secret(site), _known_hosts(host_key)).download(out)

    assert sorted(p.name for p in files) == sorted(p.name for p in FIXTURES.iterdir())
    assert (out / "students.csv").read_bytes() == (FIXTURES / "students.csv").read_bytes()


def test_key_authentication(tmp_path: Path, host_key: paramiko.PKey) -> None:
    client_key = paramiko.ECDSAKey.generate()
    pem = io.StringIO()
    client_key.write_private_key(pem)
    root = tmp_path / "site"
    root.mkdir()
    (root / "schools.csv").write_text("School_id,School_name\n1,A\n")
    with FakeSftpSite(root, host_key, password=None, public_key=client_key, lifetime=20) as server:
        secret = {
            "host": "127.0.0.1",
            "port": server.port,
            "username": "district",
            "private_key": pem.getvalue(),
        }
        files = SftpPuller(secret, _known_hosts(host_key)).download(tmp_path)

    assert [p.name for p in files] == ["schools.csv"]


def test_a_different_host_key_is_refused_and_nothing_is_downloaded(
    site: FakeSftpSite, tmp_path: Path
) -> None:
    pinned = paramiko.ECDSAKey.generate()  # not the server's
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(HostKeyError) as raised:
        SftpPuller(_secret(site), _known_hosts(pinned)).download(out)

    assert raised.value.hold == "disconnected"
    assert "not the pinned" in str(raised.value)
    assert list(out.iterdir()) == []


def test_a_pinned_key_of_another_type_leaves_the_server_unknown_and_refused(
    site: FakeSftpSite, tmp_path: Path
) -> None:
    other_type = paramiko.RSAKey.generate(1024)

    with pytest.raises(HostKeyError):
        SftpPuller(_secret(site), _known_hosts(other_type)).download(tmp_path)


def test_a_wrong_password_is_credentials(site: FakeSftpSite, host_key: paramiko.PKey, tmp_path: Path) -> None:
    with pytest.raises(CredentialsError):
        SftpPuller(_secret(site, password="nope"), _known_hosts(host_key)).download(tmp_path)


def test_an_unreachable_site_is_disconnected(host_key: paramiko.PKey, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = {"host": "127.0.0.1", "port": port, "username": "d", "password": "p"}

    with pytest.raises(DisconnectedError):
        SftpPuller(secret, _known_hosts(host_key), timeout=2).download(tmp_path)


def test_settings_refuse_a_host_key_that_is_not_a_known_hosts_key() -> None:
    with pytest.raises(ValueError, match="host_key"):
        SftpPullSource(kind="sftp_pull", secret_id="s", host_key="AAAA-not-a-key-at-all")
