"""Helpers for the format reader tests: hand-written fixture sets and small edits to copies.

Imported by the tests of this directory (and re-exported as fixtures by its conftest.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a fixture set into a temporary directory, so a test can edit it."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


def append_lines(path: Path, *lines: str) -> None:
    """Append data rows to a CSV file (which ends with a newline)."""
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write("".join(line + "\n" for line in lines))


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def issues(result: Any, **where: Any) -> list[dict[str, Any]]:
    """Issue rows (as dicts) matching every ``column=value`` given."""
    rows: list[dict[str, Any]] = result.issues.to_pylist()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def rows_by_key(result: Any, entity: str, key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in result.roster.tables[entity].to_pylist()}
