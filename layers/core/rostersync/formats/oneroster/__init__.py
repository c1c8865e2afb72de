"""OneRoster 1.1 and 1.2 CSV (IMS bulk CSV binding) into canonical raw tables.

:func:`read_oneroster` reads a set from a directory: the manifest decides which files are read
(:mod:`.manifest`), each file is read by :mod:`rostersync.formats.csvio`, then
:func:`read_oneroster_tables` maps the tables: orgs and their hierarchy (:mod:`.orgs`), users and
their roles (:mod:`.roles`, :mod:`.people`, :mod:`.contacts`), then classes, enrollments, terms and
courses (:mod:`.classes`). :func:`read_oneroster_tables` is public so that data pulled from a
OneRoster REST API, laid out as the CSV files' tables, follows exactly the same rules.
"""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from rostersync.formats.csvio import CsvFile, FileSet, FileSpec, find_files, read_file_set
from rostersync.formats.oneroster.classes import read_classes, read_courses, read_terms
from rostersync.formats.oneroster.common import Context
from rostersync.formats.oneroster.manifest import plan_files
from rostersync.formats.oneroster.orgs import read_orgs
from rostersync.formats.oneroster.people import read_people
from rostersync.formats.oneroster.specs import (
    ACADEMIC_SESSIONS,
    CLASSES,
    COURSES,
    DEMOGRAPHICS,
    ENROLLMENTS,
    ORGS,
    ROLES,
    USERS_11,
    USERS_12,
)
from rostersync.formats.orgtree import OrgMap
from rostersync.formats.raw import NOTES_SCHEMA, RawRoster
from rostersync.issues import ALERT, ISSUE_SCHEMA, InvalidFilesError, concat_issues
from rostersync.model import ENTITY_BY_NAME, UNKNOWN_SCHEMA
from rostersync.roster import FORMAT_ONEROSTER_12_CSV

# The files a set's people are mapped from (with the org hierarchy): read first.
PEOPLE_FILES = frozenset({"orgs.csv", "users.csv", "roles.csv", "demographics.csv"})


def read_oneroster_tables(
    files: Mapping[str, CsvFile],
    fmt: str,
    *,
    directory: Path,
    issues: Sequence[pa.Table] = (),
    source_format: str | None = None,
) -> RawRoster:
    """Map already-read OneRoster tables (by CSV file name, e.g. ``"users.csv"``) to raw tables.

    ``fmt`` picks the 1.1 or 1.2 rules; a file missing from ``files`` is not supplied, so the
    entities it carries are carried forward. ``source_format`` is recorded on the result
    (default ``fmt``); ``issues`` found while reading the files are kept in front of the reader's.
    """
    ctx = Context(dict(files), fmt)
    org_map = _map_people(ctx)
    return _map_classes(ctx, org_map, directory=directory, issues=issues, source_format=source_format)


def _map_people(ctx: Context) -> OrgMap:
    """Schools and the org hierarchy, then the people (of orgs.csv, users.csv, roles.csv and
    demographics.csv only)."""
    org_map = read_orgs(ctx)
    read_people(ctx, org_map)
    return org_map


def _map_classes(
    ctx: Context, org_map: OrgMap, *, directory: Path, issues: Sequence[pa.Table], source_format: str | None
) -> RawRoster:
    """Classes, enrollments, terms and courses (after :func:`_map_people`), and the result."""
    fmt = ctx.fmt
    read_classes(ctx, org_map)
    read_terms(ctx)
    read_courses(ctx, org_map)
    if "sections" in ctx.tables and not ctx.supplied("enrollments.csv"):
        ctx.issues.append(
            pa.Table.from_pylist(
                [
                    {
                        "severity": ALERT,
                        "file": "enrollments.csv",
                        "row": 1,
                        "column": "",
                        "value": "enrollments.csv",
                        "message": "enrollments.csv was not sent, so the classes of this set have no "
                        "teachers (teachers come from teacher enrollments).",
                    }
                ],
                schema=ISSUE_SCHEMA,
            )
        )
    missing = frozenset(name for name in ENTITY_BY_NAME if name not in ctx.tables)
    return RawRoster(
        source_format or fmt,
        Path(directory),
        ctx.tables,
        missing=missing,
        issues=concat_issues([*issues, *ctx.issues]),
        unknown=pa.concat_tables(ctx.unknown) if ctx.unknown else UNKNOWN_SCHEMA.empty_table(),
        notes=pa.concat_tables(ctx.notes) if ctx.notes else NOTES_SCHEMA.empty_table(),
    )


