"""The core's :class:`~rostersync.storage.BlobStore` on an S3 bucket (plus describe and copy).

``put_if_absent`` is a conditional PutObject (``If-None-Match: *``): S3 answers 412
PreconditionFailed when the key exists (and 409 ConditionalRequestConflict when a concurrent
conditional write is in flight), which both mean "someone else created it".
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from rostersync.aws import clients
from rostersync.storage import BlobNotFoundError, validate_key

_MISSING = {"NoSuchKey", "404", "NotFound"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


@dataclass(frozen=True)
class S3ObjectInfo:
    key: str
    etag: str
    last_modified: datetime
    size: int


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Whole objects under ``prefix`` in ``bucket``; keys are relative to the prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, {self.prefix!r})"

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.s3()

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Upload a local file, streamed (multipart for large files), never whole in memory."""
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFoundError(key) from None
            raise
        return response["Body"].read()  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def describe(self, prefix: str) -> builtins.list[S3ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a plain string prefix), sorted by key."""
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for item in page.get("Contents", []):
                found.append(
                    S3ObjectInfo(
                        key=self._relative(item["Key"]),
                        etag=str(item.get("ETag", "")).strip('"'),
                        last_modified=item["LastModified"],
                        size=int(item.get("Size", 0)),
                    )
                )
        return sorted(found, key=lambda o: o.key)

    def list(self, prefix: str) -> builtins.list[str]:
        return [o.key for o in self.describe(prefix)]

    def put_if_absent(self, key: str, data: bytes) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if _code(exc) in _CONFLICT:
                return False
            raise
        return True

    def copy(self, source_key: str, dest_key: str) -> None:
        """Server-side copy within the bucket."""
        self.client.copy_object(
            Bucket=self.bucket,
            Key=self._key(dest_key),
            CopySource={"Bucket": self.bucket, "Key": self._key(source_key)},
        )

    def copy_if_unchanged(self, source_key: str, dest_key: str, etag: str) -> bool:
        """Copy ``source_key`` only while its ETag is still ``etag``, so what is copied is exactly
        the object that was looked at; False if it changed or is gone.

        The version with that ETag is pinned (``HeadObject`` with ``If-Match`` gives its
        ``VersionId``; the raw bucket is versioned) and the copy is also conditional
        (``CopySourceIfMatch``), so an upload landing in between is never the one copied.
        """
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(source_key), IfMatch=f'"{etag}"')
            source = {"Bucket": self.bucket, "Key": self._key(source_key)}
            version = head.get("VersionId")
            if version and version != "null":
                source["VersionId"] = version
            self.client.copy_object(
                Bucket=self.bucket, Key=self._key(dest_key), CopySource=source, CopySourceIfMatch=f'"{etag}"'
            )
        except ClientError as exc:
            if _code(exc) in _CONFLICT | _MISSING:
                return False
            raise
        return True

    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        """Delete ``key`` if its ETag is still ``etag`` (a newer upload of the same name stays).

        The check and the delete are two requests: an upload landing between them (milliseconds)
        would be deleted too; the bucket is versioned, so it is still recoverable.
        """
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        if str(head.get("ETag", "")).strip('"') != etag:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return True
