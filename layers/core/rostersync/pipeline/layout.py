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
import unicodedata
from collections.abc import Sequence

from rostersync.pipeline.ports import ObjectInfo, RawStore

# Execution names are at most 80 characters: district (<= 64) + "-" + 12 hex digits.
_UPLOAD_ID_LENGTH = 12
_MAX_NAME_BYTES = 255  # what common file systems (and SFTP clients saving a download) take


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


def name_problem(name: str) -> str | None:
    """Why an inbox file name cannot be used as one (None when it can), in words for an admin.

    A name is data from outside: it becomes a key of the sync's own prefix and a file of a
    local folder, and is shown in logs, emails and terminals. Backslashes (a Windows path), ``.``
    and ``..``, control characters (a line break would forge log lines), invisible formatting
    characters (bidi overrides disguise an extension) and overlong names are refused."""
    if name in ("", ".", ".."):
        return "is empty, '.' or '..'"
    if "/" in name or "\\" in name:
        return "contains a slash or backslash (the inbox holds files, not folders)"
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        return "contains a control or invisible formatting character (such as a line break)"
    if len(name.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        return f"is longer than {_MAX_NAME_BYTES} bytes"
    return None


def inbox_files(raw: RawStore, district_id: str) -> list[ObjectInfo]:
    """The files directly in the district's inbox (not in folders below it) whose names are
    usable (:func:`name_problem`): another file is set aside, never copied, so it cannot make
    every later sync of the district fail."""
    prefix = inbox_prefix(district_id)
    return [
        o
        for o in raw.describe(prefix)
        if o.key[len(prefix) :] and not o.key.endswith("/") and name_problem(o.key[len(prefix) :]) is None
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
