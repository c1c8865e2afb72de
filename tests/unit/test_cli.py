"""The preflight CLI: exit codes, outputs and the explanation of holds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rostersync_tools.cli import EXIT_CLEAN, EXIT_COULD_NOT_RUN, EXIT_HELD, EXIT_INVALID, main

SCHOOLS = "School_id,School_name,School_number\nA,Adams Elementary,101\nB,Baker Middle,102\n"
TEACHERS = (
    "School_id,Teacher_id,Teacher_email,First_name,Last_name\n"
    "A,T1,t1@example.org,Ada,Lovelace\nB,T2,t2@example.org,Alan,Turing\n"
)
STUDENT_HEADER = (
    "School_id,Student_id,First_name,Last_name,Grade,DOB,Student_email,"
    "Contact_name,Contact_type,Contact_relationship,Contact_email,Contact_sis_id\n"
)
SECTIONS = (
    "School_id,Section_id,Teacher_id,Name,Term_name,Term_start,Term_end\n"
    "A,SA,T1,Math A,Fall,2026-08-20,2026-12-20\nB,SB,T2,Math B,Fall,2026-08-20,2026-12-20\n"
)


def _students(school: str, count: int, offset: int = 0) -> list[str]:
    rows = []
    for i in range(offset, offset + count):
        sid = f"{school}{i:03d}"
        rows.append(
            f"{school},{sid},First{i},Last{i},5,2015-01-{1 + i % 28:02d},{sid.lower()}@example.org,"
            f"Parent {sid},Primary,Parent,parent.{sid.lower()}@example.org,P{sid}\n"
        )
    return rows


def write_set(directory: Path, *, a_students: int = 10, b_students: int = 10) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    students = _students("A", a_students) + _students("B", b_students)
    (directory / "schools.csv").write_text(SCHOOLS)
    (directory / "teachers.csv").write_text(TEACHERS)
    (directory / "students.csv").write_text(STUDENT_HEADER + "".join(students))
    (directory / "sections.csv").write_text(SECTIONS)
    enrollments = ["School_id,Section_id,Student_id\n"] + [
        f"{r.split(',')[0]},S{r.split(',')[0]},{r.split(',')[1]}\n" for r in students
    ]
    (directory / "enrollments.csv").write_text("".join(enrollments))
    return directory


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    day1 = write_set(tmp_path / "day1")
    assert main(["snapshot", str(day1), str(tmp_path / "accepted")]) == EXIT_CLEAN
    return tmp_path / "accepted"


def test_check_without_previous_exits_clean_for_a_clean_set(tmp_path: Path) -> None:
    assert main(["check", str(write_set(tmp_path / "set"))]) == EXIT_CLEAN


def test_check_against_identical_snapshot_reports_no_changes(
    tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day2 = write_set(tmp_path / "day2")
    code = main(["check", str(day2), "--previous", str(baseline)])
    assert code == EXIT_CLEAN
    assert "No changes against the previous snapshot" in capsys.readouterr().out


def test_check_exits_held_and_explains_mass_removal_with_numbers(
    tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # School A lost 6 of its 10 students; school B is unchanged.
    day2 = write_set(tmp_path / "day2", a_students=4)
    out = tmp_path / "out"
    code = main(["check", str(day2), "--previous", str(baseline), "--out", str(out)])
    assert code == EXIT_HELD
    holds = json.loads((out / "holds.json").read_text())
    student_holds = [h for h in holds if h["type"] == "mass_removal" and h["entity"] == "students"]
    assert [(h["school_id"], h["numerator"], h["denominator"], h["threshold"]) for h in student_holds] == [
        ("A", 6, 10, 10.0)
    ]
    printed = capsys.readouterr().out
    assert "mass_removal" in printed
    assert "6" in printed and "10" in printed


def test_check_writes_snapshot_changes_and_errors(tmp_path: Path, baseline: Path) -> None:
    day2 = write_set(tmp_path / "day2", a_students=4)
    out = tmp_path / "out"
    main(["check", str(day2), "--previous", str(baseline), "--out", str(out)])
    assert (out / "snapshot" / "manifest.json").is_file()
    changes = (out / "changes.csv").read_text(encoding="utf-8-sig").splitlines()
    removed_students = [line for line in changes if "students" in line and "removed" in line]
    assert len(removed_students) == 6
    with (out / "errors.csv").open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:4] == ["Severity", "File", "Row", "Column"]


def test_check_missing_required_file_exits_invalid_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write_set(tmp_path / "set")
    (broken / "enrollments.csv").unlink()
    assert main(["check", str(broken)]) == EXIT_INVALID
    assert "enrollments.csv" in capsys.readouterr().out


def test_check_misspelled_header_names_file_header_and_closest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write_set(tmp_path / "set")
    text = (broken / "sections.csv").read_text().replace("Section_id", "Sectoin_id", 1)
    (broken / "sections.csv").write_text(text)
    assert main(["check", str(broken)]) == EXIT_INVALID
    printed = capsys.readouterr().out
    assert "sections.csv" in printed
    assert "Sectoin_id" in printed and "Section_id" in printed


def test_check_with_invalid_settings_exits_invalid(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"holds": {"mass_removal_percent": 150}}))
    assert main(["check", str(write_set(tmp_path / "set")), "--settings", str(settings)]) == EXIT_INVALID


def test_check_settings_threshold_changes_the_outcome(tmp_path: Path, baseline: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"holds": {"mass_removal_percent": 80, "mass_update_percent": 100}}))
    day2 = write_set(tmp_path / "day2", a_students=4)
    code = main(["check", str(day2), "--previous", str(baseline), "--settings", str(settings)])
    assert code == EXIT_CLEAN


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    ("fixture", "format_name"),
    [
        ("clever_basic", "Clever-style CSV"),
        ("oneroster11_basic", "OneRoster 1.1 CSV"),
        ("oneroster12_basic", "OneRoster 1.2 CSV"),
    ],
)
def test_check_detects_and_reports_each_format(
    fixture: str, format_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", str(FIXTURES / fixture), "--out", str(tmp_path / "out")])
    assert code in (EXIT_CLEAN, EXIT_HELD)
    assert f"Format: {format_name}" in capsys.readouterr().out
    assert (tmp_path / "out" / "snapshot" / "manifest.json").is_file()


def test_sample_day2_is_held_for_the_school_that_lost_its_students(tmp_path: Path) -> None:
    assert main(["sample", str(tmp_path), "--students", "900"]) == EXIT_CLEAN
    assert main(["snapshot", str(tmp_path / "day1"), str(tmp_path / "accepted")]) == EXIT_CLEAN
    out = tmp_path / "out"
    code = main(
        ["check", str(tmp_path / "day2"), "--previous", str(tmp_path / "accepted"), "--out", str(out)]
    )
    assert code == EXIT_HELD
    holds = json.loads((out / "holds.json").read_text())
    removal_schools = {
        h["school_id"] for h in holds if h["type"] == "mass_removal" and h["entity"] == "students"
    }
    assert removal_schools == {"SCH0001"}


def test_invalid_settings_name_each_field_and_value_without_library_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"holds": {"mass_removal_percent": 150}, "phone_region": "ZZ"}))

    main(["check", str(write_set(tmp_path / "set")), "--settings", str(settings)])

    printed = capsys.readouterr().err
    assert "holds.mass_removal_percent = 150: should be less than or equal to 100" in printed
    assert 'phone_region = "ZZ": not a region phone numbers can be read for: ZZ' in printed
    assert "pydantic" not in printed and "validation error" not in printed.lower()


def test_settings_that_are_not_json_give_the_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    settings = tmp_path / "settings.json"
    settings.write_text('{"school_ids": [101,]}')

    code = main(["check", str(write_set(tmp_path / "set")), "--settings", str(settings)])

    assert code == EXIT_INVALID
    assert "not valid JSON at line 1, column 21" in capsys.readouterr().err


def test_changes_and_holds_name_the_school_beside_its_id(
    tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    day2 = write_set(tmp_path / "day2", a_students=4)

    main(["check", str(day2), "--previous", str(baseline)])

    printed = capsys.readouterr().out
    holds = printed[printed.index("hold(s)") :]
    assert "Adams Elementary (A)" in printed[: printed.index("hold(s)")]
    assert "Adams Elementary (A)" in holds


def _with_markup(directory: Path) -> Path:
    """A set whose enrollments name students ``[/]`` and ``[link=…]click[/link]`` (row errors
    quoting those IDs) and whose students.csv has an extra ``[bold]x[/]`` column (an alert)."""
    write_set(directory)
    enrollments = directory / "enrollments.csv"
    enrollments.write_text(
        enrollments.read_text() + "A,SA,[/]\nA,SA,[link=https://evil.example]click[/link]\n"
    )
    students = directory / "students.csv"
    header, rest = students.read_text().split("\n", 1)
    students.write_text(header + ",[bold]x[/]\n" + rest)
    return directory


def test_check_prints_markup_in_the_data_as_text_and_exits_with_the_sets_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")

    code = main(["check", str(_with_markup(tmp_path / "set"))])

    printed = capsys.readouterr().out
    assert code == EXIT_CLEAN
    assert "[/]" in printed and "[bold]x[/]" in printed
    assert "[link=https://evil.example]click[/link]" in printed


def test_a_link_in_the_data_never_becomes_a_terminal_hyperlink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich writes links (OSC 8) only to a terminal

    main(["check", str(_with_markup(tmp_path / "set"))])

    assert "\x1b]8;" not in capsys.readouterr().out


def test_a_path_with_a_line_break_is_printed_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")

    code = main(["check", str(tmp_path / "no\nforged line")])

    assert code == EXIT_INVALID
    assert capsys.readouterr().err.strip().splitlines() == [f"{tmp_path}/no\\nforged line is not a folder."]


def test_an_unwritable_out_folder_exits_could_not_run_with_a_one_line_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    code = main(["check", str(write_set(tmp_path / "set")), "--out", str(blocker / "out")])

    err = capsys.readouterr().err
    assert code == EXIT_COULD_NOT_RUN
    assert err.strip().splitlines() == [
        f"Could not run: cannot write to {blocker / 'out'} (not a directory)."
    ]


def test_an_unexpected_failure_exits_could_not_run_not_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rostersync_tools import preflight

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom [/]")

    monkeypatch.setattr(preflight, "run_preflight", broken)

    code = main(["check", str(write_set(tmp_path / "set"))])

    err = capsys.readouterr().err
    assert code == EXIT_COULD_NOT_RUN
    assert err.strip().splitlines() == [
        "Could not run: an internal error (RuntimeError: boom [/]); please report it."
    ]
