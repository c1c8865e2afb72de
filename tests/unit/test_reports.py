"""The admin's downloads: formula neutralising, the changes table and both CSVs."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from builders import Row, change_set, entity_changes, table

from rostersync import changeblocks, changerows, reports
from rostersync.changes import ChangeSet
from rostersync.issues import ISSUE_SCHEMA
from rostersync.model import (
    CONTACT_LINKS,
    ENTITIES,
    ENTITY_BY_NAME,
    KEY_SEPARATOR,
    SECTIONS,
    STUDENTS,
)


def student(person_id: str, school: str = "1", **fields: Any) -> Row:
    return {"person_id": person_id, "school_id": school, **fields}


def rows_by_id(changes: ChangeSet) -> dict[str, Row]:
    return {row["id"]: row for row in changeblocks.changes_table(changes).to_pylist()}


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# -- neutralize ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+1", "-5", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_neutralize_prefixes_each_dangerous_start(value: str) -> None:
    assert reports.neutralize(pa.array([value])).to_pylist() == ["'" + value]


@pytest.mark.parametrize("value", ["Ann", "a=b", "1-2", " =x", "", "'=quoted", "O'Brien", "x@y.org"])
def test_neutralize_leaves_safe_values_alone(value: str) -> None:
    assert reports.neutralize(pa.array([value])).to_pylist() == [value]


def test_neutralize_keeps_nulls_and_chunking() -> None:
    values = pa.chunked_array([["=a", None], ["b"]])

    result = reports.neutralize(values)

    assert isinstance(result, pa.ChunkedArray)
    assert result.to_pylist() == ["'=a", None, "b"]


def test_neutralize_ignores_non_string_arrays() -> None:
    numbers = pa.array([-5, 3])

    assert reports.neutralize(numbers) is numbers


def test_neutralize_reads_a_sliced_array_from_its_own_start() -> None:
    values = pa.array(["=hidden", "ok", "", "-5", None, ""]).slice(1)

    assert reports.neutralize(values).to_pylist() == ["ok", "", "'-5", None, ""]


def test_neutralize_of_only_empty_strings_is_unchanged() -> None:
    values = pa.array(["", ""])

    assert reports.neutralize(values) is values


def test_neutralize_large_strings_and_multibyte_first_characters() -> None:
    values = pa.array(["=a", "é=", "-", None], pa.large_string())

    result = reports.neutralize(values)

    assert result.type == pa.large_string()
    assert result.to_pylist() == ["'=a", "é=", "'-", None]


# -- changes_table -------------------------------------------------------------------------------


def test_changes_table_one_row_per_added_removed_and_changed() -> None:
    changes = change_set(
        entity_changes(
            STUDENTS,
            added=[student("S3", first_name="Cal", last_name="Lee", grade="5")],
            removed=[student("S9", "2", first_name="Old", email="old@x.org")],
            changed=[
                (
                    student("S1", first_name="Ann", email="ann@x.org", grade="4"),
                    student("S1", first_name="Anne", email="anne@x.org", grade="4"),
                    ["first_name", "email"],
                )
            ],
        )
    )

    rows = rows_by_id(changes)

    assert rows["S3"] == {
        "entity": "students",
        "school_id": "1",
        "id": "S3",
        "change": "added",
        "changed_fields": None,
        "old_values": None,
        "new_values": "first_name: Cal; last_name: Lee; grade: 5",
    }
    assert rows["S9"]["change"] == "removed"
    assert rows["S9"]["school_id"] == "2"
    assert rows["S9"]["old_values"] == "first_name: Old; email: old@x.org"
    assert rows["S9"]["new_values"] is None
    assert rows["S1"]["change"] == "changed"
    assert rows["S1"]["changed_fields"] == "first_name; email"
    assert rows["S1"]["old_values"] == "first_name: Ann; email: ann@x.org"
    assert rows["S1"]["new_values"] == "first_name: Anne; email: anne@x.org"
    assert len(rows) == 3


def test_changes_table_shows_a_cleared_field_as_blank() -> None:
    changed = [(student("S1", email="a@x.org"), student("S1", email=None), ["email"])]

    row = rows_by_id(change_set(entity_changes(STUDENTS, changed=changed)))["S1"]

    assert (row["old_values"], row["new_values"]) == ("email: a@x.org", "email: (blank)")


def test_changes_table_keeps_rows_aligned_when_a_record_has_no_summary_fields() -> None:
    # Rows with every summary field null must not be dropped or shifted.
    added = [student("A1", first_name="Amy"), student("A2"), student("A3", first_name="Cy")]

    rows = changeblocks.changes_table(change_set(entity_changes(STUDENTS, added=added))).to_pylist()

    assert [(r["id"], r["new_values"]) for r in rows] == [
        ("A1", "first_name: Amy"),
        ("A2", None),
        ("A3", "first_name: Cy"),
    ]


def test_changes_table_renders_lists_and_dates() -> None:
    old = {"section_id": "C1", "school_id": "1", "teacher_ids": ["T1"]}
    new = {**old, "teacher_ids": ["T1", "T2"]}
    birthday = student("S1", birth_date=date(2012, 3, 4))

    rows = rows_by_id(
        change_set(
            entity_changes(SECTIONS, changed=[(old, new, ["teacher_ids"])]),
            entity_changes(STUDENTS, changed=[(student("S1"), birthday, ["birth_date"])]),
        )
    )

    assert rows["C1"]["new_values"] == "teacher_ids: T1, T2"
    assert rows["S1"]["new_values"] == "birth_date: 2012-03-04"


def test_changes_table_joins_composite_keys_readably() -> None:
    added = [{"student_id": "S1", "contact_id": "P9", "school_id": "1", "contact_type": "Emergency"}]

    (row,) = changeblocks.changes_table(change_set(entity_changes(CONTACT_LINKS, added=added))).to_pylist()

    assert (row["entity"], row["id"], row["new_values"]) == (
        "contact_links",
        "S1/P9",
        "contact_type: Emergency",
    )


def test_changes_table_pairs_suspected_id_changes() -> None:
    changes = change_set(
        entity_changes(
            STUDENTS,
            removed=[student("OLD1", email="dee@x.org", grade="4"), student("GONE")],
            added=[student("NEW1", email="dee@x.org", grade=None), student("NEW2")],
        ),
        id_changes=[
            {
                "entity": "students",
                "school_id": "1",
                "old_id": "OLD1",
                "new_id": "NEW1",
                "matched_on": "email",
            }
        ],
    )

    rows = rows_by_id(changes)

    assert sorted(rows) == ["GONE", "NEW1", "NEW2"]
    assert rows["NEW1"]["change"] == "id_changed"
    assert rows["NEW1"]["changed_fields"] == "person_id; grade"
    assert rows["NEW1"]["old_values"] == "person_id: OLD1; grade: 4"
    assert rows["NEW1"]["new_values"] == "person_id: NEW1; grade: (blank)"


def test_changes_table_orders_entities_then_school_change_and_id() -> None:
    changes = change_set(
        entity_changes(
            CONTACT_LINKS,
            added=[{"student_id": "S1", "contact_id": "P1", "school_id": "1"}],
        ),
        entity_changes(STUDENTS, added=[student("B", "2"), student("A", "2")], removed=[student("Z", "1")]),
    )

    rows = changeblocks.changes_table(changes).to_pylist()

    assert [(r["entity"], r["school_id"], r["id"]) for r in rows] == [
        ("students", "1", "Z"),
        ("students", "2", "A"),
        ("students", "2", "B"),
        ("contact_links", "1", "S1/P1"),
    ]


def test_changes_table_of_no_changes_is_empty_with_schema() -> None:
    result = changeblocks.changes_table(change_set())

    assert result.num_rows == 0
    assert result.schema == changerows.CHANGES_SCHEMA


def test_join_skip_nulls_keeps_all_null_rows() -> None:
    pieces = [pa.array(["a", None, None]), pa.array([None, None, "c"], pa.string())]

    assert changerows.join_skip_nulls(pieces, "; ", 3).to_pylist() == ["a", "", "c"]


def test_display_key_of_a_composite_key() -> None:
    links = table(CONTACT_LINKS, [{"student_id": "S1", "contact_id": "P9"}, {"student_id": "S2"}])

    assert changerows.display_key(links, ENTITY_BY_NAME["contact_links"]).to_pylist() == ["S1/P9", "S2/"]
    assert KEY_SEPARATOR not in "S1/P9"


# -- blocks of whole schools --------------------------------------------------------------------


def many_schools() -> ChangeSet:
    """Students of four schools and of none, every kind of change, and contact links."""
    added = [student(f"A{i:02d}", f"S{i % 4}", first_name=f"N{i}") for i in reversed(range(12))]
    added += [{"person_id": "A99"}, student("NEW1", "S2", email="dee@x.org")]
    removed = [student(f"R{i}", f"S{3 - i % 4}", email=f"r{i}@x.org") for i in range(6)]
    removed += [student("OLD1", "S2", email="dee@x.org")]
    changed = [
        (student(f"C{i}", f"S{i % 3}", grade="4"), student(f"C{i}", f"S{i % 3}", grade="5"), ["grade"])
        for i in range(5)
    ]
    links = [{"student_id": f"A{i:02d}", "contact_id": "P1", "school_id": f"S{i % 2}"} for i in range(4)]
    rekey = {
        "entity": "students",
        "school_id": "S2",
        "old_id": "OLD1",
        "new_id": "NEW1",
        "matched_on": "email",
    }
    return change_set(
        entity_changes(STUDENTS, added=added, removed=removed, changed=changed),
        entity_changes(CONTACT_LINKS, added=links),
        id_changes=[rekey],
    )


def expected_order(rows: list[Row]) -> list[tuple[str, str | None, str, str]]:
    """Entities in registry order, then school (none last), change and ID."""
    entity_order = {e.name: i for i, e in enumerate(ENTITIES)}
    keys = [(r["entity"], r["school_id"], r["change"], r["id"]) for r in rows]
    return sorted(keys, key=lambda k: (entity_order[k[0]], k[1] is None, k[1] or "", k[2], k[3]))


def first_sync() -> ChangeSet:
    """Only additions (one kind of change per entity), IDs in descending order in each school."""
    added = [student(f"A{i:02d}", f"S{i % 3}") for i in reversed(range(10))] + [{"person_id": "A99"}]
    return change_set(entity_changes(STUDENTS, added=added))


def first_sync_in_id_order() -> ChangeSet:
    """Only additions whose IDs already ascend within each school (not across schools)."""
    added = [student(f"A{i:02d}", f"S{2 - i // 4}") for i in range(10)]
    return change_set(entity_changes(STUDENTS, added=added))


@pytest.mark.parametrize("block_rows", [1, 3, 1000])
@pytest.mark.parametrize("make", [many_schools, first_sync, first_sync_in_id_order])
def test_changes_table_is_sorted_whatever_the_block_size(
    make: Callable[[], ChangeSet], block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = make()
    monkeypatch.setattr(changeblocks, "BLOCK_ROWS", block_rows)

    rows = changeblocks.changes_table(changes).to_pylist()

    assert [(r["entity"], r["school_id"], r["change"], r["id"]) for r in rows] == expected_order(rows)
    assert len(rows) == changes.total - len(changes.id_changes)  # a re-keyed pair is one row


def test_blocks_keep_each_school_whole_in_school_order() -> None:
    changes = many_schools()
    kinds = changeblocks._kinds(changes.entities["students"], changes.id_changes)

    blocks = [changeblocks.render_block(kinds, b) for b in changeblocks.entity_blocks(kinds, rows=4)]

    schools = [sorted(set(b.column("school_id").to_pylist()), key=lambda s: (s is None, s)) for b in blocks]
    flat = [s for block in schools for s in block]
    assert flat == ["S0", "S1", "S2", "S3", None]  # none repeated across blocks
    assert len(blocks) > 2


# -- CSV files -----------------------------------------------------------------------------------


def test_changes_csv_has_readable_header_and_one_row_per_change() -> None:
    changes = change_set(
        entity_changes(
            STUDENTS,
            added=[student("S3", first_name="Cal")],
            changed=[(student("S1", first_name="Ann"), student("S1", first_name="Anne"), ["first_name"])],
        )
    )
    sink = io.BytesIO()

    reports.write_changes_csv(changes, sink)

    rows = read_csv(sink.getvalue())
    assert rows[0] == [
        "Record type",
        "School ID",
        "ID",
        "Change",
        "Changed fields",
        "Old values",
        "New values",
    ]
    assert rows[1:] == [
        ["students", "1", "S3", "added", "", "", "first_name: Cal"],
        ["students", "1", "S1", "changed", "first_name", "first_name: Ann", "first_name: Anne"],
    ]


def test_changes_csv_neutralises_dangerous_cells_and_they_survive_a_round_trip() -> None:
    evil = '=HYPERLINK("http://x.example","click")'
    changes = change_set(entity_changes(STUDENTS, added=[student(evil, "-5", first_name="@Ann")]))
    sink = io.BytesIO()

    reports.write_changes_csv(changes, sink)

    (row,) = read_csv(sink.getvalue())[1:]
    assert row[1] == "'-5"
    assert row[2] == "'" + evil
    assert row[6] == "first_name: @Ann"  # does not start the cell, so it cannot be a formula


def test_changes_csv_starts_with_a_bom_unless_asked_not_to() -> None:
    with_bom, without = io.BytesIO(), io.BytesIO()

    reports.write_changes_csv(change_set(), with_bom)
    reports.write_changes_csv(change_set(), without, bom=False)

    assert with_bom.getvalue().startswith(b"\xef\xbb\xbf")
    assert without.getvalue().startswith(b'"Record type"')


def test_changes_csv_to_a_path_and_a_text_stream(tmp_path: Path) -> None:
    changes = change_set(entity_changes(STUDENTS, removed=[student("S1", first_name="Zoë")]))
    path = tmp_path / "changes.csv"
    text = io.StringIO()

    reports.write_changes_csv(changes, path)
    reports.write_changes_csv(changes, text)

    assert read_csv(path.read_bytes())[1][5] == "first_name: Zoë"
    assert text.getvalue().encode("utf-8") == path.read_bytes()


def test_changes_csv_reads_back_with_pyarrow() -> None:
    changes = change_set(entity_changes(STUDENTS, added=[student(f"S{i}") for i in range(5)]))
    sink = io.BytesIO()

    reports.write_changes_csv(changes, sink)

    back = pacsv.read_csv(io.BytesIO(sink.getvalue()))
    assert back.column_names[0] == "Record type"
    assert back.num_rows == 5


def test_errors_csv_round_trip() -> None:
    issues = pa.Table.from_pylist(
        [
            {
                "severity": "error",
                "file": "students.csv",
                "row": 12,
                "column": "Student_email",
                "value": "=cmd|' /C calc'!A0",
                "message": "not an email address",
            },
            {
                "severity": "alert",
                "file": "",
                "row": None,
                "column": "contact_type",
                "value": "Emergency",
                "message": "contact_links: 3 contact links of type Emergency were left out",
            },
        ],
        schema=ISSUE_SCHEMA,
    )
    sink = io.BytesIO()

    reports.write_errors_csv(issues, sink)

    rows = read_csv(sink.getvalue())
    assert rows == [
        ["Severity", "File", "Row", "Column", "Value", "Message"],
        ["error", "students.csv", "12", "Student_email", "'=cmd|' /C calc'!A0", "not an email address"],
        [
            "alert",
            "",
            "",
            "contact_type",
            "Emergency",
            "contact_links: 3 contact links of type Emergency were left out",
        ],
    ]


def test_errors_csv_of_no_issues_is_a_header() -> None:
    sink = io.BytesIO()

    reports.write_errors_csv(ISSUE_SCHEMA.empty_table(), sink)

    assert read_csv(sink.getvalue()) == [["Severity", "File", "Row", "Column", "Value", "Message"]]


def test_gzip_changes_csv_holds_exactly_the_changes_csv() -> None:
    changes = change_set(
        entity_changes(
            CONTACT_LINKS,
            added=[{"student_id": "S1", "contact_id": "P1", "school_id": "1"}],
        ),
        entity_changes(STUDENTS, added=[student("B", "2", first_name="=cmd")], removed=[student("Z", "1")]),
    )
    plain, compressed = io.BytesIO(), io.BytesIO()

    reports.write_changes_csv(changes, plain)
    reports.write_changes_csv_gz(changes, compressed)

    assert gzip.decompress(compressed.getvalue()) == plain.getvalue()


@pytest.mark.parametrize("threads", [1, 3])
def test_gzip_changes_csv_of_many_blocks_reads_back_as_the_changes_csv(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changeblocks, "BLOCK_ROWS", 2)
    plain, compressed = io.BytesIO(), io.BytesIO()

    reports.write_changes_csv(many_schools(), plain, threads=threads)
    reports.write_changes_csv_gz(many_schools(), compressed, threads=threads)

    with gzip.open(io.BytesIO(compressed.getvalue()), "rb") as stream:
        assert stream.read() == plain.getvalue()
    rows = changeblocks.changes_table(many_schools()).to_pylist()
    assert read_csv(plain.getvalue())[1:] == [[cell or "" for cell in row.values()] for row in rows]


def test_gzip_changes_csv_of_no_changes_is_the_header_row() -> None:
    plain, compressed = io.BytesIO(), io.BytesIO()

    reports.write_changes_csv(change_set(), plain)
    reports.write_changes_csv_gz(change_set(), compressed)

    assert gzip.decompress(compressed.getvalue()) == plain.getvalue()


def test_changes_summary_csv_counts_per_entity_and_school() -> None:
    summary = pa.table(
        {
            "entity": ["students", "students"],
            "school_id": ["1", None],
            "baseline": [0, 0],
            "staged": [3, 1],
            "added": [3, 1],
            "removed": [0, 0],
            "changed": [0, 0],
        }
    )
    sink = io.BytesIO()

    reports.write_changes_summary_csv(summary, sink)

    assert read_csv(sink.getvalue()) == [
        ["Record type", "School ID", "Before", "After", "Added", "Removed", "Changed"],
        ["students", "1", "0", "3", "3", "0", "0"],
        ["students", "", "0", "1", "1", "0", "0"],
    ]
