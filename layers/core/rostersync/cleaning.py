"""Value rules applied to every validated table, whatever the format: dates parsed (two-digit
years pivoted), malformed emails and phones cleared, phones split into number and extension, and
grades / sex / relationship / contact type put in the canonical vocabulary with the value as sent
kept in ``<column>_raw``. Every change is reported as an alert naming file, row, header and value;
the row is always kept. The rules themselves are in :mod:`rostersync.formats.values` and
:mod:`rostersync.formats.vocab`.
"""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, free_of_controls, may_hold_controls, null_where
from rostersync.formats.raw import RawTable
from rostersync.formats.values import TERM_WINDOW_YEARS, parse_dates, split_phones
from rostersync.formats.vocab import (
    CONTACT_TYPES,
    GRADE_LISTS,
    GRADES,
    RELATIONSHIPS,
    SEXES,
    Vocabulary,
    canonical,
)
from rostersync.issues import ALERT, row_issues
from rostersync.masking import masked
from rostersync.model import RAW_SUFFIX, ROW_COLUMN
from rostersync.redact import PERSONAL_COLUMNS
from rostersync.settings import EMAIL_PATTERN

_PERSON_VOCABULARY = {"grade": GRADE_LISTS, "gender": SEXES}
# Columns put in a canonical vocabulary, per entity; the value as sent goes to ``<column>_raw``.
VOCABULARY_COLUMNS: dict[str, dict[str, Vocabulary]] = {
    "schools": {"low_grade": GRADES, "high_grade": GRADES},
    "courses": {"grades": GRADE_LISTS},
    "sections": {"grade": GRADE_LISTS},
    "students": _PERSON_VOCABULARY,
    "teachers": _PERSON_VOCABULARY,
    "staff": _PERSON_VOCABULARY,
    "contacts": _PERSON_VOCABULARY,
    "contact_links": {"relationship": RELATIONSHIPS, "contact_type": CONTACT_TYPES},
}
_EXPECTED = {
    GRADES.name: "a grade code IT, PR, PK, TK, KG, 01-13, PS, UG or Other, or a spelling of one such "
    "as Kindergarten, K, 1, 1st or First grade",
    SEXES.name: "male, female, other or unspecified; M, F, X and U are read too",
    RELATIONSHIPS.name: ", ".join(RELATIONSHIPS.codes),
    CONTACT_TYPES.name: ", ".join(CONTACT_TYPES.codes),
}
BIRTH_DATE_COLUMNS = ("birth_date",)
# C0 controls and DEL. In an ID they are a row error (rostersync.validate); in any other value
# they are removed with an alert, tab and line breaks excepted (a quoted value may hold them).
CONTROL_CHARACTERS = "[\\x00-\\x1f\\x7f]"
STRAY_CONTROLS = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"
STRAY_ALLOWED = (0x09, 0x0A, 0x0D)  # what STRAY_CONTROLS leaves: tab, line feed, carriage return


