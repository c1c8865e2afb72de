"""The ingest step alone in a fresh process: where its memory is held, stage by stage.

    python bench/ingest_step.py DAY_DIR [--store DIR]

Reads ``DAY_DIR`` (a roster CSV set, e.g. ``bench/data/clever-600000-seed1-v2/day2``), validates
it, prepares the staged set and writes the staged snapshot into ``--store`` (a temporary
directory by default), as ``bench/run.py``'s ingest stages do. Prints one JSON object: per stage
its CPU seconds, the process's RSS after it, the peak RSS so far and the bytes pyarrow's memory
pool holds after it (``pa.total_allocated_bytes()``); then the whole step's CPU seconds and peak
RSS, and a digest of the outputs (each snapshot table's content, the issues) so two versions of
the code can be compared for identical results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day", type=Path)
    parser.add_argument("--store", type=Path)
    args = parser.parse_args(argv)

    import pyarrow as pa
    import pyarrow.parquet as pq

    from rostersync import holds, snapshot, validate
    from rostersync.formats import read_raw
    from rostersync.issues import concat_issues
    from rostersync.settings import DistrictSettings
    from rostersync.storage import LocalBlobStore

    stages: list[dict[str, Any]] = []
    start_cpu, start_wall = _cpu(), time.perf_counter()

    def mark(name: str, since: float) -> None:
        stages.append(
            {
                "stage": name,
                "cpu_s": round(_cpu() - since, 2),
                "rss_mib": round(_rss_mib()),
                "peak_mib": round(_peak_mib()),
                "arrow_mib": round(pa.total_allocated_bytes() / 2**20),
            }
        )

    mark("imports", start_cpu)
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = args.store or Path(tmp)
        store = LocalBlobStore(store_dir)
        t = _cpu()
        raw = read_raw(args.day)
        mark("read", t)
        t = _cpu()
        loaded = validate.validate(raw, received_at=datetime(2026, 1, 1, tzinfo=UTC))
        mark("validate", t)
        del raw
        mark("del raw", _cpu())
        t = _cpu()
        staged, prepare_issues = holds.prepare_staged(loaded.roster, DistrictSettings())
        mark("prepare", t)
        issues = concat_issues([loaded.issues, prepare_issues])
        del loaded
        t = _cpu()
        manifest = snapshot.write_snapshot(store, "day", staged)
        mark("write snapshot", t)
        del staged
        cpu, wall, peak = _cpu() - start_cpu, time.perf_counter() - start_wall, _peak_mib()
        digest = hashlib.sha256()
        for name in sorted(manifest.files):  # table contents (not bytes: created_at differs)
            table = pq.read_table(store_dir / "day" / name)
            digest.update(name.encode())
            digest.update(repr(table.schema).encode())
            for column in table.columns:
                digest.update(repr(column.to_pylist()).encode())
        digest.update(repr(issues.to_pylist()).encode())
        file_sha = {name: f.sha256[:12] for name, f in sorted(manifest.files.items())}
    json.dump(
        {
            "stages": stages,
            "cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2),
            "peak_mib": round(peak),
            "counts": manifest.counts,
            "issues": issues.num_rows,
            "files_sha256": file_sha,
            "outputs_sha256": digest.hexdigest(),
        },
        sys.stdout,
        indent=1,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
