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
and columns (and, inside the value rules, over distinct values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync import gaps
from rostersync.cleaning import CONTROL_CHARACTERS, ValueCleaner, column_issues
from rostersync.formats.arrowops import (
    ArrayLike,
    Codes,
    as_array,
    combine_codes,
    encode,
    explode,
    filter_lists,
    first_mask,
    free_of_controls,
    may_hold_controls,
    repeated_mask,
)
from rostersync.formats.raw import (
    LIST_COLUMN_SUFFIX,
    LIST_ROW_SUFFIX,
    PERSON_NOTES,
    REJECTED_COLUMN,
    RawRoster,
    RawTable,
)
from rostersync.issues import ALERT, ERROR, ISSUE_SCHEMA, concat_issues
from rostersync.model import (
    ENTITY_BY_NAME,
    ROW_COLUMN,
    UNKNOWN_SCHEMA,
    conform,
    key_column,
)
from rostersync.roster import RosterSet

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


class _CodeCache:
    """Dictionary codes of a table's columns, computed once per column and shared by the
    duplicate and reference checks. A reference column is encoded together with the kept keys
    it must name (``known``), so the reference check needs no second hash pass."""

    def __init__(self, table: pa.Table, known: dict[str, pa.Array]) -> None:
        self.table = table
        self.known = known
        self.cache: dict[str, Codes] = {}

    def get(self, column: str) -> Codes:
        if column not in self.cache:
            self.cache[column] = encode(self.table.column(column), self.known.get(column))
        return self.cache[column]


def _ascending(table: pa.Table, key: list[str]) -> bool:
    """Whether the rows are in strictly ascending key order (column after column, as a sort
    would put them) with no key part null: then no two rows share a key, found with one
    comparison of neighbours instead of hashing every key. Exports are often sorted by ID; a
    first sample turns most unsorted tables away for almost nothing."""
    if any(table.column(k).null_count for k in key):
        return False
    return _ascending_rows(table.slice(0, 4096), key) and _ascending_rows(table, key)


def _ascending_rows(table: pa.Table, key: list[str]) -> bool:
    n = table.num_rows
    if n < 2:
        return True
    ordered: ArrayLike | None = None
    tied: ArrayLike | None = None
    for column in key:
        before, after = table.column(column).slice(0, n - 1), table.column(column).slice(1)
        less = pc.less(before, after)
        step = less if tied is None else pc.and_(tied, less)
        ordered = step if ordered is None else pc.or_(ordered, step)
        equal = pc.equal(before, after)
        tied = equal if tied is None else pc.and_(tied, equal)
    return bool(pc.all(ordered).as_py())


class _Validator:
    def __init__(self, raw: RawRoster, today: date, phone_region: str) -> None:
        self.raw = raw
        self.cleaner = ValueCleaner(today, phone_region)
        # Kept rows of each entity before conform (they still carry ``_row``), for the gap checks.
        self.kept: dict[str, pa.Table] = {}
        self.issues: list[pa.Table] = [raw.issues]
        self.unknown: list[pa.Table] = [raw.unknown]
        self.kept_keys: dict[str, pa.Array] = {}
        # Per entity: (key, row) of the rows left out because of their own errors.
        self.rejected: dict[str, pa.Table] = {}
        self.out: dict[str, pa.Table] = {}

    # -- helpers -------------------------------------------------------------------------------
    def _issue(
        self, raw: RawTable, table: pa.Table, mask: ArrayLike, column: str, severity: str, message: str
    ) -> None:
        self.issues += column_issues(raw, table, mask, column, message, severity)

    # -- errors --------------------------------------------------------------------------------
    def _control_ids(self, raw: RawTable, table: pa.Table) -> ArrayLike | None:
        """Rows whose key or a reference holds a control character (NUL, a line break...): an ID
        must be plain text, and a copy of one with an invisible byte would be a second record."""
        error: ArrayLike | None = None
        references = [r.column for r in REFERENCES if r.entity == raw.entity]
        for column in dict.fromkeys([*raw.spec.key, *references]):
            if column not in table.column_names or not pa.types.is_string(table.column(column).type):
                continue
            if free_of_controls(table.column(column)) or not may_hold_controls(table.column(column)):
                continue  # the common case, found by a byte scan instead of the regex
            bad = pc.fill_null(pc.match_substring_regex(table.column(column), CONTROL_CHARACTERS), False)
            if not pc.any(bad).as_py():
                continue
            header = raw.source(column).column
            self._issue(
                raw,
                table,
                bad,
                column,
                ERROR,
                f"{header} holds a control character (an invisible byte such as NUL, a tab or a line "
                "break); an ID must be plain text. The row was left out: remove the character in the "
                "export and send the file again.",
            )
            error = bad if error is None else pc.or_(error, bad)
        return error

    def _required(self, raw: RawTable, table: pa.Table) -> ArrayLike | None:
        error: ArrayLike | None = None
        singular = self._singular(raw.entity)
        columns = dict.fromkeys(raw.spec.key, None) | raw.required
        for column, custom in columns.items():
            if column not in table.column_names:
                continue
            missing = pc.is_null(table.column(column))
            if not pc.any(missing).as_py():
                continue
            header = raw.source(column).column
            message = custom or (
                f"Required value is missing: every {singular} needs {header}. The row was left out."
            )
            self._issue(raw, table, missing, column, ERROR, message)
            error = missing if error is None else pc.or_(error, missing)
        return error

    def _duplicates(
        self, raw: RawTable, table: pa.Table, codes: _CodeCache
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(error mask, repeat mask): all rows of a shared key, or repeats after the first."""
        key = list(raw.spec.key)
        if table.num_rows == 0 or raw.deduplicated or _ascending(table, key):
            return None, None
        if raw.unique:
            if len(key) == 1:
                mask = codes.get(key[0]).repeated()
            else:
                mask = repeated_mask(combine_codes([codes.get(k) for k in key]))
            if not mask.any():
                return None, None
            header = raw.source(key[0]).column
            self._issue(
                raw,
                table,
                pa.array(mask),
                key[0],
                ERROR,
                f"Another row of {raw.source(key[0]).file} has the same {header}; every row with "
                "this ID was left out until the duplicate is fixed.",
            )
            return mask, None
        if len(key) == 1:
            single = codes.get(key[0])
            first = first_mask(single.codes, ordered=single.ordered)
        else:
            first = first_mask(combine_codes([codes.get(k) for k in key]))
        if first.all():
            return None, None
        repeat = ~first
        headers = " and ".join(raw.source(c).column for c in key)
        singular = self._singular(raw.entity)
        self._issue(
            raw,
            table,
            pa.array(repeat),
            key[0],
            ALERT,
            f"This row repeats an earlier {singular} (same {headers}); the repeat was ignored.",
        )
        return None, repeat

    def _singular(self, entity: str) -> str:
        """The word for one record of ``entity`` as its file calls it: a section sent in a
        classes.csv (OneRoster, SDS) is a class."""
        raw = self.raw.tables.get(entity)
        if raw is not None and raw.file == "classes.csv":
            return "class"
        return SINGULAR[entity]

    def _noted(self, entity: str, values: ArrayLike) -> ArrayLike:
        notes = self.raw.notes.filter(pc.equal(self.raw.notes.column("entity"), entity))
        out: ArrayLike = pc.take(
            notes.column("note"), pc.index_in(values, value_set=as_array(notes.column("key")))
        )
        return out

    def _found(self, target: str, values: ArrayLike) -> ArrayLike:
        """What is true of each referenced value that is not a kept record of ``target``: a note
        about it for this entity, else the row that left it out, else a note about the person,
        else that it is missing."""
        file = self.raw.tables[target].file if target in self.raw.tables else target
        found = [self._noted(target, values)]
        rejected = self.rejected.get(target)
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
    ) -> None:
        n = len(values)
        found = self._found(target, values)
        message = pc.binary_join_element_wise(
            f"Refers to a {self._singular(target)} that ", found, f"; {outcome}.", ""
        )
        self.issues.append(
            pa.Table.from_arrays(
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
        )

    def _reference_sets(self, entity: str, table: pa.Table) -> dict[str, pa.Array]:
        """The kept keys each reference column of ``entity`` must name (for :class:`_CodeCache`)."""
        return {
            ref.column: self.kept_keys[ref.target]
            for ref in REFERENCES
            if ref.entity == entity and ref.column in table.column_names and ref.target in self.kept_keys
        }

    def _references(self, raw: RawTable, table: pa.Table, codes: _CodeCache) -> np.ndarray | None:
        error: np.ndarray | None = None
        for ref in REFERENCES:
            if ref.entity != raw.entity or ref.column not in table.column_names:
                continue
            if ref.target not in self.kept_keys:
                continue
            column = codes.get(ref.column)
            bad = (column.codes >= 0) & ~column.member_of(self.kept_keys[ref.target])
            if not bad.any():
                continue
            if ref.severity == ERROR:
                error = bad if error is None else error | bad
            hits = table.filter(pa.array(bad))
            src = raw.source(ref.column)
            row_column = src.row_column if src.row_column in hits.column_names else ROW_COLUMN
            self._reference_issues(
                ref.severity,
                src.file,
                hits.column(row_column),
                pa.repeat(pa.scalar(src.column), hits.num_rows),
                hits.column(ref.column),
                ref.target,
                OUTCOMES.get((ref.entity, ref.column), "the row was left out"),
            )
        return error

    # -- alerts --------------------------------------------------------------------------------
    def _formats(self, raw: RawTable, table: pa.Table) -> pa.Table:
        table, issues = self.cleaner.clean(raw, table)
        self.issues += issues
        return table

    def _list_references(self, raw: RawTable, table: pa.Table) -> pa.Table:
        for entity, column, target, noun in LIST_REFERENCES:
            if entity != raw.entity or column not in table.column_names or target not in self.kept_keys:
                continue
            parents, items = explode(table.column(column))
            keep = pc.is_in(items, value_set=self.kept_keys[target])
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
            self._reference_issues(
                ALERT,
                src.file,
                rows,
                headers,
                pc.filter(items, bad),
                target,
                OUTCOMES.get((entity, column), f"it was removed from this {self._singular(entity)}'s {noun}"),
            )
            index = table.column_names.index(column)
            table = table.set_column(index, column, filter_lists(table.column(column), keep))
            for suffix in (LIST_ROW_SUFFIX, LIST_COLUMN_SUFFIX):
                if column + suffix in table.column_names:
                    i = table.column_names.index(column + suffix)
                    table = table.set_column(i, column + suffix, filter_lists(table.column(i), keep))
        return table

    def _reader_rejected(self, raw: RawTable, table: pa.Table) -> ArrayLike | None:
        """Rows of ``table`` the reader rejected: those it flagged in ``_rejected`` when the table
        carries that flag; otherwise the rows of its file the reader reported as errors.

        The flag is exact and wins: a file can also carry errors about another entity read from
        the same rows (a Clever term whose year is unknown is reported on a sections.csv row
        whose section is kept), and those must not leave the row out.
        """
        if REJECTED_COLUMN in table.column_names:
            mask: ArrayLike = pc.fill_null(table.column(REJECTED_COLUMN), False)
            return mask if pc.any(mask).as_py() else None
        errors = self.raw.issues.filter(
            pc.and_(
                pc.equal(self.raw.issues.column("severity"), ERROR),
                pc.equal(self.raw.issues.column("file"), raw.file),
            )
        )
        if errors.num_rows == 0 or ROW_COLUMN not in table.column_names:
            return None
        rows = as_array(errors.column("row").drop_null())
        mask = pc.fill_null(pc.is_in(table.column(ROW_COLUMN), value_set=rows), False)
        return mask if pc.any(mask).as_py() else None

    # -- per entity ----------------------------------------------------------------------------
    def entity(self, raw: RawTable) -> None:
        table = raw.table
        spec = raw.spec
        flagged = None
        mask = self._reader_rejected(raw, table)
        if mask is not None:
            # Rows the reader already reported as errors (e.g. more values than the header has
            # columns): left out before any other check, since their values are not to be trusted.
            flagged = table.filter(mask)
            table = table.filter(pc.invert(mask))
        codes = _CodeCache(table, self._reference_sets(raw.entity, table))
        error = np.zeros(table.num_rows, dtype=bool)
        controls = self._control_ids(raw, table)
        if controls is not None:
            error |= as_array(controls).to_numpy(zero_copy_only=False).astype(bool)
        required = self._required(raw, table)
        if required is not None:
            error |= pc.fill_null(required, False).to_numpy(zero_copy_only=False)
        duplicate, repeat = self._duplicates(raw, table, codes)
        if duplicate is not None:
            error |= duplicate
        references = self._references(raw, table, codes)
        if references is not None:
            error |= references
        drop = error if repeat is None else error | repeat
        rejected = table.filter(pa.array(error))
        if flagged is not None:
            rejected = pa.concat_tables([flagged.select(rejected.column_names), rejected])
        if rejected.num_rows:
            keys = key_column(rejected, spec)
            self.unknown.append(
                pa.table({"entity": pa.repeat(pa.scalar(raw.entity), rejected.num_rows), "key": keys})
                .filter(pc.is_valid(keys))
                .cast(UNKNOWN_SCHEMA)
            )
        kept = table.filter(pa.array(~drop)) if drop.any() else table
        if len(spec.key) == 1:
            self.kept_keys[raw.entity] = as_array(kept.column(spec.key[0]).drop_null())
            self.rejected[raw.entity] = pa.table(
                {"key": rejected.column(spec.key[0]), "row": rejected.column(ROW_COLUMN)}
            ).filter(pc.is_valid(rejected.column(spec.key[0])))
        kept = self._formats(raw, kept)
        kept = self._list_references(raw, kept)
        self._gaps(raw, kept)
        self.kept[raw.entity] = kept
        self.out[raw.entity] = conform(kept, ENTITY_BY_NAME[raw.entity])

    def _gaps(self, raw: RawTable, kept: pa.Table) -> None:
        if raw.entity == "sections":
            teachers = self.raw.tables.get("teachers")
            self.issues += gaps.section_gaps(raw, kept, teachers.file if teachers else None)
        elif raw.entity == "contacts":
            self.issues += gaps.contact_gaps(raw, kept)

    def _school_gaps(self) -> None:
        schools, students = self.raw.tables.get("schools"), self.raw.tables.get("students")
        if schools is None or students is None or "schools" not in self.kept:
            return
        self.issues += gaps.school_gaps(schools, self.kept["schools"], self.out["students"], students.file)

    def run(self) -> tuple[dict[str, pa.Table], pa.Table, pa.Table]:
        for name in ORDER:
            if name in self.raw.tables:
                self.entity(self.raw.tables[name])
        self._school_gaps()
        unknown = pa.concat_tables(self.unknown)
        return self.out, concat_issues(self.issues), unknown


def validate(raw: RawRoster, *, received_at: datetime | None = None, phone_region: str = "US") -> LoadResult:
    """Validate ``raw`` into a canonical :class:`RosterSet` plus the issues table.

    ``received_at`` (default now) is also "today" for two-digit years; ``phone_region`` is how
    phone numbers without a country code are read (the district's ``phone_region`` setting).
    """
    when = received_at or datetime.now(UTC)
    tables, issues, unknown = _Validator(raw, when.date(), phone_region).run()
    roster = RosterSet(
        tables=tables,
        format=raw.format,
        unknown=unknown,
        missing=raw.missing,
        received_at={name: when for name in tables},
    )
    return LoadResult(roster=roster, issues=issues, format=raw.format, files=raw.files)
