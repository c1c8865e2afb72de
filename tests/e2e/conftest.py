"""Every test under tests/e2e carries the ``e2e`` marker; they need a deployed stack and are
skipped unless ``ROSTERSYNC_STACK`` names one (README, "Tests")."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)
