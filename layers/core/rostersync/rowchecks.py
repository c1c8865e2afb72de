"""The row checks of validation, entity by entity (:mod:`rostersync.validate` runs them in order).

Each entity is checked in two steps. :meth:`RowChecks.check` needs nothing but the entity's own
rows: the rows the reader rejected, control characters in IDs, missing required values, IDs used
twice. Its reference columns are dictionary-encoded there too, together with every key of the
entity each one names (known before any entity is validated), so that :meth:`RowChecks.finish`,
once those entities are validated, tells which references name a kept record with two numpy
lookups instead of a second hash pass (:mod:`rostersync.refchecks`). ``finish`` then leaves the
erroneous rows out, applies the value rules (:mod:`rostersync.cleaning`), drops list items that
name no kept record and reports the gaps (:mod:`rostersync.gaps`). Whole-column Arrow kernels;
the only Python loops are over columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

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
    composite_first_mask,
    encode,
    first_mask,
    free_of_controls,
    may_hold_controls,
    repeated_mask,
)
from rostersync.formats.raw import REJECTED_COLUMN, RawRoster, RawTable
from rostersync.issues import ALERT, ERROR
from rostersync.model import ENTITY_BY_NAME, ROW_COLUMN, UNKNOWN_SCHEMA, conform, key_column
from rostersync.refchecks import REFERENCES, Outcome, ReferenceChecks, singular


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


@dataclass(frozen=True)
class Prepared:
    """An entity's rows once those the reader rejected are set aside (``flagged``).

    ``positions``: the row of ``raw.table`` each row of ``table`` is (None: the same rows).
    ``duplicates``: whether its key must be checked for duplicates by hashing."""

    raw: RawTable
    table: pa.Table
    flagged: pa.Table | None
    positions: np.ndarray | None
    duplicates: bool


@dataclass(frozen=True)
class Checked:
    """An entity after the checks that need no other entity: the issues so far, the rows with
    an error, the rows that repeat an earlier one, and its encoded key and reference columns."""

    prepared: Prepared
    codes: dict[str, Codes]
    issues: list[pa.Table]
    error: np.ndarray
    repeat: np.ndarray | None


@dataclass(frozen=True)
class Validated:
    """A validated entity: its issues, its unknown keys, its kept rows (still with ``_row``, for
    the school gaps), the canonical table and what later entities need (:class:`Outcome`)."""

    issues: list[pa.Table]
    unknown: pa.Table | None
    kept: pa.Table
    out: pa.Table
    outcome: Outcome


class RowChecks:
    """The checks of one validation run over ``raw``. Holds no state between calls: entities
    can be checked on several threads at once."""

    def __init__(self, raw: RawRoster, today: date, phone_region: str) -> None:
        self.raw = raw
        self.cleaner = ValueCleaner(today, phone_region)
        self.references = ReferenceChecks(raw)

    # -- what an entity needs ------------------------------------------------------------------
    def targets(self, entity: str) -> list[str]:
        """The entities whose :class:`Outcome` :meth:`finish` needs for ``entity``."""
        return self.references.targets(entity)

    def _known(self, target: str) -> ArrayLike:
        raw = self.raw.tables[target]
        return raw.table.column(raw.spec.key[0])

    def encodings(self, prepared: Prepared) -> list[str]:
        """The columns :meth:`check` and :meth:`finish` work on as codes."""
        columns = list(prepared.raw.spec.key) if prepared.duplicates else []
        columns += [ref.column for ref in self.references.references_of(prepared.raw.entity, prepared.table)]
        return list(dict.fromkeys(columns))

    def encode(self, prepared: Prepared, column: str) -> Codes:
        """``column`` as codes; a reference column together with every key of its target."""
        targets = [
            ref.target
            for ref in self.references.references_of(prepared.raw.entity, prepared.table)
            if ref.column == column
        ]
        known = self._known(targets[0]) if targets else None
        return encode(prepared.table.column(column), known)

    # -- step 1: the entity alone --------------------------------------------------------------
    def prepare(self, raw: RawTable) -> Prepared:
        table = raw.table
        mask = self._reader_rejected(raw, table)
        flagged = positions = None
        if mask is not None:
            # Rows the reader already reported as errors (e.g. more values than the header has
            # columns): left out before any other check, since their values are not to be trusted.
            flagged = table.filter(mask)
            keep = pc.invert(mask)
            positions = np.flatnonzero(as_array(keep).to_numpy(zero_copy_only=False))
            table = table.filter(keep)
        key = list(raw.spec.key)
        duplicates = not (table.num_rows == 0 or raw.deduplicated or _ascending(table, key))
        return Prepared(raw, table, flagged, positions, duplicates)

    def check(self, prepared: Prepared, codes: Mapping[str, Codes]) -> Checked:
        """The checks that need no other entity; ``codes`` may hold some of :meth:`encodings`
        already (the rest are encoded here)."""
        every = {c: codes[c] if c in codes else self.encode(prepared, c) for c in self.encodings(prepared)}
        raw, table = prepared.raw, prepared.table
        issues: list[pa.Table] = []
        error = np.zeros(table.num_rows, dtype=bool)
        controls = self._control_ids(raw, table, issues)
        if controls is not None:
            error |= as_array(controls).to_numpy(zero_copy_only=False).astype(bool)
        required = self._required(raw, table, issues)
        if required is not None:
            error |= pc.fill_null(required, False).to_numpy(zero_copy_only=False)
        duplicate, repeat = self._duplicates(prepared, every, issues)
        if duplicate is not None:
            error |= duplicate
        return Checked(prepared, every, issues, error, repeat)

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

    def _control_ids(self, raw: RawTable, table: pa.Table, issues: list[pa.Table]) -> ArrayLike | None:
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
            issues += column_issues(
                raw,
                table,
                bad,
                column,
                f"{header} holds a control character (an invisible byte such as NUL, a tab or a line "
                "break); an ID must be plain text. The row was left out: remove the character in the "
                "export and send the file again.",
                ERROR,
            )
            error = bad if error is None else pc.or_(error, bad)
        return error

    def _required(self, raw: RawTable, table: pa.Table, issues: list[pa.Table]) -> ArrayLike | None:
        error: ArrayLike | None = None
        noun = singular(self.raw, raw.entity)
        columns = dict.fromkeys(raw.spec.key, None) | raw.required
        for column, custom in columns.items():
            if column not in table.column_names:
                continue
            missing = pc.is_null(table.column(column))
            if not pc.any(missing).as_py():
                continue
            header = raw.source(column).column
            message = custom or (
                f"Required value is missing: every {noun} needs {header}. The row was left out."
            )
            issues += column_issues(raw, table, missing, column, message, ERROR)
            error = missing if error is None else pc.or_(error, missing)
        return error

    def _duplicates(
        self, prepared: Prepared, codes: Mapping[str, Codes], issues: list[pa.Table]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(error mask, repeat mask): all rows of a shared key, or repeats after the first."""
        raw, table = prepared.raw, prepared.table
        key = list(raw.spec.key)
        if not prepared.duplicates:
            return None, None
        if raw.unique:
            if len(key) == 1:
                mask = codes[key[0]].repeated()
            else:
                mask = repeated_mask(combine_codes([codes[k] for k in key]))
            if not mask.any():
                return None, None
            header = raw.source(key[0]).column
            issues += column_issues(
                raw,
                table,
                pa.array(mask),
                key[0],
                f"Another row of {raw.source(key[0]).file} has the same {header}; every row with "
                "this ID was left out until the duplicate is fixed.",
                ERROR,
            )
            return mask, None
        if len(key) == 1:
            single = codes[key[0]]
            first = first_mask(single.codes, ordered=single.ordered)
        else:
            first = composite_first_mask([codes[k] for k in key])
        if first.all():
            return None, None
        repeat = ~first
        headers = " and ".join(raw.source(c).column for c in key)
        noun = singular(self.raw, raw.entity)
        issues += column_issues(
            raw,
            table,
            pa.array(repeat),
            key[0],
            f"This row repeats an earlier {noun} (same {headers}); the repeat was ignored.",
            ALERT,
        )
        return None, repeat

    # -- step 2: with the entities it refers to ------------------------------------------------
    def finish(self, checked: Checked, outcomes: Mapping[str, Outcome]) -> Validated:
        """Reference checks against the validated ``outcomes`` (every entity of :meth:`targets`),
        then the rows left out, the value rules, the list references and the gaps."""
        prepared = checked.prepared
        raw, table, spec = prepared.raw, prepared.table, prepared.raw.spec
        issues = list(checked.issues)
        error = checked.error
        references = self.references.check(raw, table, checked.codes, outcomes, issues)
        if references is not None:
            error = error | references
        drop = error if checked.repeat is None else error | checked.repeat
        rejected = table.filter(pa.array(error))
        if prepared.flagged is not None:
            rejected = pa.concat_tables([prepared.flagged.select(rejected.column_names), rejected])
        unknown = None
        if rejected.num_rows:
            keys = key_column(rejected, spec)
            unknown = (
                pa.table({"entity": pa.repeat(pa.scalar(raw.entity), rejected.num_rows), "key": keys})
                .filter(pc.is_valid(keys))
                .cast(UNKNOWN_SCHEMA)
            )
        kept = table.filter(pa.array(~drop)) if drop.any() else table
        outcome = self._outcome(prepared, drop, kept, rejected)
        kept, alerts = self.cleaner.clean(raw, kept)
        issues += alerts
        kept = self.references.list_references(raw, kept, outcomes, issues)
        issues += self._gaps(raw, kept)
        return Validated(issues, unknown, kept, conform(kept, ENTITY_BY_NAME[raw.entity]), outcome)

    def _outcome(self, prepared: Prepared, drop: np.ndarray, kept: pa.Table, rejected: pa.Table) -> Outcome:
        kept_rows = ~drop
        if prepared.positions is not None:
            kept_rows = np.zeros(prepared.raw.table.num_rows, dtype=bool)
            kept_rows[prepared.positions] = ~drop
        key = prepared.raw.spec.key
        if len(key) != 1:
            return Outcome(kept_rows, None, None)
        rejected_keys = pa.table({"key": rejected.column(key[0]), "row": rejected.column(ROW_COLUMN)})
        return Outcome(
            kept_rows,
            as_array(kept.column(key[0]).drop_null()),
            rejected_keys.filter(pc.is_valid(rejected.column(key[0]))),
        )

    def _gaps(self, raw: RawTable, kept: pa.Table) -> list[pa.Table]:
        if raw.entity == "sections":
            teachers = self.raw.tables.get("teachers")
            return gaps.section_gaps(raw, kept, teachers.file if teachers else None)
        if raw.entity == "contacts":
            return gaps.contact_gaps(raw, kept)
        return []
