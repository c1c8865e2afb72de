"""Taking a file set out of the inbox (part of intake): which files, copied exactly, archived.

When :func:`rostersync.pipeline.intake.settle` decides a set is ready, :func:`take` copies the
files the set's format reads (the newest of each name, compared without case) to the sync's
immutable raw prefix, each copy conditional on the ETag settle saw, so a file replaced meanwhile
is never mixed into the set. A complete set's files are then moved to
``archive/<district>/<sync>/``: the inbox holds only what has not been processed, so a later upload
of one file is never processed with weeks-old others, and every file's arrival time is real. An
incomplete set taken for its ``invalid_files`` hold stays in the inbox, so the missing file's
upload completes it; ``taken.json`` records those files (``left``), and when that hold ends
rejected or expired (:func:`archive_left`, from Finish) they move to the archive like any taken
set: nothing is lost, the inbox is emptied, and the next upload is not mixed with them. Files
the format does not read are not copied; they are reported as alerts. ``taken.json`` records
each file's arrival time (its entity's "received at").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, Field

from rostersync.formats.detect import (
    CLEVER_OPTIONAL,
    CLEVER_REQUIRED,
    ONEROSTER_12_REQUIRED,
    ONEROSTER_REQUIRED,
    SDS_21_OPTIONAL,
    SDS_21_REQUIRED,
)
from rostersync.issues import ALERT, ISSUE_SCHEMA
from rostersync.pipeline.layout import (
    archive_prefix,
    file_name,
    inbox_files,
    newest_by_name,
    sync_prefix,
    taken_key,
)
from rostersync.pipeline.ports import Deps, ObjectInfo
from rostersync.storage import BlobNotFoundError

log = logging.getLogger(__name__)

# Every file each format's reader reads (required and optional), by the format settle detects.
FORMAT_FILES: dict[str, tuple[str, ...]] = {
    "clever_csv": (*CLEVER_REQUIRED, *CLEVER_OPTIONAL),
    "oneroster_1.1_csv": (*ONEROSTER_REQUIRED, "demographics.csv", "roles.csv"),
    "oneroster_1.2_csv": (*ONEROSTER_12_REQUIRED, "demographics.csv"),
    "sds_2.1_csv": (*SDS_21_REQUIRED, *SDS_21_OPTIONAL),
}


class TakenFile(BaseModel):
    name: str
    source_key: str
    etag: str
    arrived_at: datetime


class Taken(BaseModel):
    """What a sync took from the inbox (``taken.json``)."""

    format: str | None = None
    files: list[TakenFile] = Field(default_factory=list)
    ignored: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    archived: bool = False
    # An incomplete set's inbox files (used, ignored and shadowed alike), left in the inbox for
    # the missing file's upload; archived if its hold ends without one (archive_left).
    left: list[TakenFile] = Field(default_factory=list)

    def arrivals(self) -> dict[str, datetime]:
        """Lower-cased file name -> when it arrived."""
        return {f.name.lower(): f.arrived_at for f in self.files}


def _taken_file(obj: ObjectInfo) -> TakenFile:
    return TakenFile(name=file_name(obj.key), source_key=obj.key, etag=obj.etag, arrived_at=obj.last_modified)


def split_used(fmt: str | None, files: list[ObjectInfo]) -> tuple[list[ObjectInfo], list[str]]:
    """The files the format reads, and the names of the others (ignored, in name order)."""
    used = {n.lower() for n in FORMAT_FILES.get(fmt or "", ())}
    if not used:
        return files, []
    kept = [o for o in files if file_name(o.key).lower() in used]
    ignored = sorted(file_name(o.key) for o in files if file_name(o.key).lower() not in used)
    return kept, ignored


def take(
    deps: Deps,
    district_id: str,
    sync_id: str,
    files: list[ObjectInfo],
    *,
    fmt: str | None,
    missing: list[str],
    archive: bool,
    attempt: int = 1,
    shadowed: Sequence[ObjectInfo] = (),
) -> Taken | None:
    """Copy ``files`` (one per name, as settled) to the sync's raw prefix; archive them, and the
    older ``shadowed`` files they replace, when ``archive``. None when a file changed or went
    since settle looked (nothing is archived then: the newer upload's own sync takes the set)."""
    used, ignored = split_used(fmt, files)
    raw_prefix = f"{sync_prefix(district_id, sync_id, attempt)}/raw/"
    for obj in used:
        if not deps.raw.copy_if_unchanged(obj.key, raw_prefix + file_name(obj.key), obj.etag):
            log.info("%s changed while it was taken; a newer upload takes over", obj.key)
            return None
    taken = Taken(
        format=fmt,
        files=[_taken_file(o) for o in used],
        ignored=ignored,
        missing=missing,
        archived=archive,
        left=[] if archive else [_taken_file(o) for o in [*files, *shadowed]],
    )
    deps.raw.put(taken_key(district_id, sync_id, attempt), taken.model_dump_json(indent=2).encode())
    if archive:
        # The whole upload leaves the inbox, files the format does not read included (else they
        # would look like a new, incomplete set).
        archive_files(deps, district_id, sync_id, [*files, *shadowed])
    return taken


def archive_files(deps: Deps, district_id: str, sync_id: str, files: Sequence[ObjectInfo]) -> int:
    """Move ``files`` from the inbox to the sync's archive prefix (a newer upload of a name
    stays); the number moved."""
    prefix = archive_prefix(district_id, sync_id)
    moved = 0
    for obj in files:
        if deps.raw.copy_if_unchanged(obj.key, prefix + file_name(obj.key), obj.etag):
            moved += bool(deps.raw.delete_if_unchanged(obj.key, obj.etag))
    return moved


@dataclass(frozen=True)
class _Left:
    """A file an incomplete set left in the inbox, as :func:`archive_files` moves it."""

    key: str
    etag: str
    last_modified: datetime
    size: int = 0


def archive_left(deps: Deps, district_id: str, sync_id: str, attempt: int = 1) -> int:
    """Move the inbox files an incomplete set left there (its ``invalid_files`` hold was rejected
    or expired) to the sync's archive, each only if it is still the file the set took (a newer
    upload of a name stays for its own sync); the number moved. Idempotent: ``taken.json`` then
    says ``archived``."""
    taken = read_taken(deps, district_id, sync_id, attempt)
    if taken is None or taken.archived or not taken.left:
        return 0
    left = [_Left(f.source_key, f.etag, f.arrived_at) for f in taken.left]
    moved = archive_files(deps, district_id, sync_id, left)
    done = taken.model_copy(update={"archived": True})
    deps.raw.put(taken_key(district_id, sync_id, attempt), done.model_dump_json(indent=2).encode())
    log.info("%s: %d file(s) of the incomplete set moved to the archive", sync_id, moved)
    return moved


def finish_taking(deps: Deps, district_id: str, sync_id: str) -> Taken | None:
    """The set this sync took already (its ``taken.json`` is written), for a retried settle whose
    first invocation died after taking it: the archive it may have left half done is finished
    (each file only if it is still the one taken). None when nothing was taken yet."""
    taken = read_taken(deps, district_id, sync_id)
    if taken is not None and taken.archived:
        files = [_Left(f.source_key, f.etag, f.arrived_at) for f in taken.files]
        archive_files(deps, district_id, sync_id, files)
    return taken


def read_taken(deps: Deps, district_id: str, sync_id: str, attempt: int = 1) -> Taken | None:
    try:
        return Taken.model_validate(json.loads(deps.raw.get(taken_key(district_id, sync_id, attempt))))
    except BlobNotFoundError:
        return None


def entity_arrivals(
    received: dict[str, datetime], entity_files: dict[str, str], taken: Taken
) -> dict[str, datetime]:
    """Each entity's "received at" (``received``: entity -> when it was read) replaced by when
    the file it was read from arrived, where ``taken`` knows it."""
    arrivals = taken.arrivals()
    return {
        entity: arrivals.get(entity_files.get(entity, "").lower(), when) for entity, when in received.items()
    }


def ignored_alerts(taken: Taken) -> pa.Table:
    """One alert per inbox file the format does not read (it was neither copied nor loaded)."""
    names = taken.ignored
    fmt = taken.format or "this"
    message = f"not a file of the {fmt} format: ignored (not copied, not loaded)"
    return pa.Table.from_arrays(
        [
            pa.array([ALERT] * len(names), pa.string()),
            pa.array(names, pa.string()),
            pa.nulls(len(names), pa.int64()),
            pa.nulls(len(names), pa.string()),
            pa.array(names, pa.string()),
            pa.array([message] * len(names), pa.string()),
        ],
        schema=ISSUE_SCHEMA,
    )


def retake(deps: Deps, district_id: str, sync_id: str, attempt: int) -> Taken:
    """A retried upload ("I fixed it"): the set the sync took before, with any file uploaded
    since replacing the one of the same name (those are archived: this sync took them)."""
    previous = read_taken(deps, district_id, sync_id, attempt - 1) or Taken()
    raw_prefix = f"{sync_prefix(district_id, sync_id, attempt)}/raw/"
    before = f"{sync_prefix(district_id, sync_id, attempt - 1)}/raw/"
    newer, ignored = split_used(previous.format, newest_by_name(inbox_files(deps.raw, district_id)))
    replaced = {file_name(o.key).lower() for o in newer}
    files = [f for f in previous.files if f.name.lower() not in replaced]
    for kept in files:
        deps.raw.copy(before + kept.name, raw_prefix + kept.name)
    for obj in newer:
        if deps.raw.copy_if_unchanged(obj.key, raw_prefix + file_name(obj.key), obj.etag):
            files.append(_taken_file(obj))
    taken = Taken(format=previous.format, files=files, ignored=ignored, archived=True)
    deps.raw.put(taken_key(district_id, sync_id, attempt), taken.model_dump_json(indent=2).encode())
    archive_files(deps, district_id, sync_id, newer)
    return taken


def taken_set(deps: Deps, district_id: str, sync_id: str, attempt: int) -> Taken:
    """The set normalize reads for an upload sync: what settle took (a retry takes again)."""
    if attempt > 1:
        return retake(deps, district_id, sync_id, attempt)
    taken = read_taken(deps, district_id, sync_id)
    if taken is not None:
        return taken
    # An execution whose settle ran before sets were taken there: take the inbox as it is.
    files = newest_by_name(inbox_files(deps.raw, district_id))
    return take(deps, district_id, sync_id, files, fmt=None, missing=[], archive=False) or Taken()
