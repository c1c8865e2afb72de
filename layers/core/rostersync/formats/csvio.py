"""Reading one roster CSV file with pyarrow, matching its headers to the ones a format documents.

The header line is read with the csv module (so a misspelled or missing header can be reported
with the closest header actually present); the data rows are parsed by
:mod:`rostersync.formats.csvparse` with every column as a string, then trimmed and emptied-to-null
in whole-column kernels. Every failure is worded for a district admin (file, what is wrong, what
to do); no library text is passed on. Header
matching ignores case, spaces, underscores and hyphens ("school id", "School_ID" and
" school_id " all match ``School_id``). Problems that make a file unusable are returned as
:class:`~rostersync.issues.FileProblem`; columns nobody documents are reported as alerts on row 1.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array, normalise_text, row_numbers
from rostersync.formats.compact import normalise_categories, untouched_nulls
from rostersync.formats.csvparse import Rows, Unreadable, read_header, read_rows
from rostersync.formats.raw import REJECTED_COLUMN, Source
from rostersync.issues import ALERT, ERROR, ISSUE_SCHEMA, FileProblem, row_issues
from rostersync.masking import masked
from rostersync.model import ROW_COLUMN

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_header(header: str) -> str:
    """The form headers are compared in: lower case, no spaces, underscores or hyphens."""
    return _SEPARATORS.sub("", header).lower()


@dataclass(frozen=True)
class FileSpec:
    """The documented headers of one file and what the reader calls them."""

    name: str
    # Documented header -> internal column name (a canonical field or a reader helper).
    columns: Mapping[str, str]
    # Documented headers that must be present.
    required: tuple[str, ...] = ()
    # Documented headers this product does not use: accepted silently.
    ignored: tuple[str, ...] = ()
    # (regex on the normalised header with one group, internal prefix): e.g. Teacher_2_id.
    numbered: tuple[tuple[str, str], ...] = ()
    # Normalised header prefixes accepted silently (OneRoster ``metadata.*`` extensions).
    ignored_prefixes: tuple[str, ...] = ()
    # Internal names of columns of few distinct values (an enrollment's org, its primary flag),
    # parsed dictionary-encoded: 6M of them then take a quarter of the memory. Their readers
    # take either type (a file parsed with the csv module gives plain strings).
    categorical: tuple[str, ...] = ()


@dataclass
class CsvFile:
    """One file as read: internal column names, cleaned strings and ``_row``."""

    name: str
    table: pa.Table
    # Internal column name -> header as written in the file.
    headers: dict[str, str] = field(default_factory=dict)

    def has(self, column: str) -> bool:
        return column in self.table.column_names

    def column(self, column: str) -> pa.ChunkedArray:
        """The column, or all nulls when the file does not have it."""
        if column in self.table.column_names:
            return self.table.column(column)
        return pa.chunked_array([pa.nulls(self.table.num_rows, pa.string())])

    def source(self, column: str, default: str | None = None) -> Source:
        return Source(self.name, self.headers.get(column, default or column))


@dataclass
class ReadResult:
    """The outcome of reading one file: the table (None when unusable), problems and alerts."""

    file: CsvFile | None
    problems: list[FileProblem] = field(default_factory=list)
    alerts: list[pa.Table] = field(default_factory=list)


def find_files(directory: Path) -> dict[str, Path]:
    """Regular files in ``directory`` by lower-cased name (names match case-insensitively)."""
    if not directory.is_dir():
        return {}
    return {p.name.lower(): p for p in sorted(directory.iterdir()) if p.is_file()}


def _header_alert(file: str, header: str, message: str) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "severity": ALERT,
                "file": file,
                "row": 1,
                "column": header,
                "value": header,
                "message": message,
            }
        ],
        schema=ISSUE_SCHEMA,
    )


def _closest(wanted: str, candidates: list[str]) -> str | None:
    by_norm = {normalise_header(c): c for c in candidates}
    match = difflib.get_close_matches(normalise_header(wanted), list(by_norm), n=1, cutoff=0.6)
    return by_norm[match[0]] if match else None


def _closest_each(wanted: Sequence[str], candidates: Sequence[str]) -> dict[str, str]:
    """For each wanted header, the closest candidate (similarity at least 0.6, as ``_closest``),
    never offering one candidate for two wanted headers: the most similar pairs are settled first
    (ties in order). A file with ``sourcedId`` where ``classSourcedId`` and ``userSourcedId`` are
    expected hints it for ``userSourcedId`` only. Loops over header names, not rows."""
    scored = []
    for w_at, want in enumerate(wanted):
        for c_at, candidate in enumerate(candidates):
            ratio = difflib.SequenceMatcher(None, normalise_header(want), normalise_header(candidate)).ratio()
            if ratio >= 0.6:
                scored.append((-ratio, w_at, c_at))
    hints: dict[str, str] = {}
    used: set[int] = set()
    for _, w_at, c_at in sorted(scored):
        if wanted[w_at] not in hints and c_at not in used:
            hints[wanted[w_at]] = candidates[c_at]
            used.add(c_at)
    return hints


def match_headers(
    headers: list[str], spec: FileSpec, file: str
) -> tuple[dict[str, int], dict[str, str], list[FileProblem], list[pa.Table]]:
    """Map the file's headers to internal columns.

    Returns (internal -> column index, internal -> header as written, problems, alerts).
    """
    documented = {normalise_header(h): (h, internal) for h, internal in spec.columns.items()}
    ignored = {normalise_header(h) for h in spec.ignored}
    numbered = [(re.compile(pattern), prefix) for pattern, prefix in spec.numbered]
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    unknown: list[str] = []
    alerts: list[pa.Table] = []
    seen: set[str] = set()
    for index, header in enumerate(headers):
        norm = normalise_header(header)
        if not norm:
            continue  # a trailing comma on the header line: nothing to read
        internal: str | None = None
        if norm in documented:
            internal = documented[norm][1]
        else:
            for pattern, prefix in numbered:
                found = pattern.fullmatch(norm)
                if found:
                    internal = f"{prefix}{int(found.group(1))}"
                    break
        if internal is None:
            if norm not in ignored and not norm.startswith(spec.ignored_prefixes):
                unknown.append(header)
            continue
        if norm in seen or internal in positions:
            alerts.append(
                _header_alert(
                    file,
                    header,
                    f'Column "{header}" appears more than once; only the first one was read.',
                )
            )
            continue
        seen.add(norm)
        positions[internal] = index
        written[internal] = header.strip()

    matched_norms = {normalise_header(written[i]) for i in written}
    problems: list[FileProblem] = []
    missing_required = [r for r in spec.required if normalise_header(r) not in matched_norms]
    hints = _closest_each(missing_required, unknown)
    for required in missing_required:
        closest = hints.get(required)
        if closest is not None:
            detail = f'found "{closest.strip()}" — did you mean "{required}"?'
        else:
            detail = "no similar header was found in the file"
        problems.append(
            FileProblem(
                file,
                f'required header "{required}" is missing ({detail})',
                header=required,
                closest=closest.strip() if closest is not None else None,
            )
        )
    missing_documented = [h for n, (h, _) in documented.items() if n not in matched_norms]
    for header in unknown:
        hint = _closest(header, missing_documented)
        suffix = f' (did you mean "{hint}"?)' if hint else ""
        alerts.append(
            _header_alert(
                file,
                header.strip(),
                f'Column "{header.strip()}" is not a documented {spec.name} column and was ignored{suffix}.',
            )
        )
    return positions, written, problems, alerts


def _too_long_issues(file: str, headers: list[str], rows: Rows, numbers: pa.Array) -> pa.Table:
    assert rows.too_long is not None and rows.too_long_counts is not None
    width = len(headers)
    last = next((h.strip() for h in reversed(headers) if h.strip()), f"column {width}")
    counts = rows.too_long_counts
    return pa.Table.from_pydict(
        {
            "severity": [ERROR] * len(counts),
            "file": [file] * len(counts),
            "row": pc.filter(numbers, pa.array(rows.too_long)),
            "column": [last] * len(counts),
            # Which column the extra value belongs to is unknown: it may be a name, never quoted.
            "value": masked(pa.array(rows.too_long_values, pa.string())),
            "message": [
                f"This row has {count} values but the header line has {width} columns, so its "
                "values cannot be matched to their columns (often a comma inside a value that is "
                "not in quotes); the row was left out. Put quotes around values that contain "
                "commas and send the file again."
                for count in counts
            ],
        },
        schema=ISSUE_SCHEMA,
    )


INVISIBLE_MESSAGE = (
    "This value held invisible characters (zero-width spaces, direction marks or the like); they "
    "were removed, so it reads exactly as it shows. A name or ID that differed from another only by "
    "them is now the same value; check the export if that is not what you meant."
)


def _invisible_alerts(
    file: str,
    written: Mapping[str, str],
    names: list[str],
    columns: list[pa.Array | pa.ChunkedArray],
    marks: list[pa.Array | pa.ChunkedArray | None],
) -> list[pa.Table]:
    """One alert per value from which :func:`~rostersync.formats.arrowops.normalise_text`
    removed invisible characters (the value shown is the cleaned one)."""
    found = [(name, mask) for name, mask in zip(names, marks, strict=False) if mask is not None]
    if not found:
        return []
    table = pa.Table.from_arrays(columns, names=names)
    return [
        row_issues(
            table,
            mask,
            severity=ALERT,
            file=file,
            column=written.get(name, name),
            message=INVISIBLE_MESSAGE,
            value_column=name,
        )
        for name, mask in found
    ]


def _normalised(rows: Rows) -> tuple[list[ArrayLike], list[ArrayLike | None]]:
    """Each column of ``rows`` trimmed (:func:`~rostersync.formats.arrowops.normalise_text`) and
    joined into one contiguous array (validation's whole-column kernels would otherwise join the
    parser's blocks themselves, a copy per use), with its invisible-character marks.

    Columns are independent and the kernels release the GIL, so they are done side by side, each
    trimmed and joined in the same worker; a worker takes its column out of ``rows`` first, so
    the parser's blocks of a column go as soon as it is joined (``rows.columns`` is emptied)."""
    pending: list[ArrayLike | None] = list(rows.columns.values())
    rows.columns.clear()

    def one(at: int) -> tuple[pa.Array, ArrayLike | None]:
        values = pending[at]
        pending[at] = None
        assert values is not None
        if pa.types.is_dictionary(values.type):
            return normalise_categories(values)
        if len(values) and values.null_count == len(values):
            return untouched_nulls(len(values)), None
        values, found = normalise_text(values)
        return as_array(values), found

    with ThreadPoolExecutor(max_workers=max(1, pa.cpu_count())) as pool:
        done = list(pool.map(one, range(len(pending))))
    return [values for values, _ in done], [found for _, found in done]


def read_csv(path: Path, spec: FileSpec) -> ReadResult:
    """Read ``path`` as the file ``spec`` describes."""
    file = path.name
    try:
        headers = read_header(path)
    except Unreadable as error:
        return ReadResult(None, [FileProblem(file, str(error))])

    positions, written, problems, alerts = match_headers(headers, spec, file)
    if problems:
        return ReadResult(None, problems, alerts)
    try:
        rows = read_rows(path, len(headers), positions, categorical=frozenset(spec.categorical))
    except Unreadable as error:
        return ReadResult(None, [FileProblem(file, str(error))], alerts)

    names = [*rows.columns.keys(), ROW_COLUMN]
    columns, marks = _normalised(rows)
    numbers = row_numbers(rows.num_rows)
    columns.append(numbers)
    alerts += _invisible_alerts(file, written, names, columns, marks)
    if rows.too_long is not None:
        alerts.append(_too_long_issues(file, headers, rows, numbers))
        columns.append(pa.array(rows.too_long))
        names.append(REJECTED_COLUMN)
    out = pa.Table.from_arrays(columns, names=names)
    return ReadResult(CsvFile(file, out, written), [], alerts)


@dataclass
class FileSet:
    """The files of one set that could be read, and every problem and alert found on the way."""

    files: dict[str, CsvFile]
    problems: list[FileProblem]
    alerts: list[pa.Table]


def set_aside(file: str, problems: Sequence[FileProblem]) -> pa.Table:
    """Error rows for an optional file that cannot be used: it is left out, the set is read."""
    return pa.Table.from_pylist(
        [
            {
                "severity": ERROR,
                "file": file,
                "row": 1,
                "column": problem.header or "",
                "value": problem.closest or problem.header or file,
                "message": f"{file} could not be used: {problem.message}. This optional file was set "
                "aside (its data is carried forward unchanged); the rest of the set was read.",
            }
            for problem in problems
        ],
        schema=ISSUE_SCHEMA,
    )


def read_file_set(
    found: dict[str, Path],
    required: Sequence[FileSpec],
    optional: Sequence[FileSpec] = (),
    *,
    refuse: Callable[[FileSpec], FileProblem | None] | None = None,
    use: Callable[[FileSpec, CsvFile], None] | None = None,
) -> FileSet:
    """Read every file of a set (``found`` from :func:`find_files`), collecting all problems.

    A required file that is absent or unusable is a problem (the set is refused). An optional
    file that is absent is skipped; one that is present but unusable is set aside with an error
    row naming it (:func:`set_aside`), and the rest of the set is read. ``refuse`` may turn a spec
    down before it is read. ``use``, when given, is handed each usable file as soon as it is read
    and the file is not kept in ``files``: a reader that derives its tables there lets each
    file's raw columns go before the next file is read, so a set never holds all of them at once.
    """
    result = FileSet({}, [], [])
    for spec in (*required, *optional):
        refused = refuse(spec) if refuse is not None else None
        if refused is not None:
            result.problems.append(refused)
            continue
        path = found.get(spec.name.lower())
        if path is None:
            if spec in required:
                result.problems.append(FileProblem(spec.name, "required file is missing"))
            continue
        read = read_csv(path, spec)
        result.alerts.extend(read.alerts)
        if read.problems and spec not in required:
            result.alerts.append(set_aside(path.name, read.problems))
            continue
        result.problems.extend(read.problems)
        if read.file is None:
            continue
        if use is not None:
            use(spec, read.file)
        else:
            result.files[spec.name] = read.file
    return result
