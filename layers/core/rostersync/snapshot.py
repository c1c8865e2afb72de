"""Roster sets stored as Parquet (zstd) under a blob-store prefix, and versioned accepted snapshots.

A snapshot is ``<prefix>/<entity>.parquet`` for every entity (canonical schema), ``_unknown.parquet``
and ``manifest.json``, written last: a prefix without a manifest is an incomplete write and is
never read. The manifest holds the format, per-entity receive times, row counts, missing entities
and a sha256 per file, checked on every read. A district's accepted snapshots are numbered
versions: the data goes to a fresh prefix and the version is claimed with a conditional create of
``<district>/versions/NNNNNN.json``, so two syncs promoting over the same version cannot both win
and the loser can never overwrite the winner's files.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rostersync.model import ENTITIES, ENTITY_BY_NAME, UNKNOWN_SCHEMA, Entity, conform
from rostersync.roster import RosterSet
from rostersync.storage import BlobNotFoundError, BlobStore, LocalBlobStore, validate_key

SNAPSHOT_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
UNKNOWN_FILE = "_unknown.parquet"
VERSIONS_FOLDER = "versions"
_COMPRESSION = "zstd"
# Rows per Parquet row group. DuckDB (the diff step) scans a file's row groups in parallel, one
# per thread: with pyarrow's default (1M rows) the 600k-student contacts file was one row group,
# read and joined by one thread. A quarter of a million rows gives every large file a few.
ROW_GROUP_ROWS = 262_144
_MARKER_RE = re.compile(r"^(\d{6,})\.json$")
T = TypeVar("T")


class SnapshotError(Exception):
    """A snapshot is missing, incomplete or corrupt (no manifest, bad manifest, bad checksum)."""


class VersionConflictError(SnapshotError):
    """Another writer promoted the version this one expected to create."""


class SnapshotFile(BaseModel):
    """One Parquet file of a snapshot, as recorded in its manifest."""

    # Unknown fields are ignored so that an older reader still opens a newer writer's snapshot.
    model_config = ConfigDict(extra="ignore")

    sha256: str
    bytes: int
    rows: int


class SnapshotManifest(BaseModel):
    """``manifest.json``: what a complete snapshot holds and how to verify it."""

    model_config = ConfigDict(extra="ignore")

    snapshot_format: int = SNAPSHOT_FORMAT_VERSION
    format: str
    created_at: datetime
    received_at: dict[str, datetime] = Field(default_factory=dict)
    counts: dict[str, int]
    unknown_count: int = 0
    missing: list[str] = Field(default_factory=list)
    # File name (relative to the snapshot prefix) -> checksum, size, rows.
    files: dict[str, SnapshotFile]
    meta: dict[str, Any] = Field(default_factory=dict)


class VersionMarker(BaseModel):
    """``versions/NNNNNN.json``: the claim on a version number and where its data lives."""

    model_config = ConfigDict(extra="ignore")

    version: int
    prefix: str
    writer: str
    created_at: datetime


def join_key(prefix: str, name: str) -> str:
    """``prefix/name``, or ``name`` alone for an empty prefix."""
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def _parquet_bytes(table: pa.Table) -> bytes:
    # No column statistics: nothing reads a snapshot with a filter (the diff joins whole files,
    # the holds step reads whole columns), and min/max of every string column were ~14 % of the
    # encoding CPU at 600k students. Dictionary encoding stays on for every column (DuckDB's join
    # used ~0.5 CPU s more at 600k with IDs, emails and phones plain).
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression=_COMPRESSION, write_statistics=False, row_group_size=ROW_GROUP_ROWS
    )
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def write_snapshot(
    store: BlobStore, prefix: str, roster: RosterSet, *, meta: dict[str, Any] | None = None
) -> SnapshotManifest:
    """Write ``roster`` under ``prefix`` (tables conformed, zstd), the manifest last."""
    if prefix:
        validate_key(prefix.strip("/"))
    tables = {f"{e.name}.parquet": conform(roster.table(e.name), e) for e in ENTITIES}
    counts = {e.name: tables[f"{e.name}.parquet"].num_rows for e in ENTITIES}
    unknown = conform_unknown(roster.unknown)
    tables[UNKNOWN_FILE] = unknown

    def encoded(name: str) -> tuple[str, bytes]:
        return name, _parquet_bytes(tables[name])

    # Parquet encoding and zstd run on one core per file and release the GIL: the files are
    # encoded side by side, largest first, and stored as each is ready.
    found: dict[str, SnapshotFile] = {}
    largest_first = sorted(tables, key=lambda name: tables[name].num_rows, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, pa.cpu_count()), thread_name_prefix="snapshot") as pool:
        for future in as_completed([pool.submit(encoded, name) for name in largest_first]):
            name, data = future.result()
            store.put(join_key(prefix, name), data)
            found[name] = SnapshotFile(
                sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), rows=tables[name].num_rows
            )
    files = {name: found[name] for name in tables}  # the manifest lists them in model order

    manifest = SnapshotManifest(
        format=roster.format,
        created_at=datetime.now(UTC),
        received_at=dict(roster.received_at),
        counts=counts,
        unknown_count=unknown.num_rows,
        missing=sorted(roster.missing),
        files=files,
        meta=dict(meta or {}),
    )
    store.put(join_key(prefix, MANIFEST_NAME), manifest.model_dump_json(indent=2).encode())
    return manifest


def read_manifest(store: BlobStore, prefix: str) -> SnapshotManifest:
    """The manifest under ``prefix``; :class:`SnapshotError` if absent or unreadable."""
    key = join_key(prefix, MANIFEST_NAME)
    try:
        raw = store.get(key)
    except BlobNotFoundError:
        raise SnapshotError(f"no snapshot at {prefix!r}: {key} is missing (incomplete write?)") from None
    try:
        manifest = SnapshotManifest.model_validate_json(raw)
    except ValidationError as exc:
        raise SnapshotError(f"corrupt snapshot manifest {key}: {exc}") from exc
    if manifest.snapshot_format > SNAPSHOT_FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot {prefix!r} has format {manifest.snapshot_format}, "
            f"this code reads up to {SNAPSHOT_FORMAT_VERSION}"
        )
    return manifest


def _verified_bytes(store: BlobStore, prefix: str, name: str, entry: SnapshotFile) -> bytes:
    key = join_key(prefix, name)
    try:
        data = store.get(key)
    except BlobNotFoundError:
        raise SnapshotError(f"snapshot {prefix!r} is incomplete: {key} is missing") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise SnapshotError(f"checksum mismatch for {key}: expected {entry.sha256}, got {digest}")
    return data


def _verified_path(store: LocalBlobStore, prefix: str, name: str, entry: SnapshotFile) -> Path:
    """The file of a local store's snapshot, hashed where it is (no copy of it in memory)."""
    key = join_key(prefix, name)
    path = store.path(key)
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise SnapshotError(f"snapshot {prefix!r} is incomplete: {key} is missing") from None
    if digest != entry.sha256:
        raise SnapshotError(f"checksum mismatch for {key}: expected {entry.sha256}, got {digest}")
    return path


