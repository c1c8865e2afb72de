"""The keyed diff of one entity's two stored Parquet files, run by DuckDB.

The pipeline's diff step (:mod:`rostersync.snapdiff`) hands each entity's old and new Parquet
file (checksum-verified; fetched from S3 into a scratch folder) to one SQL query: a ``FULL OUTER JOIN`` on
the entity's key columns that keeps the rows where a side is missing or a compared column
``IS DISTINCT FROM`` the other side's, with each row's position in its file and the list of the
columns that differ. Only those rows come back as Arrow; they are ordered by position and split
into added, removed and changed, so the result is exactly what :func:`rostersync.diff.diff_table`
gives for the same two tables (the same rows, order, types and ``changed_fields``).

DuckDB reads the files and joins them on every core without holding either version as Arrow
tables: at 600k students it diffs all entities in about half the time and two thirds of the
memory of the Arrow plan (bench/README.md).

Snapshot keys are unique (validation leaves every row of a duplicated ID out, and an accepted
set is built from staged sets): :func:`rostersync.diff.diff_table`, which also defines what a
duplicate key means, is what diffs in-memory sets that may hold one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import EntityChanges
from rostersync.model import Entity, conform, key_column

CHANGED_FIELDS_TYPE = pa.list_(pa.string())
_POSITION = "file_row_number"  # what read_parquet(..., file_row_number = true) adds


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scan(path: Path) -> str:
    return f"read_parquet({_literal(str(path))}, file_row_number = true)"


def diff_sql(entity: Entity, old: Path, new: Path) -> str:
    """The entity's keyed diff: one row per added, removed or changed record, with ``_old_pos``
    and ``_new_pos`` (null on the side it is missing from), ``_changed_fields`` (the differing
    value columns, in schema order) and every column of both sides as ``o.<name>``/``n.<name>``."""
    on = " AND ".join(f"o.{_quoted(k)} = n.{_quoted(k)}" for k in entity.key)
    values = [_quoted(v) for v in entity.value_columns]
    distinct = [f"o.{v} IS DISTINCT FROM n.{v}" for v in values]
    fields = ", ".join(
        f"CASE WHEN {d} THEN {_literal(v)} END" for d, v in zip(distinct, entity.value_columns, strict=True)
    )
    changed_fields = f"list_filter([{fields}], lambda x: x IS NOT NULL)" if values else "[]::VARCHAR[]"
    sides = ", ".join(
        f"{side}.{_quoted(c)} AS {_quoted(side + '.' + c)}"
        for side in ("o", "n")
        for c in entity.schema.names
    )
    differs = " OR ".join(distinct) or "FALSE"
    # Column names are the entity model's and quoted, the paths are literals (nothing from a
    # request or a roster's values reaches the text).
    return (
        f"SELECT o.{_POSITION} AS _old_pos, n.{_POSITION} AS _new_pos, "  # nosec B608
        f"{changed_fields} AS _changed_fields, {sides} "
        f"FROM {_scan(old)} AS o FULL OUTER JOIN {_scan(new)} AS n ON {on} "
        f"WHERE o.{_POSITION} IS NULL OR n.{_POSITION} IS NULL OR {differs}"
    )


def school_counts_sql(entity: Entity, path: Path) -> str:
    """Rows of one Parquet file per ``school_id`` (null for an entity not scoped to schools):
    columns ``school_id`` and ``count``."""
    school = _quoted("school_id") if entity.school_scoped else "NULL::VARCHAR"
    source = f"read_parquet({_literal(str(path))})"
    return f"SELECT {school} AS school_id, count(*) AS count FROM {source} GROUP BY 1"  # nosec B608 (as diff_sql)


def _side(rows: pa.Table, entity: Entity, prefix: str, order: pa.Array) -> pa.Table:
    """The ``order`` rows of one side's columns (``o.`` or ``n.``) as the entity's table: only
    that side's columns are copied, once."""
    names = entity.schema.names
    table = pa.Table.from_arrays([rows.column(prefix + c) for c in names], names=names)
    return conform(table.take(order), entity)


