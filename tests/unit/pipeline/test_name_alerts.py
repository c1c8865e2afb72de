"""Names that changed only by invisible characters: an alert at diff time (issue 12 item 5).

The staging step runs on moto as in production: an accepted snapshot, then an upload, then
normalize and diff; the alert is read back from where every alert of a sync goes (the row-errors
CSV and the sync record's counts).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.pipeline import stage
from rostersync.pipeline.events import DiffInput
from rostersync.pipeline.ports import Deps
from rostersync.snapshot import promote_version, read_snapshot
from tests.support.pipeline_helpers import copy_fixture, ref, run_to_evaluate, upload_folder


def _accept_first_upload(
    deps: Deps, folder: Path, *, edit: dict[tuple[str, str, str], str] | None = None
) -> None:
    """Stage ``folder`` as sync s1 and accept it as version 1, with ``edit`` applied to the
    accepted tables first ((entity, record ID, field) -> value): a snapshot written before the
    reader removed invisible characters."""
    upload_folder(folder)
    norm, _diff, _ev = run_to_evaluate(deps, "s1")
    accepted = read_snapshot(deps.snapshots, norm.staged_prefix)
    for (entity, record_id, field), value in (edit or {}).items():
        table = accepted.tables[entity]
        key = table.column(table.column_names[0])
        column = pc.if_else(pc.equal(key, record_id), pa.scalar(value), table.column(field))
        accepted.tables[entity] = table.set_column(table.column_names.index(field), field, column)
    promote_version(deps.snapshots, "districts/d1", accepted, expected_version=None)


def _alerts(deps: Deps, sync_id: str) -> list[dict[str, str]]:
    record = deps.repo.get_sync("d1", sync_id)
    assert record is not None
    text = deps.snapshots.get(record.keys["errors"]).decode("utf-8-sig")
    return [row for row in csv.DictReader(io.StringIO(text)) if row["Severity"] == "alert"]


def _name_alerts(deps: Deps, sync_id: str) -> list[dict[str, str]]:
    return [
        a for a in _alerts(deps, sync_id) if a["Message"].startswith("Changed since the accepted version")
    ]


def _set_cell(folder: Path, file: str, old: str, new: str) -> None:
    path = folder / file
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_a_name_accepted_with_a_zero_width_space_and_sent_clean_is_an_alert(
    deps: Deps, tmp_path: Path
) -> None:
    """The real gap: the accepted snapshot predates read-time normalisation, today's upload is
    clean, and the diff reports a first-name change nobody can see."""
    folder = copy_fixture("clever_basic", tmp_path / "set")
    _accept_first_upload(deps, folder, edit={("students", "ST2", "first_name"): "Lu\u200bis"})
    upload_folder(folder)

    norm, _diff, _ev = run_to_evaluate(deps, "s2")

    (alert,) = _name_alerts(deps, "s2")
    assert (alert["File"], alert["Row"], alert["Column"], alert["Value"]) == (
        "students",
        "",
        "first_name",
        "ST2",
    )
    assert "invisible formatting characters" in alert["Message"]
    record = deps.repo.get_sync("d1", "s2")
    assert record is not None
    assert record.counts["name_alerts"] == 1
    assert record.counts["alert_rows"] == norm.alert_rows + 1


def test_a_no_break_space_inside_a_name_is_an_alert_naming_the_record_not_the_name(
    deps: Deps, tmp_path: Path
) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    _accept_first_upload(deps, folder)
    _set_cell(folder, "schools.csv", "Lincoln Elementary", "Lincoln\u00a0Elementary")
    upload_folder(folder)

    run_to_evaluate(deps, "s2")

    (alert,) = _name_alerts(deps, "s2")
    assert (alert["File"], alert["Column"], alert["Value"]) == ("schools", "name", "S1")
    assert "special space" in alert["Message"]
    assert "Lincoln" not in "".join(alert.values())


def test_a_cyrillic_look_alike_in_a_last_name_is_an_alert(deps: Deps, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    _accept_first_upload(deps, folder)
    _set_cell(folder, "students.csv", "Okafor", "Okаfor")  # a Cyrillic а
    upload_folder(folder)

    run_to_evaluate(deps, "s2")

    (alert,) = _name_alerts(deps, "s2")
    assert (alert["File"], alert["Column"], alert["Value"]) == ("students", "last_name", "ST4")
    assert "look-alike characters" in alert["Message"]


def test_a_real_name_change_is_no_alert(deps: Deps, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    _accept_first_upload(deps, folder)
    _set_cell(folder, "students.csv", ",Luis,", ",Luisa,")
    upload_folder(folder)

    _norm, diff, _ev = run_to_evaluate(deps, "s2")

    assert diff.counts == {"added": 0, "removed": 0, "changed": 1, "id_changed": 0}
    assert _name_alerts(deps, "s2") == []
    record = deps.repo.get_sync("d1", "s2")
    assert record is not None and "name_alerts" not in record.counts


def test_a_retried_diff_writes_the_same_alerts_and_counts(deps: Deps, tmp_path: Path) -> None:
    folder = copy_fixture("clever_basic", tmp_path / "set")
    _accept_first_upload(deps, folder, edit={("students", "ST3", "middle_name"): "\u202eWei"})
    upload_folder(folder)
    norm, _diff, _ev = run_to_evaluate(deps, "s2")
    record = deps.repo.get_sync("d1", "s2")
    assert record is not None
    first_csv = deps.snapshots.get(record.keys["errors"])

    stage.diff(DiffInput(step="diff", normalize=norm, **ref("s2")), deps)

    again = deps.repo.get_sync("d1", "s2")
    assert again is not None
    assert deps.snapshots.get(record.keys["errors"]) == first_csv
    assert (again.counts["alert_rows"], again.counts["name_alerts"]) == (norm.alert_rows + 1, 1)
