"""What a district admin downloads: the CSV of changes and the CSV of row errors.

Both are built with vectorised Arrow kernels (a diff can hold several hundred thousand changes)
and written with :func:`pyarrow.csv.write_csv`. Every string cell is neutralised against
spreadsheet formula injection first (OWASP "CSV injection": a cell starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return gets a leading ``'``), and the header row is readable. Files
start with a UTF-8 byte-order mark by default so that Excel shows accented names correctly.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rostersync.changes import ChangeSet, EntityChanges
from rostersync.issues import ISSUE_SCHEMA
from rostersync.model import ENTITIES, ENTITY_BY_NAME, KEY_SEPARATOR, Entity
from rostersync.rekeys import present_pairs

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
ID_CHANGED = "id_changed"

# Composite keys are shown as "S1/P9": readable, and "/" does not start a formula.
DISPLAY_KEY_SEPARATOR = "/"
FIELD_SEPARATOR = "; "
BLANK = "(blank)"
BOM = "\ufeff".encode()
NULL_STRING = pa.scalar(None, pa.string())

FORMULA_PREFIX_PATTERN = r"^[=+\-@\t\r]"

CHANGES_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string()),
        pa.field("school_id", pa.string()),
        pa.field("id", pa.string()),
        pa.field("change", pa.string()),
        pa.field("changed_fields", pa.string()),
        pa.field("old_values", pa.string()),
        pa.field("new_values", pa.string()),
    ]
)

CHANGES_HEADERS = {
    "entity": "Record type",
    "school_id": "School ID",
    "id": "ID",
    "change": "Change",
    "changed_fields": "Changed fields",
    "old_values": "Old values",
    "new_values": "New values",
}

# A first sync's changes.csv: per entity and school, the counts of rostersync.summary.summarize.
SUMMARY_HEADERS = {
    "entity": "Record type",
    "school_id": "School ID",
    "baseline": "Before",
    "staged": "After",
    "added": "Added",
    "removed": "Removed",
    "changed": "Changed",
    "id_changed": "Re-keyed",
}
# Level 1: the full list of a first sync is hundreds of MiB of CSV; level 1 compresses it about
# 5x at several times the speed of the default level.
GZIP_LEVEL = 1

ERRORS_HEADERS = {
    "severity": "Severity",
    "file": "File",
    "row": "Row",
    "column": "Column",
    "value": "Value",
    "message": "Message",
}

# The fields that describe an added or removed record well enough to recognise it; the full
# record is in the snapshot. Keys and school_id have their own columns.
SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "schools": ("name", "school_number", "low_grade", "high_grade"),
    "terms": ("name", "type", "start_date", "end_date"),
    "courses": ("name", "course_code", "subject"),
    "students": ("sis_id", "first_name", "last_name", "grade", "email"),
    "teachers": ("sis_id", "first_name", "last_name", "email", "title"),
    "staff": ("sis_id", "first_name", "last_name", "email", "title"),
    "contacts": ("first_name", "last_name", "email", "phone"),
    "contact_links": ("relationship", "contact_type"),
    "sections": ("name", "course_id", "term_id", "period", "teacher_ids"),
    "enrollments": ("role",),
}

Sink: TypeAlias = "str | Path | IO[Any] | pa.NativeFile"


# -- neutralising --------------------------------------------------------------------------------


def neutralize(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Prefix ``'`` to every string cell that a spreadsheet could read as a formula.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are changed (so
    ``-5`` becomes ``'-5``); everything else, nulls included, is returned unchanged. Non-string
    arrays are returned as they are.
    """
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    dangerous = pc.match_substring_regex(array, FORMULA_PREFIX_PATTERN)
    if not pc.any(dangerous).as_py():  # most columns: no copy at all
        return array
    quoted = pc.binary_join_element_wise(pa.scalar("'", array.type), array, pa.scalar("", array.type))
    return pc.if_else(dangerous, quoted, array)


def neutralize_table(table: pa.Table) -> pa.Table:
    """``table`` with every string column neutralised."""
    columns = [neutralize(table.column(i)) for i in range(table.num_columns)]
    return pa.Table.from_arrays(columns, schema=table.schema)


# -- vectorised string helpers -------------------------------------------------------------------


