"""Scoping the staged set before the diff (:func:`prepare_staged`): configured schools, excluded
and dropped contact types; what is left out is reported as alerts (counts, not records)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.holds.common import COUNT, lower_set, normalized
from rostersync.issues import ALERT, ISSUE_SCHEMA
from rostersync.model import ENTITIES, PERSON_ENTITIES
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings


def _row_numbers(n: int) -> pa.Array:
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _first_by(table: pa.Table, group: str, value: str) -> pa.Table:
    """First ``value`` of each ``group`` in row order."""
    return table.group_by(group, use_threads=False).aggregate([(value, "first")])


def _issue(column: str, value: str, message: str) -> dict[str, Any]:
    return {"severity": ALERT, "file": "", "row": None, "column": column, "value": value, "message": message}


def _keep_people(table: pa.Table, kept: pa.Array) -> tuple[pa.Table, int]:
    """People of a kept school, or listing one in ``school_ids``; a person whose main school is
    not kept moves to their first kept school so counts and releases stay per configured school.
    Returns the table and how many people moved."""
    in_school = pc.fill_null(pc.is_in(table.column("school_id"), value_set=kept), False)
    if "school_ids" not in table.column_names or table.num_rows == 0:
        return table.filter(in_school), 0
    lists = table.column("school_ids")
    flat = pc.list_flatten(lists)
    listed = pa.table({"row": pc.list_parent_indices(lists), "school": flat}).filter(
        pc.fill_null(pc.is_in(flat, value_set=kept), False)
    )
    first = _first_by(listed, "row", "school")
    position = pc.index_in(_row_numbers(table.num_rows), value_set=first.column("row"))
    first_kept = pc.take(first.column("school_first"), position)
    keep = pc.or_(in_school, pc.is_valid(first_kept))
    moved = pc.and_(pc.invert(in_school), keep)
    school = pc.if_else(moved, first_kept, table.column("school_id"))
    table = table.set_column(table.schema.get_field_index("school_id"), "school_id", school)
    return table.filter(keep), int(pc.sum(moved).as_py() or 0)


def _scope_to_schools(tables: dict[str, pa.Table], kept: pa.Array) -> list[dict[str, Any]]:
    """Keep the rows of the ``kept`` schools (see :func:`prepare_staged`); an alert per entity."""
    before = {name: t.num_rows for name, t in tables.items()}
    moved: dict[str, int] = {}

    def in_kept(table: pa.Table) -> pa.ChunkedArray:
        return pc.fill_null(pc.is_in(table.column("school_id"), value_set=kept), False)

    tables["schools"] = tables["schools"].filter(in_kept(tables["schools"]))
    sections = tables["sections"].filter(in_kept(tables["sections"]))
    tables["sections"] = sections
    for name, key in (("terms", "term_id"), ("courses", "course_id")):
        used = pc.drop_null(pc.unique(sections.column(key)))
        table = tables[name]
        tables[name] = table.filter(pc.or_(in_kept(table), pc.is_in(table.column(key), value_set=used)))
    for entity in PERSON_ENTITIES:
        if entity.name != "contacts":
            tables[entity.name], moved[entity.name] = _keep_people(tables[entity.name], kept)
    tables["enrollments"] = tables["enrollments"].filter(in_kept(tables["enrollments"]))
    links = tables["contact_links"]
    kept_students = tables["students"].column("person_id")
    tables["contact_links"] = links.filter(
        pc.fill_null(pc.is_in(links.column("student_id"), value_set=kept_students), False)
    )
    issues: list[dict[str, Any]] = []
    for entity in ENTITIES:
        if entity.name == "contacts":
            continue  # reported with the contact-type drops
        dropped = before[entity.name] - tables[entity.name].num_rows
        if dropped:
            issues.append(
                _issue(
                    "school_id",
                    "",
                    f"{entity.name}: {dropped:,} rows outside the configured schools were left out",
                )
            )
        if moved.get(entity.name):
            issues.append(
                _issue(
                    "school_id",
                    "",
                    f"{entity.name}: {moved[entity.name]:,} people whose main school is not "
                    "configured were counted in their first configured school",
                )
            )
    return issues


def _drop_contact_types(tables: dict[str, pa.Table], settings: DistrictSettings) -> list[dict[str, Any]]:
    """Drop the contact links of excluded (and dropped emergency) types; an alert per type."""
    drop_types = list(settings.excluded_contact_types)
    if settings.holds.emergency_contacts == "drop":
        drop_types += settings.holds.emergency_contact_types
    links = tables["contact_links"]
    if not drop_types or not links.num_rows:
        return []
    drop = pc.fill_null(
        pc.is_in(normalized(links.column("contact_type")), value_set=lower_set(drop_types)), False
    )
    dropped_links = links.filter(drop)
    tables["contact_links"] = links.filter(pc.invert(drop))
    by_type = dropped_links.group_by("contact_type").aggregate([([], COUNT)]).sort_by("contact_type")
    return [
        _issue(
            "contact_type",
            row["contact_type"],
            f"contact_links: {row[COUNT]:,} contact links of type {row['contact_type']} were "
            "left out (district setting)",
        )
        for row in by_type.to_pylist()
    ]


def _keep_linked_contacts(
    tables: dict[str, pa.Table], staged: RosterSet, kept: pa.Array | None
) -> list[dict[str, Any]]:
    """Keep the contacts a kept link names (``kept``: the configured schools, None when unscoped)."""
    scoped = kept is not None
    contacts = tables["contacts"]
    if not contacts.num_rows or (
        not scoped and tables["contact_links"].num_rows == staged.table("contact_links").num_rows
    ):
        return []
    linked_now = tables["contact_links"].column("contact_id")
    is_linked = pc.fill_null(pc.is_in(contacts.column("person_id"), value_set=linked_now), False)
    if scoped:
        keep = is_linked
    else:
        linked_before = staged.table("contact_links").column("contact_id")
        had_link = pc.fill_null(pc.is_in(contacts.column("person_id"), value_set=linked_before), False)
        keep = pc.or_(is_linked, pc.invert(had_link))
    tables["contacts"] = contacts = contacts.filter(keep)
    issues: list[dict[str, Any]] = []
    dropped = staged.table("contacts").num_rows - contacts.num_rows
    if dropped:
        issues.append(
            _issue(
                "contact_id", "", f"contacts: {dropped:,} contacts left with no linked student were left out"
            )
        )
    if kept is not None and contacts.num_rows:
        tables["contacts"] = _contacts_in_link_schools(contacts, tables["contact_links"], kept)
    return issues


def _contacts_in_link_schools(contacts: pa.Table, links: pa.Table, kept: pa.Array) -> pa.Table:
    """A contact whose school is not configured takes the school of its first kept link."""
    first = _first_by(links, "contact_id", "school_id")
    position = pc.index_in(contacts.column("person_id"), value_set=first.column("contact_id"))
    link_school = pc.take(first.column("school_id_first"), position)
    own = pc.fill_null(pc.is_in(contacts.column("school_id"), value_set=kept), False)
    school = pc.if_else(
        own, contacts.column("school_id"), pc.coalesce(link_school, contacts.column("school_id"))
    )
    index = contacts.schema.get_field_index("school_id")
    return contacts.set_column(index, "school_id", school)


def prepare_staged(staged: RosterSet, settings: DistrictSettings) -> tuple[RosterSet, pa.Table]:
    """Apply the district's scoping settings to a staged set before the diff.

    - ``school_ids`` (when set): school-scoped tables keep rows of those schools; people also
      when one of their ``school_ids`` is configured (moved to that school); terms and courses
      also when a kept section uses them; contact links when their student is kept.
    - ``excluded_contact_types``, and ``emergency_contact_types`` when emergency contacts are
      set to "drop": those contact links are dropped (case-insensitive).
    - Contacts are kept when a kept link names them (with ``school_ids`` set, only then;
      otherwise a contact that never had a link is left for validation to report). A kept
      contact whose school is not configured takes the school of its first kept link.

    Returns the filtered set and an alert per kind of drop (counts, not one row per record).
    """
    tables = dict(staged.tables)
    scoped = bool(settings.school_ids)
    kept = pa.array(sorted(set(settings.school_ids)), pa.string())
    issues = _scope_to_schools(tables, kept) if scoped else []
    issues += _drop_contact_types(tables, settings)
    issues += _keep_linked_contacts(tables, staged, kept if scoped else None)

    prepared = RosterSet(
        tables=tables,
        format=staged.format,
        unknown=staged.unknown,
        missing=staged.missing,
        received_at=dict(staged.received_at),
    )
    return prepared, pa.Table.from_pylist(issues, schema=ISSUE_SCHEMA)
