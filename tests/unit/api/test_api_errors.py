"""Malformed requests are 422 with field errors only; unknown routes 404; our bugs a bare 500."""

from __future__ import annotations

from typing import Any

import pytest

from rostersync.api.deps import ApiDeps
from tests.support.api_helpers import FakeLambdaContext, api_event, invoke, seed_sync

MALFORMED: list[tuple[str, str]] = [
    ("release", "{not json"),
    ("release", "[]"),
    ("release", '{"schools": ["sch-001"]}'),
    ("release", '{"schools": [], "hold_types": ["mass_removal"]}'),
    ("release", '{"schools": "sch-001", "hold_types": ["mass_removal"]}'),
    ("release", '{"hold_types": ["not_a_hold"]}'),
    ("release", '{"hold_types": ["mass_removal"], "extra": 1}'),
    ("reject", '{"comment": 5}'),
    ("bulk_release", '{"schools": [null], "hold_types": []}'),
    ("put_settings", '{"holds": "strict"}'),
    ("put_pause_windows", '{"windows": {"first_day": "2025-01-01"}}'),
    ("rollback", '{"version": 0}'),
    ("rollback", '{"version": "latest"}'),
    ("rollback", ""),
]


@pytest.mark.parametrize(("route", "body"), MALFORMED)
def test_a_malformed_body_is_422_without_a_stack_trace(
    route: str, body: str, api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps)

    response = invoke(handler_module, api_event(route, raw_body=body))

    assert response.status == 422, response.text
    payload = response.json
    assert payload["error"] == "invalid_request"
    assert payload["detail"] and all(set(d) == {"loc", "msg", "type"} for d in payload["detail"])
    assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.parametrize(
    ("route", "query"),
    [
        ("list_syncs", {"limit": "0"}),
        ("list_syncs", {"status": "exploded"}),
        ("list_holds", {"status": "x"}),
        ("delete_pause_windows", {"first_day": "yesterday"}),
        ("list_audit", {"sync_id": "../etc"}),
    ],
)
def test_a_malformed_query_is_422(
    route: str, query: dict[str, str], api_deps: ApiDeps, handler_module: Any
) -> None:
    assert invoke(handler_module, api_event(route, query=query)).status == 422


def test_a_malformed_path_parameter_is_422(api_deps: ApiDeps, handler_module: Any) -> None:
    assert invoke(handler_module, api_event("get_settings", district_id="d1;drop")).status == 422


def test_an_unknown_route_is_404(api_deps: ApiDeps, handler_module: Any) -> None:
    event = api_event("get_sync")
    event["path"] = "/no/such/route"

    response = invoke(handler_module, event)

    assert response.status == 404
    assert response.json["error"] == "not_found"


def test_an_unexpected_error_is_a_bare_500(
    api_deps: ApiDeps, handler_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at /opt/python/rostersync")

    monkeypatch.setattr(api_deps.repo, "find_sync", broken)

    response = invoke(handler_module, api_event("get_sync"))

    assert response.status == 500
    assert response.json == {
        "error": "internal_error",
        "message": f"internal error (request {FakeLambdaContext().aws_request_id})",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "the body nests too deeply"),
        ('{"version": ' + "9" * 4301 + "}", "a number in the body has too many digits"),
    ],
    ids=["nested-100000-deep", "number-of-4301-digits"],
)
def test_a_body_the_json_parser_refuses_is_a_400_not_a_500(
    body: str, message: str, api_deps: ApiDeps, handler_module: Any
) -> None:
    seed_sync(api_deps)

    response = invoke(handler_module, api_event("rollback", raw_body=body))

    assert response.status == 400, response.text
    assert response.json == {"error": "invalid_body", "message": message}
