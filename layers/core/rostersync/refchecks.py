"""Reference checks of validation: a row must name records that exist and were kept.

What each entity refers to (:data:`REFERENCES`, and :data:`LIST_REFERENCES` for list columns
such as a section's teachers), what a failed reference leaves out (:data:`OUTCOMES`), and the
message that says why the record named is not there: a note the reader left about it, the row
that left it out, a person sent with another role, or simply that it is missing. An entity's
reference columns arrive as codes encoded with every key of the entity they name
(:mod:`rostersync.rowchecks`), so a check is two numpy lookups against that entity's
:class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, Codes, as_array, explode, filter_lists
from rostersync.formats.raw import LIST_COLUMN_SUFFIX, LIST_ROW_SUFFIX, PERSON_NOTES, RawRoster, RawTable
from rostersync.issues import ALERT, ERROR, ISSUE_SCHEMA
from rostersync.model import ENTITY_BY_NAME, ROW_COLUMN

SINGULAR = {
    "schools": "school",
    "terms": "term",
    "courses": "course",
    "students": "student",
    "teachers": "teacher",
    "staff": "staff member",
    "contacts": "contact",
    "contact_links": "student-contact link",
    "sections": "section",
    "enrollments": "enrollment",
}


def singular(raw: RawRoster, entity: str) -> str:
    """The word for one record of ``entity`` as its file calls it: a section sent in a
    classes.csv (OneRoster, SDS) is a class."""
    table = raw.tables.get(entity)
    if table is not None and table.file == "classes.csv":
        return "class"
    return SINGULAR[entity]


@dataclass(frozen=True)
class Reference:
    """``entity.column`` must name a record of ``target``."""

    entity: str
    column: str
    target: str
    severity: str = ERROR


REFERENCES: tuple[Reference, ...] = (
    Reference("students", "school_id", "schools"),
    Reference("teachers", "school_id", "schools"),
    Reference("staff", "school_id", "schools"),
    Reference("sections", "school_id", "schools"),
    Reference("sections", "term_id", "terms", ALERT),
    Reference("sections", "course_id", "courses", ALERT),
    Reference("contact_links", "student_id", "students"),
    Reference("contact_links", "contact_id", "contacts"),
    Reference("enrollments", "section_id", "sections"),
    Reference("enrollments", "person_id", "students"),
)

# What a failed reference leaves out, said in the message (default: the row).
OUTCOMES: dict[tuple[str, str], str] = {
    ("students", "school_id"): "the student was left out",
    ("teachers", "school_id"): "the teacher was left out",
    ("staff", "school_id"): "the staff member was left out",
    ("sections", "school_id"): "the class was left out",
    ("sections", "term_id"): "the value was kept",
    ("sections", "course_id"): "the value was kept",
    ("contact_links", "student_id"): "only this student-contact link was left out",
    ("contact_links", "contact_id"): "only this student-contact link was left out",
    ("enrollments", "section_id"): "the enrollment was left out",
    ("enrollments", "person_id"): "the enrollment was left out",
    ("students", "school_ids"): "only this school was removed from the student's schools",
    ("teachers", "school_ids"): "only this school was removed from the teacher's schools",
    ("staff", "school_ids"): "only this school was removed from the staff member's schools",
    ("sections", "teacher_ids"): "only this teacher assignment was dropped from the class",
}

# List columns whose items must name records of the target; unknown items are dropped (alert).
LIST_REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("students", "school_ids", "schools", "schools"),
    ("teachers", "school_ids", "schools", "schools"),
    ("staff", "school_ids", "schools", "schools"),
    ("sections", "teacher_ids", "teachers", "teachers"),
)


@dataclass(frozen=True)
class Outcome:
    """What the entities that refer to a validated entity need of it: which rows of its
    ``raw.table`` were kept, its kept keys, and the (key, row) of the rows left out because of
    their own errors (the last two for single-key entities only)."""

    kept_rows: np.ndarray
    kept_keys: pa.Array | None
    rejected: pa.Table | None


class ReferenceChecks:
    """The reference checks of one validation run over ``raw`` (no state between calls)."""

    def __init__(self, raw: RawRoster) -> None:
        self.raw = raw

    def validated(self, target: str) -> bool:
        """Whether ``target`` is validated in this run with a single-column key (references to
        an entity that was not sent are not checked)."""
        raw = self.raw.tables.get(target)
        return raw is not None and len(raw.spec.key) == 1

    def references_of(self, entity: str, table: pa.Table) -> list[Reference]:
        """The references of ``entity`` this run checks on ``table``."""
        return [
            ref
            for ref in REFERENCES
            if ref.entity == entity and ref.column in table.column_names and self.validated(ref.target)
        ]

    def targets(self, entity: str) -> list[str]:
        """The entities whose :class:`Outcome` the checks of ``entity`` need."""
        found = [ref.target for ref in REFERENCES if ref.entity == entity]
        found += [target for owner, _, target, _ in LIST_REFERENCES if owner == entity]
        return [target for target in dict.fromkeys(found) if self.validated(target)]

    def check(
        self,
        raw: RawTable,
        table: pa.Table,
        codes: Mapping[str, Codes],
        outcomes: Mapping[str, Outcome],
        issues: list[pa.Table],
    ) -> np.ndarray | None:
        """Rows of ``table`` whose reference names no kept record (the error mask; alerts only
        report). ``codes``: the reference columns, encoded with every key of their target."""
        error: np.ndarray | None = None
        for ref in self.references_of(raw.entity, table):
            column = codes[ref.column]
            named = (
                column.member_where(outcomes[ref.target].kept_rows)
                if column.known_codes is not None
                else np.zeros(table.num_rows, dtype=bool)
            )
            bad = (column.codes >= 0) & ~named
            if not bad.any():
                continue
            if ref.severity == ERROR:
                error = bad if error is None else error | bad
            hits = table.filter(pa.array(bad))
            src = raw.source(ref.column)
            row_column = src.row_column if src.row_column in hits.column_names else ROW_COLUMN
            issues.append(
                self._reference_issues(
                    ref.severity,
                    src.file,
                    hits.column(row_column),
                    pa.repeat(pa.scalar(src.column), hits.num_rows),
                    hits.column(ref.column),
                    ref.target,
                    OUTCOMES.get((ref.entity, ref.column), "the row was left out"),
                    outcomes,
                )
            )
        return error

    def _noted(self, entity: str, values: ArrayLike) -> ArrayLike:
        notes = self.raw.notes.filter(pc.equal(self.raw.notes.column("entity"), entity))
        out: ArrayLike = pc.take(
            notes.column("note"), pc.index_in(values, value_set=as_array(notes.column("key")))
        )
        return out

    def _found(self, target: str, values: ArrayLike, outcomes: Mapping[str, Outcome]) -> ArrayLike:
        """What is true of each referenced value that is not a kept record of ``target``: a note
        about it for this entity, else the row that left it out, else a note about the person,
        else that it is missing."""
        file = self.raw.tables[target].file if target in self.raw.tables else target
        found = [self._noted(target, values)]
        rejected = outcomes[target].rejected if target in outcomes else None
        if rejected is not None and rejected.num_rows:
            row = pc.take(
                rejected.column("row"), pc.index_in(values, value_set=as_array(rejected.column("key")))
            )
            found.append(
                pc.binary_join_element_wise(
                    "was left out because of the error on row ", row.cast(pa.string()), f" of {file}", ""
                )
            )
        if ENTITY_BY_NAME[target].is_person:
            person = self._noted(PERSON_NOTES, values)
            found.append(pc.binary_join_element_wise(person, f", not a {SINGULAR[target]}", ""))
        found.append(pa.repeat(pa.scalar(f"is not in {file}"), len(values)))
        out: ArrayLike = pc.coalesce(*found)
        return out

    def _reference_issues(
        self,
        severity: str,
        file: str,
        rows: ArrayLike,
        columns: ArrayLike,
        values: ArrayLike,
        target: str,
        outcome: str,
        outcomes: Mapping[str, Outcome],
    ) -> pa.Table:
        n = len(values)
        found = self._found(target, values, outcomes)
        message = pc.binary_join_element_wise(
            f"Refers to a {singular(self.raw, target)} that ", found, f"; {outcome}.", ""
        )
        return pa.Table.from_arrays(
            [
                pa.repeat(pa.scalar(severity), n),
                pa.repeat(pa.scalar(file), n),
                as_array(rows).cast(pa.int64()),
                as_array(columns),
                as_array(values),
                as_array(message),
            ],
            schema=ISSUE_SCHEMA,
        )

    def list_references(
        self, raw: RawTable, table: pa.Table, outcomes: Mapping[str, Outcome], issues: list[pa.Table]
    ) -> pa.Table:
        """``table`` without the list items that name no kept record, each reported."""
        for entity, column, target, noun in LIST_REFERENCES:
            if entity != raw.entity or column not in table.column_names or target not in outcomes:
                continue
            kept_keys = outcomes[target].kept_keys
            parents, items = explode(table.column(column))
            keep = pc.is_in(items, value_set=kept_keys)
            if pc.all(keep).as_py() is not False:
                continue
            bad = pc.invert(keep)
            src = raw.source(column)
            bad_parents = pc.filter(parents, bad)
            n = len(bad_parents)
            if column + LIST_ROW_SUFFIX in table.column_names:
                rows = pc.filter(explode(table.column(column + LIST_ROW_SUFFIX))[1], bad)
            else:
                rows = pc.take(table.column(src.row_column), bad_parents)
            if column + LIST_COLUMN_SUFFIX in table.column_names:
                headers = pc.filter(explode(table.column(column + LIST_COLUMN_SUFFIX))[1], bad)
            else:
                headers = pa.repeat(pa.scalar(src.column), n)
            default = f"it was removed from this {singular(self.raw, entity)}'s {noun}"
            issues.append(
                self._reference_issues(
                    ALERT,
                    src.file,
                    rows,
                    headers,
                    pc.filter(items, bad),
                    target,
                    OUTCOMES.get((entity, column), default),
                    outcomes,
                )
            )
            index = table.column_names.index(column)
            table = table.set_column(index, column, filter_lists(table.column(column), keep))
            for suffix in (LIST_ROW_SUFFIX, LIST_COLUMN_SUFFIX):
                if column + suffix in table.column_names:
                    i = table.column_names.index(column + suffix)
                    table = table.set_column(i, column + suffix, filter_lists(table.column(i), keep))
        return table
