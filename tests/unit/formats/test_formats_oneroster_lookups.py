"""The OneRoster reader's shortcuts give exactly what the plain Arrow operations give.

Person IDs are dictionary-encoded once (``personids``) instead of one ``pc.index_in`` per lookup;
a row selection that is one block is a slice instead of a filter; agent lists are split without
building lists; the org -> school map is computed per distinct org. Each is checked against the
operation it replaces, on IDs with repeats, nulls, and aligned and shuffled orders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from formats_helpers import replace_text, rows_by_key

from rostersync.formats import load_roster
from rostersync.formats.arrowops import explode, map_distinct, split_items, split_list
from rostersync.formats.oneroster.common import keep_rows
from rostersync.formats.oneroster.personids import encode_people

USERS = pa.chunked_array([pa.array(["u1", "u2", None, "u2"]), pa.array(["u3", "u4"])])
AGENTS = pa.array(["u3, u1", None, "u9", "", "u2,,u4", "u1"])


def _index_in(query: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray) -> list[int | None]:
    out: list[int | None] = pc.index_in(query, value_set=pa.concat_arrays(_chunks(values))).to_pylist()
    return out


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


@pytest.mark.parametrize(
    "roles",
    [
        pa.array(["u4", "u2", None, "u7", "u1", "u2"]),  # shuffled, a null, an unknown user
        pa.chunked_array([pa.array(["u1", "u2"])]),  # the users' first rows: no hashing
    ],
)
def test_role_lookup_is_index_in(roles: pa.Array | pa.ChunkedArray) -> None:
    ids = encode_people(USERS, AGENTS, roles, None)

    assert ids.positions(ids.users, ids.roles).to_pylist() == _index_in(roles, USERS)


@pytest.mark.parametrize(
    "demo",
    [
        pa.array(["u4", None, "u2", "u2", "u8"]),  # a null matches the users' first null
        pa.array(["u1", "u2"]),  # aligned with the users' first rows
    ],
)
def test_demographics_lookup_is_index_in(demo: pa.Array) -> None:
    ids = encode_people(USERS, AGENTS, None, demo)

    assert ids.demographics is not None
    assert ids.positions(ids.demographics, ids.users).to_pylist() == _index_in(USERS, demo)


def test_agent_items_are_the_split_lists_with_their_codes() -> None:
    ids = encode_people(USERS, AGENTS, None, None)
    parents, items = explode(split_list(AGENTS))

    assert ids.agent_user.tolist() == parents.to_pylist()
    assert ids.agents.to_pylist() == items.to_pylist()
    assert ids.positions(ids.users, ids.agent_codes).to_pylist() == _index_in(items, USERS)


@pytest.mark.parametrize(
    "values",
    [
        pa.array(["a,b", None, " c , d", ",,", "e", "x\u00a0,\u2003y"]),  # spaces, NBSP, em space
        pa.array(["a,b", None, "c", "d,e,f"]),  # nothing to trim
        pa.chunked_array([pa.array(["a, b"]), pa.array([None, "c"])]),
        pa.array([], pa.string()),
    ],
)
def test_split_items_is_explode_of_split_list(values: pa.Array | pa.ChunkedArray) -> None:
    parents, items = split_items(values)
    expected_parents, expected_items = explode(split_list(values))

    assert (parents.tolist(), items.to_pylist()) == (expected_parents.to_pylist(), expected_items.to_pylist())


@pytest.mark.parametrize(
    "mask",
    [
        [True] * 6,
        [False] * 6,
        [False, True, True, None, False, False],  # one block (a null counts as false)
        [True, False, True, False, False, True],
    ],
)
def test_keep_rows_is_filter(mask: list[bool | None]) -> None:
    table = pa.table({"k": pa.chunked_array([pa.array(["a", "b", "c"]), pa.array(["d", "e", "f"])])})

    assert (
        keep_rows(table, pa.array(mask, pa.bool_())).to_pylist() == table.filter(pa.array(mask)).to_pylist()
    )


def test_keep_rows_of_one_block_shares_the_data() -> None:
    values = pa.array(["a", "b", "c", "d"])
    table = pa.table({"k": values})

    kept = keep_rows(table, pa.array([False, True, True, False]))

    assert kept.column("k").chunk(0).buffers()[2].address == values.buffers()[2].address


def test_map_distinct_is_the_mapping_per_row() -> None:
    values = pa.chunked_array([pa.array(["o1", None, "o2"]), pa.array(["o2", "o3", None])])

    def mapping(orgs: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        out: pa.Array | pa.ChunkedArray = pc.binary_join_element_wise(
            pc.fill_null(orgs, "none"), "school", ":"
        )
        return out

    assert map_distinct(values, mapping).to_pylist() == mapping(values).to_pylist()


def test_demographics_in_the_users_order_are_read(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster12_basic")
    # Rows for the users' first rows, in their order: looked up without hashing.
    replace_text(
        directory / "demographics.csv",
        "U-S1,active,,2015-04-15,female",
        "U-T1,active,,1980-01-02,male\nU-T2,active,,1981-03-04,female\nU-S1,active,,2015-04-15,female",
    )
    replace_text(directory / "demographics.csv", "U-S2,active,,2013-09-02,male,,,,,,,,,,,\n", "")

    result = load_roster(directory)

    students = rows_by_key(result, "students", "person_id")
    assert (students["U-S1"]["birth_date"], students["U-S2"]["birth_date"]) == (date(2015, 4, 15), None)
    assert rows_by_key(result, "teachers", "person_id")["U-T2"]["birth_date"] == date(1981, 3, 4)


def test_positions_of_a_repeated_id_are_its_first_row() -> None:
    ids = encode_people(pa.array(["a", "b", "a"]), pa.nulls(3, pa.string()), None, None)

    assert ids.first_rows(ids.users)[ids.users].tolist() == [0, 1, 0]
    assert np.array_equal(ids.agent_codes, np.zeros(0))


def test_map_distinct_of_a_mapping_to_itself_is_the_column_itself() -> None:
    values = pa.chunked_array([pa.array(["o1", None]), pa.array(["o2"])])

    mapped = map_distinct(
        values, lambda orgs: pc.if_else(pc.is_null(orgs), pa.scalar(None, pa.string()), orgs)
    )

    assert mapped is values
