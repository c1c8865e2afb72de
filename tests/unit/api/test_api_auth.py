"""Authorization: who the caller is (claims), and district scope on every route."""

from __future__ import annotations

from typing import Any

import pytest

from rostersync.api.auth import (
    Caller,
    ForbiddenError,
    NotAuthenticatedError,
    caller_from_claims,
    list_claim,
)
from rostersync.api.deps import ApiDeps
from tests.support.api_helpers import (
    ADMIN_D1,
    ADMIN_D2,
    EVENTS,
    NO_ROLE,
    OPERATOR,
    SYNC,
    RecordingWorkflow,
    api_event,
    invoke,
    seed_sync,
)

ROUTES = sorted(p.name.removeprefix("api_").removesuffix(".json") for p in EVENTS.glob("api_*.json"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("district_admin", ["district_admin"]),
        ("operator,district_admin", ["operator", "district_admin"]),
        ("[operator, district_admin]", ["operator", "district_admin"]),
        (["d1", "d2"], ["d1", "d2"]),
        ("d1 d2", ["d1", "d2"]),
        ("", []),
        (None, []),
    ],
)
def test_list_claims_are_read_in_every_shape_api_gateway_passes(value: Any, expected: list[str]) -> None:
    assert list_claim(value) == expected


def test_a_district_admin_acts_for_the_districts_of_its_attribute() -> None:
    caller = caller_from_claims(ADMIN_D1 | {"custom:districts": "d1, d3"})

    assert caller.role == "district_admin"
    assert caller.may_act_for("d1") and caller.may_act_for("d3")
    assert not caller.may_act_for("d2")
    assert caller.label == "admin@d1.example.org"


def test_an_operator_acts_for_every_district() -> None:
    caller = caller_from_claims(OPERATOR)

    assert caller.role == "operator"
    assert caller.may_act_for("any-district")


def test_no_claims_is_not_authenticated() -> None:
    with pytest.raises(NotAuthenticatedError):
        caller_from_claims(None)
    with pytest.raises(NotAuthenticatedError):
        caller_from_claims({"email": "x@example.org"})


def test_a_caller_without_a_role_group_is_forbidden() -> None:
    with pytest.raises(ForbiddenError):
        caller_from_claims(NO_ROLE)


def test_the_route_table_covers_every_sample_event() -> None:
    assert len(ROUTES) == 21


def _seed_d1(deps: ApiDeps) -> None:
    seed_sync(deps, keys={"changes_csv": "syncs/d1/x/changes.csv", "errors": "syncs/d1/x/errors.csv"})
    deps.snapshots.put("syncs/d1/x/changes.csv", b"kind\n")
    deps.snapshots.put("syncs/d1/x/errors.csv", b"kind\n")


@pytest.mark.parametrize("route", ROUTES)
def test_a_district_admin_of_another_district_is_refused_on_every_route(
    route: str, api_deps: ApiDeps, handler_module: Any, workflow: RecordingWorkflow
) -> None:
    # Given a held sync of d1 with downloads, and d1's settings
    _seed_d1(api_deps)
    settings_before = api_deps.repo.get_settings("d1")

    # When d2's admin calls the route on d1's resources
    response = invoke(handler_module, api_event(route, claims=ADMIN_D2))

    # Then it is refused (403 for a named district, 404 for a sync id) and nothing changed
    assert response.status in (403, 404), response.text
    assert response.json["error"] in ("forbidden", "sync_not_found")
    assert workflow.successes == [] and workflow.started == {}
    assert api_deps.repo.list_audit("d1") == []
    assert api_deps.repo.get_settings("d1") == settings_before
    assert api_deps.repo.get_sync("d1", SYNC).status == "held"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.startswith(("get_sync", "release", "reject", "retry"))]
)
def test_another_districts_sync_looks_exactly_like_a_missing_one(
    route: str, api_deps: ApiDeps, handler_module: Any
) -> None:
    _seed_d1(api_deps)

    theirs = invoke(handler_module, api_event(route, claims=ADMIN_D2))
    missing = invoke(handler_module, api_event(route, sync_id="d2-doesnotexist", claims=ADMIN_D2))

    assert theirs.status == missing.status == 404
    assert theirs.json["error"] == missing.json["error"]
    assert theirs.json["message"].replace(SYNC, "?") == missing.json["message"].replace(
        "d2-doesnotexist", "?"
    )


@pytest.mark.parametrize("route", ROUTES)
def test_a_request_without_an_identity_is_unauthenticated(
    route: str, api_deps: ApiDeps, handler_module: Any
) -> None:
    _seed_d1(api_deps)

    response = invoke(handler_module, api_event(route, claims=None))

    assert response.status == 401
    assert response.json["error"] == "not_authenticated"


@pytest.mark.parametrize("route", ["get_sync", "list_syncs", "get_settings", "list_audit"])
def test_a_caller_without_a_role_is_forbidden(route: str, api_deps: ApiDeps, handler_module: Any) -> None:
    _seed_d1(api_deps)

    assert invoke(handler_module, api_event(route, claims=NO_ROLE)).status == 403


@pytest.mark.parametrize("route", ["get_sync", "list_syncs", "list_holds", "get_settings", "changes_csv"])
def test_an_operator_reads_any_district(route: str, api_deps: ApiDeps, handler_module: Any) -> None:
    _seed_d1(api_deps)

    response = invoke(handler_module, api_event(route, claims=OPERATOR))

    assert response.status == 200, response.text


def test_caller_is_frozen() -> None:
    caller = Caller(sub="s", role="operator")
    with pytest.raises(ValueError):
        caller.sub = "other"  # type: ignore[misc]
