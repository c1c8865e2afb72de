"""A local stand-in for the stack's AWS Transfer Family SFTP server (paramiko, loopback only).

Each account belongs to one district and is chrooted to that district's inbox, as the Transfer
Family user's logical home directory is (``/`` is ``s3://<raw>/inbox/<district_id>/``): a
district sees, reads, overwrites and deletes only its own files. Authentication is by password or
by public key, per account; repeated wrong passwords lock an account out for a while
(:class:`Lockout`). A name the pipeline cannot use (a folder, a backslash, a line break: see
:func:`rostersync.pipeline.layout.name_problem`) is refused at upload with an SFTP status whose
message says why. An uploaded file becomes an S3 object when the client closes it (the
moment Transfer Family completes the multipart upload), and ``on_created`` is then called with
the bucket and key, so the caller can deliver S3's "Object Created" event as EventBridge would.
Development only: nothing here is deployed.
"""

from __future__ import annotations

import base64
import hmac
import io
import logging
import os
import posixpath
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko import sftp as _codes

from rostersync.pipeline.layout import name_problem

# paramiko has no type hints; its status codes and auth results, typed.
SFTP_OK: int = int(_codes.SFTP_OK)
SFTP_FAILURE: int = int(_codes.SFTP_FAILURE)
SFTP_NO_SUCH_FILE: int = int(_codes.SFTP_NO_SUCH_FILE)
SFTP_OP_UNSUPPORTED: int = int(_codes.SFTP_OP_UNSUPPORTED)
SFTP_PERMISSION_DENIED: int = int(_codes.SFTP_PERMISSION_DENIED)
AUTH_SUCCESSFUL: int = int(paramiko.AUTH_SUCCESSFUL)
AUTH_FAILED: int = int(paramiko.AUTH_FAILED)
OPEN_SUCCEEDED: int = int(paramiko.OPEN_SUCCEEDED)
OPEN_PROHIBITED: int = int(paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)

logger = logging.getLogger(__name__)

OnCreated = Callable[[str, str], None]  # (bucket, key) of an object an upload created
SPOOL_BYTES = 16 * 1024 * 1024  # uploads larger than this are spooled to disk while they arrive


class Refusal(int):
    """An SFTP status code with the message the client is shown (paramiko sends only the
    standard text of a bare code)."""

    message: str

    def __new__(cls, code: int, message: str) -> Refusal:
        refusal = super().__new__(cls, code)
        refusal.message = message
        return refusal


class _SftpServer(SFTPServer):  # type: ignore[misc]
    """paramiko's SFTP server, sending a :class:`Refusal`'s message as the status text."""

    def _send_status(self, request_number: int, code: int, desc: str | None = None) -> None:
        if desc is None and isinstance(code, Refusal):
            desc = code.message
        super()._send_status(request_number, code, desc)


_MAX_TRACKED_USERS = 1000


class Lockout:
    """Per user name: ``max_failures`` wrong passwords within ``window_seconds`` refuse every
    password (the right one too) for ``lock_seconds``. A success clears the count. Public keys
    are not counted: a client offers each of its keys in turn before it finds the right one."""

    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 300.0,
        lock_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_seconds, self.lock_seconds = max_failures, window_seconds, lock_seconds
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, username: str) -> bool:
        with self._lock:
            return self._locked_until.get(username, 0.0) > self.clock()

    def failed(self, username: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > _MAX_TRACKED_USERS:  # guessed user names cannot grow it forever
                self._failures = {
                    u: ts for u, ts in self._failures.items() if now - ts[-1] < self.window_seconds
                }
            recent = [t for t in self._failures.get(username, []) if now - t < self.window_seconds] + [now]
            self._failures[username] = recent
            if len(recent) >= self.max_failures:
                self._locked_until[username] = now + self.lock_seconds
                self._failures[username] = []
                logger.warning(
                    "SFTP user %r locked out for %.0f s after %d wrong passwords",
                    username,
                    self.lock_seconds,
                    len(recent),
                )

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)


@dataclass(frozen=True)
class SftpAccount:
    """An SFTP login of one district: a password, authorized public keys, or both."""

    username: str
    district_id: str
    password: str | None = None
    public_keys: tuple[paramiko.PKey, ...] = field(default_factory=tuple)

    def accepts_password(self, password: str) -> bool:
        return self.password is not None and hmac.compare_digest(self.password.encode(), password.encode())

    def accepts_key(self, key: paramiko.PKey) -> bool:
        return any(key == known for known in self.public_keys)


def read_public_keys(path: Path) -> tuple[paramiko.PKey, ...]:
    """The keys of an OpenSSH ``authorized_keys``-style file (``ssh-ed25519 AAAA... comment``)."""
    return read_public_key_lines(path.read_text(encoding="utf-8").splitlines())


