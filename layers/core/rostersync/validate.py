"""Row-level validation of a raw roster: errors exclude rows, alerts keep them.

Errors (the row is left out and its key becomes *unknown*, never *removed*): a required value is
empty, an ID is used by more than one row, or a row refers to a record that does not exist or was
itself left out (so an error cascades: a school with a duplicate ID takes its students with it, and
their enrollments with them). Alerts (the row is kept): malformed email, phone or date (the value is
cleared), a value outside a documented enumeration (kept as sent), a repeated enrollment or contact
link (the repeat is dropped), a section teacher who is not in the teachers file (dropped from
the list), and the gaps a vendor's product would trip over (a class without a course or without a
teacher, a school without students, a contact that cannot be reached). Grades, sex and contact
relationship/type are put in the canonical vocabulary with the value as sent kept in
``<column>_raw``. The value rules are in :mod:`rostersync.cleaning`, the gap checks in
:mod:`rostersync.gaps`.
Everything is computed with whole-column Arrow kernels; the only Python loops are over entities
and columns (and, inside the value rules, over distinct values). The checks themselves are in
:mod:`rostersync.rowchecks` and :mod:`rostersync.refchecks`; this module runs them, two entities
(or two columns) at a time on two threads where they do not depend on each other
(:mod:`rostersync.taskgraph`), and puts the issues together in the same order as checking one
entity after the other would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from rostersync import gaps
from rostersync.formats.arrowops import Codes
from rostersync.formats.raw import RawRoster
from rostersync.issues import ALERT, ERROR, concat_issues
from rostersync.refchecks import (  # re-exported: the public names of validation
    LIST_REFERENCES,
    OUTCOMES,
    REFERENCES,
    SINGULAR,
    Reference,
)
from rostersync.roster import RosterSet
from rostersync.rowchecks import Checked, Prepared, RowChecks, Validated, _ascending
from rostersync.taskgraph import Task, run_tasks

__all__ = [
    "LIST_REFERENCES",
    "ORDER",
    "OUTCOMES",
    "REFERENCES",
    "SINGULAR",
    "LoadResult",
    "Reference",
    "_ascending",
    "validate",
]

# Entities in dependency order: every reference points to an entity validated earlier.
ORDER = (
    "schools",
    "terms",
    "courses",
    "students",
    "teachers",
    "staff",
    "contacts",
    "sections",
    "contact_links",
    "enrollments",
)

# Threads validation runs on (the heavy work releases the GIL), from how many rows in all it is
# worth a second thread (below, one thread: a small district's validation takes a tenth of a
# second, and a second thread on a busy machine costs more than it saves), and the size from
# which an entity's columns are encoded as tasks of their own so that two can be encoded at once.
WORKERS = min(2, os.cpu_count() or 1)
PARALLEL_ROWS = 2_000_000
SPLIT_ROWS = 200_000


@dataclass
class LoadResult:
    """A validated roster, every issue found, the format and which file each entity came from."""

    roster: RosterSet
    issues: pa.Table
    format: str
    files: dict[str, str] = field(default_factory=dict)

    def _count(self, severity: str) -> int:
        if self.issues.num_rows == 0:
            return 0
        return int(pc.sum(pc.equal(self.issues.column("severity"), severity)).as_py() or 0)

    @property
    def error_count(self) -> int:
        return self._count(ERROR)

    @property
    def alert_count(self) -> int:
        return self._count(ALERT)

    def issue_counts(self) -> dict[str, int]:
        return {ERROR: self.error_count, ALERT: self.alert_count}


# A task of validation: (step, entity, column or ""), the step one of prepared, encode, check,
# finish.
Key: TypeAlias = tuple[str, str, str]


class _Validator:
    def __init__(self, raw: RawRoster, today: date, phone_region: str, workers: int) -> None:
        self.raw = raw
        self.checks = RowChecks(raw, today, phone_region)
        self.workers = workers

    def _tasks(self, names: list[str]) -> dict[Key, Task[Key]]:
        """Per entity: its large columns' encodings, its own checks, then its finish (after the
        entities it refers to). Listed in the order to start them when several are ready: the
        largest encodings and checks first (they need nothing), then the finishes in ORDER."""
        prepared = {name: self.checks.prepare(self.raw.tables[name]) for name in names}
        by_size = sorted(names, key=lambda name: -prepared[name].table.num_rows)
        encodes: dict[Key, Task[Key]] = {}
        checks: dict[Key, Task[Key]] = {}
        for name in by_size:
            entity = prepared[name]
            split = entity.table.num_rows >= SPLIT_ROWS
            columns = self.checks.encodings(entity) if split else []
            for column in columns:
                encodes[("encode", name, column)] = Task(
                    partial(self._encode, column), [("prepared", name, "")]
                )
            checks[("check", name, "")] = Task(
                partial(self._check, columns),
                [("prepared", name, ""), *(("encode", name, c) for c in columns)],
            )
        finishes: dict[Key, Task[Key]] = {}
        for name in names:
            targets = [target for target in self.checks.targets(name) if target in prepared]
            finishes[("finish", name, "")] = Task(
                partial(self._finish, targets), [("check", name, ""), *(("finish", t, "") for t in targets)]
            )
        given: dict[Key, Task[Key]] = {
            ("prepared", name, ""): Task(lambda entity=prepared[name]: entity) for name in names
        }
        return given | encodes | checks | finishes

    def _encode(self, column: str, prepared: Prepared) -> Codes:
        return self.checks.encode(prepared, column)

    def _check(self, columns: list[str], prepared: Prepared, *codes: Codes) -> Checked:
        return self.checks.check(prepared, dict(zip(columns, codes, strict=True)))

    def _finish(self, names: list[str], checked: Checked, *targets: Validated) -> Validated:
        outcomes = {name: target.outcome for name, target in zip(names, targets, strict=True)}
        return self.checks.finish(checked, outcomes)

    def run(self) -> tuple[dict[str, pa.Table], pa.Table, pa.Table]:
        names = [name for name in ORDER if name in self.raw.tables]
        results: dict[Key, Any] = run_tasks(
            self._tasks(names), workers=self.workers, keep=lambda key: key[0] == "finish"
        )
        validated: dict[str, Validated] = {name: results[("finish", name, "")] for name in names}
        issues = [self.raw.issues]
        unknown = [self.raw.unknown]
        for name in names:
            issues += validated[name].issues
            if validated[name].unknown is not None:
                unknown.append(validated[name].unknown)
        issues += self._school_gaps(validated)
        out = {name: validated[name].out for name in names}
        return out, concat_issues(issues), pa.concat_tables(unknown)

    def _school_gaps(self, validated: dict[str, Validated]) -> list[pa.Table]:
        schools, students = self.raw.tables.get("schools"), self.raw.tables.get("students")
        if schools is None or students is None:
            return []
        return gaps.school_gaps(schools, validated["schools"].kept, validated["students"].out, students.file)


def validate(
    raw: RawRoster,
    *,
    received_at: datetime | None = None,
    phone_region: str = "US",
    workers: int | None = None,
) -> LoadResult:
    """Validate ``raw`` into a canonical :class:`RosterSet` plus the issues table.

    ``received_at`` (default now) is also "today" for two-digit years; ``phone_region`` is how
    phone numbers without a country code are read (the district's ``phone_region`` setting).
    ``workers``: threads to check on (default :data:`WORKERS` from :data:`PARALLEL_ROWS` rows in
    all, else one); the result does not depend on it.
    """
    when = received_at or datetime.now(UTC)
    if workers is None:
        rows = sum(table.table.num_rows for table in raw.tables.values())
        workers = WORKERS if rows >= PARALLEL_ROWS else 1
    validator = _Validator(raw, when.date(), phone_region, workers)
    tables, issues, unknown = validator.run()
    roster = RosterSet(
        tables=tables,
        format=raw.format,
        unknown=unknown,
        missing=raw.missing,
        received_at={name: when for name in tables},
    )
    return LoadResult(roster=roster, issues=issues, format=raw.format, files=raw.files)