def _verified(store: BlobStore, prefix: str, name: str, entry: SnapshotFile) -> Path | bytes:
    """A verified file: on a local store the file itself (hashed where it is), elsewhere its
    fetched bytes."""
    if isinstance(store, LocalBlobStore):
        return _verified_path(store, prefix, name, entry)
    return _verified_bytes(store, prefix, name, entry)


def _verified_source(store: BlobStore, prefix: str, name: str, entry: SnapshotFile) -> Path | pa.BufferReader:
    """Where to parse a verified file from: on a local store the file itself (a reader of a few
    columns then reads only those), elsewhere its fetched bytes."""
    found = _verified(store, prefix, name, entry)
    return found if isinstance(found, Path) else pa.BufferReader(found)


def _read_file(
    store: BlobStore, prefix: str, name: str, entry: SnapshotFile, columns: Sequence[str] | None = None
) -> pa.Table:
    """The verified file parsed; with ``columns``, only those of them the file has."""
    key = join_key(prefix, name)
    source = _verified_source(store, prefix, name, entry)
    try:
        with pq.ParquetFile(source) as parquet:
            if columns is None:
                return parquet.read()
            stored = set(parquet.schema_arrow.names)
            return parquet.read(columns=[c for c in columns if c in stored])
    except (pa.ArrowException, OSError) as exc:
        raise SnapshotError(f"unreadable Parquet file {key}: {exc}") from exc


