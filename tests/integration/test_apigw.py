"""The local API Gateway adapter: proxy events, resource matching, local tokens, the server."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from rostersync_tools.local.apigw import (
    MAX_BODY_BYTES,
    bearer_claims,
    issue_token,
    match_resource,
    proxy_event,
    serve_api,
    verify_token,
)

RESOURCES = ["/syncs/{sync_id}", "/syncs/{sync_id}/release", "/districts/{district_id}/holds/release"]

# PyJWT warns on HS256 keys under 32 bytes; the tests use one of a realistic length.
SERVER_SECRET = "local-test-secret-of-32-bytes-or-more"


def test_paths_match_their_resource_template() -> None:
    assert match_resource("/syncs/abc/release", RESOURCES) == ("/syncs/{sync_id}/release", {"sync_id": "abc"})
    assert match_resource("/syncs/abc", RESOURCES) == ("/syncs/{sync_id}", {"sync_id": "abc"})
    assert match_resource("/syncs/abc/unknown", RESOURCES) is None


def test_a_proxy_event_carries_the_claims_as_api_gateway_flattens_them() -> None:
    event = proxy_event(
        "post",
        "/syncs/abc/release",
        query={"redirect": "true"},
        body=b'{"a": 1}',
        claims={"sub": "s", "cognito:groups": ["operator", "district_admin"]},
        resources=RESOURCES,
    )

    assert event["httpMethod"] == "POST"
    assert event["resource"] == "/syncs/{sync_id}/release"
    assert event["pathParameters"] == {"sync_id": "abc"}
    assert event["queryStringParameters"] == {"redirect": "true"}
    assert event["requestContext"]["authorizer"]["claims"]["cognito:groups"] == "operator,district_admin"
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False


def test_local_tokens_verify_only_with_their_secret_and_until_they_expire() -> None:
    token = issue_token(SERVER_SECRET, {"sub": "u1", "cognito:groups": ["operator"]})

    assert verify_token(SERVER_SECRET, token)["sub"] == "u1"  # type: ignore[index]
    assert verify_token("other", token) is None
    assert verify_token(SERVER_SECRET, token[:-2] + "xx") is None
    assert verify_token(SERVER_SECRET, issue_token(SERVER_SECRET, {"sub": "u1"}, ttl_seconds=-1)) is None
    assert verify_token(SERVER_SECRET, "not.a.token") is None


def test_the_server_passes_requests_to_the_handler_with_the_callers_claims() -> None:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}

    token = issue_token(SERVER_SECRET, {"sub": "u1", "custom:districts": "d1"})
    with serve_api(
        "127.0.0.1", 0, handler=handler, claims_for=bearer_claims(SERVER_SECRET), resources=RESOURCES
    ) as api:
        request = urllib.request.Request(
            f"{api.url}/syncs/s1/release?x=1",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
            assert json.loads(response.read()) == {"ok": True}
        try:
            urllib.request.urlopen(f"{api.url}/syncs/s1", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
            assert json.loads(exc.read())["error"] == "not_authenticated"
        else:  # pragma: no cover
            raise AssertionError("a request without a token was let through")

    (event,) = seen
    assert event["pathParameters"] == {"sync_id": "s1"}
    assert event["requestContext"]["authorizer"]["claims"]["sub"] == "u1"


def _raw_request(url: str, request: bytes) -> bytes:
    """Send ``request`` as is and return what the server answers before it closes (or 5 s)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _refusing_api() -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "body": "{}"}

    api = serve_api(
        "127.0.0.1", 0, handler=handler, claims_for=bearer_claims(SERVER_SECRET), resources=RESOURCES
    )
    return api, seen


def test_a_request_without_a_token_is_refused_before_its_body_is_read() -> None:
    api, seen = _refusing_api()
    with api:
        # The body announced is never sent: the server answers from the headers alone.
        response = _raw_request(
            api.url, b"POST /syncs/s1/release HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
        )

    assert _status(response) == 401
    assert seen == []


@pytest.mark.parametrize("length", ["abc", "-1", "12, 13", "1e3", "\u00b2"])
def test_a_malformed_content_length_is_a_400(length: str) -> None:
    api, seen = _refusing_api()
    token = issue_token(SERVER_SECRET, {"sub": "u1"})
    with api:
        response = _raw_request(
            api.url,
            f"POST /syncs/s1/release HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {length}\r\n\r\n{{}}".encode(),
        )

    assert _status(response) == 400
    assert b"Content-Length" in response.split(b"\r\n\r\n", 1)[1]
    assert seen == []


def test_a_body_over_api_gateways_10_mb_limit_is_a_413_unread() -> None:
    api, seen = _refusing_api()
    token = issue_token(SERVER_SECRET, {"sub": "u1"})
    with api:
        response = _raw_request(
            api.url,
            f"POST /syncs/s1/release HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(),
        )

    assert _status(response) == 413
    assert seen == []
