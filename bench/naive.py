"""A plain pure-Python diff of two roster CSV sets: the baseline the Arrow path is measured against.

Reads every file of both days with the ``csv`` module into dicts keyed by record ID, one per
entity, and compares them field by field: added, removed, changed (and which fields). It is what
one writes first, not a straw man: rows are kept as lists rather than ``DictReader`` dicts, whole
rows are compared in one ``!=`` before looking for the fields that differ, and nothing is
validated or normalised. Clever's ``students.csv`` is split into students, contacts and
student-contact links the way the product does; OneRoster files are keyed by ``sourcedId``.

    python bench/naive.py DAY1_DIR DAY2_DIR [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

Key = str | tuple[str, ...]

# Clever: entity -> (file, key columns); students.csv is split below.
CLEVER_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "schools": ("schools.csv", ("School_id",)),
    "teachers": ("teachers.csv", ("Teacher_id",)),
    "staff": ("staff.csv", ("Staff_id",)),
    "sections": ("sections.csv", ("Section_id",)),
    "enrollments": ("enrollments.csv", ("Section_id", "Student_id")),
}
CONTACT_FIELDS = ("Contact_name", "Contact_phone", "Contact_phone_type", "Contact_email")
LINK_FIELDS = ("Contact_type", "Contact_relationship")
ONEROSTER_FILES = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "roles",
    "enrollments",
    "demographics",
)


@dataclass
class Records:
    """One entity of one day: its field names and rows keyed by ID."""

    header: list[str]
    rows: dict[Key, list[str]] = field(default_factory=dict)


@dataclass
class EntityDiff:
    added: int = 0
    removed: int = 0
    changed: int = 0
    fields: Counter[str] = field(default_factory=Counter)


def _reader(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        yield from csv.reader(fh)


def _read_keyed(path: Path, key: tuple[str, ...]) -> Records:
    rows = _reader(path)
    header = next(rows)
    at = [header.index(k) for k in key]
    records = Records(header)
    out = records.rows
    if len(at) == 1:
        i = at[0]
        for row in rows:
            out[row[i]] = row
    else:
        for row in rows:
            out[tuple(row[j] for j in at)] = row
    return records


def _read_clever_students(path: Path) -> dict[str, Records]:
    rows = _reader(path)
    header = next(rows)
    student_cols = [i for i, h in enumerate(header) if not h.startswith("Contact_")]
    contact_cols = [header.index(h) for h in CONTACT_FIELDS]
    link_cols = [header.index(h) for h in LINK_FIELDS]
    sid, cid = header.index("Student_id"), header.index("Contact_sis_id")
    students = Records([header[i] for i in student_cols])
    contacts = Records(list(CONTACT_FIELDS))
    links = Records(list(LINK_FIELDS))
    s_rows, c_rows, l_rows = students.rows, contacts.rows, links.rows
    for row in rows:
        student = row[sid]
        if student not in s_rows:  # the student's columns repeat on every contact row
            s_rows[student] = [row[i] for i in student_cols]
        contact = row[cid]
        if contact:
            if contact not in c_rows:
                c_rows[contact] = [row[i] for i in contact_cols]
            l_rows[(student, contact)] = [row[i] for i in link_cols]
    return {"students": students, "contacts": contacts, "contact_links": links}


def read_entities(directory: Path) -> dict[str, Records]:
    """Every entity of one day's file set (Clever if it has students.csv, else OneRoster)."""
    if (directory / "students.csv").exists():
        entities = {
            name: _read_keyed(directory / file, key)
            for name, (file, key) in CLEVER_FILES.items()
            if (directory / file).exists()
        }
        entities.update(_read_clever_students(directory / "students.csv"))
        return entities
    return {
        name: _read_keyed(directory / f"{name}.csv", ("sourcedId",))
        for name in ONEROSTER_FILES
        if (directory / f"{name}.csv").exists()
    }


def diff_records(old: Records, new: Records) -> EntityDiff:
    result = EntityDiff()
    if new.header != old.header:  # same columns in another order: compare by name
        order = [new.header.index(h) if h in new.header else None for h in old.header]
        new_rows = {k: [row[i] if i is not None else "" for i in order] for k, row in new.rows.items()}
    else:
        new_rows = new.rows
    old_rows = old.rows
    header = old.header
    for key, row in new_rows.items():
        before = old_rows.get(key)
        if before is None:
            result.added += 1
        elif before != row:
            result.changed += 1
            result.fields.update(h for h, a, b in zip(header, before, row, strict=True) if a != b)
    result.removed = sum(1 for key in old_rows if key not in new_rows)
    return result


def naive_diff(day1: Path, day2: Path) -> dict[str, object]:
    """Read both days and diff them; returns counts per entity and the wall times."""
    start = time.perf_counter()
    old = read_entities(day1)
    new = read_entities(day2)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    diffs = {name: diff_records(old[name], new[name]) for name in new if name in old}
    compare_s = time.perf_counter() - start
    rows = sum(len(r.rows) for r in old.values()) + sum(len(r.rows) for r in new.values())
    return {
        "read_s": read_s,
        "compare_s": compare_s,
        "total_s": read_s + compare_s,
        "records": rows,
        "entities": {
            name: {
                "added": d.added,
                "removed": d.removed,
                "changed": d.changed,
                "fields": dict(d.fields.most_common()),
            }
            for name, d in diffs.items()
        },
    }


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day1", type=Path)
    parser.add_argument("day2", type=Path)
    parser.add_argument("--json", type=Path, help="write the result here as JSON")
    args = parser.parse_args(argv)
    result = naive_diff(args.day1, args.day2)
    result["peak_rss_bytes"] = peak_rss_bytes()
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
