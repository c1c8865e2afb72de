"""Raw pages of a pull, written to the raw bucket as they arrive (bounded memory).

This is the output format of the :class:`~rostersync.pipeline.ports.SourcePuller` port. Each API
page's records go to ``<prefix><entity>/page-NNNNN.ndjson`` (one JSON object per line, as the
source sent it) and are dropped from memory; only keys and counts are kept; an SFTP site's files go
to ``<prefix><file name>``. The :class:`PullManifest` lists them and is what normalize reads. The
module imports neither requests nor paramiko: the pipeline and the mapping read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from rostersync.storage import BlobStore

MANIFEST_NAME = "manifest.json"


class EntityPages(BaseModel):
    keys: list[str] = Field(default_factory=list)
    records: int = 0
    pages: int = 0


class PullManifest(BaseModel):
    """What one pull wrote: per entity the page keys and record counts, plus source facts."""

    kind: str
    entities: dict[str, EntityPages] = Field(default_factory=dict)
    # Source facts normalize or the hold rules may want (e.g. Clever's district id and state).
    source: dict[str, Any] = Field(default_factory=dict)
    files: list[str] = Field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(e.records for e in self.entities.values())

    @property
    def pages(self) -> int:
        return sum(e.pages for e in self.entities.values())


@runtime_checkable
class _FileUploads(Protocol):
    """A blob store that can stream a file (the S3 store's multipart upload)."""

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None: ...


def _line(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


class PageWriter:
    """Writes pages under ``prefix`` (which ends with '/') and builds the manifest."""

    def __init__(self, store: BlobStore, prefix: str, kind: str) -> None:
        self.store = store
        self.prefix = prefix
        self.manifest = PullManifest(kind=kind)

    def entity(self, name: str) -> EntityPages:
        return self.manifest.entities.setdefault(name, EntityPages())

    def write(self, name: str, records: Iterable[Any]) -> int:
        """Write one page of ``name``; empty pages are counted but not stored. Returns its size."""
        pages = self.entity(name)
        pages.pages += 1
        lines = [_line(r) for r in records]
        if lines:
            key = f"{self.prefix}{name}/page-{pages.pages:05d}.ndjson"
            self.store.put(key, b"\n".join(lines) + b"\n")
            pages.keys.append(key)
            pages.records += len(lines)
        return len(lines)

    def write_file(self, path: Path) -> None:
        """Store a pulled file as ``<prefix><file name>`` (streamed when the store can) and list it."""
        key = f"{self.prefix}{path.name}"
        if isinstance(self.store, _FileUploads):
            self.store.put_file(key, path)
        else:
            self.store.put(key, path.read_bytes())
        self.manifest.files.append(path.name)

    def finish(self, key: str | None = None) -> str:
        """Store the manifest (by default beside the pages); its key."""
        key = key or f"{self.prefix}{MANIFEST_NAME}"
        self.store.put(key, self.manifest.model_dump_json(indent=1).encode())
        return key


def read_manifest(store: BlobStore, key: str) -> PullManifest:
    return PullManifest.model_validate_json(store.get(key))
