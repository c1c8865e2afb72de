"""Reading pulled API pages (NDJSON) as Arrow tables, and the field helpers both mappings use.

Pages are read with ``pyarrow.json`` against an explicit schema of just the fields the canonical
model uses (other fields are ignored), so nested JSON becomes Arrow structs and lists and every
field is picked out with struct/list kernels: no Python loop over records. A page whose values do
not fit the schema (a boolean where a string is expected, say) is read with type inference and
conformed (scalars cast to strings). Pages are read one at a time and concatenated per entity.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from rostersync.connectors.pages import PullManifest
from rostersync.formats.arrowops import ArrayLike, as_array, clean, null_where
from rostersync.storage import BlobStore

S = pa.string()
SL = pa.list_(S)
REF = pa.struct([("sourcedId", S)])
REFS = pa.list_(REF)


def struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct(list(fields.items()))


def _conform(values: pa.Array, target: pa.DataType) -> pa.Array:
    """``values`` (inferred types) as ``target``: scalars cast to string, structs and lists
    conformed field by field, anything that cannot be made to fit becomes null."""
    n = len(values)
    if values.type == target:
        return values
    if pa.types.is_null(values.type):
        return pa.nulls(n, target)
    if pa.types.is_struct(target) and pa.types.is_struct(values.type):
        names = {values.type.field(i).name for i in range(values.type.num_fields)}
        children = [
            _conform(pc.struct_field(values, [f.name]), f.type) if f.name in names else pa.nulls(n, f.type)
            for f in target
        ]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=pc.is_null(values))
    if pa.types.is_list(target) and (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
        inner = _conform(pc.list_flatten(values), target.value_type)
        offsets = pc.subtract(values.offsets, values.offsets[0]).cast(pa.int32())
        mask = pc.is_null(values)
        return pa.ListArray.from_arrays(offsets, inner, mask=mask if values.null_count else None)
    if pa.types.is_string(target) and not (pa.types.is_struct(values.type) or pa.types.is_list(values.type)):
        try:
            return pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(n, target)
    return pa.nulls(n, target)


def read_page(data: bytes, schema: pa.Schema) -> pa.Table:
    """One NDJSON page as ``schema`` (extra fields ignored, missing ones null)."""
    try:
        return pajson.read_json(
            io.BytesIO(data),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except pa.ArrowInvalid:
        inferred = pajson.read_json(io.BytesIO(data))
        columns = [
            _conform(as_array(inferred.column(f.name)), f.type)
            if f.name in inferred.column_names
            else pa.nulls(inferred.num_rows, f.type)
            for f in schema
        ]
        return pa.Table.from_arrays(columns, schema=schema)


def read_entity(store: BlobStore, manifest: PullManifest, entity: str, schema: pa.Schema) -> pa.Table:
    """Every page of ``entity`` as one table (zero rows when the pull wrote none)."""
    pages = manifest.entities.get(entity)
    tables = [read_page(store.get(key), schema) for key in (pages.keys if pages else [])]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table.combine_chunks()


def field_path(table: pa.Table, *path: str) -> ArrayLike:
    """A nested field (``"name", "first"``), or nulls where a parent is null."""
    values: ArrayLike = table.column(path[0])
    if len(path) > 1:
        values = pc.struct_field(as_array(values), list(path[1:]))
    return values


def text(values: ArrayLike) -> ArrayLike:
    """Trimmed strings, empty -> null (as the CSV reader cleans cells)."""
    return clean(values) if len(values) else values


def join_refs(refs: ArrayLike) -> ArrayLike:
    """A list of GUIDRefs as the CSV binding's comma-separated sourcedIds (empty list -> null)."""
    arr = as_array(refs)
    ids = pc.struct_field(pc.list_flatten(arr), ["sourcedId"])
    offsets = pc.subtract(arr.offsets, arr.offsets[0]).cast(pa.int32())
    return join_list(pa.ListArray.from_arrays(offsets, ids, mask=pc.is_null(arr) if arr.null_count else None))


def join_list(lists: ArrayLike) -> ArrayLike:
    joined = pc.binary_join(as_array(lists), ",")
    return null_where(joined, pc.equal(joined, ""))


def record_rows(n: int) -> pa.Array:
    return pa.array(np.arange(1, n + 1, dtype=np.int64))


def manifest_path(manifest: PullManifest) -> Path:
    """A stand-in for the directory a CSV set is read from (reports name the source by it)."""
    return Path(f"{manifest.kind}-api")
