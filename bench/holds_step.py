"""The holds step alone, in a fresh process: what the pipeline's evaluate step reads and runs.

``setup STORE``: diff the two snapshots ``STORE/day1`` (accepted) and ``STORE/day2`` (staged) once
and store the change set under ``STORE/changes`` (as the diff step does).

``run STORE [--strict]``: in this process, read the change set and run the hold rules over the
stored staged and accepted snapshots as :func:`rostersync.pipeline.decide.evaluate` does; print one
JSON line: CPU seconds, wall seconds, peak RSS, the holds found and a sha256 of their JSON (the
same holds give the same digest on any code version). ``--strict`` uses thresholds low enough that
every rule trips on a generated district's day 2 (so the digest covers every rule); the default is
the default settings. Code that predates :mod:`rostersync.holds.stored` is run the old way (both
sets read whole), so the script times main and a branch alike.

    PYTHONPATH=layers/core:src python bench/holds_step.py run /tmp/store --strict
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from pathlib import Path
from typing import Any


def _settings(strict: bool) -> Any:
    from rostersync.settings import DistrictSettings, HoldSettings

    if not strict:
        return DistrictSettings()
    holds = HoldSettings(
        mass_removal_percent=0.1,
        mass_removal_min_count=1,
        mass_update_percent=0.1,
        mass_update_min_count=1,
        max_contacts_per_student=2,
        id_change_percent=0.0,
        id_change_min_count=1,
    )
    return DistrictSettings(holds=holds, school_ids=["S-NOT-THERE"])


def setup(store_dir: Path) -> None:
    from rostersync.pipeline.changesets import write_change_set
    from rostersync.snapdiff import diff_snapshots
    from rostersync.storage import LocalBlobStore

    store = LocalBlobStore(store_dir)
    found = diff_snapshots(store, "day1", "day2")
    write_change_set(store, "changes", found.changes)


def _evaluate(store_dir: Path, settings: Any) -> list[Any]:
    from rostersync import holds
    from rostersync.pipeline.changesets import read_change_set
    from rostersync.storage import LocalBlobStore

    store = LocalBlobStore(store_dir)
    try:  # as the evaluate step runs it: the change set read beside the snapshots
        from rostersync.holds.stored import evaluate_stored_change_set  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        return list(evaluate_stored_change_set(store, "changes", "day2", "day1", settings)[1])
    changes = read_change_set(store, "changes")
    try:
        from rostersync.holds.stored import evaluate_stored_holds  # type: ignore[import-not-found]
    except ImportError:  # code before the projected reads: both sets whole
        from rostersync.snapshot import read_snapshot

        staged = read_snapshot(store, "day2")
        accepted = read_snapshot(store, "day1")
        return list(holds.evaluate_holds(changes, staged, accepted, settings))
    return list(evaluate_stored_holds(store, changes, "day2", "day1", settings))


def run(store_dir: Path, strict: bool) -> dict[str, Any]:
    settings = _settings(strict)
    started, cpu = time.perf_counter(), time.process_time()
    found = _evaluate(store_dir, settings)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    dumped = json.dumps([h.model_dump(mode="json") for h in found], sort_keys=True)
    kinds: dict[str, int] = {}
    for hold in found:
        kinds[hold.type] = kinds.get(hold.type, 0) + 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(cpu, 3),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_s": round(wall, 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "holds": kinds,
        "sha256": hashlib.sha256(dumped.encode()).hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["setup", "run"])
    parser.add_argument("store", type=Path)
    parser.add_argument("--strict", action="store_true", help="thresholds low enough for every rule")
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.store)
    else:
        print(json.dumps(run(args.store, args.strict)))


if __name__ == "__main__":
    main()
