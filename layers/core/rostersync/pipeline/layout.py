"""Where a sync's files live: the key layout every stage shares (no stage of its own).

The inbox (``inbox/<district>/``) is where uploads land; a sync's own prefix
(``syncs/<district>/<sync>[/attempt-N]``) holds its raw copy in the raw bucket and its staged
data, changes and reports in the snapshot bucket; ``districts/<district>`` holds the accepted
versions. Files a sync took out of the inbox are kept under ``archive/<district>/<sync>/`` (the
raw bucket's retention). Upload ids make execution names deterministic, so a repeated event
starts nothing new. :func:`newest_by_name` is the one rule of which inbox file counts when two
differ only in case (``Students.csv`` and ``students.csv``): the newest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from rostersync.pipeline.ports import ObjectInfo, RawStore

# Execution names are at most 80 characters: district (<= 64) + "-" + 12 hex digits.
_UPLOAD_ID_LENGTH = 12


def inbox_prefix(district_id: str) -> str:
    return f"inbox/{district_id}/"


def district_prefix(district_id: str) -> str:
    """Where a district's accepted versions live in the snapshot bucket."""
    return f"districts/{district_id}"


def sync_prefix(district_id: str, sync_id: str, attempt: int = 1) -> str:
    """A sync's own prefix (raw copy in the raw bucket; staged data, changes and reports in the
    snapshot bucket). A retried sync ("I fixed it") reads the inbox again into a fresh prefix so
    the earlier attempt's files stay as they were."""
    base = f"syncs/{district_id}/{sync_id}"
    return base if attempt <= 1 else f"{base}/attempt-{attempt}"


def archive_prefix(district_id: str, sync_id: str) -> str:
    """Where the inbox files a sync took are moved (raw bucket; expired with the raw retention)."""
    return f"archive/{district_id}/{sync_id}/"


def taken_key(district_id: str, sync_id: str, attempt: int = 1) -> str:
    """The record of what a sync took from the inbox (names, ETags, arrival times), in the raw
    bucket beside (not in) its raw prefix, which normalize reads whole."""
    return f"{sync_prefix(district_id, sync_id, attempt)}/taken.json"


def upload_id(object_key: str, version_tag: str | None) -> str:
    """A short id of one upload of one object: its key plus the S3 sequencer (or ETag)."""
    digest = hashlib.sha256(f"{object_key}\n{version_tag or ''}".encode()).hexdigest()
    return digest[:_UPLOAD_ID_LENGTH]


def file_name(key: str) -> str:
    """The last part of ``key``."""
    return key.rsplit("/", 1)[-1]


def inbox_files(raw: RawStore, district_id: str) -> list[ObjectInfo]:
    """The files directly in the district's inbox (not in folders below it)."""
    prefix = inbox_prefix(district_id)
    return [
        o
        for o in raw.describe(prefix)
        if o.key[len(prefix) :] and "/" not in o.key[len(prefix) :] and not o.key.endswith("/")
    ]


def newest_by_name(files: Sequence[ObjectInfo]) -> list[ObjectInfo]:
    """One object per file name compared without case: the newest (last modified, then key), in
    key order. ``Students.csv`` uploaded after ``students.csv`` replaces it, and vice versa."""
    chosen: dict[str, ObjectInfo] = {}
    for obj in files:
        name = file_name(obj.key).lower()
        current = chosen.get(name)
        if current is None or (obj.last_modified, obj.key) > (current.last_modified, current.key):
            chosen[name] = obj
    return sorted(chosen.values(), key=lambda o: o.key)
