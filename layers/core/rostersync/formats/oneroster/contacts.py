"""Contacts and student-contact links from ``agentSourcedIds``.

A link may be stated from the student's side, the guardian's side or both; it is kept once (its
first mention in file order). The link's relationship is the guardian's role (``Parent``,
``Guardian``, ``Relative``); a contact's school is that of the first student it is linked to. A
link to a user marked tobedeleted is removed with that user. A link to someone who is neither a
student nor a contact is kept as stated, so validation reports what that user really is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import as_array, first_mask
from rostersync.formats.oneroster.common import Context
from rostersync.formats.oneroster.personids import PersonIds
from rostersync.formats.oneroster.specs import SEXES
from rostersync.formats.raw import RawTable, Source
from rostersync.model import ROW_COLUMN

CONTACT_ROLE = "_contact_role"


@dataclass(frozen=True)
class Agents:
    """The person IDs of the set, and the users.csv row of each student and each contact."""

    ids: PersonIds
    student_rows: np.ndarray
    contact_rows: np.ndarray

    def side(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The agentSourcedIds items of the users at ``rows``: (position in ``rows``, item)."""
        position = np.full(len(self.ids.users), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows), dtype=np.int64)
        parent = position[self.ids.agent_user]
        item = np.flatnonzero(parent >= 0)
        return parent[item], item


def _at(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=values < 0)


def _links(students: pa.Table, contacts: pa.Table, deleted: pa.Array, agents: Agents) -> pa.Table:
    """One row per link, each end as an ID and as a position in the students / contacts table.

    Links are worked out on integer positions into one pool of IDs (the students', the
    contacts' and the agent items); the ID strings are taken only for the links kept."""
    ids = agents.ids
    s_parents, s_items = agents.side(agents.student_rows)
    c_parents, c_items = agents.side(agents.contact_rows)
    n_students, n_contacts = students.num_rows, contacts.num_rows
    pool = pa.concat_arrays(
        [as_array(students.column("person_id")), as_array(contacts.column("person_id")), ids.agents]
    )
    at_item = n_students + n_contacts
    # Positions are int32 (a pool of more than 2^31 IDs would not fit in memory anyway).
    student_id = np.concatenate([s_parents, at_item + c_items]).astype(np.int32)
    contact_id = np.concatenate([at_item + s_items, n_students + c_parents]).astype(np.int32)
    rows = np.concatenate(
        [
            as_array(students.column(ROW_COLUMN)).to_numpy(zero_copy_only=False)[s_parents],
            as_array(contacts.column(ROW_COLUMN)).to_numpy(zero_copy_only=False)[c_parents],
        ]
    ).astype(np.int64)
    # Positions of both ends in the students and contacts tables (-1: not such a user).
    first_student = ids.first_rows(ids.users[agents.student_rows])
    student_at = np.concatenate([s_parents, first_student[ids.agent_codes[c_items]]]).astype(np.int32)
    del first_student
    first_contact = ids.first_rows(ids.users[agents.contact_rows])
    contact_at = np.concatenate([first_contact[ids.agent_codes[s_items]], c_parents]).astype(np.int32)
    del first_contact, s_parents, s_items, c_parents, c_items
    # A link to a user marked tobedeleted goes with that user.
    if len(deleted):
        gone = pc.is_in(pool, value_set=deleted).to_numpy(zero_copy_only=False)
        keep = ~(gone[student_id] | gone[contact_id])
        student_id, contact_id, rows = student_id[keep], contact_id[keep], rows[keep]
        student_at, contact_at = student_at[keep], contact_at[keep]
    # The same link is usually stated from both sides: keep the first mention in file order.
    pair = np.where(
        (student_at >= 0) & (contact_at >= 0),
        student_at.astype(np.int64) * max(n_contacts, 1) + contact_at,
        -1,
    )
    if len(rows) and bool((rows[1:] >= rows[:-1]).all()):
        kept = np.flatnonzero(first_mask(pair))  # already in file order
    else:
        order = np.argsort(rows, kind="stable")
        kept = order[first_mask(pair[order])]
    del pair
    return pa.table(
        {
            "student_id": pc.take(pool, pa.array(student_id[kept])),
            "contact_id": pc.take(pool, pa.array(contact_id[kept])),
            ROW_COLUMN: pa.array(rows[kept]),
            "_student_at": _at(student_at[kept].astype(np.int64)),
            "_contact_at": _at(contact_at[kept].astype(np.int64)),
        }
    )


def read_contacts(
    ctx: Context,
    contacts: pa.Table,
    sources: dict[str, Source],
    required: dict[str, str | None],
    links_of: Agents,
) -> None:
    students = ctx.tables["students"].table
    csv = ctx.files["users.csv"]
    links = _links(students, contacts, ctx.deleted_users, links_of)
    student_at = links.column("_student_at")
    contact_at = links.column("_contact_at")
    links = links.drop_columns(["_student_at", "_contact_at"])
    links = links.append_column("school_id", pc.take(students.column("school_id"), student_at))
    role = pc.take(contacts.column(CONTACT_ROLE), contact_at)
    links = links.append_column("relationship", pc.utf8_capitalize(role))
    links = links.append_column("contact_type", pa.nulls(links.num_rows, pa.string()))
    # A contact's school is that of the first student (in file order) it is linked to.
    schooled = np.flatnonzero(
        pc.and_(pc.is_valid(contact_at), pc.is_valid(links.column("school_id"))).to_numpy(
            zero_copy_only=False
        )
    )
    owner = pc.take(contact_at, pa.array(schooled)).to_numpy(zero_copy_only=False)
    first_link = np.full(contacts.num_rows, -1, dtype=np.int64)
    first_link[owner[::-1]] = schooled[::-1]  # the last write is the earliest link
    school = pc.take(links.column("school_id"), pa.array(first_link, mask=first_link < 0))
    contacts = contacts.drop_columns(["school_id", "school_ids"]).append_column("school_id", school)
    agents = csv.source("agents", "agentSourcedIds")
    ctx.tables["contacts"] = RawTable(
        "contacts",
        contacts,
        csv.name,
        {**sources, "school_id": agents},
        required=dict(required),
        enums={"gender": SEXES},
    )
    ctx.tables["contact_links"] = RawTable(
        "contact_links",
        links,
        csv.name,
        {"student_id": agents, "contact_id": agents, "school_id": agents, "relationship": sources["_role"]},
        required={"student_id": None, "contact_id": None},
        deduplicated=True,
    )