def join_skip_nulls(pieces: Sequence[pa.Array | pa.ChunkedArray], separator: str, length: int) -> pa.Array:
    """Element-wise join of ``pieces`` skipping nulls; a row where every piece is null gives "".

    pyarrow's ``binary_join_element_wise(..., null_handling="skip")`` drops rows whose inputs
    are all null (the output comes back shorter than the input: seen on pyarrow 26), so a
    non-null empty piece leads every row and its separator is sliced off afterwards.
    """
    lead = pa.repeat(pa.scalar("", pa.string()), length)
    joined = pc.binary_join_element_wise(lead, *pieces, separator, null_handling="skip")
    return pc.utf8_slice_codeunits(joined, len(separator))


def _empty_to_null(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.if_else(pc.equal(values, ""), NULL_STRING, values)


def as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A column rendered as strings: lists joined with ", ", dates as ISO dates."""
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return pc.binary_join(pc.cast(column, pa.list_(pa.string())), ", ")
    if pa.types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())


def display_key(table: pa.Table, entity: Entity) -> pa.Array | pa.ChunkedArray:
    """The record key as an admin reads it: the key column, or composite parts joined by "/"
    (a null part shows as empty)."""
    parts = [as_text(table.column(c)) for c in entity.key]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(
        *parts, DISPLAY_KEY_SEPARATOR, null_handling="replace", null_replacement=""
    )


def _display_id(keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A stored key string (composite parts joined by KEY_SEPARATOR) as an admin reads it."""
    return pc.replace_substring(keys, KEY_SEPARATOR, DISPLAY_KEY_SEPARATOR)


def _labelled(name: str, values: pa.Array | pa.ChunkedArray, *, blank: bool) -> pa.Array | pa.ChunkedArray:
    """Label each value as "name: value"; a null value gives "name: (blank)" when ``blank`` else null."""
    text = as_text(values)
    if blank:
        text = pc.fill_null(text, BLANK)
    return pc.binary_join_element_wise(pa.scalar(f"{name}: "), text, pa.scalar(""))


def _column_or_nulls(table: pa.Table, name: str, type_: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if name in table.column_names:
        return table.column(name)
    return pa.nulls(table.num_rows, type_)


def _school_column(table: pa.Table) -> pa.Array | pa.ChunkedArray:
    return as_text(_column_or_nulls(table, "school_id", pa.string()))


def _fields_mask(fields_text: pa.Array | pa.ChunkedArray, name: str) -> pa.Array | pa.ChunkedArray:
    """Rows whose wrapped changed-field list (\x1fa\x1fb\x1f) names ``name``."""
    return pc.match_substring(fields_text, f"{KEY_SEPARATOR}{name}{KEY_SEPARATOR}")


# -- the changes table ---------------------------------------------------------------------------


def _part(
    entity: Entity,
    change: str,
    schools: pa.Array | pa.ChunkedArray,
    ids: pa.Array | pa.ChunkedArray,
    *,
    changed_fields: pa.Array | pa.ChunkedArray | None = None,
    old_values: pa.Array | pa.ChunkedArray | None = None,
    new_values: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    n = len(ids)
    none = pa.nulls(n, pa.string())
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(entity.name), n),
            schools,
            ids,
            pa.repeat(pa.scalar(change), n),
            none if changed_fields is None else _empty_to_null(changed_fields),
            none if old_values is None else _empty_to_null(old_values),
            none if new_values is None else _empty_to_null(new_values),
        ],
        schema=CHANGES_SCHEMA,
    )


def _summary(table: pa.Table, entity: Entity) -> pa.Array:
    fields = [f for f in SUMMARY_FIELDS.get(entity.name, ()) if f in table.column_names]
    pieces = [_labelled(f, table.column(f), blank=False) for f in fields]
    return join_skip_nulls(pieces, FIELD_SEPARATOR, table.num_rows)


def _changed_part(entity: Entity, ec: EntityChanges) -> pa.Table:
    new, old = ec.changed_new, ec.changed_old
    n = new.num_rows
    fields_list = pc.cast(ec.changed_fields, pa.list_(pa.string()))
    wrapped = pc.binary_join_element_wise(
        pa.scalar(KEY_SEPARATOR),
        pc.fill_null(pc.binary_join(fields_list, KEY_SEPARATOR), ""),
        pa.scalar(KEY_SEPARATOR),
        "",
    )
    old_pieces, new_pieces = [], []
    for name in entity.value_columns:
        if name not in new.column_names:
            continue
        mask = _fields_mask(wrapped, name)
        before = _column_or_nulls(old, name, new.schema.field(name).type)
        old_pieces.append(pc.if_else(mask, _labelled(name, before, blank=True), NULL_STRING))
        new_pieces.append(pc.if_else(mask, _labelled(name, new.column(name), blank=True), NULL_STRING))
    return _part(
        entity,
        CHANGED,
        _school_column(new),
        display_key(new, entity),
        changed_fields=pc.fill_null(pc.binary_join(fields_list, FIELD_SEPARATOR), ""),
        old_values=join_skip_nulls(old_pieces, FIELD_SEPARATOR, n),
        new_values=join_skip_nulls(new_pieces, FIELD_SEPARATOR, n),
    )