def _conform_columns(table: pa.Table, entity: Entity, columns: Sequence[str]) -> pa.Table:
    """``table`` as ``columns`` of the entity's canonical schema (a column the file lacks is null);
    a table of no columns keeps its row count."""
    fields = [entity.schema.field(name) for name in columns]
    if not fields:
        return table.select([])
    present = set(table.column_names)
    arrays = [
        table.column(f.name).cast(f.type) if f.name in present else pa.nulls(table.num_rows, f.type)
        for f in fields
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def read_entity(
    store: BlobStore,
    prefix: str,
    manifest: SnapshotManifest,
    entity: Entity,
    *,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """One entity's table of the snapshot under ``prefix`` (verified against ``manifest``;
    empty if the manifest lists no file for it). Reading a snapshot one entity at a time keeps
    only that entity in memory. ``columns`` (names of the entity's schema, in that order) reads
    only those columns from the file; an empty list gives a table of no columns with the row
    count the manifest records for the file, which is then not read at all."""
    if columns is not None:
        unknown = [c for c in columns if c not in entity.schema.names]
        if unknown:
            raise ValueError(f"{entity.name} has no column {', '.join(unknown)}")
    name = f"{entity.name}.parquet"
    entry = manifest.files.get(name)
    if entry is None:
        empty = entity.schema.empty_table()
        return empty if columns is None else _conform_columns(empty, entity, columns)
    if columns is None:
        return conform(_read_file(store, prefix, name, entry), entity)
    if not columns:
        # The row count alone is the manifest's: the file is neither fetched nor parsed.
        return pa.table({"rows": pa.nulls(entry.rows)}).select([])
    return _conform_columns(_read_file(store, prefix, name, entry, columns), entity, columns)


def counts_by_code(values: pa.DictionaryArray) -> tuple[pa.Array, pa.Array]:
    """(value, rows) of a dictionary-encoded string array such as :func:`map_entity_encoded`
    yields, counted on its codes without decoding the strings: only the values present, a null
    value counted as one (null) value."""
    size = len(values.dictionary)
    codes = pc.fill_null(values.indices, size).to_numpy(zero_copy_only=False)  # null: one past the last
    counted = pa.array(np.bincount(codes, minlength=size + 1), pa.int64())
    distinct = pa.concat_arrays([values.dictionary.cast(pa.string()), pa.nulls(1, pa.string())])
    present = pc.greater(counted, 0)
    return pc.filter(distinct, present), pc.filter(counted, present)


def map_entity_encoded(
    store: BlobStore,
    prefix: str,
    manifest: SnapshotManifest,
    entity: Entity,
    column: str,
    each: Callable[[pa.DictionaryArray], T],
) -> tuple[list[T] | None, int]:
    """``each`` of one string column as stored, one row group at a time and dictionary-encoded
    (its values are not decoded into strings: a reader that only counts them counts codes, and
    only one row group's codes are in memory at once), and the file's row count; the list is
    None when the file lacks the column (a file written before the column existed) or the
    manifest lists no file for the entity (then 0 rows). Verified like :func:`read_entity`."""
    if column not in entity.schema.names or not pa.types.is_string(entity.schema.field(column).type):
        raise ValueError(f"{entity.name} has no string column {column}")
    name = f"{entity.name}.parquet"
    entry = manifest.files.get(name)
    if entry is None:
        return None, 0
    key = join_key(prefix, name)
    source = _verified_source(store, prefix, name, entry)
    try:
        footer = pq.read_metadata(source)
        if column not in footer.schema.names:
            return None, footer.num_rows
        with pq.ParquetFile(source, metadata=footer, read_dictionary=[column]) as parquet:
            batches = parquet.iter_batches(batch_size=ROW_GROUP_ROWS, columns=[column], use_threads=False)
            return [each(batch.column(0)) for batch in batches], footer.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise SnapshotError(f"unreadable Parquet file {key}: {exc}") from exc


def entity_file(
    store: BlobStore, prefix: str, manifest: SnapshotManifest, entity: Entity
) -> Path | bytes | None:
    """The Parquet file of one entity of the snapshot under ``prefix``, verified against
    ``manifest`` but not parsed: on a :class:`LocalBlobStore` the file itself (hashed where it
    is, so a reader that opens files by path needs no copy), on any other store its bytes; None
    if the manifest lists no file for the entity."""
    name = f"{entity.name}.parquet"
    entry = manifest.files.get(name)
    return None if entry is None else _verified(store, prefix, name, entry)


def read_unknown(store: BlobStore, prefix: str, manifest: SnapshotManifest) -> pa.Table:
    """The snapshot's table of unknown keys (empty if it has none)."""
    if UNKNOWN_FILE not in manifest.files:
        return UNKNOWN_SCHEMA.empty_table()
    return conform_unknown(_read_file(store, prefix, UNKNOWN_FILE, manifest.files[UNKNOWN_FILE]))


def read_snapshot(
    store: BlobStore, prefix: str, *, columns: Mapping[str, Sequence[str]] | None = None
) -> RosterSet:
    """The roster set under ``prefix``, every file verified against the manifest.

    ``columns`` maps entity names to the only columns to read of them (an empty list keeps just
    the row count, from the manifest; an entity not named is read whole): a projected set for a
    reader that needs few columns, such as the holds step
    (:func:`rostersync.holds.stored.evaluate_stored_holds`).
    """
    projection = columns or {}
    manifest = read_manifest(store, prefix)
    for name in manifest.files:
        if name != UNKNOWN_FILE and name.removesuffix(".parquet") not in ENTITY_BY_NAME:
            raise SnapshotError(f"snapshot {prefix!r} lists an unknown file {name!r}")
    tables = {
        entity.name: read_entity(store, prefix, manifest, entity, columns=projection.get(entity.name))
        for entity in ENTITIES
        if f"{entity.name}.parquet" in manifest.files
    }
    return RosterSet(
        tables=tables,
        format=manifest.format,
        unknown=read_unknown(store, prefix, manifest),
        missing=frozenset(manifest.missing),
        received_at=dict(manifest.received_at),
    )


def conform_unknown(table: pa.Table) -> pa.Table:
    """``table`` selected and cast to :data:`UNKNOWN_SCHEMA`."""
    return table.select(UNKNOWN_SCHEMA.names).cast(UNKNOWN_SCHEMA)


# --- local convenience (preflight CLI, tests) -------------------------------------------------


def save_local_snapshot(
    path: Path | str, roster: RosterSet, *, meta: dict[str, Any] | None = None
) -> SnapshotManifest:
    """Write ``roster`` as a snapshot in the folder ``path`` (created if needed)."""
    return write_snapshot(LocalBlobStore(path), "", roster, meta=meta)


def open_local_snapshot(path: Path | str) -> RosterSet:
    """Read the snapshot in the folder ``path``."""
    return read_snapshot(LocalBlobStore(path), "")


# --- versioned accepted snapshots -------------------------------------------------------------


def _marker_key(district_prefix: str, version: int) -> str:
    return join_key(district_prefix, f"{VERSIONS_FOLDER}/{version:06d}.json")


def _read_marker(store: BlobStore, district_prefix: str, version: int) -> VersionMarker | None:
    try:
        raw = store.get(_marker_key(district_prefix, version))
    except BlobNotFoundError:
        return None
    try:
        return VersionMarker.model_validate_json(raw)
    except ValidationError as exc:
        raise SnapshotError(f"corrupt version marker {version} under {district_prefix!r}") from exc


def latest_version(store: BlobStore, district_prefix: str) -> int | None:
    """The highest claimed version of a district, or None before the first promotion."""
    folder = join_key(district_prefix, f"{VERSIONS_FOLDER}/")
    versions = []
    for key in store.list(folder):
        match = _MARKER_RE.match(key[len(folder) :])
        if match:
            versions.append(int(match.group(1)))
    return max(versions) if versions else None


def version_prefix(store: BlobStore, district_prefix: str, version: int) -> str:
    """Where the data of an accepted version lives (read from its marker)."""
    marker = _read_marker(store, district_prefix, version)
    if marker is None:
        raise SnapshotError(f"version {version} of {district_prefix!r} does not exist")
    return marker.prefix


def read_version(store: BlobStore, district_prefix: str, version: int) -> RosterSet:
    """The roster set of an accepted version."""
    return read_snapshot(store, version_prefix(store, district_prefix, version))


def promote_version(
    store: BlobStore,
    district_prefix: str,
    roster: RosterSet,
    *,
    expected_version: int | None,
    writer: str | None = None,
    meta: dict[str, Any] | None = None,
) -> int:
    """Store ``roster`` as version ``expected_version + 1`` (1 when None) and return it.

    ``expected_version`` is the version the sync was diffed against. The data is written to
    ``<district>/vNNNNNN/<writer>/`` (a prefix of its own, so a losing writer cannot clobber the
    winner's files), then the version is claimed with ``put_if_absent`` on its marker. If another
    writer holds it, :class:`VersionConflictError`. Pass a deterministic ``writer`` (the sync id)
    to make a retry idempotent: a marker already claimed by the same writer returns its version.
    """
    if expected_version is not None and expected_version < 0:
        raise ValueError("expected_version must be >= 0 or None")
    writer = writer or uuid.uuid4().hex
    validate_key(writer)
    if "/" in writer:
        raise ValueError("writer must be a single key segment")
    version = (expected_version or 0) + 1

    def conflict(found: int | None) -> int:
        marker = _read_marker(store, district_prefix, version)
        if marker is not None and marker.writer == writer:
            return version  # our own earlier attempt already won: a retried promotion
        raise VersionConflictError(
            f"cannot promote version {version} of {district_prefix!r}: expected latest version "
            f"{expected_version}, found {found}"
        )

    current = latest_version(store, district_prefix)
    if current != expected_version:
        return conflict(current)

    data_prefix = join_key(district_prefix, f"v{version:06d}/{writer}")
    write_snapshot(store, data_prefix, roster, meta={**(meta or {}), "version": version})
    marker = VersionMarker(version=version, prefix=data_prefix, writer=writer, created_at=datetime.now(UTC))
    if not store.put_if_absent(_marker_key(district_prefix, version), marker.model_dump_json().encode()):
        return conflict(latest_version(store, district_prefix))
    return version
