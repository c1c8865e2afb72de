"""Which roster format a directory of files is, judged from the file set alone.

A ``manifest.csv`` means OneRoster: its ``oneroster.version`` property says 1.1 or 1.2, and when it
says nothing usable the presence of ``roles.csv`` (1.2 only) decides. Otherwise ``schools.csv``
and ``students.csv`` mean Clever-style CSV. Anything else is an
:class:`~rostersync.issues.UnknownFormatError` that lists what was found and what each format needs.
File names match case-insensitively.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from rostersync.formats.csvio import FileSpec, find_files, read_csv
from rostersync.issues import FileProblem, UnknownFormatError
from rostersync.roster import FORMAT_CLEVER_CSV, FORMAT_ONEROSTER_11_CSV, FORMAT_ONEROSTER_12_CSV

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
    found = ", ".join(p.name for p in files.values()) or "no files"
    raise UnknownFormatError(
        [
            FileProblem(
                Path(directory).name or str(directory),
                f"these files match no supported roster format (found: {found}). "
                f"Clever-style CSV needs {', '.join(CLEVER_REQUIRED)} "
                f"(and optionally {', '.join(CLEVER_OPTIONAL)}); "
                f"OneRoster 1.1 CSV needs {', '.join(ONEROSTER_REQUIRED)}; "
                "OneRoster 1.2 CSV needs the same plus roles.csv.",
            )
        ]
    )
