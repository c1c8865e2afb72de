"""The local SFTP server's own rules, on moto's S3: names the pipeline cannot use are refused at
upload with a message saying why, and repeated wrong passwords lock the user out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import paramiko
import pytest
from moto import mock_aws

from rostersync_tools.local.sftp import InboxSftpServer, Lockout, S3Inbox, SftpAccount

BUCKET = "raw"
USER, PASSWORD = "d1", "right-password"


@dataclass
class Sftp:
    server: InboxSftpServer
    created: list[str]
    clock: list[float]

    def connect(self, password: str = PASSWORD) -> paramiko.Transport:
        host, port = self.server.address
        transport = paramiko.Transport((host, port))
        transport.connect(username=USER, password=password)
        return transport

    def keys(self) -> list[str]:
        listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return [o["Key"] for o in listed]


@pytest.fixture
def sftp() -> Iterator[Sftp]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        created: list[str] = []
        clock = [1000.0]
        server = InboxSftpServer(
            "127.0.0.1",
            0,
            host_key=paramiko.RSAKey.generate(1024),
            accounts=[SftpAccount(USER, "d1", PASSWORD)],
            inbox=S3Inbox(s3, BUCKET, lambda _bucket, key: created.append(key)),
            lockout=Lockout(max_failures=3, window_seconds=60, lock_seconds=120, clock=lambda: clock[0]),
        )
        with server:
            yield Sftp(server, created, clock)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("[/].csv", "is in a folder"),
        ("..\\..\\win.csv", "contains a slash or backslash"),
        ("evil\nname.csv", "contains a control or invisible formatting character"),
    ],
    ids=["folder", "backslash", "line-break"],
)
def test_an_unusable_name_is_refused_at_upload_with_the_reason(sftp: Sftp, name: str, why: str) -> None:
    transport = sftp.connect()
    try:
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        with pytest.raises(PermissionError) as refused:
            client.open(name, "w").close()
    finally:
        transport.close()

    assert why in str(refused.value)
    assert sftp.keys() == [] and sftp.created == []


def test_renaming_a_file_to_an_unusable_name_is_refused(sftp: Sftp) -> None:
    transport = sftp.connect()
    try:
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        with client.open("schools.csv", "w") as upload:
            upload.write(b"School_id,School_name\n1,A\n")
        with pytest.raises(PermissionError):
            client.rename("schools.csv", "..\\schools.csv")
    finally:
        transport.close()

    assert sftp.keys() == ["inbox/d1/schools.csv"]


def test_repeated_wrong_passwords_lock_the_user_out_until_the_lock_ends(sftp: Sftp) -> None:
    for _ in range(3):
        with pytest.raises(paramiko.AuthenticationException):
            sftp.connect("wrong")

    with pytest.raises(paramiko.AuthenticationException):
        sftp.connect()  # the right password, during the lockout

    sftp.clock[0] += 121
    sftp.connect().close()


def test_a_right_password_clears_the_count_of_wrong_ones(sftp: Sftp) -> None:
    for _ in range(2):
        with pytest.raises(paramiko.AuthenticationException):
            sftp.connect("wrong")
    sftp.connect().close()

    with pytest.raises(paramiko.AuthenticationException):
        sftp.connect("wrong")

    sftp.connect().close()