def _in_order(rows: pa.Table, mask: pa.ChunkedArray | pa.Array, position: str) -> pa.Array:
    """The indices of the rows of ``mask``, ordered by their ``position`` column."""
    picked = pc.indices_nonzero(mask)
    return pc.take(picked, pc.sort_indices(pc.take(rows.column(position), picked)))


def split_rows(entity: Entity, rows: pa.Table, unknown: pa.ChunkedArray | pa.Array | None) -> EntityChanges:
    """Added (in new-file order), removed (old-file order, keys in ``unknown`` kept) and changed
    (new-file order) records from the rows of :func:`diff_sql`."""
    old_missing, new_missing = pc.is_null(rows.column("_old_pos")), pc.is_null(rows.column("_new_pos"))
    added = _side(rows, entity, "n.", _in_order(rows, old_missing, "_new_pos"))
    removed = _side(rows, entity, "o.", _in_order(rows, new_missing, "_old_pos"))
    if unknown is not None and len(unknown) and removed.num_rows:
        known = pc.is_in(key_column(removed, entity), value_set=unknown, skip_nulls=True)
        removed = removed.filter(pc.invert(pc.fill_null(known, False)))
    changed = _in_order(rows, pc.invert(pc.or_(old_missing, new_missing)), "_new_pos")
    fields = pc.take(rows.column("_changed_fields"), changed).combine_chunks().cast(CHANGED_FIELDS_TYPE)
    return EntityChanges(
        entity.name,
        added=added,
        removed=removed,
        changed_new=_side(rows, entity, "n.", changed),
        changed_old=_side(rows, entity, "o.", changed),
        changed_fields=fields,
    )


class DuckDiff:
    """A DuckDB connection and a scratch folder for diffing one snapshot pair, entity by entity.

    DuckDB reads Parquet files by path: a snapshot on a local store is read where it is, one
    fetched from another store (S3) is written to the scratch folder (``/tmp`` in a Lambda) for
    the length of its query, then deleted. DuckDB is
    imported and connected on the first diff only: a small district never loads it.
    """

    def __init__(self, scratch: Path, threads: int | None = None) -> None:
        self.scratch = scratch
        self.threads = threads
        self._con: Any = None

    @property
    def con(self) -> Any:
        if self._con is None:
            import duckdb  # the diff step's engine; its own layer (layers/duckdb)

            self._con = duckdb.connect(config={"temp_directory": str(self.scratch / "spill")})
            # No progress bar: it would print to the function's log on a long query.
            self._con.execute("SET enable_progress_bar = false")
            if self.threads is not None:
                self._con.execute(f"SET threads = {int(self.threads)}")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def rows(self, entity: Entity, old: Path | bytes, new: Path | bytes) -> tuple[pa.Table, pa.Table]:
        """The rows of :func:`diff_sql` from the Parquet file ``old`` to ``new`` (each a file
        DuckDB reads where it is, or the file's bytes, written to the scratch folder for the
        query; :func:`split_rows` makes them the changes), and the old file's rows per school
        (:func:`school_counts_sql`). The new file's follow from those two
        (:func:`rostersync.snapdiff.staged_moves`)."""
        written: list[Path] = []

        def on_disk(data: Path | bytes, side: str) -> Path:
            if isinstance(data, Path):
                return data
            path = self.scratch / f"{side}-{entity.name}.parquet"
            written.append(path)
            path.write_bytes(data)
            return path

        try:
            old_path, new_path = on_disk(old, "old"), on_disk(new, "new")
            rows = self.con.sql(diff_sql(entity, old_path, new_path)).to_arrow_table()
            old_counts = self.con.sql(school_counts_sql(entity, old_path)).to_arrow_table()
        finally:
            for path in written:
                path.unlink(missing_ok=True)
        return rows, old_counts


@contextmanager
def duck_diff(threads: int | None = None) -> Iterator[DuckDiff]:
    """A :class:`DuckDiff` on a fresh scratch folder, closed and removed on exit."""
    with tempfile.TemporaryDirectory(prefix="rostersync-diff-") as tmp:
        engine = DuckDiff(Path(tmp), threads)
        try:
            yield engine
        finally:
            engine.close()
