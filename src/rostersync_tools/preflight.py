"""The preflight path: read a file set, validate it, diff it against an accepted snapshot and
evaluate the holds it would trip, exactly as the pipeline will.

This is what ``rostersync check`` runs and what the benchmark times stage by stage. It raises
:class:`~rostersync.issues.InvalidFilesError` when the set cannot be read as a whole; row-level
problems are returned as issues and never stop the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync import diff as diff_mod
from rostersync import holds as holds_mod
from rostersync import reports, snapshot, validate
from rostersync.changes import ChangeSet
from rostersync.formats import read_raw
from rostersync.issues import ERROR, concat_issues
from rostersync.records import Hold
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings
from rostersync.storage import LocalBlobStore
from rostersync.summary import summarize

STAGES = ("read", "validate", "prepare", "diff", "holds", "write")


@dataclass
class PreflightResult:
    """Everything a preflight found, plus the wall time of each stage in seconds."""

    format: str
    files: dict[str, str]
    staged: RosterSet
    issues: pa.Table
    changes: ChangeSet
    summary: pa.Table
    holds: list[Hold]
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        errors: int | None = pc.sum(pc.equal(self.issues.column("severity"), ERROR)).as_py()
        return errors or 0

    @property
    def alert_count(self) -> int:
        return int(self.issues.num_rows) - self.error_count


@dataclass
class _Stages:
    timings: dict[str, float]
    on_stage: Callable[[str], None] | None

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start


def run_preflight(
    input_dir: Path,
    *,
    previous: RosterSet | None = None,
    settings: DistrictSettings | None = None,
    out_dir: Path | None = None,
    now: datetime | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> PreflightResult:
    """Run the whole path on ``input_dir``; write outputs to ``out_dir`` when given.

    Outputs: ``snapshot/`` (the staged set as a Parquet snapshot, acceptable later with
    ``rostersync snapshot``), ``changes.csv``, ``errors.csv``, ``holds.json`` and
    ``summary.json``.
    """
    settings = settings or DistrictSettings()
    now = now or datetime.now(UTC)
    timings: dict[str, float] = {}
    stage = _Stages(timings, on_stage)

    with stage("read"):
        raw = read_raw(input_dir)
    with stage("validate"):
        loaded = validate.validate(raw, received_at=now, phone_region=settings.phone_region)
    with stage("prepare"):
        staged, prepare_issues = holds_mod.prepare_staged(loaded.roster, settings)
    with stage("diff"):
        changes = diff_mod.diff_rosters(previous, staged)
        summary = summarize(changes, previous, staged)
    with stage("holds"):
        holds = holds_mod.evaluate_holds(changes, staged, previous, settings)
    issues = concat_issues([loaded.issues, prepare_issues])

    result = PreflightResult(
        format=loaded.format,
        files=dict(loaded.files),
        staged=staged,
        issues=issues,
        changes=changes,
        summary=summary,
        holds=holds,
        timings=timings,
    )
    if out_dir is not None:
        with stage("write"):
            result.outputs = write_outputs(result, out_dir)
    return result


def write_outputs(result: PreflightResult, out_dir: Path) -> dict[str, Path]:
    """Write the staged snapshot, the changes and errors CSVs, and the holds as JSON."""
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot_dir = out_dir / "snapshot"
    snapshot.write_snapshot(LocalBlobStore(snapshot_dir), "", result.staged)
    changes_csv = out_dir / "changes.csv"
    reports.write_changes_csv(result.changes, changes_csv)
    errors_csv = out_dir / "errors.csv"
    reports.write_errors_csv(result.issues, errors_csv)
    holds_json = out_dir / "holds.json"
    holds_json.write_text(
        json.dumps([h.model_dump(mode="json") for h in result.holds], indent=2) + "\n", encoding="utf-8"
    )
    summary_json = out_dir / "summary.json"
    summary_json.write_text(json.dumps(result.summary.to_pylist(), indent=2) + "\n", encoding="utf-8")
    return {
        "snapshot": snapshot_dir,
        "changes": changes_csv,
        "errors": errors_csv,
        "holds": holds_json,
        "summary": summary_json,
    }
