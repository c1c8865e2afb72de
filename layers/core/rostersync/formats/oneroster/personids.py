"""Person IDs of a OneRoster set as integer codes of one dictionary, for every lookup of a person.

The reader looks person IDs up several times: each roles.csv row's user, each user's
demographics row, and both ends of every ``agentSourcedIds`` link. Each ``pc.index_in`` builds a
hash table of its value set (1.7M users at 600k students), so the IDs of users.csv, roles.csv,
demographics.csv and the agent lists are instead dictionary-encoded together, once; every lookup
is then an integer lookup in numpy. The answers are those of ``pc.index_in``: the first matching
row, null for none, and a null ID matches the first null ID (nulls are encoded as a value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rostersync.formats.arrowops import ArrayLike, as_array, split_items


@dataclass(frozen=True)
class PersonIds:
    """Codes of the person IDs of one set (all codes index one dictionary of ``size`` IDs)."""

    size: int
    users: np.ndarray  # code of each users.csv row
    roles: np.ndarray  # code of each roles.csv row (empty when there is no roles.csv)
    demographics: np.ndarray | None  # code of each demographics.csv row (None: not used)
    agent_user: np.ndarray  # the users.csv row of each agentSourcedIds item, in file order
    agents: pa.Array  # the items (trimmed, non-empty)
    agent_codes: np.ndarray  # their codes

    def first_rows(self, codes: np.ndarray) -> np.ndarray:
        """Per code of the dictionary, the first row of ``codes`` holding it (-1: none)."""
        none = np.iinfo(np.int64).max
        first = np.full(self.size, none, dtype=np.int64)
        np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
        first[first == none] = -1
        return first

    def positions(self, codes: np.ndarray, query: np.ndarray) -> pa.Array:
        """``pc.index_in``: for each of ``query``, the first row of ``codes`` with the same ID."""
        at = self.first_rows(codes)[query]
        return pa.array(at, mask=at < 0)


def _codes(chunks: list[pa.Array], lengths: list[int]) -> list[np.ndarray]:
    """Dictionary-encode ``chunks`` as one column; the codes split back by ``lengths``."""
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, pa.string()), null_encoding="encode")
    flat = np.concatenate(
        [np.zeros(0, np.int32)] + [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
    )
    bounds = np.cumsum(lengths)[:-1]
    return np.split(flat, bounds)


def _aligned(ids: ArrayLike | None, users: ArrayLike) -> bool:
    """``ids`` repeats the first rows of ``users`` exactly (no nulls): then their codes are the
    users' codes and need no hashing (roles.csv and demographics.csv are often written so)."""
    if ids is None or len(ids) > len(users) or ids.null_count or users.null_count:
        return False
    first = users.slice(0, len(ids))
    same = pc.equal(ids, pa.chunked_array([first]) if isinstance(ids, pa.ChunkedArray) else first)
    return bool(pc.all(same).as_py() is not False)


def encode_people(
    user_ids: ArrayLike, agents: ArrayLike, role_ids: ArrayLike | None, demo_ids: ArrayLike | None
) -> PersonIds:
    """Codes of users.csv ``sourcedId`` and ``agentSourcedIds`` items, roles.csv
    ``userSourcedId`` and demographics.csv ``sourcedId`` (each None when not read)."""
    agent_user, items = split_items(agents)
    users_arr = as_array(user_ids)
    named = {"roles": role_ids, "demographics": demo_ids}
    hashed = [n for n, c in named.items() if c is not None and not _aligned(c, users_arr)]
    columns = [users_arr, *(as_array(named[n]) for n in hashed), items]
    codes = _codes(columns, [len(c) for c in columns])
    size = 1 + max((int(c.max(initial=-1)) for c in codes), default=-1)
    users = codes[0]
    by_name = dict(zip(hashed, codes[1:-1], strict=True))
    # An aligned column has the codes of the users' first rows.
    for name, column in named.items():
        if column is not None and name not in by_name:
            by_name[name] = users[: len(column)]
    return PersonIds(
        size,
        users,
        by_name.get("roles", np.zeros(0, np.int32)),
        by_name.get("demographics"),
        agent_user,
        items,
        codes[-1],
    )
