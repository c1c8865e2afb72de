"""The staging stage: read the sync's input, validate and scope it, diff it → a staged version.

:func:`normalize` copies the inbox set to the sync's immutable raw prefix (a pull already wrote
it; a rollback stages an accepted version instead), reads and validates it, scopes it to the
district's settings and writes the staged snapshot and the errors CSV; file problems (a missing
file, bad headers, an unreadable file) are returned for an ``invalid_files`` hold, not raised.
:func:`diff` compares the staged snapshot with the latest accepted version and writes the change
set, the changes CSV and the per-school summary.
"""

from __future__ import annotations

import io
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync import holds as holds_mod
from rostersync import reports
from rostersync.changes import ChangeSet
from rostersync.connectors.pages import PullManifest
from rostersync.formats import load_roster
from rostersync.issues import InvalidFilesError, concat_issues, empty_issues
from rostersync.model import ENTITY_BY_NAME
from rostersync.pipeline import inbox, name_alerts
from rostersync.pipeline.changesets import change_counts, write_change_set
from rostersync.pipeline.events import DiffInput, DiffOutput, NormalizeInput, NormalizeOutput
from rostersync.pipeline.intake import ROLLBACK_FORMAT
from rostersync.pipeline.layout import district_prefix, file_name, sync_prefix
from rostersync.pipeline.ports import Deps
from rostersync.pipeline.pull import load_pulled, pulled_manifest
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings
from rostersync.snapdiff import diff_snapshots
from rostersync.snapshot import (
    latest_version,
    read_entity,
    read_manifest,
    read_version,
    version_prefix,
    write_snapshot,
)
from rostersync.sources import API_KINDS
from rostersync.validate import LoadResult


def accepted_roster(deps: Deps, district_id: str, version: int | None) -> RosterSet | None:
    """Accepted version ``version`` of the district (None before its first version)."""
    return read_version(deps.snapshots, district_prefix(district_id), version) if version else None


def school_names(*tables: pa.Table) -> dict[str, str]:
    """School ID → name over ``schools`` tables (later ones win): what the console shows beside
    IDs."""
    names: dict[str, str] = {}
    for table in tables:
        if "name" in table.column_names:
            pairs = zip(table.column("school_id").to_pylist(), table.column("name").to_pylist(), strict=True)
            names.update({school: name for school, name in pairs if school and name})
    return names


def _snapshot_school_names(deps: Deps, *prefixes: str | None) -> dict[str, str]:
    """School names of the snapshots under ``prefixes`` (the accepted one, then the staged one):
    only their schools entity is read."""
    schools = ENTITY_BY_NAME["schools"]
    tables = [
        read_entity(deps.snapshots, prefix, read_manifest(deps.snapshots, prefix), schools)
        for prefix in prefixes
        if prefix is not None
    ]
    return school_names(*tables)


# --- normalize -----------------------------------------------------------------------------------


def normalize(inp: NormalizeInput, deps: Deps) -> NormalizeOutput:
    """Stage the sync's input (see the module docstring)."""
    now = deps.clock()
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    attempt = record.attempt if record is not None else 1
    prefix = sync_prefix(inp.district_id, inp.sync_id, attempt)
    raw_prefix = f"{prefix}/raw/"
    if record is not None and record.trigger == "rollback" and record.source_version is not None:
        return _stage_version(inp, deps, record.source_version, attempt, prefix, raw_prefix)
    pulled = pulled_manifest(deps.raw, prefix)
    # An upload reads the set settle took (a retry takes it again); a pull wrote its own.
    taken = inbox.taken_set(deps, inp.district_id, inp.sync_id, attempt) if pulled is None else None
    count = len(pulled.files) or pulled.pages if pulled is not None else len(taken.files) if taken else 0
    out = NormalizeOutput(attempt=attempt, prefix=prefix, raw_prefix=raw_prefix, files=count)
    settings = deps.repo.get_settings(inp.district_id)
    try:
        loaded = _load(deps, pulled, raw_prefix, now, settings.phone_region)
    except InvalidFilesError as exc:
        return _invalid_files(inp, deps, out, exc, now)
    if taken is not None:
        # Each entity was received when its file arrived (stale_upload), not when it is read;
        # inbox files the format does not read are alerts.
        loaded.roster.received_at = inbox.entity_arrivals(loaded.roster.received_at, loaded.files, taken)
        loaded.issues = concat_issues([loaded.issues, inbox.ignored_alerts(taken)])
    return _stage_loaded(inp, deps, out, loaded, settings, now)


