"""manifest.csv: which files a OneRoster set supplies, and how.

Each ``file.<name>`` property is ``bulk`` (the file is complete), ``delta`` (changes only) or
``absent`` (not sent). ``absent`` is honoured for every file: the entities that file supplies are
marked not supplied and carried forward unchanged (a file present anyway is ignored, with an
alert). A blank or unknown value is an alert naming the manifest row, and is taken as ``absent``
when the file is not there and ``bulk`` when it is. A file the manifest does not mention is read
when present; a required one that is missing refuses the set. Any ``delta`` file refuses the set:
rostersync needs a complete (bulk) set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.csvio import CsvFile, FileSpec, read_csv
from rostersync.formats.detect import MANIFEST
from rostersync.formats.oneroster.common import PEOPLE
from rostersync.issues import ALERT, ISSUE_SCHEMA, FileProblem

MODES = ("bulk", "delta", "absent")

# Canonical entities each file supplies; an absent file leaves them not supplied.
ENTITIES: dict[str, tuple[str, ...]] = {
    "orgs.csv": ("schools",),
    "users.csv": PEOPLE,
    "roles.csv": PEOPLE,
    "classes.csv": ("sections",),
    "enrollments.csv": ("enrollments",),
    "academicSessions.csv": ("terms",),
    "courses.csv": ("courses",),
    "demographics.csv": (),
}


@dataclass
class Plan:
    """What to read: specs to read, files declared absent, problems and alerts."""

    read: list[FileSpec] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    alerts: list[pa.Table] = field(default_factory=list)
    properties: dict[str, tuple[str, int]] = field(default_factory=dict)


def _alert(row: int, name: str, value: str, message: str) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "severity": ALERT,
                "file": "manifest.csv",
                "row": row,
                "column": "value",
                "value": value or name,
                "message": message,
            }
        ],
        schema=ISSUE_SCHEMA,
    )


def _properties(manifest: CsvFile) -> dict[str, tuple[str, int]]:
    """Lower-cased property name -> (value as sent, row)."""
    table = manifest.table.filter(pc.is_valid(manifest.table.column("property")))
    names = [str(n).strip().lower() for n in table.column("property").to_pylist()]
    values = [str(v or "").strip() for v in table.column("value").to_pylist()]
    rows = table.column("_row").to_pylist()
    out: dict[str, tuple[str, int]] = {}
    for name, value, row in zip(names, values, rows, strict=True):
        out.setdefault(name, (value, int(row)))
    return out


def _mode(plan: Plan, spec: FileSpec, present: bool) -> str | None:
    """bulk / delta / absent for ``spec`` (None: the manifest does not mention it)."""
    prop = "file." + spec.name.removesuffix(".csv").lower()
    if prop not in plan.properties:
        return None
    value, row = plan.properties[prop]
    mode = value.lower()
    if mode in MODES:
        return mode
    taken = "bulk, because the file is present" if present else "absent, because the file is not there"
    said = f'"{value}"' if value else "nothing"
    plan.alerts.append(
        _alert(
            row,
            prop,
            value,
            f"manifest.csv row {row} says {said} for {prop}; the value should be bulk, delta or "
            f"absent. It was taken as {taken}.",
        )
    )
    return "bulk" if present else "absent"


def plan_files(found: dict[str, Path], required: list[FileSpec], optional: list[FileSpec]) -> Plan:
    plan = Plan()
    if "manifest.csv" not in found:
        plan.problems.append(FileProblem("manifest.csv", "required file is missing"))
        return plan
    read = read_csv(found["manifest.csv"], MANIFEST)
    plan.problems.extend(read.problems)
    plan.alerts.extend(read.alerts)
    if read.file is None:
        return plan
    plan.properties = _properties(read.file)
    for spec in (*required, *optional):
        present = spec.name.lower() in found
        mode = _mode(plan, spec, present)
        if mode == "delta":
            _, row = plan.properties["file." + spec.name.removesuffix(".csv").lower()]
            plan.problems.append(
                FileProblem(
                    "manifest.csv",
                    f"row {row} declares {spec.name} as delta: this is a OneRoster delta set (only the "
                    "changes since an earlier export). rostersync needs a OneRoster bulk set, in which "
                    "every file is complete: export a bulk (full) set and send it again",
                )
            )
        elif mode == "absent":
            plan.absent.append(spec.name)
            if present:
                value, row = plan.properties["file." + spec.name.removesuffix(".csv").lower()]
                plan.alerts.append(
                    _alert(
                        row,
                        spec.name,
                        value,
                        f"manifest.csv row {row} declares {spec.name} absent, but the file is in the "
                        "set; it was ignored and its data carried forward. Declare it bulk to send it.",
                    )
                )
        elif present or spec in required:
            plan.read.append(spec)
    return plan
