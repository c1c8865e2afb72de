"""Routes by sync id: read, release (all or some schools), reject, retry, downloads; bulk release."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rostersync.api.deps import ApiDeps
from tests.support.api_helpers import (
    ADMIN_D1,
    NOW,
    OPERATOR,
    SYNC,
    Clock,
    RecordingWorkflow,
    api_event,
    hold,
    invoke,
    put_csv,
    seed_sync,
)


def test_get_sync_shows_holds_with_numbers_and_per_school_findings(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(
        api_deps,
        holds=[hold("sch-001"), hold(None, "emergency_contacts", numerator=3, denominator=None)],
        held_schools=["sch-001"],
    )

    body = invoke(handler_module, api_event("get_sync")).json

    assert body["status"] == "held"
    removal = next(h for h in body["holds"] if h["type"] == "mass_removal")
    assert (removal["numerator"], removal["denominator"], removal["threshold"]) == (230, 501, 10.0)
    assert removal["percent"] == 45.9
    assert "Release to confirm the removals" in removal["resolution"]
    assert [(s["school_id"], s["state"]) for s in body["schools"]] == [(None, "held"), ("sch-001", "held")]
    assert "task_token" not in str(body) and "hold_id" not in body


def test_get_sync_shows_the_preview_with_rekeys_and_reads_an_older_summary_as_0(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    counts = {"baseline": 80, "staged": 80, "added": 0, "removed": 0, "changed": 0}
    rows = [
        {"entity": "students", "school_id": "sch-001", **counts, "id_changed": 20},
        {"entity": "teachers", "school_id": "sch-001", **counts},  # written before id_changed
    ]
    api_deps.snapshots.put("d1/summary.json", json.dumps(rows).encode())
    seed_sync(api_deps, keys={"summary": "d1/summary.json"})

    body = invoke(handler_module, api_event("get_sync")).json

    assert [(c["entity"], c["added"], c["removed"], c["id_changed"]) for c in body["changes"]] == [
        ("students", 0, 0, 20),
        ("teachers", 0, 0, 0),
    ]


def test_list_syncs_is_newest_first_and_filters_by_status(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps, sync_id="d1-old", status="applied", created_at=NOW - timedelta(days=1))
    seed_sync(api_deps)

    everything = invoke(handler_module, api_event("list_syncs")).json
    applied = invoke(handler_module, api_event("list_syncs", query={"status": "applied"})).json

    assert [s["sync_id"] for s in everything["syncs"]] == [SYNC, "d1-old"]
    assert [s["sync_id"] for s in applied["syncs"]] == ["d1-old"]


def test_coalesced_records_are_hidden_unless_asked_for(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps, sync_id="d1-file1", status="coalesced", created_at=NOW - timedelta(minutes=1))
    seed_sync(api_deps)

    default = invoke(handler_module, api_event("list_syncs")).json
    coalesced = invoke(handler_module, api_event("list_syncs", query={"status": "coalesced"})).json

    assert [s["sync_id"] for s in default["syncs"]] == [SYNC]
    assert [s["sync_id"] for s in coalesced["syncs"]] == ["d1-file1"]


def test_an_operator_fails_a_stuck_sync_and_a_district_admin_may_not(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    refused = invoke(handler_module, api_event("fail", claims=ADMIN_D1))
    failed = invoke(handler_module, api_event("fail", claims=OPERATOR))

    assert refused.status == 403
    assert failed.status == 202 and failed.json["outcome"] == "failed"
    record = api_deps.repo.get_sync("d1", SYNC)
    assert record is not None and record.status == "failed"
    assert record.reason == f"failed by operator {failed.json['actor']}: execution stuck after a console stop"


def test_list_holds_separates_open_from_closed(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(
        api_deps,
        sync_id="d1-rejected",
        status="rejected",
        token_status="decided",
        created_at=NOW - timedelta(days=2),
    )
    seed_sync(api_deps)

    open_ = invoke(handler_module, api_event("list_holds")).json
    closed = invoke(handler_module, api_event("list_holds", query={"status": "closed"})).json

    assert [h["sync_id"] for h in open_["holds"]] == [SYNC]
    assert open_["holds"][0]["hold_types"] == ["mass_removal"]
    assert [h["sync_id"] for h in closed["holds"]] == ["d1-rejected"]


# --- decisions -----------------------------------------------------------------------------------


def test_a_release_may_keep_the_removals_held_and_is_audited_so(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    response = invoke(
        handler_module, api_event("release", body={"hold_types": ["mass_removal"], "removals": "keep_held"})
    )

    assert response.status == 202, response.text
    assert workflow.successes[0][1]["removals"] == "keep_held"
    [entry] = api_deps.repo.list_audit("d1")
    assert entry.details["removals"] == "keep_held"


def test_releasing_some_schools_resumes_the_execution_once_with_them(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    response = invoke(
        handler_module, api_event("release", body={"schools": ["sch-001"], "hold_types": ["mass_removal"]})
    )

    assert response.status == 202, response.text
    assert response.json["schools"] == ["sch-001"]
    assert workflow.successes == [
        (
            "task-token-of-d1-0123456789ab",
            {
                "action": "release",
                "schools": ["sch-001"],
                "actor": "admin@d1.example.org",
                "removals": "apply",
            },
        )
    ]


def test_a_release_is_audited_with_the_callers_identity(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps)

    invoke(handler_module, api_event("release"))

    (entry,) = api_deps.repo.list_audit("d1")
    assert (entry.actor, entry.actor_id) == (ADMIN_D1["email"], ADMIN_D1["sub"])
    assert (entry.action, entry.sync_id, entry.schools) == ("release", SYNC, ["sch-001"])
    assert entry.details["hold_types"] == ["mass_removal"]


def test_releasing_everything_names_no_schools(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    response = invoke(handler_module, api_event("release", body={"hold_types": ["mass_removal"]}))

    assert response.status == 202
    assert workflow.successes[0][1]["schools"] is None


def test_a_double_release_is_409_and_resumes_once(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    first = invoke(handler_module, api_event("release"))
    second = invoke(handler_module, api_event("release"))

    assert (first.status, second.status) == (202, 409)
    assert second.json["error"] == "decision_in_progress"
    assert len(workflow.successes) == 1


def test_a_decision_while_the_previous_one_is_applied_is_409_saying_to_try_again(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps)
    invoke(
        handler_module, api_event("release", body={"schools": ["sch-002"], "hold_types": ["mass_removal"]})
    )

    response = invoke(handler_module, api_event("reject"))
    detail = invoke(handler_module, api_event("get_sync")).json

    assert (response.status, response.json["error"]) == (409, "decision_in_progress")
    assert response.json["message"] == (
        f"the hold of sync {SYNC} was already decided (release by admin@d1.example.org) and that "
        "decision is still being applied; try again in a few seconds"
    )
    assert detail["applying"] is True


def test_a_decision_on_a_sync_whose_decision_was_carried_out_is_already_decided(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps, status="applied", token_status="decided")

    response = invoke(handler_module, api_event("reject"))

    assert (response.status, response.json["error"]) == (409, "already_decided")


def test_a_decision_never_sent_to_the_execution_is_not_shown_as_being_applied(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps, token_status="decided")  # decided, but its invocation died before sending

    assert invoke(handler_module, api_event("get_sync")).json["applying"] is False


def test_an_open_hold_is_not_applying(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps)

    assert invoke(handler_module, api_event("get_sync")).json["applying"] is False


def test_a_reject_after_a_release_is_409(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)
    invoke(handler_module, api_event("release"))

    assert invoke(handler_module, api_event("reject")).status == 409
    assert len(workflow.successes) == 1


def test_an_expired_hold_is_410(
    api_deps: ApiDeps, handler_module: Any, clock: Clock, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps, expires_in=timedelta(hours=1))
    clock.now = NOW + timedelta(hours=2)

    response = invoke(handler_module, api_event("reject"))

    assert response.status == 410
    assert response.json["error"] == "hold_expired"
    assert workflow.successes == []


def test_a_hold_the_state_machine_timed_out_is_410(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)
    workflow.gone = True

    assert invoke(handler_module, api_event("retry")).status == 410


def test_a_sync_not_on_hold_is_409(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps, status="applied")

    response = invoke(handler_module, api_event("release"))

    assert response.status == 409
    assert response.json["error"] == "not_on_hold"


def test_an_unknown_sync_is_404(api_deps: ApiDeps, handler_module: Any) -> None:
    assert invoke(handler_module, api_event("get_sync", sync_id="d1-nope")).status == 404


def test_releasing_a_school_that_is_not_held_is_422(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    response = invoke(
        handler_module, api_event("release", body={"schools": ["sch-999"], "hold_types": ["mass_removal"]})
    )

    assert response.status == 422
    assert response.json["error"] == "invalid_decision"
    assert workflow.successes == []


def test_a_release_must_acknowledge_the_hold_types_it_releases(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps, holds=[hold("sch-001"), hold("sch-002", "too_many_contacts")])

    partial = invoke(
        handler_module, api_event("release", body={"schools": ["sch-001"], "hold_types": ["mass_removal"]})
    )
    assert partial.status == 202

    seed_sync(api_deps, sync_id="d1-other", holds=[hold("sch-001"), hold("sch-002", "too_many_contacts")])
    everything = invoke(
        handler_module, api_event("release", sync_id="d1-other", body={"hold_types": ["mass_removal"]})
    )
    assert everything.status == 422
    assert "too_many_contacts" in everything.json["message"]
    assert len(workflow.successes) == 1


def test_files_that_cannot_be_read_cannot_be_released(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps, held_schools=[], holds=[hold(None, "invalid_files")], releasable=False)

    response = invoke(handler_module, api_event("release", body={"hold_types": ["invalid_files"]}))

    assert response.status == 422


@pytest.mark.parametrize(("route", "action"), [("reject", "reject"), ("retry", "retry")])
def test_reject_and_retry_resume_with_their_action(
    route: str, action: str, api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    response = invoke(handler_module, api_event(route, body=None))

    assert response.status == 202, response.text
    assert workflow.successes[0][1]["action"] == action
    assert api_deps.repo.list_audit("d1")[0].action == action


def test_a_retry_reads_the_source_again_as_a_new_attempt(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps)

    invoke(handler_module, api_event("retry"))

    assert api_deps.repo.get_sync("d1", SYNC).attempt == 2  # type: ignore[union-attr]


# --- bulk release --------------------------------------------------------------------------------


def test_bulk_release_releases_the_named_schools_wherever_they_are_held(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps, held_schools=["sch-001", "sch-002", "sch-003"])

    body = invoke(
        handler_module,
        api_event(
            "bulk_release",
            body={"schools": ["sch-001", "sch-002", "sch-009"], "hold_types": ["mass_removal"]},
        ),
    ).json

    assert [(r["sync_id"], r["outcome"], r["schools"]) for r in body["results"]] == [
        (SYNC, "released", ["sch-001", "sch-002"])
    ]
    assert body["not_held"] == ["sch-009"]
    assert [o["schools"] for _, o in workflow.successes] == [["sch-001", "sch-002"]]


def test_bulk_release_reports_a_refusal_per_sync_instead_of_failing(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps, holds=[hold("sch-001", "class_id_reuse"), hold("sch-002")])

    body = invoke(handler_module, api_event("bulk_release", body={"hold_types": ["mass_removal"]})).json

    (result,) = body["results"]
    assert (result["outcome"], result["status_code"], result["error"]) == ("refused", 422, "invalid_decision")
    assert "class_id_reuse" in result["message"]
    assert workflow.successes == []


def test_bulk_release_skips_a_hold_whose_decision_is_being_applied(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps)
    invoke(
        handler_module, api_event("release", body={"schools": ["sch-002"], "hold_types": ["mass_removal"]})
    )

    body = invoke(handler_module, api_event("bulk_release", body={"hold_types": ["mass_removal"]})).json

    assert [(r["outcome"], r["status_code"], r["error"]) for r in body["results"]] == [
        ("refused", 409, "decision_in_progress")
    ]


def test_bulk_release_can_keep_the_removals_held(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    body = invoke(
        handler_module,
        api_event("bulk_release", body={"hold_types": ["mass_removal"], "removals": "keep_held"}),
    ).json

    assert [r["outcome"] for r in body["results"]] == ["released"]
    assert [o["removals"] for _, o in workflow.successes] == ["keep_held"]
    (entry,) = api_deps.repo.list_audit("d1")
    assert (entry.details["bulk"], entry.details["removals"]) == (True, "keep_held")


def test_bulk_release_applies_the_removals_unless_told_otherwise(
    api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    seed_sync(api_deps)

    invoke(handler_module, api_event("bulk_release", body={"hold_types": ["mass_removal"]}))

    assert [o["removals"] for _, o in workflow.successes] == ["apply"]
    assert "removals" not in api_deps.repo.list_audit("d1")[0].details


# --- downloads -----------------------------------------------------------------------------------


def test_changes_csv_is_a_short_lived_presigned_url(api_deps: ApiDeps, handler_module: Any) -> None:
    key = put_csv(api_deps, "syncs/d1/x/changes.csv")
    seed_sync(api_deps, keys={"changes_csv": key})

    body = invoke(handler_module, api_event("changes_csv")).json

    assert body["expires_in"] == 300
    url = urlsplit(body["url"])
    assert url.path.endswith("/syncs/d1/x/changes.csv")
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["300"]
    assert "attachment" in query["response-content-disposition"][0]


def test_a_first_syncs_full_list_of_changes_downloads_compressed(
    api_deps: ApiDeps, handler_module: Any
) -> None:
    key = put_csv(api_deps, "syncs/d1/x/changes.csv.gz")
    seed_sync(api_deps, keys={"changes_full": key})

    body = invoke(handler_module, api_event("changes_csv_gz")).json

    assert urlsplit(body["url"]).path.endswith("/syncs/d1/x/changes.csv.gz")
    assert body["filename"].endswith("-changes.csv.gz")


def test_errors_csv_can_answer_with_a_redirect(api_deps: ApiDeps, handler_module: Any) -> None:
    key = put_csv(api_deps, "syncs/d1/x/errors.csv")
    seed_sync(api_deps, keys={"errors": key})

    response = invoke(handler_module, api_event("errors_csv"))

    assert response.status == 302
    assert "syncs/d1/x/errors.csv" in response.headers["location"]


@pytest.mark.parametrize(
    ("event", "name", "key"),
    [("changes_csv", "changes.csv", "changes_csv"), ("errors_csv", "errors.csv", "errors")],
)
def test_every_download_link_is_audited(
    event: str, name: str, key: str, api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps, keys={key: put_csv(api_deps, f"syncs/d1/x/{name}")})

    invoke(handler_module, api_event(event))

    [entry] = [e for e in api_deps.repo.list_audit("d1") if e.action == "download"]
    assert entry.actor == "admin@d1.example.org"
    assert entry.sync_id == "d1-0123456789ab"
    assert entry.details == {"file": name, "expires_in": 300}


def test_a_missing_csv_is_404(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps, keys={"changes_csv": "syncs/d1/x/never-written.csv"})

    assert invoke(handler_module, api_event("changes_csv")).status == 404
    assert invoke(handler_module, api_event("errors_csv")).status == 404


def test_an_operator_decision_is_audited_as_the_operator(api_deps: ApiDeps, handler_module: Any) -> None:
    seed_sync(api_deps)

    invoke(handler_module, api_event("reject", claims=OPERATOR))

    assert api_deps.repo.list_audit("d1")[0].actor == OPERATOR["email"]
