"""A real SFTP server on loopback (paramiko's ServerInterface + SFTPServerInterface over a folder).

Read-only: list, stat and read files of ``root``. Authentication by password or public key. The
host key is given (tests pin its public half, or pin another key to see the refusal).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED


class _Server(paramiko.ServerInterface):
    def __init__(self, username: str, password: str | None, public_key: paramiko.PKey | None) -> None:
        self.username, self.password, self.public_key = username, password, public_key

    def check_auth_password(self, username: str, password: str) -> int:
        ok = self.password is not None and (username, password) == (self.username, self.password)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = self.public_key is not None and username == self.username and key == self.public_key
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )


class _Handle(SFTPHandle):
    pass


def _sftp_interface(root: Path) -> type[SFTPServerInterface]:
    class ReadOnlyFolder(SFTPServerInterface):
        def _path(self, path: str) -> Path:
            resolved = (root / path.lstrip("/")).resolve()
            if root.resolve() not in (resolved, *resolved.parents):
                raise PermissionError(path)
            return resolved

        def canonicalize(self, path: str) -> str:
            return "/" + str(Path("/", path).resolve()).lstrip("/")

        def list_folder(self, path: str) -> Any:
            try:
                folder = self._path(path)
                out = []
                for name in sorted(os.listdir(folder)):
                    attr = SFTPAttributes.from_stat(os.stat(folder / name))
                    attr.filename = name
                    out.append(attr)
                return out
            except FileNotFoundError:
                return SFTP_NO_SUCH_FILE
            except PermissionError:
                return SFTP_PERMISSION_DENIED

        def stat(self, path: str) -> Any:
            try:
                return SFTPAttributes.from_stat(os.stat(self._path(path)))
            except FileNotFoundError:
                return SFTP_NO_SUCH_FILE

        lstat = stat

        def open(self, path: str, flags: int, attr: Any) -> Any:
            if flags & (os.O_WRONLY | os.O_RDWR):
                return SFTP_PERMISSION_DENIED
            try:
                handle = _Handle(flags)
                handle.readfile = open(self._path(path), "rb")  # noqa: SIM115 - SFTPHandle closes it
                handle.filename = str(self._path(path))
                return handle
            except FileNotFoundError:
                return SFTP_NO_SUCH_FILE

        def session_ended(self) -> None:
            return None

    _ = SFTP_OK
    return ReadOnlyFolder


class FakeSftpSite:
    """Serve ``root`` over SFTP on 127.0.0.1 with ``host_key``; stops on exit or after ``lifetime``."""

    def __init__(
        self,
        root: Path,
        host_key: paramiko.PKey,
        *,
        username: str = "district",
        password: str | None = "s3cret",
        public_key: paramiko.PKey | None = None,
        lifetime: float = 60.0,
    ) -> None:
        self.root, self.host_key = root, host_key
        self.username, self.password, self.public_key = username, password, public_key
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self.connections = 0

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", SFTPServer, _sftp_interface(self.root))
            self._transports.append(transport)
            try:
                transport.start_server(server=_Server(self.username, self.password, self.public_key))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    def start(self) -> FakeSftpSite:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._timer.cancel()
        for transport in self._transports:
            transport.close()
        self._sock.close()

    def __enter__(self) -> FakeSftpSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
