"""District routes: settings, pause windows, school status, versions, rollback, audit."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from rostersync.api.deps import ApiDeps
from rostersync.pipeline.models import SchoolStatus
from rostersync.roster import RosterSet
from rostersync.settings import DistrictSettings, PauseWindow
from rostersync.snapshot import promote_version
from tests.support.api_helpers import NOW, OPERATOR, RecordingWorkflow, api_event, hold, invoke, seed_sync

# --- settings ------------------------------------------------------------------------------------


def test_settings_default_to_the_hold_catalogue(api_deps: ApiDeps, handler_module: Any) -> None:
    body = invoke(handler_module, api_event("get_settings")).json

    assert body["district_id"] == "d1"
    assert body["holds"]["mass_removal_percent"] == 10.0
    assert body["holds"]["max_contacts_per_student"] == 6


def test_put_settings_stores_them_and_keeps_the_pause_windows(api_deps: ApiDeps, handler_module: Any) -> None:
    window = PauseWindow(first_day=date(2025, 6, 20), last_day=date(2025, 8, 15))
    api_deps.repo.put_settings(DistrictSettings(district_id="d1", pause_windows=[window]))

    response = invoke(handler_module, api_event("put_settings"))

    assert response.status == 200, response.text
    stored = api_deps.repo.get_settings("d1")
    assert stored.holds.mass_removal_percent == 15
    assert stored.excluded_contact_types == ["Emergency"]
    assert stored.hold_expiry_days == 7
    assert stored.pause_windows == [window]
    assert api_deps.repo.list_audit("d1")[0].action == "settings_updated"


WHOLE = {"admin_emails": ["a@d1.example.org"], "school_ids": [], "excluded_contact_types": [], "holds": {}}


def test_put_settings_without_hold_expiry_keeps_the_deployment_default(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    invoke(handler_module, api_event("put_settings", body=WHOLE))

    assert "hold_expiry_days" not in api_deps.repo.get_settings("d1").model_fields_set


@pytest.mark.parametrize(
    "body",
    [
        {**WHOLE, "admin_emails": ["not-an-email"]},
        {**WHOLE, "holds": {"mass_removal_percent": 150}},
        {**WHOLE, "holds": {"no_such_threshold": 1}},
        {**WHOLE, "hold_expiry_days": 0},
        {**WHOLE, "district_id": "d2"},
        {**WHOLE, "pause_windows": [{"first_day": "2025-07-01", "last_day": "2025-06-01"}]},
    ],
)
def test_invalid_settings_are_422_and_change_nothing(
    body: dict[str, Any], api_deps: ApiDeps, handler_module: Any
) -> None:
    response = invoke(handler_module, api_event("put_settings", body=body))

    assert response.status == 422, response.text
    assert response.json["error"] == "invalid_request"
    assert api_deps.repo.list_audit("d1") == []


def test_only_an_operator_changes_the_source(api_deps: ApiDeps, handler_module: Any) -> None:
    source = {"kind": "clever", "secret_id": "rostersync/d1/clever"}

    admin = invoke(handler_module, api_event("put_settings", body={**WHOLE, "source": source}))
    operator = invoke(
        handler_module, api_event("put_settings", body={**WHOLE, "source": source}, claims=OPERATOR)
    )

    assert admin.status == 403
    assert operator.status == 200
    assert api_deps.repo.get_settings("d1").source.kind == "clever"


# --- whole documents, patches, floors and audit (issue 12 item 4) -------------------------------


def _seeded(api_deps: ApiDeps) -> DistrictSettings:
    settings = DistrictSettings(district_id="d1", admin_emails=["a@d1.example.org"], school_ids=["sch-001"])
    api_deps.repo.put_settings(settings)
    return settings


def test_a_put_with_only_a_threshold_is_422_naming_the_missing_fields(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    seeded = _seeded(api_deps)

    response = invoke(handler_module, api_event("put_settings", body={"holds": {"mass_removal_percent": 20}}))

    assert response.status == 422, response.text
    [detail] = response.json["detail"]
    assert "missing: admin_emails, school_ids, excluded_contact_types" in detail["msg"]
    assert "use PATCH" in detail["msg"]
    assert api_deps.repo.get_settings("d1") == seeded


def test_a_patch_changes_only_the_fields_given(api_deps: ApiDeps, handler_module: Any) -> None:
    _seeded(api_deps)

    response = invoke(handler_module, api_event("patch_settings"))

    assert response.status == 200, response.text
    stored = api_deps.repo.get_settings("d1")
    assert stored.holds.mass_removal_percent == 20
    assert stored.holds.mass_update_percent == 75  # untouched threshold kept
    assert stored.admin_emails == ["a@d1.example.org"]
    assert stored.school_ids == ["sch-001"]


def test_a_settings_change_is_audited_with_old_and_new_values(api_deps: ApiDeps, handler_module: Any) -> None:
    _seeded(api_deps)

    invoke(handler_module, api_event("patch_settings"))

    [entry] = api_deps.repo.list_audit("d1")
    assert entry.action == "settings_updated"
    assert entry.details["changes"] == {"holds.mass_removal_percent": {"old": 10.0, "new": 20.0}}


def test_a_patch_sets_the_removals_mode_and_audits_it(api_deps: ApiDeps, handler_module: Any) -> None:
    _seeded(api_deps)

    response = invoke(handler_module, api_event("patch_settings", body={"removals": "hold_always"}))

    assert response.status == 200, response.text
    assert response.json["removals"] == "hold_always"
    assert api_deps.repo.get_settings("d1").removals == "hold_always"
    [entry] = api_deps.repo.list_audit("d1")
    assert entry.details["changes"] == {"removals": {"old": "hold_over_threshold", "new": "hold_always"}}


def test_a_put_without_the_removals_mode_keeps_it(api_deps: ApiDeps, handler_module: Any) -> None:
    api_deps.repo.put_settings(
        DistrictSettings(district_id="d1", admin_emails=["a@d1.example.org"], removals="hold_always")
    )

    response = invoke(handler_module, api_event("put_settings", body=WHOLE))

    assert response.status == 200, response.text
    assert api_deps.repo.get_settings("d1").removals == "hold_always"


def test_a_put_may_set_the_removals_mode_back_to_the_default(api_deps: ApiDeps, handler_module: Any) -> None:
    api_deps.repo.put_settings(
        DistrictSettings(district_id="d1", admin_emails=["a@d1.example.org"], removals="hold_always")
    )

    invoke(handler_module, api_event("put_settings", body={**WHOLE, "removals": "hold_over_threshold"}))

    assert api_deps.repo.get_settings("d1").removals == "hold_over_threshold"


def test_an_unknown_removals_mode_is_422_and_changes_nothing(api_deps: ApiDeps, handler_module: Any) -> None:
    seeded = _seeded(api_deps)

    response = invoke(handler_module, api_event("patch_settings", body={"removals": "never"}))

    assert response.status == 422, response.text
    assert response.json["detail"][0]["loc"] == ["body", "removals"]
    assert api_deps.repo.get_settings("d1") == seeded


def test_a_patch_sets_the_sync_cadence_and_audits_it(api_deps: ApiDeps, handler_module: Any) -> None:
    _seeded(api_deps)

    response = invoke(
        handler_module,
        api_event("patch_settings", body={"expected_sync_hours": 72, "expected_sync_days": "weekdays"}),
    )

    assert response.status == 200, response.text
    stored = api_deps.repo.get_settings("d1")
    assert (stored.expected_sync_hours, stored.expected_sync_days) == (72, "weekdays")
    [entry] = api_deps.repo.list_audit("d1")
    assert entry.details["changes"] == {
        "expected_sync_days": {"old": "every_day", "new": "weekdays"},
        "expected_sync_hours": {"old": None, "new": 72},
    }


def test_a_patch_of_null_sets_the_cadence_back_to_the_stacks_default(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    api_deps.repo.put_settings(
        DistrictSettings(district_id="d1", admin_emails=["a@d1.example.org"], expected_sync_hours=72)
    )

    invoke(handler_module, api_event("patch_settings", body={"expected_sync_hours": None}))

    assert api_deps.repo.get_settings("d1").expected_sync_hours is None


@pytest.mark.parametrize("hours", [0, 745])
def test_a_cadence_outside_one_hour_to_31_days_is_422(
    api_deps: ApiDeps, handler_module: Any, hours: int
) -> None:
    seeded = _seeded(api_deps)

    response = invoke(handler_module, api_event("patch_settings", body={"expected_sync_hours": hours}))

    assert response.status == 422, response.text
    assert response.json["detail"][0]["loc"] == ["body", "expected_sync_hours"]
    assert api_deps.repo.get_settings("d1") == seeded


def test_a_put_without_the_cadence_keeps_it(api_deps: ApiDeps, handler_module: Any) -> None:
    api_deps.repo.put_settings(
        DistrictSettings(
            district_id="d1",
            admin_emails=["a@d1.example.org"],
            expected_sync_hours=72,
            expected_sync_days="weekdays",
        )
    )

    invoke(handler_module, api_event("put_settings", body=WHOLE))

    stored = api_deps.repo.get_settings("d1")
    assert (stored.expected_sync_hours, stored.expected_sync_days) == (72, "weekdays")


def test_settings_without_an_admin_email_are_refused(api_deps: ApiDeps, handler_module: Any) -> None:
    seeded = _seeded(api_deps)

    patch = invoke(handler_module, api_event("patch_settings", body={"admin_emails": []}))
    put = invoke(handler_module, api_event("put_settings", body={**WHOLE, "admin_emails": []}))

    assert (patch.status, put.status) == (422, 422)
    assert patch.json["detail"][0]["loc"] == ["admin_emails"]
    assert api_deps.repo.get_settings("d1") == seeded


@pytest.mark.parametrize(
    ("holds", "loc"),
    [
        ({"mass_removal_percent": 100}, ["holds", "mass_removal_percent"]),
        ({"mass_update_percent": 100}, ["holds", "mass_update_percent"]),
        ({"mass_removal_min_count": 100000}, ["holds", "mass_removal_min_count"]),
        ({"max_contacts_per_student": 500}, ["holds", "max_contacts_per_student"]),
        ({"stale_upload_days": 9999}, ["holds", "stale_upload_days"]),
    ],
)
def test_a_district_admin_cannot_switch_a_hold_off(
    holds: dict[str, Any], loc: list[str], api_deps: ApiDeps, handler_module: Any
) -> None:
    seeded = _seeded(api_deps)

    response = invoke(handler_module, api_event("patch_settings", body={"holds": holds}))

    assert response.status == 422, response.text
    assert [d["loc"] for d in response.json["detail"]] == [loc]
    assert "the limit the operator set" in response.json["detail"][0]["msg"]
    assert api_deps.repo.get_settings("d1") == seeded


def test_a_pause_window_longer_than_the_floor_is_refused(api_deps: ApiDeps, handler_module: Any) -> None:
    body = {"windows": [{"first_day": "2025-01-01", "last_day": "2052-05-17"}]}

    response = invoke(handler_module, api_event("put_pause_windows", body=body))

    assert response.status == 422, response.text
    assert "at most 120 days" in response.json["detail"][0]["msg"]
    assert api_deps.repo.get_settings("d1").pause_windows == []


def test_only_an_operator_sets_floors_and_they_bound_the_district(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    _seeded(api_deps)
    floors = {"max_mass_removal_percent": 100}

    admin = invoke(handler_module, api_event("patch_settings", body={"floors": floors}))
    operator = invoke(handler_module, api_event("patch_settings", body={"floors": floors}, claims=OPERATOR))
    relaxed = invoke(
        handler_module, api_event("patch_settings", body={"holds": {"mass_removal_percent": 90}})
    )

    assert (admin.status, operator.status, relaxed.status) == (403, 200, 200)
    assert api_deps.repo.get_settings("d1").holds.mass_removal_percent == 90


# --- pause windows -------------------------------------------------------------------------------


def test_pause_windows_are_replaced_ordered_and_the_active_one_shown(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    body = {
        "windows": [
            {"first_day": "2025-06-20", "last_day": "2025-08-15"},
            {"first_day": "2025-03-01", "last_day": "2025-03-05"},
        ]
    }

    result = invoke(handler_module, api_event("put_pause_windows", body=body)).json

    assert [w["first_day"] for w in result["windows"]] == ["2025-03-01", "2025-06-20"]
    assert result["active"] == {"first_day": "2025-03-01", "last_day": "2025-03-05"}  # NOW is 2025-03-03


@pytest.mark.parametrize(
    "windows",
    [
        [
            {"first_day": "2025-06-01", "last_day": "2025-06-30"},
            {"first_day": "2025-06-30", "last_day": "2025-07-10"},
        ],
        [{"first_day": "2025-07-01", "last_day": "2025-06-01"}],
        [{"first_day": "2025-07-01"}],
        [{"first_day": "not a date", "last_day": "2025-06-01"}],
    ],
)
def test_overlapping_or_backwards_windows_are_422(
    windows: list[Any], api_deps: ApiDeps, handler_module: Any
) -> None:
    response = invoke(handler_module, api_event("put_pause_windows", body={"windows": windows}))

    assert response.status == 422
    assert api_deps.repo.get_settings("d1").pause_windows == []


def test_delete_one_window_or_all(api_deps: ApiDeps, handler_module: Any) -> None:
    invoke(handler_module, api_event("put_pause_windows"))

    one = invoke(handler_module, api_event("delete_pause_windows")).json
    missing = invoke(handler_module, api_event("delete_pause_windows"))
    everything = invoke(handler_module, api_event("delete_pause_windows", query=None)).json

    assert [w["first_day"] for w in one["windows"]] == ["2025-06-20"]
    assert missing.status == 404
    assert everything["windows"] == []


# --- schools -------------------------------------------------------------------------------------


def test_school_status_overlays_configuration_pause_and_disconnection(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    repo = api_deps.repo
    repo.put_settings(DistrictSettings(district_id="d1", school_ids=["sch-001", "sch-002", "sch-new"]))
    repo.put_school_status(
        SchoolStatus(
            district_id="d1",
            school_id="sch-001",
            status="connected",
            sync_id="d1-a",
            last_applied_at=NOW,
            counts={"added": 3, "removed": 0, "changed": 1},
        )
    )
    repo.put_school_status(
        SchoolStatus(district_id="d1", school_id="sch-002", status="on_hold", sync_id="d1-b")
    )

    body = invoke(handler_module, api_event("list_schools")).json

    assert {s["school_id"]: s["status"] for s in body["schools"]} == {
        "sch-001": "connected",
        "sch-002": "on_hold",
        "sch-new": "not_connected",
    }
    first = body["schools"][0]
    assert first["counts"] == {"added": 3, "removed": 0, "changed": 1}
    assert first["last_applied_at"].startswith("2025-03-03")

    seed_sync(api_deps, held_schools=[], holds=[hold(None, "disconnected", message="unreachable")])
    body = invoke(handler_module, api_event("list_schools")).json
    assert {s["status"] for s in body["schools"] if s["school_id"] != "sch-new"} == {"disconnected"}

    window = PauseWindow(first_day=NOW.date() - timedelta(days=1), last_day=NOW.date() + timedelta(days=1))
    repo.put_settings(DistrictSettings(district_id="d1", school_ids=["sch-001"], pause_windows=[window]))
    body = invoke(handler_module, api_event("list_schools")).json
    assert body["paused"] is True
    assert {s["status"] for s in body["schools"]} == {"paused"}


# --- versions and rollback -----------------------------------------------------------------------


def _promote(deps: ApiDeps, versions: int) -> None:
    from rostersync_tools.synthetic import generate_district

    district = generate_district(students=30, schools=1, seed=3, district_id="d1")
    roster = RosterSet(tables=dict(district.tables), format="clever_csv")
    for v in range(versions):
        promote_version(
            deps.snapshots,
            "districts/d1",
            roster,
            expected_version=v or None,
            writer=f"d1-sync{v + 1}",
            meta={"sync_id": f"d1-sync{v + 1}"},
        )


def test_the_board_shows_a_sync_that_failed_before_any_hold(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps, sync_id="d1-ok", status="applied", created_at=NOW - timedelta(days=1))
    seed_sync(api_deps, sync_id="d1-bad", status="failed", held_schools=[], holds=[])

    body = invoke(handler_module, api_event("list_schools")).json

    assert body["failed_sync"]["sync_id"] == "d1-bad"


def test_versions_list_what_promote_version_wrote(api_deps: ApiDeps, handler_module: Any) -> None:
    _promote(api_deps, 2)

    body = invoke(handler_module, api_event("list_versions")).json

    assert body["latest"] == 2
    assert [(v["version"], v["sync_id"]) for v in body["versions"]] == [(2, "d1-sync2"), (1, "d1-sync1")]
    assert body["versions"][0]["counts"]["students"] == 30
    assert body["versions"][0]["format"] == "clever_csv"


def test_rollback_starts_a_sync_from_the_earlier_version(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    _promote(api_deps, 2)

    response = invoke(handler_module, api_event("rollback"))

    assert response.status == 202, response.text
    sync_id = response.json["sync_id"]
    assert workflow.started[sync_id] == {
        "district_id": "d1",
        "sync_id": sync_id,
        "trigger": "rollback",
        "object_key": None,
        "quiet_seconds": 0,
        "lock_retry_seconds": 7,
    }
    record = api_deps.repo.get_sync("d1", sync_id)
    assert record is not None and (record.trigger, record.source_version) == ("rollback", 1)
    assert record.execution_arn and record.execution_arn.endswith(sync_id)
    (entry,) = api_deps.repo.list_audit("d1")
    assert (entry.action, entry.sync_id, entry.details["version"]) == ("rollback", sync_id, 1)


def test_rollback_to_an_unknown_version_is_404_and_to_the_latest_409(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    _promote(api_deps, 1)

    assert invoke(handler_module, api_event("rollback", body={"version": 5})).status == 404
    assert invoke(handler_module, api_event("rollback", body={"version": 1})).status == 409
    assert workflow.started == {}


# --- audit ---------------------------------------------------------------------------------------


def test_audit_lists_who_decided_what_newest_first(
    api_deps: ApiDeps, handler_module: Any, clock: Any
) -> None:
    seed_sync(api_deps)
    invoke(handler_module, api_event("release"))
    clock.now = NOW + timedelta(minutes=5)
    invoke(handler_module, api_event("put_pause_windows"))

    entries = invoke(handler_module, api_event("list_audit")).json["entries"]
    only_sync = invoke(handler_module, api_event("list_audit", query={"sync_id": "d1-0123456789ab"})).json

    assert [e["action"] for e in entries] == ["pause_windows_updated", "release"]
    assert entries[1]["actor"] == "admin@d1.example.org"
    assert entries[1]["schools"] == ["sch-001"]
    assert [e["action"] for e in only_sync["entries"]] == ["release"]