def _specs(fmt: str) -> tuple[list[FileSpec], list[FileSpec]]:
    v12 = fmt == FORMAT_ONEROSTER_12_CSV
    required = [ORGS, USERS_12 if v12 else USERS_11, CLASSES, ENROLLMENTS, ACADEMIC_SESSIONS, COURSES]
    if v12:
        required.append(ROLES)
    # userProfiles.csv (1.2) holds application logins, which the canonical model does not keep:
    # it is accepted but not read.
    return required, [DEMOGRAPHICS]


def read_oneroster(directory: Path, fmt: str) -> RawRoster:
    """Read a OneRoster 1.1 or 1.2 CSV set; raises InvalidFilesError listing every file problem.

    The files people are made of (:data:`PEOPLE_FILES`) are read first; their people are then
    mapped on a second thread while the class files (enrollments.csv is most of a set) are read.
    Every file is still read, and its problems reported, in the plan's order."""
    found = find_files(Path(directory))
    required, optional = _specs(fmt)
    plan = plan_files(found, required, optional)
    if plan.problems:
        raise InvalidFilesError(plan.problems, fmt)
    if "courses.csv" in plan.absent:
        # Without courses a class may have no course.
        classes = dataclasses.replace(
            CLASSES, required=tuple(h for h in CLASSES.required if h != "courseSourcedId")
        )
        plan.read = [classes if spec is CLASSES else spec for spec in plan.read]
    order = [*(s for s in plan.read if s not in optional), *(s for s in plan.read if s in optional)]
    read = _read_each(found, [s for s in order if s.name in PEOPLE_FILES], optional)
    # The files were read here, so the reader may let go of each one's rows once it is mapped.
    ctx = Context(
        {name: result.files[name] for name, result in read.items() if result.files}, fmt, release=True
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        rest = pool.submit(_read_each, found, [s for s in order if s.name not in PEOPLE_FILES], optional)
        org_map = None if _problems(read) else _map_people_and_trim(ctx)
        read.update(rest.result())
    problems = [problem for spec in order for problem in read[spec.name].problems]
    if problems or org_map is None:
        raise InvalidFilesError(problems, fmt)
    for spec in order:
        ctx.files.update(read[spec.name].files)
    alerts = [*plan.alerts, *(alert for spec in order for alert in read[spec.name].alerts)]
    del read
    raw = _map_classes(ctx, org_map, directory=Path(directory), issues=alerts, source_format=None)
    _return_freed_heap()
    return raw


def _read_each(
    found: dict[str, Path], specs: Sequence[FileSpec], optional: Sequence[FileSpec]
) -> dict[str, FileSet]:
    """Each of ``specs`` read as :func:`read_file_set` reads it, by file name."""
    return {
        spec.name: read_file_set(
            found, [] if spec in optional else [spec], [spec] if spec in optional else []
        )
        for spec in specs
    }


def _problems(read: Mapping[str, FileSet]) -> bool:
    return any(result.problems for result in read.values())


def _map_people_and_trim(ctx: Context) -> OrgMap:
    org_map = _map_people(ctx)
    _return_freed_heap()  # the mapping's numpy temporaries, before the class files are mapped
    return org_map


def _return_freed_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc ``malloc_trim``).

    The mapping's numpy temporaries (hundreds of MB at 600k students) are freed, but glibc keeps
    the pages of its main heap, so they would still count against the function's memory while
    validation runs (measured: 1370 -> 1189 MiB held after reading 600k students). Arrow's own
    allocator already returns memory at once; where glibc is not the C library this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


__all__ = ["read_oneroster", "read_oneroster_tables"]
