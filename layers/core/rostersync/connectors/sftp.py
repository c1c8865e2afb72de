"""Pull a district's file set from its own SFTP site (paramiko), with the host key pinned.

The server's host key must equal the one in the district's settings: the client starts with only
that key known and ``RejectPolicy`` for anything else, so a changed key (paramiko's
``BadHostKeyException``) and an unknown one are both refused, never learned. Every regular ``.csv``
file of the remote folder is downloaded to a local folder, streamed (never whole in memory), for
the puller to upload to the raw bucket; the set then goes through the same normalize path as
an SFTP push.
"""

from __future__ import annotations

import base64
import io
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import paramiko

from rostersync.pipeline.ports import (
    CredentialsError,
    DisconnectedError,
    HostKeyError,
    SourceConfigError,
)

KIND = "sftp_pull"
_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


def host_key_from_line(line: str) -> paramiko.PKey:
    """A public key from a known_hosts style ``"<type> <base64>"``."""
    parts = line.split()
    if len(parts) < 2:
        raise SourceConfigError("the pinned host key must be '<type> <base64>'")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except (paramiko.SSHException, ValueError) as exc:
        raise SourceConfigError(f"the pinned host key cannot be read: {exc}") from None


def fingerprint(key: paramiko.PKey) -> str:
    return str(key.fingerprint)


def _private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.SSHException:
            continue
    raise SourceConfigError("the SFTP private key in the secret is not an Ed25519, ECDSA or RSA key")


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class SftpPuller:
    """One district SFTP site; :meth:`download` fetches the file set into a local folder."""

    def __init__(
        self,
        secret: Mapping[str, Any],
        host_key: str,
        *,
        remote_dir: str = ".",
        timeout: float = 30.0,
    ) -> None:
        try:
            self.host = str(secret["host"])
            self.username = str(secret["username"])
        except KeyError as exc:
            raise SourceConfigError(f"the SFTP secret has no {exc.args[0]!r}") from None
        self.port = int(secret.get("port") or 22)
        self.password = secret.get("password")
        key_text = secret.get("private_key")
        self.pkey = _private_key(str(key_text), secret.get("passphrase")) if key_text else None
        if self.password is None and self.pkey is None:
            raise SourceConfigError("the SFTP secret needs a 'password' or a 'private_key'")
        self.host_key = host_key_from_line(host_key)
        self.remote_dir = remote_dir
        self.timeout = timeout

    def _client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.get_host_keys().add(
            _known_hosts_name(self.host, self.port), self.host_key.get_name(), self.host_key
        )
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{self.host}:{self.port}"
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                pkey=self.pkey,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"the SFTP server {where} presented host key {fingerprint(exc.key)}, not the pinned "
                f"{fingerprint(self.host_key)}: refused (update the pinned key only after checking "
                "the new one with the district)"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise CredentialsError(f"the SFTP server {where} rejected user {self.username!r}") from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise HostKeyError(
                    f"the SFTP server {where} is not known by the pinned host key: refused"
                ) from None
            raise DisconnectedError(f"SSH with {where} failed: {exc}") from None
        except (TimeoutError, OSError) as exc:
            client.close()
            raise DisconnectedError(f"cannot reach the SFTP server {where}: {exc}") from None
        return client

    def download(self, folder: Path) -> list[Path]:
        """Every regular ``.csv`` file of the remote folder, streamed to ``folder``."""
        client = self._client()
        try:
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout)
            written = []
            for entry in sorted(sftp.listdir_attr(self.remote_dir), key=lambda e: e.filename):
                if not stat.S_ISREG(entry.st_mode or 0) or not entry.filename.lower().endswith(".csv"):
                    continue
                if "/" in entry.filename or entry.filename.startswith("."):
                    continue
                target = folder / entry.filename
                sftp.get(f"{self.remote_dir.rstrip('/')}/{entry.filename}", str(target))
                written.append(target)
            return written
        except (OSError, paramiko.SSHException) as exc:
            raise DisconnectedError(f"the SFTP transfer from {self.host}:{self.port} failed: {exc}") from None
        finally:
            client.close()
