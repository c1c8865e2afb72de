"""Users' roles and schools: users.csv ``role`` (1.1) or roles.csv (1.2).

A user may hold several roles (1.2 ``roles.csv`` rows, or a comma list in 1.1's ``role``). The
user's *main* role is the first role that is not a guardian role (primary roles first, then file
order): it makes them a student, a teacher or a staff member. Independently, a user with any
``parent``, ``guardian`` or ``relative`` role is also a contact, so a teacher who is a parent is
both a teacher and a contact and their link to their child survives. A user's schools are the
schools of all their orgs (1.1 ``orgSourcedIds``) or of the orgs of all their roles (1.2), in
order, once each, each org mapped to its school through the org hierarchy. Roles and orgs marked
tobedeleted are dropped; a user whose every org is marked tobedeleted is itself removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array, build_lists, explode, first_mask, split_list
from rostersync.formats.csvio import CsvFile
from rostersync.formats.oneroster.common import Context, unknown_values
from rostersync.formats.oneroster.specs import CONTACT_ROLES, ROLE_TYPES
from rostersync.formats.orgtree import OrgMap
from rostersync.model import ROW_COLUMN


@dataclass
class Entries:
    """One row per (user, role or org) in priority order: ``user`` indexes the users table."""

    user: np.ndarray
    value: pa.Array
    row: pa.Array


@dataclass
class Roles:
    """Per user (aligned with the users table)."""

    main: ArrayLike  # first non-guardian role, lower case (null: none)
    main_row: ArrayLike  # the row it came from (1.2: roles.csv row)
    contact: ArrayLike  # first guardian role (null: none)
    school_ids: pa.Array
    school_rows: pa.Array
    first_school: ArrayLike  # the first of school_ids (null: none)
    removed: np.ndarray  # every org of the user is marked tobedeleted
    first_org: ArrayLike  # the user's first org that is not marked tobedeleted, as sent


def _ordered(user: np.ndarray, secondary: np.ndarray, row: np.ndarray) -> np.ndarray:
    return np.lexsort((row, secondary, user))


def _by_user(at: np.ndarray, user: np.ndarray, secondary: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The rows ``at`` in priority order: by user, primary roles first, then file order."""
    out: np.ndarray = at[_ordered(user[at], secondary[at], row[at])]
    return out


def _take(values: ArrayLike, order: np.ndarray) -> pa.Array:
    """``values`` in ``order``, without a copy when the order is that of the file."""
    if len(order) == len(values) and bool((order == np.arange(len(order))).all()):
        return as_array(values)
    return as_array(pc.take(values, pa.array(order)))


def _first_per_user(entries: Entries, mask: np.ndarray, n: int) -> tuple[ArrayLike, ArrayLike]:
    at = np.flatnonzero(mask)
    users = entries.user[at]
    first = np.ones(len(at), dtype=bool)
    first[1:] = users[1:] != users[:-1]
    positions = np.full(n, -1, dtype=np.int64)
    positions[users[first]] = at[first]
    index = pa.array(positions, mask=positions < 0)
    return pc.take(entries.value, index), pc.take(entries.row, index)


def pick(roles: Entries, orgs: Entries, org_map: OrgMap, n: int) -> Roles:
    """Main role, guardian role and schools of each of ``n`` users."""
    is_contact = pc.fill_null(pc.is_in(roles.value, value_set=pa.array(CONTACT_ROLES)), False)
    contact_np = is_contact.to_numpy(zero_copy_only=False)
    valid = pc.is_valid(roles.value).to_numpy(zero_copy_only=False)
    main, main_row = _first_per_user(roles, valid & ~contact_np, n)
    contact, _ = _first_per_user(roles, contact_np, n)
    school_ids, school_rows, first_school, removed = _schools(orgs, org_map, n)
    live = pc.invert(pc.fill_null(org_map.is_deleted(orgs.value), False)).to_numpy(zero_copy_only=False)
    first_org, _ = _first_per_user(orgs, live & pc.is_valid(orgs.value).to_numpy(zero_copy_only=False), n)
    return Roles(main, main_row, contact, school_ids, school_rows, first_school, removed, first_org)


