"""What of a district's data a message may quote: IDs yes, personal values never.

Every row issue names its file, row and column; its value is shown as sent only when it is not
personal. A value of a personal column (:data:`PERSONAL_COLUMNS`: names, birth date, phone,
email, user name) becomes "a value of 12 characters", and so does a value that could not be
matched to a column (a row with too many values) and any value that does not look like a single
ID or code: one that holds a comma, semicolon, quote, ``@`` or a control character (a row
run together into one value, an email typed into an ID column), one longer than
:data:`MAX_SHOWN` characters, or a key the readers build from a person's name, email or phone
(``name:…``, ``email:…``). Masking works on whole columns (Arrow kernels in
:mod:`rostersync.masking`), never row by row; this module is plain Python so that the API function,
which has no pyarrow, can mask the sample IDs of a hold (:func:`safe_id`).

The row-errors CSV is built from the same masked table, so a forwarded download link does not
carry personal data either; the file and row number lead the admin to the value in their export.
"""

from __future__ import annotations

import re

MAX_SHOWN = 64
# Canonical columns whose values are personal (a school's, course's or class's ``name`` is not).
PERSONAL_COLUMNS = frozenset(
    {
        "first_name",
        "middle_name",
        "last_name",
        "birth_date",
        "email",
        "phone",
        "phone_extension",
        "username",
        "contact_name",
        "contact_email",
        "contact_phone",
    }
)
# A value that is not one ID or code: several values run together, an email, a derived person key.
NOT_AN_ID = r"[,;\"@\x00-\x1f\x7f]|^(name|email|phone):"


_UNSAFE_ID = re.compile(NOT_AN_ID, re.IGNORECASE)


def safe_id(value: str) -> str:
    """One ID as a message may quote it: as sent, or masked when it is not an ID (scalar form
    of :func:`unsafe_values`, for the few sample IDs a hold carries)."""
    if len(value) > MAX_SHOWN or _UNSAFE_ID.search(value):
        return "a value of 1 character" if len(value) == 1 else f"a value of {len(value)} characters"
    return value
