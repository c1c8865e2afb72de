"""Value rules shared by every format: dates (with the two-digit-year pivot) and phone numbers.

Both work on whole Arrow columns. Dates are parsed on the distinct values only (a birth-date
column repeats a few thousand days). Phones take a byte-level fast path for the usual shape
(digits with spaces, dashes, dots, brackets, slashes and a leading ``+``); only the distinct
values that are not in that shape (an extension such as ``x218``, ``ext. 372`` or ``#12``,
letters, other characters) go to the ``phonenumbers`` library, one call per distinct value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array, null_where

_ISO_DATE = r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[T ].*)?$"
# M/D/YYYY or M/D/YY; the length of the year says which.
_US_DATE = r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}|\d{2})$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# Term and session dates with a two-digit year fall within this many years of today.
TERM_WINDOW_YEARS = 50

MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15
# Byte classes of a phone number written the usual way: digits, and the separators space ( ) - . /
# and +; any other byte sends the value to the library.
_SEPARATORS = np.frombuffer(b" ()-./+", dtype=np.uint8)


def _pivot(
    y: np.ndarray, m: np.ndarray, d: np.ndarray, short: np.ndarray, today: date, past_only: bool
) -> np.ndarray:
    """Years with two-digit years (``short``) expanded.

    ``past_only`` (birth dates): the latest year that does not put the date after ``today``.
    Otherwise (term dates): the year within ``TERM_WINDOW_YEARS`` years of today's year
    (today's year - 50 up to today's year + 49).
    """
    if not short.any():
        return y
    if past_only:
        century = today.year - today.year % 100
        full = century + y
        future = full * 10000 + m * 100 + d > today.year * 10000 + today.month * 100 + today.day
        full = full - 100 * future
    else:
        base = today.year - TERM_WINDOW_YEARS
        full = base + (y - base) % 100
    return np.where(short, full, y)


def parse_dates(values: ArrayLike, *, today: date | None = None, past_only: bool = False) -> pa.Array:
    """YYYY-MM-DD (a time part is ignored), M/D/YYYY or M/D/YY as date32; anything else,
    including impossible dates such as 2024-02-30 and years outside 1900-2100, becomes null.

    Two-digit years pivot on ``today`` (default: the current date): with ``past_only`` (birth
    dates) to the latest year that is not in the future, otherwise to within 50 years of today.
    """
    arr = as_array(values)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    encoded = pc.dictionary_encode(arr)
    distinct = encoded.dictionary
    iso = pc.extract_regex(distinct, _ISO_DATE)
    us = pc.extract_regex(distinct, _US_DATE)
    texts = {
        name: pc.coalesce(pc.struct_field(iso, [name]), pc.struct_field(us, [name]))
        for name in ("y", "m", "d")
    }
    y, m, d = (pc.fill_null(texts[n].cast(pa.int64()), 0).to_numpy(zero_copy_only=False) for n in "ymd")
    short = pc.fill_null(pc.equal(pc.utf8_length(texts["y"]), 2), False).to_numpy(zero_copy_only=False)
    y = _pivot(y, m, d, short, today or date.today(), past_only)
    month = np.clip(m, 0, 12)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days_in_month = _DAYS_IN_MONTH[month] + ((month == 2) & leap)
    valid = (y >= 1900) & (y <= 2100) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= days_in_month)
    # Days since 1970-01-01 (H. Hinnant's days_from_civil), vectorised.
    yy = y - (m <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    parsed = pa.array(np.where(valid, days, 0).astype(np.int32), pa.int32(), mask=~valid).cast(pa.date32())
    return as_array(pc.take(parsed, encoded.indices))


def term_years(values: ArrayLike, *, today: date | None = None) -> ArrayLike:
    """The school year a term start date names, as text: its four-digit year, else the year of
    an M/D/YY date (pivot as for term dates); null when the year cannot be known."""
    four = pc.struct_field(pc.extract_regex(values, r"(?P<year>\d{4})"), [0])
    short = pc.year(parse_dates(values, today=today)).cast(pa.string())
    return pc.coalesce(four, short)


# --- phones -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Phones:
    """A phone column split into number and extension, with what could not be used.

    ``number``: digits, with a leading ``+`` when the value had one (the shape every sync so far
    has stored). ``extension``: digits, null when there is none. ``wrong_length``: the number has
    fewer than 7 or more than 15 digits. ``unreadable``: the value is not a phone number the
    library can read without guessing (letters, a second number, digits it would invent).
    Both masks are false on nulls; where either is true, number and extension are null.
    """

    number: pa.Array
    extension: pa.Array
    wrong_length: pa.Array
    unreadable: pa.Array


def _is_digit(data: np.ndarray) -> np.ndarray:
    """Per byte: an ASCII digit (one vectorised subtraction: bytes below "0" wrap round)."""
    out: np.ndarray = (data - np.uint8(ord("0"))) < 10
    return out


def _strip_to_digits(arr: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(the digits of each value, mask of values made only of digits and usual separators, how
    many digits each value holds).

    Works on the string buffers with numpy: one pass over the bytes, no per-row work.
    """
    n = len(arr)
    offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    is_digit = _is_digit(data)
    digit_cum = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum(is_digit, dtype=np.int32, out=digit_cum[1:])
    new_offsets = digit_cum[offsets]
    other = ~is_digit
    for separator in _SEPARATORS:
        other &= data != separator
    if other.any():
        other_cum = np.zeros(len(data) + 1, dtype=np.int32)
        np.cumsum(other, dtype=np.int32, out=other_cum[1:])
        plain = (other_cum[offsets[1:]] - other_cum[offsets[:-1]]) == 0
    else:
        plain = np.ones(n, dtype=bool)
    # Null where the value is null: its validity bitmap, not a pass over the strings.
    validity = np.packbits(pc.is_valid(arr).to_numpy(zero_copy_only=False), bitorder="little")
    digits = pa.StringArray.from_buffers(
        n,
        pa.py_buffer(new_offsets),
        pa.py_buffer(data[is_digit].tobytes()),
        pa.py_buffer(validity.tobytes()) if arr.null_count else None,
        arr.null_count,
    )
    return digits, plain, np.diff(new_offsets).astype(np.int64)