def _load(
    deps: Deps, pulled: PullManifest | None, raw_prefix: str, now: datetime, phone_region: str
) -> LoadResult:
    """Read and validate the raw prefix: an API pull's pages, or the files of an upload or SFTP pull."""
    if pulled is not None and pulled.kind in API_KINDS:
        loaded: LoadResult = load_pulled(deps.raw, pulled, received_at=now, phone_region=phone_region)
        return loaded
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for key in deps.raw.list(raw_prefix):
            (folder / file_name(key)).write_bytes(deps.raw.get(key))
        return load_roster(folder, received_at=now, phone_region=phone_region)


def _invalid_files(
    inp: NormalizeInput, deps: Deps, out: NormalizeOutput, exc: InvalidFilesError, now: datetime
) -> NormalizeOutput:
    """Keep the file problems for the ``invalid_files`` hold (``file_problems.json``)."""
    problems_key = f"{out.prefix}/file_problems.json"
    problems = [
        {"file": p.file, "message": p.message, "header": p.header, "closest": p.closest} for p in exc.problems
    ]
    deps.snapshots.put(problems_key, json.dumps(problems, indent=2).encode())
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        attempt=out.attempt,
        keys={"raw": out.raw_prefix, "file_problems": problems_key},
    )
    return out.model_copy(
        update={
            "invalid": True,
            "format": exc.format,
            "file_problems": len(problems),
            "problems_key": problems_key,
        }
    )


def _stage_loaded(
    inp: NormalizeInput,
    deps: Deps,
    out: NormalizeOutput,
    loaded: LoadResult,
    settings: DistrictSettings,
    now: datetime,
) -> NormalizeOutput:
    """Scope the roster to the district's settings; write the staged snapshot and ``errors.csv``."""
    staged, prepare_issues = holds_mod.prepare_staged(loaded.roster, settings)
    staged_prefix = f"{out.prefix}/staged"
    write_snapshot(deps.snapshots, staged_prefix, staged, meta={"sync_id": inp.sync_id})
    issues = concat_issues([loaded.issues, prepare_issues])
    errors_key = f"{out.prefix}/errors.csv"
    buffer = io.BytesIO()
    reports.write_errors_csv(issues, buffer)
    deps.snapshots.put(errors_key, buffer.getvalue())
    error_rows = (
        int(pc.sum(pc.equal(issues.column("severity"), "error")).as_py() or 0) if issues.num_rows else 0
    )
    counts = staged.counts()
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        now,
        attempt=out.attempt,
        counts={"staged": counts, "error_rows": error_rows, "alert_rows": issues.num_rows - error_rows},
        keys={"raw": out.raw_prefix, "staged": staged_prefix, "errors": errors_key},
    )
    return out.model_copy(
        update={
            "staged_prefix": staged_prefix,
            "errors_key": errors_key,
            "format": loaded.format,
            "counts": counts,
            "error_rows": error_rows,
            "alert_rows": issues.num_rows - error_rows,
        }
    )