def _id_changed_part(entity: Entity, ec: EntityChanges, id_changes: pa.Table) -> pa.Table:
    """One row per suspected source-ID change: the old and new records aligned, showing the key
    and every other field that differs."""
    old_ids = id_changes.column("old_id")
    new_ids = id_changes.column("new_id")
    removed, added = ec.removed, ec.added
    old = removed.take(pc.index_in(old_ids, value_set=_stored_key(removed, entity)))
    new = added.take(pc.index_in(new_ids, value_set=_stored_key(added, entity)))
    n = id_changes.num_rows
    key_name = DISPLAY_KEY_SEPARATOR.join(entity.key)
    names = [pa.repeat(pa.scalar(key_name), n)]
    old_pieces = [_labelled(key_name, _display_id(old_ids), blank=True)]
    new_pieces = [_labelled(key_name, _display_id(new_ids), blank=True)]
    for name in entity.value_columns:
        if name not in added.column_names or name not in removed.column_names:
            continue
        before, after = as_text(old.column(name)), as_text(new.column(name))
        differs = pc.fill_null(pc.not_equal(before, after), False)
        differs = pc.or_(differs, pc.not_equal(pc.is_valid(before), pc.is_valid(after)))
        names.append(pc.if_else(differs, pa.scalar(name), NULL_STRING))
        old_pieces.append(pc.if_else(differs, _labelled(name, before, blank=True), NULL_STRING))
        new_pieces.append(pc.if_else(differs, _labelled(name, after, blank=True), NULL_STRING))
    return _part(
        entity,
        ID_CHANGED,
        as_text(id_changes.column("school_id")),
        _display_id(new_ids),
        changed_fields=join_skip_nulls(names, FIELD_SEPARATOR, n),
        old_values=join_skip_nulls(old_pieces, FIELD_SEPARATOR, n),
        new_values=join_skip_nulls(new_pieces, FIELD_SEPARATOR, n),
    )


def _stored_key(table: pa.Table, entity: Entity) -> pa.Array | pa.ChunkedArray:
    """Keys as the diff stores them in ``id_changes`` (composite parts joined by KEY_SEPARATOR)."""
    parts = [as_text(table.column(c)) for c in entity.key]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def entity_changes_table(ec: EntityChanges, id_changes: pa.Table | None = None) -> pa.Table:
    """The changes of one entity, one row per change, sorted by school, change and ID.

    A removal and an addition that the diff paired as a suspected source-ID change
    (``id_changes`` rows of this entity) are shown once, as ``id_changed``.
    """
    entity = ENTITY_BY_NAME[ec.entity]
    if id_changes is not None:
        id_changes = id_changes.filter(pc.equal(id_changes.column("entity"), entity.name))
    parts = []
    added, removed = ec.added, ec.removed
    if id_changes is not None and id_changes.num_rows:
        old_ids = pc.drop_null(id_changes.column("old_id"))
        new_ids = pc.drop_null(id_changes.column("new_id"))
        parts.append(_id_changed_part(entity, ec, id_changes))
        removed = removed.filter(pc.invert(pc.is_in(_stored_key(removed, entity), value_set=old_ids)))
        added = added.filter(pc.invert(pc.is_in(_stored_key(added, entity), value_set=new_ids)))
    if added.num_rows:
        summary = _summary(added, entity)
        parts.append(
            _part(entity, ADDED, _school_column(added), display_key(added, entity), new_values=summary)
        )
    if removed.num_rows:
        summary = _summary(removed, entity)
        parts.append(
            _part(entity, REMOVED, _school_column(removed), display_key(removed, entity), old_values=summary)
        )
    if ec.changed_new.num_rows:
        parts.append(_changed_part(entity, ec))
    if not parts:
        return CHANGES_SCHEMA.empty_table()
    table = pa.concat_tables(parts)
    return table.sort_by([("school_id", "ascending"), ("change", "ascending"), ("id", "ascending")])