_POSSIBLE = (
    phonenumbers.ValidationResult.IS_POSSIBLE,
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
)


def _read_phone(value: str, region: str) -> tuple[str | None, str | None, bool]:
    """(number, extension, readable) for one value that is not in the plain shape."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None, None, False
    digits = "".join(c for c in value if "0" <= c <= "9")
    extension = parsed.extension or None
    if extension is not None:
        if not extension.isdigit() or not digits.endswith(extension):
            return None, None, False
        digits = digits[: -len(extension)]
    # The library turns letters into keypad digits (1-800-FLOWERS): a number whose digits are
    # not all written in the value is a guess, so it is refused.
    if not digits.endswith(str(parsed.national_number)):
        return None, None, False
    # Too short or too long for the region once the extension is off (two extensions, a number
    # the library split at a stray #): not a number we can dial without guessing.
    if phonenumbers.is_possible_number_with_reason(parsed) not in _POSSIBLE:
        return None, None, False
    plus = "+" if value.lstrip().startswith("+") else ""
    return plus + digits, extension, True


def split_phones(values: ArrayLike, region: str = "US") -> Phones:
    """Split a phone column into number and extension (see :class:`Phones`).

    ``region`` (an ISO 3166 code such as ``US``) is how the library reads numbers written
    without a country code.
    """
    arr = as_array(values)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    digits, plain, count = _strip_to_digits(arr)
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    plus = pc.fill_null(pc.starts_with(arr, "+"), False)
    number = digits
    if pc.any(plus).as_py():
        number = as_array(pc.if_else(plus, pc.binary_join_element_wise("+", digits, ""), digits))
    extension: pa.Array = pa.nulls(n, pa.string())
    unreadable = np.zeros(n, dtype=bool)
    special = np.flatnonzero(valid & ~plain)
    if len(special):
        number, extension, unreadable = _special_phones(arr, special, number, region)
        # The digits of the numbers the library read (null: unreadable, never too short).
        read = pc.take(number, pa.array(special))
        digit_count = pc.utf8_length(pc.replace_substring(read, "+", ""))
        count[special] = pc.fill_null(digit_count, MIN_PHONE_DIGITS).to_numpy(zero_copy_only=False)
    wrong = valid & ~unreadable & ((count < MIN_PHONE_DIGITS) | (count > MAX_PHONE_DIGITS))
    bad = wrong | unreadable
    if bad.any():
        number = as_array(null_where(number, pa.array(bad)))
        extension = as_array(null_where(extension, pa.array(bad)))
    return Phones(
        number=number,
        extension=extension,
        wrong_length=pa.array(wrong),
        unreadable=pa.array(unreadable),
    )


def _special_phones(
    arr: pa.Array, rows: np.ndarray, number: pa.Array, region: str
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Read the values at ``rows`` with the library, once per distinct value."""
    n = len(arr)
    encoded = pc.dictionary_encode(pc.take(arr, pa.array(rows)))
    answers = [_read_phone(v, region) for v in encoded.dictionary.to_pylist()]
    idx = encoded.indices
    numbers = pc.take(pa.array([a[0] for a in answers], pa.string()), idx)
    extensions = pc.take(pa.array([a[1] for a in answers], pa.string()), idx)
    readable = pc.take(pa.array([a[2] for a in answers], pa.bool_()), idx).to_numpy(zero_copy_only=False)
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    out_number = pc.replace_with_mask(number, pa.array(mask), numbers)
    unreadable = np.zeros(n, dtype=bool)
    unreadable[rows] = ~readable
    extension = pc.replace_with_mask(pa.nulls(n, pa.string()), pa.array(mask), extensions)
    return as_array(out_number), as_array(extension), unreadable
