"""One canonical vocabulary for grades, sex and contact type/relationship, whatever the format.

Each :class:`Vocabulary` is a table: its canonical codes and the spellings real files use for
them. Spellings are matched after :func:`spelling_key` (lower case, letters and digits only), so
``Pre-K``, ``pre k`` and ``PreK`` are one spelling. Mapping is vectorised: only the distinct values
of a column are looked up (a grade column of 600k rows has a few dozen), then the answers are put
back with ``take``. A value no table knows is kept exactly as sent and reported, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array
from rostersync.model import CONTACT_TYPES as CONTACT_TYPE_CODES
from rostersync.model import RELATIONSHIPS as RELATIONSHIP_CODES

_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def spelling_key(value: str) -> str:
    """``value`` lower-cased with everything but letters and digits removed."""
    return _NOT_ALNUM.sub("", value.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Canonical codes and the spellings that map to each (keys as :func:`spelling_key` gives)."""

    name: str
    codes: tuple[str, ...]
    spellings: dict[str, str]
    # True: a value may list several codes separated by commas (OneRoster ``grades``).
    multi: bool = False

    def lookup(self, value: str) -> str | None:
        """The canonical form of one value, or None if any part of it is unknown."""
        if not self.multi:
            return self.spellings.get(spelling_key(value))
        parts = [self.spellings.get(spelling_key(p)) for p in value.split(",") if p.strip()]
        if not parts or any(p is None for p in parts):
            return None
        return ",".join(p for p in parts if p is not None)

    def as_multi(self) -> Vocabulary:
        return Vocabulary(self.name, self.codes, self.spellings, multi=True)


def _table(codes: Iterable[str], aliases: dict[str, Iterable[str]]) -> dict[str, str]:
    table = {spelling_key(c): c for c in codes}
    for code, spellings in aliases.items():
        for spelling in spellings:
            table[spelling_key(spelling)] = code
    return table


# --- grades: CEDS / OneRoster grade-level codes -------------------------------------------------
GRADE_CODES = (
    "IT",
    "PR",
    "PK",
    "TK",
    "KG",
    *(f"{g:02d}" for g in range(1, 14)),
    "PS",
    "UG",
    "Other",
)
_ORDINALS = ("1st", "2nd", "3rd", *(f"{g}th" for g in range(4, 14)))
_WORDS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
)


def _numbered_grades() -> dict[str, list[str]]:
    """``1``, ``01``, ``1st``, ``First``, each alone, as ``Grade 1`` and as ``1st grade``."""
    aliases: dict[str, list[str]] = {}
    for g in range(1, 14):
        names = [str(g), f"{g:02d}", _ORDINALS[g - 1], _WORDS[g - 1]]
        aliases[f"{g:02d}"] = [form for n in names for form in (n, f"grade {n}", f"{n} grade")]
    return aliases


GRADES = Vocabulary(
    "grade",
    GRADE_CODES,
    _table(
        GRADE_CODES,
        {
            "IT": ["Infant/toddler", "InfantToddler", "Infant Toddler", "Infants/toddlers"],
            "PR": ["Preschool", "Pre-school"],
            "PK": ["Pre-K", "PreK", "Pre-Kindergarten", "PreKindergarten", "Prekinder"],
            "TK": ["Transitional Kindergarten", "TransitionalKindergarten", "Transitional K"],
            "KG": ["K", "Kindergarten", "Kinder", "0", "00", "Grade K", "Grade 0"],
            **_numbered_grades(),
            "PS": ["Postsecondary", "Post-secondary", "PostGraduate", "Post graduate"],
            "UG": ["Ungraded", "Un-graded"],
            "Other": ["Other"],
        },
    ),
)
GRADE_LISTS = GRADES.as_multi()

# --- sex ----------------------------------------------------------------------------------------
SEX_CODES = ("male", "female", "other", "unspecified")
SEXES = Vocabulary(
    "sex",
    SEX_CODES,
    _table(
        SEX_CODES,
        {
            "male": ["M", "Man", "Boy"],
            "female": ["F", "Woman", "Girl"],
            "other": ["X", "O", "Non-binary", "Nonbinary"],
            "unspecified": ["U", "Unknown", "Not specified", "Not stated"],
        },
    ),
)

# --- contacts -----------------------------------------------------------------------------------
# Clever's relationship values plus the OneRoster agent roles (parent, guardian, relative), so a
# Clever "Parent" and a OneRoster parent are the same value.
RELATIONSHIPS = Vocabulary(
    "relationship",
    RELATIONSHIP_CODES,
    _table(
        RELATIONSHIP_CODES,
        {
            "Parent": ["Mother", "Father", "Mom", "Dad", "Stepmother", "Stepfather", "Stepparent"],
            "Guardian": ["Legal guardian"],
            "Grandparent": ["Grandmother", "Grandfather", "Grandma", "Grandpa"],
            "Aunt/Uncle": ["Aunt", "Uncle", "Aunt or uncle"],
            "Sibling": ["Brother", "Sister"],
        },
    ),
)
# Clever's contact types (OneRoster has none: its contacts have no contact type).
CONTACT_TYPES = Vocabulary(
    "contact type",
    CONTACT_TYPE_CODES,
    _table(
        CONTACT_TYPE_CODES, {"Emergency": ["Emergency contact"], "Parent/Guardian": ["Parent or guardian"]}
    ),
)


def canonical(values: ArrayLike, vocabulary: Vocabulary) -> tuple[pa.Array, pa.Array]:
    """(canonical values, mask of values the vocabulary does not know).

    Unknown values are kept as sent; nulls stay null and are never unknown. Only the distinct
    values are looked up.
    """
    arr = as_array(values)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    encoded = pc.dictionary_encode(arr)
    distinct = encoded.dictionary.to_pylist()
    mapped = [vocabulary.lookup(v) for v in distinct]
    answers = [m if m is not None else v for m, v in zip(mapped, distinct, strict=True)]
    # Values already canonical (the usual case for some columns) are returned as they are.
    out = arr if answers == distinct else as_array(pc.take(pa.array(answers, pa.string()), encoded.indices))
    if all(m is not None for m in mapped):
        unknown = pa.array(np.zeros(len(arr), dtype=bool))
    else:
        known = pa.array([m is not None for m in mapped], pa.bool_())
        unknown = as_array(pc.fill_null(pc.invert(pc.take(known, encoded.indices)), False))
    return out, unknown