def read_public_key_lines(lines: Iterable[str]) -> tuple[paramiko.PKey, ...]:
    """The keys of ``authorized_keys``-style lines (blank lines and comments skipped)."""
    keys = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            keys.append(paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1])))
    return tuple(keys)


def load_or_create_host_key(path: Path) -> paramiko.RSAKey:
    """The server's host key, kept in ``path`` so clients' known_hosts stays valid across runs."""
    if path.exists():
        return paramiko.RSAKey.from_private_key_file(str(path))
    key = paramiko.RSAKey.generate(2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    key.write_private_key_file(str(path))
    os.chmod(path, 0o600)
    return key


class S3Inbox:
    """The districts' inboxes in the raw bucket: ``inbox/<district_id>/<path>``."""

    def __init__(self, client: Any, bucket: str, on_created: OnCreated) -> None:
        self.client = client
        self.bucket = bucket
        self.on_created = on_created

    @staticmethod
    def prefix(district_id: str) -> str:
        return f"inbox/{district_id}/"

    def key(self, district_id: str, path: str) -> str:
        return self.prefix(district_id) + path.lstrip("/")

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except self.client.exceptions.ClientError:
            return None

    def listing(self, prefix: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Objects directly under ``prefix`` and the sub-folders (common prefixes) below it."""
        objects: list[dict[str, Any]] = []
        folders: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        ):
            objects.extend(o for o in page.get("Contents", []) if o["Key"] != prefix)
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return objects, folders

    def put(self, key: str, body: Any) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        self.on_created(self.bucket, key)

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


def _folder_attributes(name: str = "") -> SFTPAttributes:
    attributes = SFTPAttributes()
    attributes.filename = name
    attributes.st_mode = stat.S_IFDIR | 0o755
    attributes.st_size = 0
    attributes.st_mtime = int(time.time())
    return attributes


def _file_attributes(name: str, size: int, modified: Any) -> SFTPAttributes:
    attributes = SFTPAttributes()
    attributes.filename = name
    attributes.st_mode = stat.S_IFREG | 0o644
    attributes.st_size = int(size)
    attributes.st_mtime = int(modified.timestamp()) if hasattr(modified, "timestamp") else int(time.time())
    return attributes


class _Upload(SFTPHandle):  # type: ignore[misc]
    """A file being written: spooled, then put as one object when the client closes it."""

    def __init__(self, flags: int, inbox: S3Inbox, key: str) -> None:
        super().__init__(flags)
        self.inbox, self.key = inbox, key
        self.writefile = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed in close()
        self._closed = False

    def stat(self) -> SFTPAttributes:
        size = self.writefile.seek(0, io.SEEK_END)
        return _file_attributes(posixpath.basename(self.key), size, None)

    def chattr(self, attr: SFTPAttributes) -> int:
        return SFTP_OK

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        spool = self.writefile
        try:
            spool.seek(0)
            self.inbox.put(self.key, spool.read())
        except Exception:
            logger.exception("SFTP upload of %s could not be stored", self.key)
        finally:
            super().close()


class _Download(SFTPHandle):  # type: ignore[misc]
    def __init__(self, flags: int, data: bytes, name: str) -> None:
        super().__init__(flags)
        self.readfile = io.BytesIO(data)
        self._size, self._name = len(data), name

    def stat(self) -> SFTPAttributes:
        return _file_attributes(self._name, self._size, None)


class _Authenticator(paramiko.ServerInterface):  # type: ignore[misc]
    """SSH authentication against the accounts; remembers which account logged in."""

    def __init__(self, accounts: Mapping[str, SftpAccount], lockout: Lockout) -> None:
        self.accounts = accounts
        self.lockout = lockout
        self.account: SftpAccount | None = None

    def check_auth_password(self, username: str, password: str) -> int:
        if self.lockout.locked(username):
            return AUTH_FAILED
        account = self.accounts.get(username)
        if account is not None and account.accepts_password(password):
            self.lockout.succeeded(username)
            self.account = account
            return AUTH_SUCCESSFUL
        self.lockout.failed(username)
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        account = self.accounts.get(username)
        if account is not None and account.accepts_key(key):
            self.account = account
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        account = self.accounts.get(username)
        if account is None:
            return "password,publickey"
        methods = [m for m, ok in (("publickey", account.public_keys), ("password", account.password)) if ok]
        return ",".join(methods) or "none"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_PROHIBITED


class InboxFolder(SFTPServerInterface):  # type: ignore[misc]
    """The SFTP view of one district's inbox, ``/`` being ``inbox/<district_id>/``."""

    def __init__(self, server: _Authenticator, *args: Any, inbox: S3Inbox, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        if server.account is None:
            raise paramiko.SSHException("SFTP session without an authenticated account")
        self.district_id = server.account.district_id
        self.inbox = inbox

    @staticmethod
    def _normal(path: str) -> str:
        # Anything above "/" is "/": the chroot cannot be left with "..".
        return posixpath.normpath(posixpath.join("/", path or "/"))

    def _key(self, path: str) -> str:
        return self.inbox.key(self.district_id, self._normal(path))

    def canonicalize(self, path: str) -> str:
        return self._normal(path)

    def _refusal(self, path: str) -> Refusal | None:
        """Why a file cannot be created at ``path`` (None when it can): the pipeline reads
        only files directly in the inbox, under names it can use."""
        folder, name = posixpath.split(self._normal(path))
        if folder != "/":
            problem: str | None = "is in a folder (the inbox holds files only; upload to /)"
        else:
            problem = name_problem(name)
        if problem is None:
            return None
        logger.warning("SFTP upload refused in %s's inbox: %r %s", self.district_id, path, problem)
        return Refusal(SFTP_PERMISSION_DENIED, f"refused: the file name {path!r} {problem}")

    def list_folder(self, path: str) -> Any:
        normal = self._normal(path)
        prefix = self.inbox.prefix(self.district_id) + (normal.lstrip("/") + "/" if normal != "/" else "")
        objects, folders = self.inbox.listing(prefix)
        if normal != "/" and not objects and not folders:
            return SFTP_NO_SUCH_FILE
        entries = [_folder_attributes(f[len(prefix) :].rstrip("/")) for f in folders]
        entries += [
            _file_attributes(o["Key"][len(prefix) :], o["Size"], o.get("LastModified")) for o in objects
        ]
        return sorted(entries, key=lambda a: a.filename)

    def stat(self, path: str) -> Any:
        normal = self._normal(path)
        if normal == "/":
            return _folder_attributes("/")
        head = self.inbox.head(self._key(normal))
        if head is not None:
            return _file_attributes(
                posixpath.basename(normal), head["ContentLength"], head.get("LastModified")
            )
        objects, folders = self.inbox.listing(self._key(normal) + "/")
        if objects or folders:
            return _folder_attributes(posixpath.basename(normal))
        return SFTP_NO_SUCH_FILE

    lstat = stat

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> Any:
        normal = self._normal(path)
        if normal == "/":
            return SFTP_FAILURE
        if flags & (os.O_WRONLY | os.O_RDWR):
            return self._refusal(path) or _Upload(flags, self.inbox, self._key(normal))
        key = self._key(normal)
        if self.inbox.head(key) is None:
            return SFTP_NO_SUCH_FILE
        return _Download(flags, self.inbox.get(key), posixpath.basename(normal))

    def remove(self, path: str) -> int:
        key = self._key(path)
        if self.inbox.head(key) is None:
            return SFTP_NO_SUCH_FILE
        self.inbox.delete(key)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        old = self._key(oldpath)
        if self.inbox.head(old) is None:
            return SFTP_NO_SUCH_FILE
        refusal = self._refusal(newpath)
        if refusal is not None:
            return refusal
        data = self.inbox.get(old)
        self.inbox.delete(old)
        self.inbox.put(self._key(newpath), data)
        return SFTP_OK

    posix_rename = rename

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        return SFTP_OP_UNSUPPORTED  # a district's inbox is flat: the pipeline reads one folder

    def rmdir(self, path: str) -> int:
        return SFTP_OP_UNSUPPORTED

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        return SFTP_OK  # S3 keeps no mode or times; accept what `put -p` sends


class InboxSftpServer:
    """SFTP on ``host:port`` (port 0: a free one) for ``accounts``, over ``inbox``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        host_key: paramiko.PKey,
        accounts: Iterable[SftpAccount] | Mapping[str, SftpAccount],
        inbox: S3Inbox,
        lockout: Lockout | None = None,
    ) -> None:
        self.host_key = host_key
        # A mapping is looked up at each login (serve's accounts are the district table's records).
        self.accounts: Mapping[str, SftpAccount] = (
            accounts if isinstance(accounts, Mapping) else {a.username: a for a in accounts}
        )
        self.inbox = inbox
        self.lockout = lockout or Lockout()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, name="rostersync-sftp", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                self._serve(conn)
            except (paramiko.SSHException, EOFError, OSError):
                continue
            except Exception:  # one client's failure never ends the server
                logger.exception("SFTP connection could not be served")

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", _SftpServer, InboxFolder, inbox=self.inbox)
        self._transports = [t for t in self._transports if t.is_active()] + [transport]
        transport.start_server(server=_Authenticator(self.accounts, self.lockout))

    def start(self) -> InboxSftpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for transport in self._transports:
            transport.close()
        self._sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> InboxSftpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
