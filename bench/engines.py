"""The diff against the engine floor: three jobs on the same two Parquet snapshots.

Each job runs in a process of its own (``python bench/engines.py JOB OLD NEW --json FILE``) so its
peak RSS is its own:

- ``rostersync``: what the pipeline's diff step does with the data: read both snapshots and diff
  every entity (:func:`rostersync.snapdiff.diff_snapshots`), the changes materialised as Arrow.
- ``duckdb``: DuckDB's keyed diff of the same files: per entity a ``FULL OUTER JOIN`` on the key
  columns keeping the rows where a side is missing or a value column ``IS DISTINCT FROM`` the
  other's, materialised as Arrow and split into added, removed and changed.
- ``floor``: read both snapshots with pyarrow and hash the keys (a group-by on the key columns):
  the least any hash diff of the two has to do.

``duckdb_diff`` is also what the engine-equality test compares the rostersync diff with.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rostersync.model import ENTITIES, Entity


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_entity_diff(con: Any, entity: Entity, old: Path, new: Path) -> dict[str, pa.Table]:
    """Added, removed and changed rows of one entity by DuckDB (changed: new values plus the
    list of differing columns in ``_changed_fields``, in schema order)."""
    keys = [_quoted(k) for k in entity.key]
    values = [_quoted(v) for v in entity.value_columns]
    on = " AND ".join(f"o.{k} = n.{k}" for k in keys)
    distinct = " OR ".join(f"o.{v} IS DISTINCT FROM n.{v}" for v in values) or "FALSE"
    fields = ", ".join(f"CASE WHEN o.{v} IS DISTINCT FROM n.{v} THEN '{v[1:-1]}' END" for v in values)
    fields_expr = f"list_filter([{fields}], lambda x: x IS NOT NULL)" if values else "[]::VARCHAR[]"
    old_cols = ", ".join(f"o.{_quoted(c)} AS {_quoted('o.' + c)}" for c in entity.schema.names)
    new_cols = ", ".join(f"n.{_quoted(c)} AS {_quoted('n.' + c)}" for c in entity.schema.names)
    sql = (
        f"SELECT o.{keys[0]} IS NULL AS _added, n.{keys[0]} IS NULL AS _removed, "
        f"{fields_expr} AS _changed_fields, {old_cols}, {new_cols} "
        f"FROM read_parquet('{old}') o FULL OUTER JOIN read_parquet('{new}') n ON {on} "
        f"WHERE o.{keys[0]} IS NULL OR n.{keys[0]} IS NULL OR {distinct}"
    )
    out = con.sql(sql).to_arrow_table()
    names = entity.schema.names

    def side(table: pa.Table, prefix: str) -> pa.Table:
        return pa.Table.from_arrays([table.column(prefix + c) for c in names], schema=entity.schema)

    added_mask, removed_mask = out.column("_added"), out.column("_removed")
    changed = out.filter(pc.invert(pc.or_(added_mask, removed_mask)))
    return {
        "added": side(out.filter(added_mask), "n."),
        "removed": side(out.filter(removed_mask), "o."),
        "changed": side(changed, "n.").append_column("_changed_fields", changed.column("_changed_fields")),
        "changed_old": side(changed, "o."),
    }


def duckdb_diff(
    old_dir: Path, new_dir: Path, *, threads: int | None = None
) -> dict[str, dict[str, pa.Table]]:
    """Every entity's keyed diff of two snapshot folders (``<entity>.parquet`` each)."""
    import duckdb

    con = duckdb.connect()
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    try:
        return {
            e.name: duckdb_entity_diff(con, e, old_dir / f"{e.name}.parquet", new_dir / f"{e.name}.parquet")
            for e in ENTITIES
        }
    finally:
        con.close()


def job_duckdb(old: Path, new: Path) -> dict[str, dict[str, int]]:
    result = duckdb_diff(old, new)
    return {n: {k: t.num_rows for k, t in kinds.items() if k != "changed_old"} for n, kinds in result.items()}


def job_rostersync(old: Path, new: Path) -> dict[str, dict[str, int]]:
    from rostersync.snapdiff import diff_snapshots
    from rostersync.storage import LocalBlobStore

    store = LocalBlobStore(old.parent)
    changes = diff_snapshots(store, old.name, new.name).changes
    return {
        n: dict(zip(("added", "removed", "changed"), ec.counts, strict=True))
        for n, ec in changes.entities.items()
    }


def job_floor(old: Path, new: Path) -> dict[str, dict[str, int]]:
    tables = {
        (side, e.name): pq.read_table(folder / f"{e.name}.parquet")
        for side, folder in (("old", old), ("new", new))
        for e in ENTITIES
    }
    keys = {"old": 0, "new": 0}
    for e in ENTITIES:
        for side in ("old", "new"):
            keys[side] += tables[side, e.name].group_by(list(e.key)).aggregate([]).num_rows
    return {"keys": keys}


JOBS = {"rostersync": job_rostersync, "duckdb": job_duckdb, "floor": job_floor}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("old", type=Path, help="folder of the old snapshot")
    parser.add_argument("new", type=Path, help="folder of the new snapshot")
    parser.add_argument("--json", type=Path, help="write seconds, peak RSS and counts here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts = JOBS[args.job](args.old.resolve(), args.new.resolve())
    seconds = time.perf_counter() - start
    result = {"job": args.job, "seconds": seconds, "peak_rss_bytes": peak_rss_bytes(), "counts": counts}
    if args.json:
        args.json.write_text(json.dumps(result), encoding="utf-8")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
