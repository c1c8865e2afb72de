"""orgs.csv: the org hierarchy, and the school each org belongs to.

OneRoster orgs have types ``district``, ``school``, ``department``, ``local``, ``state`` and
``national`` and form a tree through ``parentSourcedId``. Every class, user and enrollment is
mapped to its **school**: the org itself when it is a school, else its nearest ancestor of type
school. An org with no school at or above it (the district, a state) maps to no school: a teacher
or administrator there is kept without a school. A set with no school-typed org at all has its
leaf orgs (orgs no other org names as parent) taken as schools, with one alert that says so. The
walk up the tree is vectorised: one whole-column step per level of the hierarchy, not per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array
from rostersync.formats.oneroster.common import EMPTY_IDS, Context, select, split_status, unknown_values
from rostersync.formats.oneroster.specs import ORG_TYPES
from rostersync.formats.raw import RawTable
from rostersync.issues import ALERT, row_issues

# Deeper than any real hierarchy (national > state > district > school > department); it also
# ends a walk round a parentSourcedId cycle.
MAX_DEPTH = 32
NULL = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class OrgMap:
    """Which school each org of orgs.csv belongs to."""

    ids: pa.Array  # active org IDs
    school_of: pa.Array  # aligned with ids: the org's school, or null
    schools: pa.Array  # IDs of the orgs that are schools
    deleted: pa.Array  # IDs marked tobedeleted
    supplied: bool = True

    def school(self, orgs: ArrayLike) -> ArrayLike:
        """The school of each org ID. An ID not in orgs.csv is returned as is (validation then
        reports the reference); a deleted org, or one with no school above it, gives null."""
        if not self.supplied:
            return orgs
        at = pc.index_in(orgs, value_set=self.ids)
        mapped = pc.take(self.school_of, at)
        stray = pc.and_(pc.is_null(at), pc.invert(pc.is_in(orgs, value_set=self.deleted)))
        out: ArrayLike = pc.if_else(pc.fill_null(stray, False), orgs, mapped)
        return out

    def school_or_org(self, orgs: ArrayLike) -> ArrayLike:
        """As :meth:`school`, but an org with no school above it is returned as is, so that a
        record that needs a school is reported against the org it was sent with."""
        out: ArrayLike = pc.if_else(
            pc.fill_null(self.is_deleted(orgs), False), NULL, pc.coalesce(self.school(orgs), orgs)
        )
        return out

    def is_deleted(self, orgs: ArrayLike) -> ArrayLike:
        out: ArrayLike = pc.is_in(orgs, value_set=self.deleted)
        return out


NOT_SUPPLIED = OrgMap(EMPTY_IDS, EMPTY_IDS, EMPTY_IDS, EMPTY_IDS, supplied=False)


def _nearest_school(ids: pa.Array, parent: pa.Array, is_school: pa.Array) -> pa.Array:
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


def read_orgs(ctx: Context) -> OrgMap:
    """The schools table and the org -> school map (NOT_SUPPLIED when orgs.csv is absent)."""
    if not ctx.supplied("orgs.csv"):
        return NOT_SUPPLIED
    csv, deleted = split_status(ctx.files["orgs.csv"], "org_id")
    table = csv.table
    kind = pc.utf8_lower(table.column("type"))
    odd = unknown_values(kind, ORG_TYPES)
    if pc.any(odd).as_py():
        ctx.alert(csv, odd, "type", f"Not one of the documented org types ({', '.join(ORG_TYPES)}).")
    ids = as_array(table.column("org_id"))
    parent = as_array(csv.column("parent_id"))
    is_school = as_array(pc.fill_null(pc.equal(kind, "school"), False))
    if table.num_rows and not pc.any(is_school).as_py():
        is_school = as_array(pc.fill_null(pc.invert(pc.is_in(ids, value_set=parent.drop_null())), False))
        _leaf_alert(ctx, csv.name, table, is_school, csv.headers.get("type", "type"))
    school_of = _nearest_school(ids, parent, is_school)
    above = pc.is_null(school_of)
    if pc.any(above).as_py():
        ctx.note(
            "schools",
            pc.filter(ids, above),
            pc.binary_join_element_wise(
                "is an org of type ", pc.filter(kind, above), f" in {csv.name} with no school above it", ""
            ),
        )
    schools = table.filter(is_school)
    ctx.tables["schools"] = RawTable(
        "schools",
        select(
            schools.rename_columns(
                [
                    "school_id" if c == "org_id" else "school_number" if c == "identifier" else c
                    for c in schools.column_names
                ]
            ),
            ["school_id", "name", "school_number"],
        ),
        csv.name,
        {
            "school_id": csv.source("org_id"),
            "name": csv.source("name"),
            "school_number": csv.source("identifier", "identifier"),
        },
        required={"school_id": None, "name": None},
    )
    if len(deleted):
        ctx.note("schools", deleted, f"is marked tobedeleted in {csv.name}")
    return OrgMap(ids, school_of, as_array(schools.column("org_id").drop_null()), deleted)


def _leaf_alert(ctx: Context, file: str, table: pa.Table, leaves: pa.Array, header: str) -> None:
    ids = table.filter(leaves).column("org_id").drop_null().to_pylist()
    shown = ", ".join(str(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    first = pc.equal(pc.cumulative_sum(pc.cast(leaves, pa.int64())), 1)
    ctx.issues.append(
        row_issues(
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
    )
