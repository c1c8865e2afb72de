"""The per-district sync cadence on the local stack (the real tick, the clock advanced, never
slept): a district whose newest accepted version is older than its ``expected_sync_hours`` is
overdue; the tick counts it in the metrics the cadence alarm watches and emails its admins once
per overdue version."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from rostersync_tools.local import LocalAws

from .conftest import ADMIN, DistrictData, district_settings, put_settings, sync_set, wait_ended

pytestmark = pytest.mark.integration

D = "d1"


def _first_version(stack: LocalAws, data: DistrictData, **settings: Any) -> None:
    put_settings(stack, district_settings(D, name="Lincoln USD", **settings))
    first = sync_set(stack, D, data.day1, {"applied", "failed", "held"})
    assert wait_ended(stack, str(first["sync_id"]))["status"] == "SUCCEEDED"
    assert first["status"] == "applied", first


def _stack_metrics(out: str) -> list[dict[str, Any]]:
    """The stack-wide EMF records the tick printed (no district dimension)."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{") or "_aws" not in line:
            continue
        blob = json.loads(line)
        if "district_id" not in blob and "OverdueDistricts" in blob:
            found.append(blob)
    return found


def test_an_overdue_district_is_counted_and_its_admins_are_emailed_once(
    stack: LocalAws, data: DistrictData, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The root conftest.py silences Powertools metrics for the suite; this test reads them.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    _first_version(stack, data, expected_sync_hours=24)
    before = len(stack.sent_emails())
    stack.clock.advance(timedelta(hours=23))
    on_time = stack.tick()
    stack.clock.advance(timedelta(hours=2))
    capfd.readouterr()

    overdue = stack.tick()
    again = stack.tick()

    assert on_time["emailed"] == []
    assert overdue["emailed"] == ["sync-overdue-v1"]
    assert again["emailed"] == []
    (mail,) = stack.sent_emails()[before:]
    assert mail.to == [ADMIN]
    assert mail.subject == "[rostersync] Lincoln USD (d1): no accepted sync for 25 hours"
    assert "a sync is expected every 24 hours." in (mail.text or "")
    counts = [m["OverdueDistricts"] for m in _stack_metrics(capfd.readouterr().out)]
    assert counts and all(c in (1, [1]) for c in counts)


def test_a_district_within_its_own_longer_cadence_is_not_overdue(stack: LocalAws, data: DistrictData) -> None:
    _first_version(stack, data, expected_sync_hours=24 * 7)
    stack.clock.advance(timedelta(days=3))

    assert stack.tick()["emailed"] == []
