"""Which roster format a directory of files is, judged from the file set (and header lines).

A ``manifest.csv`` means OneRoster: its ``oneroster.version`` property says 1.1 or 1.2, and when it
says nothing usable the presence of ``roles.csv`` (1.2 only) decides. Otherwise ``schools.csv``
and ``students.csv`` mean Clever-style CSV. Without a manifest, ``orgs.csv``, ``users.csv`` and
``roles.csv`` mean Microsoft School Data Sync v2.1 CSV, unless their header lines carry
OneRoster-only columns (a OneRoster set that lost its manifest).

Sets of a known but unsupported format are refused by name, with what to send instead
(:func:`known_unsupported`): SDS v1 CSV (``School.csv``, ``Section.csv``, ``Student.csv`` ...),
the retired SDS v2.0 CSV, Canvas SIS import CSV, and OneRoster CSV without its manifest. Anything
else is an :class:`~rostersync.issues.UnknownFormatError` that lists what was found and what each
format needs. File names match case-insensitively.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from rostersync.formats.csvio import FileSpec, find_files, normalise_header, read_csv
from rostersync.formats.csvparse import Unreadable, read_header
from rostersync.issues import FileProblem, UnknownFormatError
from rostersync.roster import (
    FORMAT_CLEVER_CSV,
    FORMAT_ONEROSTER_11_CSV,
    FORMAT_ONEROSTER_12_CSV,
    FORMAT_SDS_21_CSV,
)

CLEVER_REQUIRED = ("schools.csv", "students.csv", "teachers.csv", "sections.csv", "enrollments.csv")
CLEVER_OPTIONAL = ("staff.csv",)
ONEROSTER_REQUIRED = (
    "manifest.csv",
    "orgs.csv",
    "users.csv",
    "classes.csv",
    "enrollments.csv",
    "academicSessions.csv",
    "courses.csv",
)
ONEROSTER_12_REQUIRED = (*ONEROSTER_REQUIRED, "roles.csv")
SDS_21_REQUIRED = ("orgs.csv", "users.csv", "roles.csv")
SDS_21_OPTIONAL = (
    "classes.csv",
    "enrollments.csv",
    "academicSessions.csv",
    "courses.csv",
    "relationships.csv",
    "demographics.csv",
    "userFlags.csv",
)

# Known formats rostersync does not read, told apart by their file names.
SDS_V1_FILES = (
    "School.csv",
    "Section.csv",
    "Student.csv",
    "Teacher.csv",
    "StudentEnrollment.csv",
    "TeacherRoster.csv",
)
# Files only a Canvas SIS import has (users, courses, sections and enrollments are shared names).
CANVAS_ONLY_FILES = (
    "accounts.csv",
    "terms.csv",
    "logins.csv",
    "xlists.csv",
    "user_observers.csv",
    "admins.csv",
    "group_categories.csv",
    "groups.csv",
    "group_memberships.csv",
    "change_sis_id.csv",
)
# Normalised headers (csvio.normalise_header) only a OneRoster file has, by file.
ONEROSTER_ONLY_HEADERS = {
    "users.csv": ("status", "datelastmodified", "enableduser", "agentsourcedids", "userids"),
    "roles.csv": ("roletype", "userprofilesourcedid"),
    "classes.csv": ("schoolsourcedid", "termsourcedids", "classtype"),
    "enrollments.csv": ("schoolsourcedid", "primary"),
}
# Normalised users.csv headers of a Canvas SIS import.
CANVAS_USER_HEADERS = ("userid", "loginid")

_SEND_INSTEAD = (
    "Please send one of the supported formats instead: Clever-style CSV, OneRoster 1.1 or 1.2 CSV "
    "(bulk, with manifest.csv), or Microsoft School Data Sync v2.1 CSV (orgs.csv, users.csv, "
    "roles.csv, ...)."
)

MANIFEST = FileSpec(
    "manifest.csv",
    columns={"propertyName": "property", "value": "value"},
    required=("propertyName", "value"),
)


def read_manifest(path: Path) -> dict[str, str]:
    """Manifest properties (``propertyName`` -> ``value``); empty if the file cannot be read."""
    result = read_csv(path, MANIFEST)
    if result.file is None:
        return {}
    table = result.file.table.filter(pc.is_valid(result.file.table.column("property")))
    names = [str(n).strip().lower() for n in table.column("property").to_pylist()]
    values = [str(v or "").strip() for v in table.column("value").to_pylist()]
    return dict(zip(names, values, strict=True))


def declared_absent(properties: dict[str, str]) -> set[str]:
    """Lower-cased names of the files a OneRoster manifest declares ``absent`` (not sent), which
    a complete set therefore does not need."""
    return {
        name.removeprefix("file.") + ".csv"
        for name, value in properties.items()
        if name.startswith("file.") and value.strip().lower() == "absent"
    }


def manifest_version(properties: dict[str, str]) -> str | None:
    return properties.get("oneroster.version") or None


def sds_21_required(present: set[str]) -> tuple[str, ...] | None:
    """The files an SDS v2.1 set needs, judged from lower-cased file names alone (for the arrival
    check, before files are read); None when the names do not look like SDS v2.1 (a manifest, or
    Clever-style names)."""
    if "manifest.csv" in present or "schools.csv" in present:
        return None
    if not present & {"orgs.csv", "roles.csv", "relationships.csv", "userflags.csv"}:
        return None
    classes = ("classes.csv", "enrollments.csv") if present & {"classes.csv", "enrollments.csv"} else ()
    return (*SDS_21_REQUIRED, *classes)


def _headers(files: dict[str, Path], name: str) -> frozenset[str]:
    """Normalised header names of one file of the set (empty when absent or unreadable)."""
    path = files.get(name.lower())
    if path is None:
        return frozenset()
    try:
        return frozenset(normalise_header(h) for h in read_header(path))
    except Unreadable:
        return frozenset()  # the reader of the chosen format reports an unreadable file


def _present(files: dict[str, Path], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name.lower() in files]


def _refusal(directory: Path, message: str) -> UnknownFormatError:
    return UnknownFormatError([FileProblem(Path(directory).name or str(directory), message)])


def _oneroster_signals(files: dict[str, Path]) -> list[str]:
    """``file: header`` for each OneRoster-only column found in a set without a manifest."""
    found: list[str] = []
    for name, only in ONEROSTER_ONLY_HEADERS.items():
        headers = _headers(files, name)
        found.extend(f"{name} has {h}" for h in only if h in headers)
    return found


def known_unsupported(directory: Path, files: dict[str, Path]) -> UnknownFormatError | None:
    """A refusal naming the format, when a set without manifest.csv matches a known format that
    rostersync does not read; None otherwise."""
    v1 = _present(files, SDS_V1_FILES)
    if len(v1) >= 2 or _present(files, ("StudentEnrollment.csv", "TeacherRoster.csv")):
        return _refusal(
            directory,
            f"these files ({', '.join(v1)}) are Microsoft School Data Sync v1 CSV, which rostersync does "
            "not read. Export SDS v2.1 CSV from your SIS or from SDS instead (orgs.csv, users.csv, "
            "roles.csv, classes.csv, enrollments.csv, and optionally academicSessions.csv, courses.csv, "
            f"relationships.csv, demographics.csv). {_SEND_INSTEAD}",
        )
    canvas = _present(files, CANVAS_ONLY_FILES)
    if canvas or ("orgs.csv" not in files and set(CANVAS_USER_HEADERS) <= _headers(files, "users.csv")):
        evidence = ", ".join(canvas) if canvas else "users.csv has user_id and login_id"
        return _refusal(
            directory,
            f"these files are a Canvas SIS import ({evidence}), which rostersync does not read: Canvas "
            f"imports describe an LMS's courses, not a school roster. {_SEND_INSTEAD}",
        )
    if "orgs.csv" not in files or "users.csv" not in files:
        return None
    signals = _oneroster_signals(files)
    if signals:
        return _refusal(
            directory,
            "these files look like a OneRoster CSV set "
            f"({'; '.join(signals[:3])}) but manifest.csv is missing. Send the complete OneRoster "
            "export including manifest.csv (it says which OneRoster version the files are and that "
            "they are bulk files).",
        )
    users = _headers(files, "users.csv")
    if "roles.csv" not in files and ("role" in users or "orgsourcedids" in users):
        return _refusal(
            directory,
            "these files look like Microsoft School Data Sync v2.0 CSV (users.csv has role and "
            "orgSourcedIds, there is no roles.csv), which Microsoft retired in 2022 and rostersync does "
            "not read. Export SDS v2.1 CSV instead (roles in roles.csv, guardians in relationships.csv). "
            f"{_SEND_INSTEAD}",
        )
    return None


def detect_format(directory: Path) -> str:
    """One of the ``roster.FORMAT_*`` constants; raises UnknownFormatError otherwise."""
    files = find_files(Path(directory))
    if "manifest.csv" in files:
        version = manifest_version(read_manifest(files["manifest.csv"]))
        if version is not None:
            if version.startswith("1.2"):
                return FORMAT_ONEROSTER_12_CSV
            if version.startswith("1.1"):
                return FORMAT_ONEROSTER_11_CSV
            raise UnknownFormatError(
                [
                    FileProblem(
                        "manifest.csv",
                        f'says oneroster.version "{version}"; supported OneRoster CSV versions '
                        "are 1.1 and 1.2",
                    )
                ]
            )
        return FORMAT_ONEROSTER_12_CSV if "roles.csv" in files else FORMAT_ONEROSTER_11_CSV
    if "schools.csv" in files and "students.csv" in files:
        return FORMAT_CLEVER_CSV
    refused = known_unsupported(directory, files)
    if refused is not None:
        raise refused
    if all(name.lower() in files for name in SDS_21_REQUIRED):
        return FORMAT_SDS_21_CSV
    found = ", ".join(p.name for p in files.values()) or "no files"
    raise UnknownFormatError(
        [
            FileProblem(
                Path(directory).name or str(directory),
                f"these files match no supported roster format (found: {found}). "
                f"Clever-style CSV needs {', '.join(CLEVER_REQUIRED)} "
                f"(and optionally {', '.join(CLEVER_OPTIONAL)}); "
                f"OneRoster 1.1 CSV needs {', '.join(ONEROSTER_REQUIRED)}; "
                "OneRoster 1.2 CSV needs the same plus roles.csv; "
                f"Microsoft School Data Sync v2.1 CSV needs {', '.join(SDS_21_REQUIRED)} "
                f"(and optionally {', '.join(SDS_21_OPTIONAL)}).",
            )
        ]
    )
