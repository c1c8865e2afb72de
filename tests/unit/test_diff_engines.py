"""The diff engines agree on a generated district's two snapshots (day 1 and day 2, as the
pipeline stores them).

- The pipeline's diff step (:func:`rostersync.snapdiff.diff_snapshots`, DuckDB joining the
  Parquet files) gives exactly the Arrow diff of the same two sets loaded whole
  (:func:`rostersync.diff.diff_rosters`, :func:`rostersync.summary.summarize`): same rows, order,
  types, changed fields, suspected ID changes and per-school counts.
- It also gives the records of the bench's plain DuckDB keyed diff (bench/engines.py), compared
  as sorted row sets, since that one does not order rows.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pytest

from rostersync.diff import diff_rosters
from rostersync.formats import load_roster
from rostersync.model import ENTITIES, ENTITY_BY_NAME
from rostersync.snapdiff import diff_snapshots
from rostersync.snapshot import open_local_snapshot, save_local_snapshot
from rostersync.storage import LocalBlobStore
from rostersync.summary import summarize
from rostersync_tools import synthetic
from tests.support.scripts import load_script

ENGINES_PATH = Path(__file__).resolve().parents[2] / "bench" / "engines.py"


def _engines() -> ModuleType:
    return load_script(ENGINES_PATH, "bench_engines")


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engines")
    day1 = synthetic.generate_district(students=400, schools=3, seed=5)
    day2 = synthetic.make_day2(day1, seed=6, removed=0.05, added=0.05, changed=0.2)
    for name, district in (("day1", day1), ("day2", day2)):
        synthetic.write_clever_csv(district, root / f"{name}-csv")
        save_local_snapshot(root / "store" / name, load_roster(root / f"{name}-csv").roster)
    return root / "store"


def _rows(table: pa.Table, entity: str) -> list[tuple[object, ...]]:
    """The table's rows in the entity's column order, sorted (nulls first), for set comparison."""
    names = ENTITY_BY_NAME[entity].schema.names + [c for c in table.column_names if c == "_changed_fields"]
    rows = [tuple(str(v) for v in row.values()) for row in table.select(names).to_pylist()]
    return sorted(rows)


def test_rostersync_diff_equals_duckdb_keyed_diff(snapshots: Path) -> None:
    ours = diff_snapshots(LocalBlobStore(snapshots), "day1", "day2").changes
    theirs = _engines().duckdb_diff(snapshots / "day1", snapshots / "day2")

    assert sum(ours.entities[e.name].counts[2] for e in ENTITIES) > 0  # the data has changes
    for entity in ENTITIES:
        ec, dd = ours.entities[entity.name], theirs[entity.name]
        changed = ec.changed_new.append_column("_changed_fields", ec.changed_fields)
        assert _rows(ec.added, entity.name) == _rows(dd["added"], entity.name), entity.name
        assert _rows(ec.removed, entity.name) == _rows(dd["removed"], entity.name), entity.name
        assert _rows(changed, entity.name) == _rows(dd["changed"], entity.name), entity.name
        assert _rows(ec.changed_old, entity.name) == _rows(dd["changed_old"], entity.name), entity.name


@pytest.mark.parametrize("duckdb_rows", [0, None], ids=["all-duckdb", "default-split"])
def test_the_diff_step_equals_the_arrow_diff_exactly(snapshots: Path, duckdb_rows: int | None) -> None:
    old, new = open_local_snapshot(snapshots / "day1"), open_local_snapshot(snapshots / "day2")
    expected = diff_rosters(old, new)

    found = diff_snapshots(LocalBlobStore(snapshots), "day1", "day2", duckdb_rows=duckdb_rows)

    assert sum(sum(ec.counts) for ec in expected.entities.values()) > 0
    for entity in ENTITIES:
        ec, got = expected.entities[entity.name], found.changes.entities[entity.name]
        for kind in ("added", "removed", "changed_new", "changed_old"):
            assert getattr(got, kind).equals(getattr(ec, kind)), (entity.name, kind)
        assert got.changed_fields.equals(ec.changed_fields), entity.name
    assert found.changes.id_changes.equals(expected.id_changes)
    assert found.summary.equals(summarize(expected, old, new))