def _entity_tables(changes: ChangeSet, threads: int) -> Iterator[pa.Table]:
    """:func:`entity_changes_table` of each entity in registry order, built ``threads`` at a time
    (Arrow releases the GIL) and yielded as each is ready, so only a few are ever held."""
    names = [e.name for e in ENTITIES if e.name in changes.entities]
    pairs = present_pairs(changes)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="changes") as pool:
        pending = [pool.submit(entity_changes_table, changes.entities[n], pairs) for n in names[:threads]]
        for i in range(len(names)):
            table = pending.pop(0).result()
            if i + threads < len(names):
                pending.append(pool.submit(entity_changes_table, changes.entities[names[i + threads]], pairs))
            yield table


def changes_table(changes: ChangeSet) -> pa.Table:
    """Every change of a sync, one row each, entities in registry order (schools first).

    Columns: entity, school_id, id (composite keys as "S1/P9"), change (added, removed, changed,
    id_changed), changed_fields ("first_name; email"), old_values and new_values ("first_name:
    Ann; email: a@x.org", only the changed fields for changed rows; the main fields of the record
    for added and removed rows).
    """
    tables = []
    pairs = present_pairs(changes)
    for entity in ENTITIES:
        ec = changes.entities.get(entity.name)
        if ec is None:
            continue
        table = entity_changes_table(ec, pairs)
        if table.num_rows:
            tables.append(table)
    if not tables:
        return CHANGES_SCHEMA.empty_table()
    return pa.concat_tables(tables)


# -- writing -------------------------------------------------------------------------------------


def _write(table: pa.Table, headers: dict[str, str], sink: Sink, *, bom: bool) -> None:
    table = neutralize_table(table).rename_columns([headers.get(n, n) for n in table.column_names])
    if isinstance(sink, str | Path):
        with open(sink, "wb") as handle:
            _write_binary(table, handle, bom=bom)
    elif isinstance(sink, io.TextIOBase):
        buffer = io.BytesIO()
        _write_binary(table, buffer, bom=bom)
        sink.write(buffer.getvalue().decode("utf-8"))
    else:
        _write_binary(table, sink, bom=bom)


def _write_binary(table: pa.Table, sink: IO[bytes] | pa.NativeFile, *, bom: bool) -> None:
    if bom:
        sink.write(BOM)
    pacsv.write_csv(table, sink)


def write_changes_csv(changes: ChangeSet | pa.Table, sink: Sink, *, bom: bool = True) -> None:
    """Write the CSV of changes (from a ChangeSet, or a table made by :func:`changes_table`).

    ``sink`` is a path, a binary or text file object, or a pyarrow NativeFile.
    """
    table = changes if isinstance(changes, pa.Table) else changes_table(changes)
    _write(table, CHANGES_HEADERS, sink, bom=bom)


def write_changes_csv_gz(changes: ChangeSet, sink: IO[bytes], *, threads: int = 2) -> None:
    """Write the full CSV of changes gzip-compressed (the same rows, header and BOM as
    :func:`write_changes_csv`), one entity at a time: what a first sync offers beside its
    per-school summary, since a first sync adds every record of the district."""
    headers = [CHANGES_HEADERS[n] for n in CHANGES_SCHEMA.names]
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as out:
        out.write(BOM)
        header_written = False
        for table in _entity_tables(changes, threads):
            if table.num_rows == 0:
                continue
            renamed = neutralize_table(table).rename_columns(headers)
            buffer = io.BytesIO()
            pacsv.write_csv(renamed, buffer, pacsv.WriteOptions(include_header=not header_written))
            header_written = True
            out.write(buffer.getbuffer())
        if not header_written:
            buffer = io.BytesIO()
            pacsv.write_csv(CHANGES_SCHEMA.empty_table().rename_columns(headers), buffer)
            out.write(buffer.getbuffer())


def write_changes_summary_csv(summary: pa.Table, sink: Sink, *, bom: bool = True) -> None:
    """Write per entity and school counts (a :func:`rostersync.summary.summarize` table): a first
    sync's ``changes.csv``, which would otherwise list every record of the district."""
    _write(summary, SUMMARY_HEADERS, sink, bom=bom)


def write_errors_csv(issues: pa.Table, sink: Sink, *, bom: bool = True) -> None:
    """Write the CSV of row errors and alerts (an :data:`rostersync.issues.ISSUE_SCHEMA` table)."""
    _write(issues.cast(ISSUE_SCHEMA), ERRORS_HEADERS, sink, bom=bom)