def column_issues(
    raw: RawTable, table: pa.Table, mask: ArrayLike, column: str, message: str, severity: str = ALERT
) -> list[pa.Table]:
    """One issue (an alert unless ``severity`` says otherwise) per row of ``table`` under ``mask``,
    naming ``column``'s file, header and value (masked for a personal column)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return []
    src = raw.source(column)
    row_column = src.row_column if src.row_column in table.column_names else ROW_COLUMN
    issues = row_issues(
        table,
        mask,
        severity=severity,
        file=src.file,
        column=src.column,
        message=message,
        value_column=column,
        row_column=row_column,
    )
    if column in PERSONAL_COLUMNS:
        # Names, birth dates, phones and emails are never quoted (rostersync.redact).
        index = issues.column_names.index("value")
        issues = issues.set_column(index, "value", masked(issues.column("value")))
    return [issues]


Alerts: TypeAlias = list[pa.Table]


class ValueCleaner:
    """The value rules for one validation run (its "today" and the district's phone region).

    It keeps no state between calls, so several tables can be cleaned at once on threads."""

    def __init__(self, today: date, phone_region: str) -> None:
        self.today = today
        self.phone_region = phone_region

    def clean(self, raw: RawTable, table: pa.Table) -> tuple[pa.Table, Alerts]:
        """``table`` with dates parsed, bad emails and phones cleared, phones split, vocabulary
        columns canonical (``*_raw`` added); and the alerts raised."""
        issues: Alerts = []
        for step in (self._controls, self._dates, self._emails, self._phones, self._vocabulary, self._enums):
            table = step(raw, table, issues)
        return table, issues

    def _controls(self, raw: RawTable, table: pa.Table, issues: Alerts) -> pa.Table:
        """Control characters (NUL and the like) removed from every text value but the key,
        which :mod:`rostersync.validate` already refused if it held one."""
        for index, name in enumerate(table.column_names):
            values = table.column(index)
            if name in raw.spec.key or name.startswith("_") or not pa.types.is_string(values.type):
                continue
            if free_of_controls(values) or not may_hold_controls(values, allowed=STRAY_ALLOWED):
                continue  # the common case, found by a byte scan instead of the regex
            bad = pc.fill_null(pc.match_substring_regex(values, STRAY_CONTROLS), False)
            if not pc.any(bad).as_py():
                continue
            issues += column_issues(
                raw,
                table,
                bad,
                name,
                "This value held control characters (invisible bytes such as NUL); they were removed.",
            )
            table = table.set_column(index, name, pc.replace_substring_regex(values, STRAY_CONTROLS, ""))
        return table

    def _dates(self, raw: RawTable, table: pa.Table, issues: Alerts) -> pa.Table:
        names = table.column_names
        for fld in raw.spec.schema:
            if fld.type != pa.date32() or fld.name not in names:
                continue
            values = table.column(fld.name)
            if pa.types.is_date32(values.type):
                continue
            birth = fld.name in BIRTH_DATE_COLUMNS
            parsed = parse_dates(values, today=self.today, past_only=birth)
            bad = pc.and_(pc.is_valid(values), pc.is_null(parsed))
            pivot = "never in the future" if birth else f"within {TERM_WINDOW_YEARS} years of today"
            issues += column_issues(
                raw,
                table,
                bad,
                fld.name,
                "Not a valid date (use YYYY-MM-DD, MM/DD/YYYY or M/D/YY; a two-digit year is read "
                f"as the year {pivot}); the value was ignored.",
            )
            table = table.set_column(names.index(fld.name), fld.name, parsed)
        return table

    def _emails(self, raw: RawTable, table: pa.Table, issues: Alerts) -> pa.Table:
        names = table.column_names
        if "email" not in names:
            return table
        values = table.column("email")
        bad = pc.and_(pc.is_valid(values), pc.invert(pc.match_substring_regex(values, EMAIL_PATTERN)))
        if pc.any(bad).as_py():
            issues += column_issues(
                raw, table, bad, "email", "Not a valid email address; the value was ignored."
            )
            table = table.set_column(names.index("email"), "email", null_where(values, bad))
        return table

    def _phones(self, raw: RawTable, table: pa.Table, issues: Alerts) -> pa.Table:
        names = table.column_names
        if "phone" not in names:
            return table
        phones = split_phones(table.column("phone"), self.phone_region)
        issues += column_issues(
            raw,
            table,
            phones.wrong_length,
            "phone",
            "Not a valid phone number (it needs 7 to 15 digits); the value was ignored.",
        )
        issues += column_issues(
            raw,
            table,
            phones.unreadable,
            "phone",
            "Not a phone number that can be read without guessing (write the number in digits and "
            "an extension as x218, ext. 218 or #218); the value was ignored.",
        )
        table = table.set_column(names.index("phone"), "phone", phones.number)
        extension = pa.field("phone_extension", pa.string())
        return table.add_column(names.index("phone") + 1, extension, phones.extension)

    def _vocabulary(self, raw: RawTable, table: pa.Table, issues: Alerts) -> pa.Table:
        for column, vocabulary in VOCABULARY_COLUMNS.get(raw.entity, {}).items():
            if column not in table.column_names:
                continue
            values = table.column(column)
            mapped, unknown = canonical(values, vocabulary)
            issues += column_issues(
                raw,
                table,
                unknown,
                column,
                f"Not a known {vocabulary.name} (expected {_EXPECTED[vocabulary.name]}); it was kept "
                "as sent.",
            )
            table = table.set_column(table.column_names.index(column), column, mapped)
            table = table.append_column(column + RAW_SUFFIX, values)
        return table

    def _enums(self, raw: RawTable, table: pa.Table, issues: Alerts) -> pa.Table:
        names = table.column_names
        handled = VOCABULARY_COLUMNS.get(raw.entity, {})
        for column, allowed in raw.enums.items():
            if column not in names or column in handled:
                continue
            values = table.column(column)
            bad = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed))))
            issues += column_issues(
                raw,
                table,
                bad,
                column,
                f"Not one of the documented values ({', '.join(allowed)}); it was kept as sent.",
            )
        return table
