"""Format detection from the file set of a directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from formats_helpers import FIXTURES, replace_text

from rostersync.formats import detect_format
from rostersync.issues import UnknownFormatError
from rostersync.roster import FORMAT_CLEVER_CSV, FORMAT_ONEROSTER_11_CSV, FORMAT_ONEROSTER_12_CSV


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("clever_basic", FORMAT_CLEVER_CSV),
        ("oneroster11_basic", FORMAT_ONEROSTER_11_CSV),
        ("oneroster12_basic", FORMAT_ONEROSTER_12_CSV),
    ],
)
def test_detects_each_format(fixture: str, expected: str) -> None:
    assert detect_format(FIXTURES / fixture) == expected


def test_file_names_match_case_insensitively(tmp_path: Path) -> None:
    for path in (FIXTURES / "clever_basic").iterdir():
        shutil.copy(path, tmp_path / path.name.capitalize())

    assert detect_format(tmp_path) == FORMAT_CLEVER_CSV


def test_oneroster_without_version_is_12_when_roles_csv_is_present(
    fixture_copy: Callable[[str], Path],
) -> None:
    directory = fixture_copy("oneroster12_basic")
    replace_text(directory / "manifest.csv", "oneroster.version,1.2\n", "")

    assert detect_format(directory) == FORMAT_ONEROSTER_12_CSV


def test_unsupported_oneroster_version_is_unknown(fixture_copy: Callable[[str], Path]) -> None:
    directory = fixture_copy("oneroster11_basic")
    replace_text(directory / "manifest.csv", "oneroster.version,1.1", "oneroster.version,1.0")

    with pytest.raises(UnknownFormatError, match=r'oneroster\.version "1\.0"'):
        detect_format(directory)


def test_unknown_file_set_names_what_was_found_and_what_each_format_needs(tmp_path: Path) -> None:
    (tmp_path / "student.csv").write_text("SIS ID,First Name\n1,Ana\n", encoding="utf-8")

    with pytest.raises(UnknownFormatError) as caught:
        detect_format(tmp_path)

    message = str(caught.value)
    assert "found: student.csv" in message
    assert "Clever-style CSV needs schools.csv, students.csv" in message
    assert "OneRoster 1.1 CSV needs manifest.csv" in message
    assert "roles.csv" in message


def test_files_declared_absent_are_not_needed_for_a_complete_set() -> None:
    from rostersync.formats.detect import declared_absent, read_manifest
    from rostersync.pipeline.intake import missing_files

    properties = read_manifest(FIXTURES / "oneroster_manifest_absent" / "manifest.csv")
    names = [p.name for p in (FIXTURES / "oneroster_manifest_absent").glob("*.csv")]

    assert declared_absent(properties) == {"academicsessions.csv", "courses.csv"}
    assert missing_files(names, properties) == ("oneroster_1.1_csv", [])
