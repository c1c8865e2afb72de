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

    def side(self, rows: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
        """The agentSourcedIds items of the users at ``rows``: (position in ``rows``, item, code)."""
        ids = self.ids
        position = np.full(len(ids.users), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows), dtype=np.int64)
        parent = position[ids.agent_user]
        mine = parent >= 0
        return parent[mine], ids.agents.filter(pa.array(mine)), ids.agent_codes[mine]


def _at(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=values < 0)


def _links(students: pa.Table, contacts: pa.Table, deleted: pa.Array, agents: Agents) -> pa.Table:
    ids = agents.ids
    s_parents, s_agents, s_codes = agents.side(agents.student_rows)
    c_parents, c_agents, c_codes = agents.side(agents.contact_rows)
    # Positions of both ends in the students and contacts tables (null: not such a user).
    first_student = ids.first_rows(ids.users[agents.student_rows])
    first_contact = ids.first_rows(ids.users[agents.contact_rows])
    student_at = _at(np.concatenate([s_parents, first_student[c_codes]]))
    contact_at = _at(np.concatenate([first_contact[s_codes], c_parents]))
    s_index, c_index = pa.array(s_parents), pa.array(c_parents)
    links = pa.table(
        {
            "student_id": pa.concat_arrays(
                [as_array(pc.take(students.column("person_id"), s_index)), c_agents]
            ),
            "contact_id": pa.concat_arrays(
                [s_agents, as_array(pc.take(contacts.column("person_id"), c_index))]
            ),
            ROW_COLUMN: pa.concat_arrays(
                [
                    as_array(pc.take(students.column(ROW_COLUMN), s_index)),
                    as_array(pc.take(contacts.column(ROW_COLUMN), c_index)),
                ]
            ),
            "_student_at": student_at,
            "_contact_at": contact_at,
        }
    )
    # A link to a user marked tobedeleted goes with that user.
    if len(deleted):
        gone = pc.or_(
            pc.is_in(links.column("student_id"), value_set=deleted),
            pc.is_in(links.column("contact_id"), value_set=deleted),
        )
        links = links.filter(pc.invert(gone))
    # The same link is usually stated from both sides: keep the first mention in file order.
    student_np = pc.fill_null(links.column("_student_at"), -1).to_numpy()
    contact_np = pc.fill_null(links.column("_contact_at"), -1).to_numpy()
    pair = np.where(
        (student_np >= 0) & (contact_np >= 0), student_np * max(contacts.num_rows, 1) + contact_np, -1
    )
    rows = as_array(links.column(ROW_COLUMN)).to_numpy(zero_copy_only=False)
    if len(rows) and bool((rows[1:] >= rows[:-1]).all()):
        order = np.arange(len(rows), dtype=np.int64)  # already in file order
    else:
        order = np.argsort(rows, kind="stable")
    return links.take(pa.array(order[first_mask(pair[order])]))


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
