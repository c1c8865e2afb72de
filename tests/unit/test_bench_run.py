"""`make bench` runs a day as the pipeline does: each step in a process of its own.

The figures themselves are measured on a full-size district by hand (bench/README.md); this
checks, on a tiny district, that the runner passes between the steps only what the pipeline
passes on and reports each step's own peak, so the path's peak is the largest Lambda step's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.scripts import load_script

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _run_tiny_bench(tmp_path: Path, path_runs: int) -> dict[str, Any]:
    """The bench on a 400-student district, without the naive diff and the engine floor."""
    out = tmp_path / "out"
    cmd = [sys.executable, str(RUN), "--students", "400", "--data-dir", str(tmp_path / "data")]
    cmd += ["--out-dir", str(out), "--skip-naive", "--engine-runs", "0", "--path-runs", str(path_runs)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    results: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return results


def test_the_bench_runs_each_step_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = _run_tiny_bench(tmp_path, path_runs=1)
    for day in ("baseline", "path"):
        path = results[day]
        assert list(path["steps"]) == ["ingest", "diff", "holds"]
        assert [s["stage"] for s in path["stages"]] == [
            "read",
            "validate",
            "prepare",
            "write snapshot",
            "errors csv",
            "diff",
            "write changes",
            "holds",
        ]
        assert path["peak_rss_bytes"] == max(s["peak_rss_bytes"] for s in path["steps"].values())
        assert path["seconds"] == sum(s["seconds"] for s in path["steps"].values())
    # The holds step read the change set the diff step wrote, and the first sync wrote its
    # full list of changes beside the per-school summary.
    assert (out / "store" / "day2-changes").is_dir()
    assert (out / "day1" / "changes.csv.gz").stat().st_size > 0
    assert results["path"]["changes"]["students"]["added"] > 0


def test_the_day_two_path_is_judged_on_the_median_of_its_runs(tmp_path: Path) -> None:
    results = _run_tiny_bench(tmp_path, path_runs=3)
    path, runs = results["path"], results["path"]["runs"]
    assert len(runs) == 3
    assert path["seconds"] == sorted(run["seconds"] for run in runs)[1]
    assert path["peak_rss_bytes"] == max(run["peak_rss_bytes"] for run in runs)
    # The reported run diffed day 2 against the stored day 1.
    assert path["changes"]["students"]["added"] > 0
    assert results["targets"][0]["name"] == "whole path, day 2 (s, median of 3)"


def _bench_module() -> ModuleType:
    return load_script(RUN, "bench_run")


def test_each_bench_step_runs_with_its_functions_allocator_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    template = (RUN.parents[1] / "template.yaml").read_text(encoding="utf-8")
    globals_ = re.search(r'MIMALLOC_PURGE_DELAY: "(\d+)"', template.split("\nResources:")[0])
    ingest = re.search(
        r'MIMALLOC_PURGE_DELAY: "(\d+)"',
        template.split("\n  IngestFunction:")[1].split("\n  DiffFunction")[0],
    )
    assert globals_ is not None and ingest is not None
    monkeypatch.delenv("MIMALLOC_PURGE_DELAY", raising=False)
    bench = _bench_module()
    assert bench.job_env("ingest")["MIMALLOC_PURGE_DELAY"] == ingest.group(1)
    assert bench.job_env("diff")["MIMALLOC_PURGE_DELAY"] == globals_.group(1)
    assert bench.job_env("holds")["MIMALLOC_PURGE_DELAY"] == globals_.group(1)


def test_each_bench_step_runs_without_huge_pages_as_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    template = (RUN.parents[1] / "template.yaml").read_text(encoding="utf-8")
    globals_ = template.split("\nResources:")[0]
    assert 'MIMALLOC_ALLOW_THP: "0"' in globals_ and 'NUMPY_MADVISE_HUGEPAGE: "0"' in globals_
    monkeypatch.delenv("MIMALLOC_ALLOW_THP", raising=False)
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    bench = _bench_module()
    for step in ("ingest", "diff", "holds"):
        env = bench.job_env(step)
        assert (env["MIMALLOC_ALLOW_THP"], env["NUMPY_MADVISE_HUGEPAGE"]) == ("0", "0")


def test_the_callers_allocator_setting_wins_over_the_deployed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "12345")
    assert _bench_module().job_env("ingest")["MIMALLOC_PURGE_DELAY"] == "12345"