def _schools(orgs: Entries, org_map: OrgMap, n: int) -> tuple[pa.Array, pa.Array, ArrayLike, np.ndarray]:
    listed = pc.is_valid(orgs.value).to_numpy(zero_copy_only=False)
    deleted = pc.fill_null(org_map.is_deleted(orgs.value), False).to_numpy(zero_copy_only=False)
    listed_count = np.bincount(orgs.user[listed], minlength=n)
    deleted_count = np.bincount(orgs.user[listed & deleted], minlength=n)
    removed = (listed_count > 0) & (listed_count == deleted_count)
    school = org_map.school(orgs.value)
    codes = pc.dictionary_encode(as_array(school)).indices
    code_np = pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    pair = np.where(code_np >= 0, orgs.user * max(int(code_np.max(initial=0)) + 1, 1) + code_np, -1)
    if len(orgs.user) < 2 or bool((orgs.user[1:] != orgs.user[:-1]).all()):
        keep = code_np >= 0  # one org per user: no school can repeat
    else:
        keep = first_mask(pair) & (code_np >= 0)
    owners = pa.array(orgs.user[keep])
    first, _ = _first_per_user(Entries(orgs.user, as_array(school), orgs.row), keep, n)
    return (
        build_lists(owners, pc.filter(school, pa.array(keep)), n),
        build_lists(owners, pc.filter(orgs.row, pa.array(keep)), n),
        first,
        removed,
    )


def roles_11(users: pa.Table) -> tuple[Entries, Entries]:
    """(roles, orgs) of 1.1 users: ``role`` may be a comma list; the first is the primary."""
    rows = users.column(ROW_COLUMN)
    parents, roles = explode(split_list(pc.utf8_lower(users.column("role"))))
    org_parents, orgs = explode(split_list(users.column("orgs")))
    return (
        Entries(parents.to_numpy(), roles, as_array(pc.take(rows, parents))),
        Entries(org_parents.to_numpy(), orgs, as_array(pc.take(rows, org_parents))),
    )


def roles_12(
    ctx: Context, csv: CsvFile, at: pa.Array, deleted_users: pa.Array, org_map: OrgMap
) -> tuple[Entries, Entries]:
    """(roles, orgs) of 1.2 users from roles.csv (``csv``: its rows not marked tobedeleted),
    primary roles first, then file order; ``at`` is each role's row in users.csv (null: none)."""
    table = csv.table
    role_type = pc.utf8_lower(table.column("role_type"))
    odd = unknown_values(role_type, ROLE_TYPES)
    if pc.any(odd).as_py():
        ctx.alert(csv, odd, "role_type", "Not one of the documented role types (primary, secondary).")
    _orphans(ctx, csv, at, deleted_users)
    at_np = pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    secondary = pc.fill_null(pc.not_equal(role_type, "primary"), True).to_numpy(zero_copy_only=False)
    row = as_array(table.column(ROW_COLUMN)).to_numpy(zero_copy_only=False)
    # Orgs of deleted roles still count for "every org deleted": list them from all roles.
    org_order = _by_user(np.flatnonzero(at_np >= 0), at_np, secondary, row)
    # Roles at an org marked tobedeleted are removed with it.
    order = org_order
    if len(org_map.deleted):
        dropped = pc.fill_null(org_map.is_deleted(table.column("org_id")), False)
        live = (at_np >= 0) & ~dropped.to_numpy(zero_copy_only=False)
        order = _by_user(np.flatnonzero(live), at_np, secondary, row)
    rows = table.column(ROW_COLUMN)
    roles = Entries(at_np[order], _take(pc.utf8_lower(table.column("role")), order), _take(rows, order))
    orgs = Entries(at_np[org_order], _take(table.column("org_id"), org_order), _take(rows, org_order))
    return roles, orgs


def _orphans(ctx: Context, roles: CsvFile, at: ArrayLike, deleted_users: pa.Array) -> None:
    """Roles of a user missing from users.csv (not one marked tobedeleted) are reported."""
    user_id = roles.table.column("user_id")
    orphan = pc.and_(pc.is_null(at), pc.is_valid(user_id))
    orphan = pc.and_(orphan, pc.invert(pc.is_in(user_id, value_set=deleted_users)))
    if pc.any(orphan).as_py():
        ctx.alert(
            roles,
            orphan,
            "user_id",
            "Refers to a user who is not in users.csv; the role was ignored.",
        )
