"""OneRoster 1.1 and 1.2 CSV (IMS bulk CSV binding) into canonical raw tables.

:func:`read_oneroster` reads a set from a directory: the manifest decides which files are read
(:mod:`.manifest`), each file is read by :mod:`rostersync.formats.csvio`, and the tables are
mapped: orgs and their hierarchy (:mod:`.orgs`), users and their roles (:mod:`.roles`,
:mod:`.people`, :mod:`.contacts`), then classes, enrollments, terms and courses
(:mod:`.classes`); people are mapped while a second thread reads and maps the class files, with
the same result as one step after another. :func:`read_oneroster_tables` maps tables already read,
one step after another; it is public so that data pulled from a OneRoster REST API, laid out as
the CSV files' tables, follows exactly the same rules.
"""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from rostersync.formats.orgtree import NOT_SUPPLIED, OrgMap
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
    org_map = read_orgs(ctx)
    read_people(ctx, org_map)
    read_classes(ctx, org_map)
    return _finish(ctx, org_map, directory=directory, issues=issues, source_format=source_format)


def _finish(
    ctx: Context, org_map: OrgMap, *, directory: Path, issues: Sequence[pa.Table], source_format: str | None
) -> RawRoster:
    """Terms and courses (after people and classes), and the result."""
    fmt = ctx.fmt
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

    The files people are made of (:data:`PEOPLE_FILES`) are read first. Their people are then
    mapped on this thread while a second reads the class files (enrollments.csv is most of a set)
    and, once the deleted users are known, maps classes and enrollments. Every file's problems
    and alerts, and the reader's issues, come out in the same order as read one after another."""
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
    ctx = _context(read, fmt)
    usable = not any(result.problems for result in read.values())
    org_map = read_orgs(ctx) if usable else NOT_SUPPLIED
    deleted: Future[pa.Array | None] = Future()
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(
            _classes, found, [s for s in order if s.name not in PEOPLE_FILES], optional, fmt, org_map, deleted
        )
        try:
            if usable:
                read_people(ctx, org_map, settled=deleted.set_result)
                _return_freed_heap()  # the mapping's numpy temporaries
        finally:
            if not deleted.done():
                deleted.set_result(ctx.deleted_users if usable else None)
        more, classes_ctx = beside.result()
    read.update(more)
    problems = [problem for spec in order for problem in read[spec.name].problems]
    if problems or classes_ctx is None:
        raise InvalidFilesError(problems, fmt)
    ctx.take(classes_ctx)
    for spec in order:
        ctx.files.update(read[spec.name].files)
    alerts = [*plan.alerts, *(alert for spec in order for alert in read[spec.name].alerts)]
    del read
    raw = _finish(ctx, org_map, directory=Path(directory), issues=alerts, source_format=None)
    _return_freed_heap()
    return raw


def _classes(
    found: dict[str, Path],
    specs: Sequence[FileSpec],
    optional: Sequence[FileSpec],
    fmt: str,
    org_map: OrgMap,
    deleted: Future[pa.Array | None],
) -> tuple[dict[str, FileSet], Context | None]:
    """The class files read, then (none with a problem, and the people mapped: ``deleted``
    holds the deleted users, None when people were not mapped) classes and enrollments mapped
    into a context of their own."""
    read = _read_each(found, specs, optional)
    if any(result.problems for result in read.values()):
        return read, None
    deleted_users = deleted.result()
    if deleted_users is None:
        return read, None
    ctx = _context(read, fmt)
    ctx.deleted_users = deleted_users
    read_classes(ctx, org_map)
    return read, ctx


def _context(read: Mapping[str, FileSet], fmt: str) -> Context:
    return Context(
        {name: result.files[name] for name, result in read.items() if result.files}, fmt, release=True
    )


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


def _return_freed_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc ``malloc_trim``).

    The mapping's numpy temporaries (hundreds of MB at 600k students) are freed, but glibc keeps
    the pages of its main heap, so they would still count against the function's memory while
    validation runs (measured: 1370 -> 1189 MiB held after reading 600k students). Arrow's own
    allocator (mimalloc) hands memory back by itself; where glibc is not the C library this does
    nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


__all__ = ["read_oneroster", "read_oneroster_tables"]
