"""Read the change feed as its consumer does: what an accepted version changed, as Arrow tables.

For the vendor's application (not used by the pipeline). Given a district and a version number,
:func:`read_changes` returns the change set that produced that version from the one before it
(version 1: everything added), read from the snapshot bucket (``s3://bucket``, with the caller's
boto3 credentials or client) or from a local folder holding the same keys. Applying versions
1, 2, ... N in order to an empty store gives the accepted snapshot N (:func:`read_version_tables`
reads that snapshot directly, for a first load or a resync). The layout read here is the one
``docs/events.md`` documents; ``RosterChangesApplied`` names the same prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from rostersync.model import ENTITY_BY_NAME
from rostersync.pipeline.changesets import INDEX, read_published
from rostersync.pipeline.layout import district_prefix
from rostersync.rekeys import MATCHED_ON_COLUMN, OLD_ID_COLUMN
from rostersync.snapshot import latest_version, read_manifest, read_snapshot, version_prefix
from rostersync.storage import BlobStore, LocalBlobStore

Location = str | Path | BlobStore
# The columns an ``id_changed`` table adds to its entity's (with ``_changed_fields``).
__all__ = [
    "MATCHED_ON_COLUMN",
    "OLD_ID_COLUMN",
    "EntityFeed",
    "FeedError",
    "Location",
    "VersionChanges",
    "latest_accepted",
    "open_store",
    "read_changes",
    "read_version_tables",
]
_ATTEMPT = re.compile(r"/attempt-(\d+)/")


class FeedError(LookupError):
    """The change set of a version cannot be found where the layout says it is."""


@dataclass(frozen=True)
class EntityFeed:
    """The changes of one entity. ``changed`` holds the new records with the ``_changed_fields``
    column (the names of the columns that differ); ``changed_old`` the same records before, row
    for row. ``key`` names the columns that identify a record.

    ``id_changed`` (people only) holds the re-keys: a person the SIS gave a new ID, as the new
    record (its key is the new ID) with ``_old_id``, ``_matched_on`` (``email`` or
    ``name_birth_date``) and ``_changed_fields`` (the other columns that differ, often none);
    ``id_changed_old`` the same people before, row for row. A re-keyed person is in neither
    ``added`` nor ``removed``: update the record's key from ``_old_id`` to the new one."""

    entity: str
    key: tuple[str, ...]
    added: pa.Table
    removed: pa.Table
    changed: pa.Table
    changed_old: pa.Table
    id_changed: pa.Table
    id_changed_old: pa.Table

    @property
    def is_empty(self) -> bool:
        return not (
            self.added.num_rows or self.removed.num_rows or self.changed.num_rows or self.id_changed.num_rows
        )


@dataclass(frozen=True)
class VersionChanges:
    """What ``version`` of ``district_id`` changed relative to ``previous_version`` (None: empty)."""

    district_id: str
    version: int
    previous_version: int | None
    sync_id: str
    changes_prefix: str
    entities: dict[str, EntityFeed]
    # The re-keys of every entity in one table (entity, school_id, old_id, new_id, matched_on); the
    # records themselves are each entity's ``id_changed``.
    id_changes: pa.Table


def open_store(location: Location, *, s3_client: Any = None) -> BlobStore:
    """A blob store over ``s3://bucket[/prefix]``, a local folder, or a store given as is."""
    if isinstance(location, Path):
        return LocalBlobStore(location)
    if isinstance(location, str):
        if location.startswith("s3://"):
            from rostersync.aws.s3store import S3BlobStore

            bucket, _, prefix = location.removeprefix("s3://").partition("/")
            return S3BlobStore(bucket, prefix, client=s3_client)
        return LocalBlobStore(Path(location))
    return location


def latest_accepted(district_id: str, location: Location, *, s3_client: Any = None) -> int | None:
    """The district's newest accepted version, or None before its first."""
    return latest_version(open_store(location, s3_client=s3_client), district_prefix(district_id))


def read_version_tables(
    version: int, *, district_id: str, location: Location, s3_client: Any = None
) -> dict[str, pa.Table]:
    """Every entity of an accepted version, as stored (checksums verified)."""
    store = open_store(location, s3_client=s3_client)
    roster = read_snapshot(store, version_prefix(store, district_prefix(district_id), version))
    return {name: roster.table(name) for name in ENTITY_BY_NAME}


def read_changes(
    version: int,
    *,
    district_id: str,
    location: Location,
    changes_prefix: str | None = None,
    s3_client: Any = None,
) -> VersionChanges:
    """The change set that made ``version`` of ``district_id``.

    ``changes_prefix`` is the one a ``RosterChangesApplied`` event carries; without it the set
    is found from the version's manifest (the sync that promoted it) and the key layout.
    """
    store = open_store(location, s3_client=s3_client)
    manifest = read_manifest(store, version_prefix(store, district_prefix(district_id), version))
    sync_id = str(manifest.meta.get("sync_id") or "")
    prefix = changes_prefix or _find_changes(store, district_id, sync_id, version)
    published, id_changes = read_published(store, prefix)
    entities = {name: _entity_feed(name, tables) for name, tables in published.items()}
    return VersionChanges(
        district_id=district_id,
        version=version,
        previous_version=version - 1 if version > 1 else None,
        sync_id=sync_id,
        changes_prefix=prefix,
        entities=entities,
        id_changes=id_changes,
    )


def _entity_feed(name: str, tables: dict[str, pa.Table]) -> EntityFeed:
    return EntityFeed(
        entity=name,
        key=ENTITY_BY_NAME[name].key,
        added=tables["added"],
        removed=tables["removed"],
        changed=tables["changed"],
        changed_old=tables["changed_old"],
        id_changed=tables["id_changed"],
        id_changed_old=tables["id_changed_old"],
    )


def _attempt_of(key: str) -> int:
    match = _ATTEMPT.search(key)
    return int(match.group(1)) if match else 1


def _find_changes(store: BlobStore, district_id: str, sync_id: str, version: int) -> str:
    """Where the sync that promoted ``version`` wrote what it applied.

    A partial release (and every apply after it) writes ``applied/vNNNNNN/`` under the sync's
    prefix; a sync applied whole at once promoted its diff's own change set, ``changes/``, of its
    last attempt (a retry reads the files again into ``attempt-N/``).
    """
    if not sync_id:
        raise FeedError(f"version {version} of {district_id} does not name the sync that made it")
    keys = store.list(f"syncs/{district_id}/{sync_id}/")
    applied = [k for k in keys if k.endswith(f"/applied/v{version:06d}/{INDEX}")]
    diffs = [k for k in keys if k.endswith(f"/changes/{INDEX}")]
    found = applied or sorted(diffs, key=_attempt_of)[-1:]
    if not found:
        raise FeedError(
            f"no change set of version {version} of {district_id} under syncs/{district_id}/{sync_id}/"
        )
    return found[-1].removesuffix(f"/{INDEX}")


# --- at-least-once delivery: recognising a redelivered event -----------------------------------


def already_applied(detail: Mapping[str, Any], applied_version: int | None) -> bool:
    """True when the ``RosterChangesApplied`` event whose ``detail`` this is needs no work: its
    version is one the consumer has already applied (``applied_version``: the newest it holds).

    Events are delivered at least once (docs/events.md): a redelivery carries the same
    ``detail.event_id`` (``<sync_id>-v<version>``) and the same version, so a consumer that
    applies versions in order skips it by its version alone, without keeping every id it saw."""
    return applied_version is not None and int(detail["version"]) <= applied_version
