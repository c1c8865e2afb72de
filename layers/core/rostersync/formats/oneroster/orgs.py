"""orgs.csv: the schools table, and the school each org belongs to.

OneRoster orgs have types ``district``, ``school``, ``department``, ``local``, ``state`` and
``national`` and form a tree through ``parentSourcedId``. The walk up the tree and the org ->
school map are shared with the SDS reader (``formats/orgtree.py``): a record at an org is mapped
to the org itself when it is a school, else its nearest ancestor of type school. An org with no
school at or above it (the district, a state) maps to no school: a teacher or administrator there
is kept without a school, and a student or class there is reported against that org, said in
words. A set with no school-typed org at all has its leaf orgs (orgs no other org names as
parent) taken as schools, with one alert that says so.
"""

from __future__ import annotations

import pyarrow.compute as pc

from rostersync.formats.arrowops import as_array
from rostersync.formats.oneroster.common import Context, select, split_status, unknown_values
from rostersync.formats.oneroster.specs import ORG_TYPES
from rostersync.formats.orgtree import NOT_SUPPLIED, OrgMap, build, leaf_orgs, leaves_alert, no_school_notes
from rostersync.formats.raw import RawTable


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
        is_school = leaf_orgs(ids, parent)
        ctx.issues.append(leaves_alert(csv.name, table, is_school, csv.headers.get("type", "type")))
    org_map = build(ids, parent, is_school, deleted)
    ctx.note("schools", *no_school_notes(org_map, table.column("type"), csv.name))
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
    return org_map
