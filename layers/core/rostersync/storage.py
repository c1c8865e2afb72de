"""A minimal blob-store interface, so snapshot and change-set code never imports boto3.

Domain code writes and reads whole objects by '/'-separated key through :class:`BlobStore`;
:class:`LocalBlobStore` keeps them as files under a root directory (the preflight CLI, tests and
the local run), and an S3 adapter implements the same protocol for the deployed stack.
``put_if_absent`` is a conditional create (S3 ``If-None-Match: *``, here a hard link), the one
primitive needed so that two syncs can never both promote the same snapshot version.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

# Temporary files of in-flight writes start with this; they are never listed as keys.
_TMP_PREFIX = ".tmp-"


class BlobNotFoundError(KeyError):
    """No object is stored under the key."""


class InvalidKeyError(ValueError):
    """The key is empty, absolute, or has an empty, '.' or '..' segment."""


@runtime_checkable
class BlobStore(Protocol):
    """Whole-object storage addressed by '/'-separated keys."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous object atomically."""
        ...

    def get(self, key: str) -> bytes:
        """The object under ``key``; :class:`BlobNotFoundError` if there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> builtins.list[str]:
        """Keys starting with ``prefix`` (a plain string prefix), sorted."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if it does not exist; False (nothing written) if it does."""
        ...


def validate_key(key: str, *, allow_empty: bool = False) -> list[str]:
    """The key's segments; :class:`InvalidKeyError` for keys that could escape a root."""
    if not key:
        if allow_empty:
            return []
        raise InvalidKeyError("empty key")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKeyError(f"invalid key {key!r}: absolute, backslash or NUL")
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidKeyError(f"invalid key {key!r}: empty, '.' or '..' segment")
    return parts


class LocalBlobStore:
    """:class:`BlobStore` on a local directory: one file per key, written atomically."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        parts = validate_key(key)
        if parts[-1].startswith(_TMP_PREFIX):
            raise InvalidKeyError(f"invalid key {key!r}: reserved name")
        return self.root.joinpath(*parts)

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (it may not exist). A key's file is only ever replaced
        whole (:meth:`put` renames a new file over it), never written in place."""
        return self._path(key)

    def _write_temp(self, path: Path, data: bytes) -> str:
        """Write ``data`` to a temporary file beside ``path`` (same file system) and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> builtins.list[str]:
        # The prefix is a string prefix, not a folder: "a/b" lists "a/b.json" and "a/b/c".
        # Only the folder that can hold matches is walked.
        parts = validate_key(prefix.rstrip("/"), allow_empty=True) if prefix else []
        folder_parts = parts if prefix.endswith("/") or not parts else parts[:-1]
        folder = self.root.joinpath(*folder_parts)
        if not folder.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(folder):
            rel = Path(dirpath).relative_to(self.root).parts
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = "/".join((*rel, name))
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        # Write the full content first, then publish it with link(), which fails if the name
        # exists: readers never see a partial file and exactly one concurrent creator wins.
        path = self._path(key)
        tmp = self._write_temp(path, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True
