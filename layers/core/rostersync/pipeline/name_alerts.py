"""The diff step's name alerts (:mod:`rostersync.invisible`), where every alert of a sync goes.

Row alerts are written by normalize to the sync's row-errors CSV (``errors.csv``, downloadable
from the API and the console) and counted in the sync record's ``counts.alert_rows``. The
alerts found at diff time go to the same places: appended to ``errors.csv`` and added to
``alert_rows``, with ``counts.name_alerts`` saying how many are of this kind.

The step may run twice (a Lambda retry): normalize's CSV is kept once as ``errors.read.csv``
beside it and the CSV is always rebuilt from that copy, and the counts are normalize's plus this
step's, so a second run writes the same file and the same numbers.
"""

from __future__ import annotations

import io

from rostersync import reports
from rostersync.changes import ChangeSet
from rostersync.invisible import name_change_alerts
from rostersync.pipeline.events import DiffInput
from rostersync.pipeline.ports import Deps
from rostersync.storage import BlobNotFoundError


def _rows(alerts_csv: bytes) -> bytes:
    """The data lines of a CSV written with its header line (no BOM)."""
    return alerts_csv.split(b"\n", 1)[1]


def _append(deps: Deps, errors_key: str, alerts_csv: bytes) -> None:
    read_key = errors_key.removesuffix(".csv") + ".read.csv"
    try:
        read = deps.snapshots.get(read_key)
    except BlobNotFoundError:
        read = deps.snapshots.get(errors_key)
        deps.snapshots.put(read_key, read)
    deps.snapshots.put(errors_key, read + _rows(alerts_csv))


def record(deps: Deps, inp: DiffInput, changes: ChangeSet) -> int:
    """Find the names of ``changes`` that changed only by invisible or look-alike characters and
    record them as alerts of the sync (see the module docstring); the number found."""
    alerts = name_change_alerts(changes)
    errors_key = inp.normalize.errors_key
    if alerts.num_rows == 0 or errors_key is None:
        return 0
    buffer = io.BytesIO()
    reports.write_errors_csv(alerts, buffer, bom=False)
    _append(deps, errors_key, buffer.getvalue())
    record = deps.repo.get_sync(inp.district_id, inp.sync_id)
    counts = dict(record.counts) if record is not None else {}
    found: int = alerts.num_rows
    counts |= {"alert_rows": inp.normalize.alert_rows + found, "name_alerts": found}
    deps.repo.update_sync(inp.district_id, inp.sync_id, deps.clock(), counts=counts)
    return found
