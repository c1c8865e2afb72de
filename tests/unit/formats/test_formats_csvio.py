"""Reading files: encodings, line endings, quoting, header matching and file problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from formats_helpers import FIXTURES, append_lines, issues, replace_text, rows_by_key

from rostersync.formats import csvparse, load_roster, read_raw
from rostersync.formats.compact import plain_strings
from rostersync.formats.csvio import FileSpec, normalise_header, read_csv
from rostersync.issues import InvalidFilesError
from rostersync.validate import LoadResult


@pytest.fixture(scope="module")
def messy() -> LoadResult:
    return load_roster(FIXTURES / "clever_messy")


def _problems(directory: Path) -> list[str]:
    with pytest.raises(InvalidFilesError) as caught:
        read_raw(directory)
    return [str(p) for p in caught.value.problems]


def test_bom_and_crlf_are_tolerated(messy: LoadResult) -> None:
    # schools.csv starts with a UTF-8 BOM and uses CRLF line endings.
    schools = rows_by_key(messy, "schools", "school_id")

    assert sorted(schools) == ["S1", "S2"]
    assert schools["S1"]["name"] == "Lincoln Elementary"


@pytest.mark.parametrize("header", ["school id", "School_ID", " school_id ", "SCHOOL-ID"])
def test_header_case_whitespace_and_underscores_are_ignored(header: str) -> None:
    assert normalise_header(header) == normalise_header("School_id")


def test_headers_in_any_case_are_read(messy: LoadResult) -> None:
    # students.csv says "School_ID", "Student_Id", "last name", "First_Name".
    ana = rows_by_key(messy, "students", "person_id")["ST1"]

    assert (ana["school_id"], ana["first_name"], ana["last_name"]) == ("S1", "Ana", "Rivera")


def test_values_are_trimmed(messy: LoadResult) -> None:
    # "  ST1  " and "  Roosevelt Middle  " in the files.
    assert "ST1" in rows_by_key(messy, "students", "person_id")
    assert rows_by_key(messy, "schools", "school_id")["S2"]["name"] == "Roosevelt Middle"


def test_quoted_newline_stays_in_its_row_and_keeps_row_numbers(messy: LoadResult) -> None:
    # Row 2 of students.csv has a quoted line break; the record after it is still row 3.
    [bad_phone] = issues(messy, file="students.csv", column="Contact_phone")

    assert bad_phone["row"] == 3


def test_quoted_comma_name_is_split_last_first(messy: LoadResult) -> None:
    maria = rows_by_key(messy, "contacts", "person_id")["email:maria.rivera@mail.example.com"]

    assert (maria["first_name"], maria["last_name"]) == ("Maria", "Rivera")


def test_undocumented_column_is_ignored_with_an_alert(messy: LoadResult) -> None:
    [alert] = issues(messy, file="students.csv", column="Locker_number")

    assert alert["severity"] == "alert"
    assert alert["row"] == 1


def test_any_numbered_teacher_column_is_read_in_order(messy: LoadResult) -> None:
    # sections.csv has Teacher_id, Teacher_2_id (blank for SEC1) and Teacher_10_id.
    assert rows_by_key(messy, "sections", "section_id")["SEC1"]["teacher_ids"] == ["T1", "T2"]


def test_misspelled_required_header_names_file_header_and_closest() -> None:
    problems = _problems(FIXTURES / "clever_broken")

    assert (
        'students.csv: required header "Student_id" is missing '
        '(found "Studnet_id" — did you mean "Student_id"?)'
    ) in problems


def test_misspelled_header_problem_carries_header_and_closest() -> None:
    with pytest.raises(InvalidFilesError) as caught:
        read_raw(FIXTURES / "clever_broken")

    [problem] = [p for p in caught.value.problems if p.file == "students.csv"]
    assert (problem.header, problem.closest) == ("Student_id", "Studnet_id")


def test_missing_required_header_without_a_similar_one(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    replace_text(directory / "schools.csv", "School_name,", "Zip,")

    assert any(
        p.startswith('schools.csv: required header "School_name" is missing (no similar header')
        for p in _problems(directory)
    )


def test_missing_required_file() -> None:
    assert "enrollments.csv: required file is missing" in _problems(FIXTURES / "clever_broken")


def test_file_that_is_not_utf8() -> None:
    [problem] = [p for p in _problems(FIXTURES / "clever_broken") if p.startswith("teachers.csv")]

    assert "is not valid UTF-8" in problem


def test_invalid_utf8_deep_in_a_large_file_is_a_file_problem(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(directory / "enrollments.csv", *["S1,SEC1,ST1"] * 5000)
    with (directory / "enrollments.csv").open("ab") as handle:
        handle.write(b"S1,SEC1,ST\xe9\n")

    [problem] = [p for p in _problems(directory) if p.startswith("enrollments.csv")]
    assert problem == (
        "enrollments.csv: the file is not UTF-8 text: row 5006 has a character that is not valid UTF-8 "
        "(the file was probably saved as Latin-1 / Windows-1252, or is not a CSV file). "
        'Save it as "CSV UTF-8" and send it again'
    )


def test_empty_file_is_a_file_problem(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("clever_basic")
    (directory / "teachers.csv").write_text("", encoding="utf-8")

    assert (
        "teachers.csv: the file is empty: it does not even have a header line. Export it again with "
        "its header line (a file with no data rows still needs its header)"
    ) in _problems(directory)


def test_every_file_problem_is_reported_at_once() -> None:
    files = {p.split(":")[0] for p in _problems(FIXTURES / "clever_broken")}

    # sections.csv has a row with too many values: a row error, not a file problem.
    assert files == {"students.csv", "teachers.csv", "enrollments.csv"}


def test_blank_optional_columns_are_null(messy: LoadResult) -> None:
    lily = rows_by_key(messy, "students", "person_id")["ST2"]

    assert lily["middle_name"] is None
    assert lily["sis_id"] is None


_PAIR = FileSpec("pair.csv", columns={"id": "id", "name": "name"}, required=("id",))


def _read(tmp_path: Path, text: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    path = tmp_path / "pair.csv"
    path.write_text(text, encoding="utf-8")
    result = read_csv(path, _PAIR)
    assert result.problems == [] and result.file is not None
    rows = result.file.table.to_pylist()
    issues = [row for table in result.alerts for row in table.to_pylist()]
    return rows, issues


def test_a_trailing_comma_on_every_row_is_read_in_whole_columns(tmp_path: Path) -> None:
    rows, issues = _read(tmp_path, "id,name\n1,Ana,\n2,Ben,\n")

    assert rows == [{"id": "1", "name": "Ana", "_row": 2}, {"id": "2", "name": "Ben", "_row": 3}]
    assert issues == []


def test_every_row_with_an_extra_value_is_a_row_error(tmp_path: Path) -> None:
    rows, issues = _read(tmp_path, "id,name\n1,Rivera, Ana\n2,Ben,\n")

    assert [(r["id"], r["_row"], r.get("_rejected")) for r in rows] == [("1", 2, True), ("2", 3, False)]
    assert [(i["severity"], i["row"], i["column"], i["value"]) for i in issues] == [
        ("error", 2, "name", "a value of 3 characters")  # the extra value may be personal: masked
    ]


def test_short_rows_are_padded_with_blanks(tmp_path: Path) -> None:
    rows, issues = _read(tmp_path, "id,name,,\n1\n2,Ben,x,\n")

    assert [(r["id"], r["name"]) for r in rows] == [("1", None), ("2", "Ben")]
    assert issues == []


def test_short_rows_with_a_byte_that_is_not_utf8_are_a_plain_file_problem(tmp_path: Path) -> None:
    path = tmp_path / "pair.csv"
    path.write_bytes(b"id,name,,\n1,Ana\n2,Ren\xe9e\n")

    result = read_csv(path, _PAIR)

    assert [p.message for p in result.problems] == [
        "the file is not UTF-8 text: row 3 has a character that is not valid UTF-8 (the file was "
        "probably saved as Latin-1 / Windows-1252, or is not a CSV file). "
        'Save it as "CSV UTF-8" and send it again'
    ]


def test_a_clever_row_with_too_many_values_is_left_out_as_unknown(
    fixture_copy: Callable[[str], Path],
) -> None:
    directory = fixture_copy("clever_basic")
    append_lines(
        directory / "sections.csv",
        "S1,SEC99,T1,,,Art, Music,A1,3,Art 3,ART-3,2,Arts,Fall 2024,08/15/2024,12/20/2024",
    )

    result = load_roster(directory)

    assert "SEC99" not in result.roster.tables["sections"].column("section_id").to_pylist()
    assert {"entity": "sections", "key": "SEC99"} in result.roster.unknown.to_pylist()
    assert [
        (i["severity"], i["file"], i["row"], i["column"], i["value"])
        for i in issues(result, severity="error")
    ] == [("error", "sections.csv", 5, "Term_end", "a value of 10 characters")]


@pytest.mark.parametrize("block_size", [64, 128, 240])
def test_a_value_spanning_lines_is_read_whole_wherever_a_block_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    # Every line inside the quoted value looks like a row of the file: a reader that cut its
    # blocks at one of these line breaks would read them as rows, without any row of another width.
    monkeypatch.setattr(csvparse, "BLOCK_SIZE", block_size)
    before = [{"id": str(n), "name": f"Pre{n}", "_row": n - 98} for n in range(100, 160)]
    inside = "".join(f"{n},Name{n}\n" for n in range(10, 20))
    lines = "".join(f"{r['id']},{r['name']}\n" for r in before)
    rows, issues = _read(tmp_path, f'id,name\n{lines}2,"{inside}x,end"\n3,Ben\n')

    assert rows == [
        *before,
        {"id": "2", "name": f"{inside}x,end", "_row": 62},
        {"id": "3", "name": "Ben", "_row": 63},
    ]
    assert issues == []


def test_a_categorical_column_is_read_dictionary_encoded_and_cleaned_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "enrollments.csv"
    path.write_text(
        'id,org\n1,"SCH1 "\n2,SCH1\n3," "\n4,\n5,SCH\u200b2\n',
        encoding="utf-8",
    )
    spec = FileSpec("enrollments.csv", columns={"id": "id", "org": "org"}, categorical=("org",))

    read = read_csv(path, spec)

    assert read.file is not None
    org = read.file.table.column("org")
    assert pa.types.is_dictionary(org.type)
    assert org.to_pylist() == ["SCH1", "SCH1", None, None, "SCH2"]
    assert org.null_count == 2
    alerts = pa.concat_tables(read.alerts).to_pylist()
    assert [(a["row"], a["column"], a["value"]) for a in alerts] == [(6, "org", "SCH2")]


def test_plain_strings_decodes_a_categorical_column_and_leaves_strings_as_they_are() -> None:
    strings = pa.array(["a", None, "b"])
    assert plain_strings(strings) is strings
    decoded = plain_strings(pa.array(["a", None, "a"]).dictionary_encode())
    assert decoded.type == pa.string()
    assert decoded.to_pylist() == ["a", None, "a"]
