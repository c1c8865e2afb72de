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
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc

from rostersync import holds as holds_mod
from rostersync import reports
from rostersync.connectors.pages import PullManifest
from rostersync.diff import diff_rosters, summarize
from rostersync.formats import load_roster
from rostersync.issues import InvalidFilesError, concat_issues, empty_issues
from rostersync.pipeline.changesets import change_counts, write_change_set
from rostersync.pipeline.events import DiffInput, DiffOutput, NormalizeInput, NormalizeOutput
from rostersync.pipeline.intake import ROLLBACK_FORMAT
from rostersync.pipeline.layout import district_prefix, file_name, inbox_files, sync_prefix
from rostersync.pipeline.ports import Deps
from rostersync.pipeline.pull import load_pulled, pulled_manifest
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings
from rostersync.snapshot import latest_version, read_snapshot, read_version, write_snapshot
from rostersync.sources import API_KINDS
from rostersync.validate import LoadResult


def accepted_roster(deps: Deps, district_id: str, version: int | None) -> RosterSet | None:
    """Accepted version ``version`` of the district (None before its first version)."""
    return read_version(deps.snapshots, district_prefix(district_id), version) if version else None


def school_names(*rosters: RosterSet | None) -> dict[str, str]:
    """School ID → name over ``rosters`` (later ones win): what the console shows beside IDs."""
    names: dict[str, str] = {}
    for roster in rosters:
        table = roster.table("schools") if roster is not None and "schools" in roster.tables else None
        if table is not None and "name" in table.column_names:
            pairs = zip(table.column("school_id").to_pylist(), table.column("name").to_pylist(), strict=True)
            names.update({school: name for school, name in pairs if school and name})
    return names


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
    # A pull (fetch step) already wrote the raw prefix; an upload is copied from the inbox.
    pulled = pulled_manifest(deps.raw, prefix)
    count = (
        _copy_inbox(deps, inp.district_id, raw_prefix)
        if pulled is None
        else len(pulled.files) or pulled.pages
    )
    out = NormalizeOutput(attempt=attempt, prefix=prefix, raw_prefix=raw_prefix, files=count)
    settings = deps.repo.get_settings(inp.district_id)
    try:
        loaded = _load(deps, pulled, raw_prefix, now, settings.phone_region)
    except InvalidFilesError as exc:
        return _invalid_files(inp, deps, out, exc, now)
    return _stage_loaded(inp, deps, out, loaded, settings, now)


def _copy_inbox(deps: Deps, district_id: str, raw_prefix: str) -> int:
    """Copy the inbox set to the sync's raw prefix; how many files."""
    files = inbox_files(deps.raw, district_id)
    for obj in files:
        deps.raw.copy(obj.key, raw_prefix + file_name(obj.key))
    return len(files)


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
    accepted = accepted_roster(deps, inp.district_id, base)
    staged = read_snapshot(deps.snapshots, inp.normalize.staged_prefix)
    changes = diff_rosters(accepted, staged)
    summary = summarize(changes, accepted, staged)
    prefix = inp.normalize.prefix
    changes_prefix = f"{prefix}/changes"
    write_change_set(deps.snapshots, changes_prefix, changes)
    changes_key = f"{prefix}/changes.csv"
    buffer = io.BytesIO()
    reports.write_changes_csv(changes, buffer)
    deps.snapshots.put(changes_key, buffer.getvalue())
    summary_key = f"{prefix}/summary.json"
    deps.snapshots.put(summary_key, json.dumps(summary.to_pylist(), indent=2).encode())
    names_key = f"{prefix}/school_names.json"
    deps.snapshots.put(names_key, json.dumps(school_names(accepted, staged)).encode())
    counts = change_counts(changes)
    deps.repo.update_sync(
        inp.district_id,
        inp.sync_id,
        deps.clock(),
        keys={
            "changes": changes_prefix,
            "changes_csv": changes_key,
            "summary": summary_key,
            "school_names": names_key,
        },
    )
    return DiffOutput(
        base_version=base,
        changes_prefix=changes_prefix,
        changes_key=changes_key,
        summary_key=summary_key,
        counts=counts,
    )