def _stage_version(
    inp: NormalizeInput, deps: Deps, version: int, attempt: int, prefix: str, raw_prefix: str
) -> NormalizeOutput:
    """A rollback's normalize: stage accepted version ``version`` as it was accepted (it was
    validated and scoped then), so the diff and the holds judge it like any other input."""
    roster = read_version(deps.snapshots, district_prefix(inp.district_id), version)
    staged_prefix = f"{prefix}/staged"
    write_snapshot(
        deps.snapshots, staged_prefix, roster, meta={"sync_id": inp.sync_id, "source_version": version}
    )
    errors_key = f"{prefix}/errors.csv"
    buffer = io.BytesIO()
    reports.write_errors_csv(empty_issues(), buffer)
    deps.snapshots.put(errors_key, buffer.getvalue())
    counts = roster.counts()
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        attempt=attempt,
        counts={"staged": counts, "error_rows": 0, "alert_rows": 0},
        keys={"staged": staged_prefix, "errors": errors_key},
    )
    return NormalizeOutput(
        attempt=attempt,
        prefix=prefix,
        raw_prefix=raw_prefix,
        staged_prefix=staged_prefix,
        errors_key=errors_key,
        format=ROLLBACK_FORMAT,
        counts=counts,
    )


# --- diff ----------------------------------------------------------------------------------------


def diff(inp: DiffInput, deps: Deps) -> DiffOutput:
    """Diff the staged snapshot against the latest accepted version; write the change set, the
    changes CSV and the per-school summary."""
    base = latest_version(deps.snapshots, district_prefix(inp.district_id))
    if inp.normalize.invalid or inp.normalize.staged_prefix is None:
        return DiffOutput(skipped=True, base_version=base)
    # One entity of both versions in memory at a time (rostersync.snapdiff), not both sets whole.
    accepted_prefix = version_prefix(deps.snapshots, district_prefix(inp.district_id), base) if base else None
    found = diff_snapshots(deps.snapshots, accepted_prefix, inp.normalize.staged_prefix)
    changes, summary = found.changes, found.summary
    name_alerts.record(deps, inp, changes)  # names changed only by invisible characters
    prefix = inp.normalize.prefix
    changes_prefix = f"{prefix}/changes"
    keys = {
        "changes": changes_prefix,
        "changes_csv": f"{prefix}/changes.csv",
        "summary": f"{prefix}/summary.json",
    }
    if base is None:
        keys["changes_full"] = f"{prefix}/changes.csv.gz"
    # The full list of a first sync (every record added) is compressed beside the change set,
    # on a thread of its own: zlib and Arrow release the GIL.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="changes-csv") as pool:
        written = pool.submit(_write_changes_csv, deps, keys, changes, summary)
        write_change_set(deps.snapshots, changes_prefix, changes)
        written.result()
    deps.snapshots.put(keys["summary"], json.dumps(summary.to_pylist(), indent=2).encode())
    keys["school_names"] = f"{prefix}/school_names.json"
    deps.snapshots.put(
        keys["school_names"],
        json.dumps(_snapshot_school_names(deps, accepted_prefix, inp.normalize.staged_prefix)).encode(),
    )
    counts = change_counts(changes)
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        keys=keys,
    )
    return DiffOutput(
        base_version=base,
        changes_prefix=changes_prefix,
        changes_key=keys["changes_csv"],
        summary_key=keys["summary"],
        counts=counts,
    )


def _write_changes_csv(deps: Deps, keys: dict[str, str], changes: ChangeSet, summary: pa.Table) -> None:
    """``changes.csv``: every change of a nightly sync; on a first sync (``changes_full`` in
    ``keys``), the per-school counts, with every change in ``changes.csv.gz`` beside it."""
    buffer = io.BytesIO()
    if "changes_full" in keys:
        reports.write_changes_summary_csv(summary, buffer)
        full = io.BytesIO()
        reports.write_changes_csv_gz(changes, full)
        deps.snapshots.put(keys["changes_full"], full.getvalue())
    else:
        reports.write_changes_csv(changes, buffer)
    deps.snapshots.put(keys["changes_csv"], buffer.getvalue())
