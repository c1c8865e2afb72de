"""Where a sync's files live: the key layout every stage shares (no stage of its own).

The inbox (``inbox/<district>/``) is where uploads land; a sync's own prefix
(``syncs/<district>/<sync>[/attempt-N]``) holds its raw copy in the raw bucket and its staged
data, changes and reports in the snapshot bucket; ``districts/<district>`` holds the accepted
versions. Upload ids make execution names deterministic, so a repeated event starts nothing new.
"""

from __future__ import annotations

import hashlib

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
