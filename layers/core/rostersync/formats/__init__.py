"""Roster file formats: detect which one a directory holds, read it, validate it.

``read_raw`` parses the files into canonical-named Arrow tables that still carry the spreadsheet
row number (``_row``) and their source file; ``validate`` turns those into a
:class:`~rostersync.roster.RosterSet` plus a table of row errors and alerts; ``load_roster`` does
both. The two steps stay separate so they can be timed and tested on their own.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rostersync.formats.clever import read_clever
from rostersync.formats.detect import detect_format
from rostersync.formats.oneroster import read_oneroster
from rostersync.formats.raw import RawRoster, RawTable, Source
from rostersync.formats.sds import read_sds
from rostersync.roster import FORMAT_CLEVER_CSV, FORMAT_SDS_21_CSV

if TYPE_CHECKING:
    from rostersync.validate import LoadResult, validate


def read_raw(directory: Path) -> RawRoster:
    """Detect the format of ``directory`` and read it.

    Raises UnknownFormatError when the file set matches no format, and InvalidFilesError listing
    every file problem found (missing required file, missing or misspelled required header,
    unreadable file).
    """
    directory = Path(directory)
    fmt = detect_format(directory)
    if fmt == FORMAT_CLEVER_CSV:
        return read_clever(directory)
    if fmt == FORMAT_SDS_21_CSV:
        return read_sds(directory)
    return read_oneroster(directory, fmt)


def load_roster(
    directory: Path, *, received_at: datetime | None = None, phone_region: str = "US"
) -> LoadResult:
    """Read and validate the roster in ``directory`` (``phone_region``: the district setting)."""
    from rostersync.validate import validate

    return validate(read_raw(directory), received_at=received_at, phone_region=phone_region)


def __getattr__(name: str) -> Any:
    # validate.py uses this package's helpers, so it is re-exported lazily to avoid an import cycle.
    if name in ("LoadResult", "validate"):
        from rostersync import validate as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LoadResult",
    "RawRoster",
    "RawTable",
    "Source",
    "detect_format",
    "load_roster",
    "read_raw",
    "validate",
]
