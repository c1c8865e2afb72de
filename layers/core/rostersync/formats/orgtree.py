"""The org hierarchy of a OneRoster or SDS set: the school each org belongs to.

Both formats send orgs of several types (``district``, ``school``, ``department``, ``college``,
...) that form a tree through ``parentSourcedId``. Every class, user and enrollment belongs to a
**school**: the org itself when it is a school, else its nearest ancestor that is a school. An
org with no school at or above it (the district, a state, a college) maps to no school. When a
set has no school-typed org at all, its leaf orgs (orgs that no other org names as parent) stand
for the schools, and :func:`leaves_alert` says so. The walk up the tree is vectorised: one
whole-column step per level of the hierarchy, not per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array, map_distinct
from rostersync.issues import ALERT, row_issues

# Deeper than any real hierarchy (national > state > district > school > department); it also
# ends a walk round a parentSourcedId cycle.
MAX_DEPTH = 32
NULL = pa.scalar(None, pa.string())
EMPTY_IDS = pa.array([], pa.string())


@dataclass(frozen=True)
class OrgMap:
    """Which school each org of orgs.csv belongs to."""

    ids: pa.Array  # active org IDs
    school_of: pa.Array  # aligned with ids: the org's school, or null
    schools: pa.Array  # IDs of the orgs that are schools
    deleted: pa.Array  # IDs marked tobedeleted (OneRoster only)
    supplied: bool = True

    def school(self, orgs: ArrayLike) -> ArrayLike:
        """The school of each org ID. An ID not in orgs.csv is returned as is (validation then
        reports the reference); a deleted org, or one with no school above it, gives null."""
        if not self.supplied:
            return orgs
        return map_distinct(orgs, self._school)

    def _school(self, orgs: pa.Array) -> ArrayLike:
        at = pc.index_in(orgs, value_set=self.ids)
        mapped = pc.take(self.school_of, at)
        stray = pc.and_(pc.is_null(at), pc.invert(pc.is_in(orgs, value_set=self.deleted)))
        out: ArrayLike = pc.if_else(pc.fill_null(stray, False), orgs, mapped)
        return out

    def school_or_org(self, orgs: ArrayLike) -> ArrayLike:
        """As :meth:`school`, but an org with no school above it is returned as is, so that a
        record that needs a school is reported against the org it was sent with (and the note of
        :func:`no_school_notes` says what that org is)."""
        out: ArrayLike = pc.if_else(
            pc.fill_null(self.is_deleted(orgs), False), NULL, pc.coalesce(self.school(orgs), orgs)
        )
        return out

    def is_deleted(self, orgs: ArrayLike) -> ArrayLike:
        out: ArrayLike = pc.is_in(orgs, value_set=self.deleted)
        return out

    def is_school(self, orgs: ArrayLike) -> ArrayLike:
        out: ArrayLike = pc.is_in(orgs, value_set=self.schools)
        return out


NOT_SUPPLIED = OrgMap(EMPTY_IDS, EMPTY_IDS, EMPTY_IDS, EMPTY_IDS, supplied=False)


def leaf_orgs(ids: pa.Array, parent: pa.Array) -> pa.Array:
    """True for each org that no other org names as its parent."""
    return as_array(pc.fill_null(pc.invert(pc.is_in(ids, value_set=parent.drop_null())), False))


def nearest_school(ids: pa.Array, parent: pa.Array, is_school: pa.Array) -> pa.Array:
    """Aligned with ``ids``: the org itself when it is a school, else its nearest ancestor that is
    one, else null."""
    school_of = pc.if_else(is_school, ids, NULL)
    cursor = parent
    for _ in range(MAX_DEPTH):
        pending = pc.and_(pc.is_null(school_of), pc.is_valid(cursor))
        if not pc.any(pending).as_py():
            break
        at = pc.index_in(cursor, value_set=ids)
        found = pc.fill_null(pc.take(is_school, at), False)
        school_of = pc.if_else(pc.and_(pending, found), cursor, school_of)
        cursor = pc.if_else(pc.and_(pending, pc.invert(found)), pc.take(parent, at), NULL)
    return as_array(school_of)


def build(ids: pa.Array, parent: pa.Array, is_school: pa.Array, deleted: pa.Array = EMPTY_IDS) -> OrgMap:
    """The map of a set whose schools are ``is_school`` (aligned with ``ids``)."""
    return OrgMap(
        ids, nearest_school(ids, parent, is_school), as_array(ids.filter(is_school).drop_null()), deleted
    )


def no_school_notes(org_map: OrgMap, kinds: ArrayLike, file: str) -> tuple[pa.Array, pa.Array]:
    """(org IDs with no school at or above them, what each is in words), for the reference
    message of a record sent at such an org: "is an org of type district in orgs.csv with no
    school above it". ``kinds`` is the org type as sent, aligned with ``org_map.ids``."""
    above = pc.fill_null(pc.is_null(org_map.school_of), False)
    kind = pc.filter(kinds, above)
    sent = pc.and_(pc.is_valid(kind), pc.not_equal(pc.utf8_trim_whitespace(kind), ""))
    what = pc.if_else(
        pc.fill_null(sent, False),
        pc.binary_join_element_wise("is an org of type ", kind, ""),
        pa.scalar("is an org with no type"),
    )
    notes = pc.binary_join_element_wise(what, f" in {file} with no school above it", "")
    return as_array(pc.filter(org_map.ids, above)), as_array(notes)


def leaves_alert(file: str, table: pa.Table, leaves: ArrayLike, header: str) -> pa.Table:
    """The alert, on the first leaf row of ``table`` (orgs.csv), that a set with no org of type
    school had its leaf orgs taken as the schools; it names up to five of them."""
    ids = as_array(table.filter(leaves).column("org_id").drop_null())
    shown = ", ".join(str(i) for i in ids.slice(0, 5).to_pylist())
    if len(ids) > 5:
        shown += f" and {len(ids) - 5} more"
    first = pc.equal(pc.cumulative_sum(pc.cast(leaves, pa.int64())), 1)
    return row_issues(
        table,
        pc.and_(leaves, first),
        severity=ALERT,
        file=file,
        column=header,
        value_column="type",
        message=(
            f"{file} has no org of type school, so the orgs that no other org names as its "
            f"parent were taken as the schools ({shown}). Set the type of each school to "
            '"school" in your SIS export.'
        ),
    )
