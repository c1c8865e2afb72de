"""Names that changed only by characters nobody can see: an alert at diff time.

Text is normalised when it is read (:func:`rostersync.formats.arrowops.normalise_text`: NFC,
zero-width and bidirectional characters removed, trimmed), so a new upload cannot smuggle those
in. A name can still differ from the accepted snapshot by something invisible:

- the accepted snapshot was written before that normalisation (it may hold a zero-width space or
  a bidirectional control), so today's clean upload "changes" the name;
- format characters the reader does not remove (other Unicode ``Cf`` characters such as the
  Arabic letter mark, invisible operators' neighbours, tag characters), fillers and variation
  selectors;
- a no-break or other special space inside the name, or a space doubled;
- a look-alike: a Cyrillic or Greek letter in place of the Latin one, a full-width or
  compatibility form (Unicode NFKC).

Such a change looks like nothing to an admin reading the changes CSV, yet vendors receive a new
value, and it is how a record can be made to look like another. :func:`name_change_alerts`
finds, among the *changed* records of a diff only, each human-readable name field (people's
first, middle and last names; the names of schools, terms, courses and sections) whose old and
new values become equal once those characters are folded away, and says so as an alert naming
the entity, the record ID and the field, never the value (:mod:`rostersync.redact`).

Look-alike letters: the mapping below covers the Cyrillic and Greek letters drawn exactly like a
Latin letter in common fonts (a subset of Unicode's confusables, UTS #39). A library was
considered: ``confusable_homoglyphs`` checks one string at a time in Python (no column form; its
last release is from January 2024) and PyICU's spoof checker needs a native ICU build far too
large for the Lambda layer, so the mapping is kept here, small and documented.

Everything is Arrow kernels over the changed rows; the look-alike folding is one
``str.translate`` over all of them joined (a single C call), never a loop over rows.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.changes import ChangeSet, EntityChanges
from rostersync.formats.arrowops import ArrayLike
from rostersync.issues import ALERT, ISSUE_SCHEMA, concat_issues, empty_issues
from rostersync.model import ENTITY_BY_NAME, key_column

# The human-readable name fields of each entity (IDs, codes and contact details are not names).
PERSON_NAME_FIELDS = ("first_name", "middle_name", "last_name")
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "schools": ("name",),
    "terms": ("name",),
    "courses": ("name",),
    "sections": ("name",),
    "students": PERSON_NAME_FIELDS,
    "teachers": PERSON_NAME_FIELDS,
    "staff": PERSON_NAME_FIELDS,
    "contacts": PERSON_NAME_FIELDS,
}

# Characters that draw nothing: every format character (Cf: zero-width, bidirectional controls,
# BOM, soft hyphen, the Arabic letter mark, tags...), the combining grapheme joiner, the Hangul
# fillers and the variation selectors.
FORMAT_CHARACTERS = r"[\p{Cf}\x{034F}\x{115F}\x{1160}\x{3164}\x{FFA0}\x{FE00}-\x{FE0F}\x{E0100}-\x{E01EF}]"
# Any run of spaces (no-break, en, em, thin, ideographic...), line or paragraph separators.
SPACES = r"[\p{Z}\t\n\v\f\r]+"

# Cyrillic and Greek letters drawn like a Latin letter (UTS #39 confusables, the exact look-alikes).
LOOKALIKES: dict[str, str] = {
    # Cyrillic capitals and small letters
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "І": "I", "Ј": "J", "Ѕ": "S", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    # Greek capitals and small letters
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o",
}  # fmt: skip
_TRANSLATION = str.maketrans(LOOKALIKES)
# Joins the values for the one translate call: a noncharacter, never in interchanged text.
_SEPARATOR = "\uffff"

_KIND_FORMAT = "invisible formatting characters (zero-width, bidirectional or other format controls)"
_KIND_SPACE = "a special space (a no-break or other unusual space, or a space doubled)"
_KIND_LOOKALIKE = "look-alike characters (a letter of another script, a full-width or compatibility form)"
_MESSAGE = (
    "Changed since the accepted version only by {kind}: it reads the same but is a different "
    "value for the systems that receive it. Check this record's name in the export."
)


def _fold_lookalikes(values: pa.Array) -> pa.Array:
    """``values`` (no nulls) with each look-alike letter replaced by its Latin letter."""
    if len(values) == 0 or pc.all(pc.string_is_ascii(values)).as_py():
        return values
    as_list = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    joined = pc.binary_join(as_list, _SEPARATOR)[0].as_py()
    folded = pa.array([str(joined).translate(_TRANSLATION)], pa.large_string())
    parts: pa.Array = pc.list_flatten(pc.split_pattern(folded, _SEPARATOR))
    return parts.cast(values.type)


def _steps(values: ArrayLike) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The value without format characters; then with its spaces made one plain space and
    trimmed; then in NFKC with look-alike letters folded."""
    text = pc.fill_null(values, "")
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    no_format = pc.replace_substring_regex(text, FORMAT_CHARACTERS, "")
    spaces = pc.utf8_trim_whitespace(pc.replace_substring_regex(no_format, SPACES, " "))
    folded = _fold_lookalikes(pc.utf8_normalize(spaces, form="NFKC"))
    return no_format, spaces, folded


def _field_alerts(ch: EntityChanges, field: str) -> pa.Table | None:
    """The alerts of one name field among the changed records of one entity (None: none)."""
    if ch.changed_new.num_rows == 0 or field not in ch.changed_new.column_names:
        return None
    new, old = ch.changed_new.column(field), ch.changed_old.column(field)
    differs = pc.not_equal(pc.fill_null(new, ""), pc.fill_null(old, ""))
    if not pc.any(differs).as_py():
        return None
    keys = pc.filter(key_column(ch.changed_new, ENTITY_BY_NAME[ch.entity]), differs)
    new_steps, old_steps = _steps(pc.filter(new, differs)), _steps(pc.filter(old, differs))
    same = [pc.equal(a, b) for a, b in zip(new_steps, old_steps, strict=True)]
    if not pc.any(same[2]).as_py():
        return None
    kind = pc.if_else(same[0], _KIND_FORMAT, pc.if_else(same[1], _KIND_SPACE, _KIND_LOOKALIKE))
    before, after = _MESSAGE.split("{kind}")
    message = pc.binary_join_element_wise(before, kind, after, "")
    hits = same[2]
    n = int(pc.sum(hits).as_py() or 0)
    return pa.Table.from_arrays(
        [
            pa.repeat(ALERT, n).cast(pa.string()),
            pa.repeat(ch.entity, n).cast(pa.string()),
            pa.nulls(n, pa.int64()),
            pa.repeat(field, n).cast(pa.string()),
            pc.filter(keys, hits),
            pc.filter(message, hits),
        ],
        schema=ISSUE_SCHEMA,
    )


def name_change_alerts(changes: ChangeSet) -> pa.Table:
    """One alert (:data:`rostersync.issues.ISSUE_SCHEMA`) per changed record and name field whose
    old and new values differ only by invisible characters, special spaces or look-alikes: the
    file column names the entity (the record type), the column the field, the value the record's
    ID (masked when it is not one ID, as every issue value), the row is empty (the record is
    compared across versions, not read from one row)."""
    found = [
        table
        for entity, fields in NAME_FIELDS.items()
        if entity in changes.entities
        for field in fields
        if (table := _field_alerts(changes[entity], field)) is not None
    ]
    return concat_issues(found) if found else empty_issues()
