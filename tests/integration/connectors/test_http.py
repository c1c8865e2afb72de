"""The shared HTTP client: retries, Retry-After, and which failure becomes which hold."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from rostersync.connectors.http import HttpClient, RetryPolicy, SourceRequestError, retry_after_seconds
from rostersync.pipeline.ports import CredentialsError, DisconnectedError
from tests.support.clever_server import FakeClever
from tests.support.httpbase import Fault


def _always(path: str, query: object) -> bool:
    return True


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)

    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_a_429_is_retried_after_the_retry_after_the_source_asked_for(
    clever: FakeClever, http: HttpClient, sleeps: Any
) -> None:
    clever.faults.append(Fault(_always, 429, {"Retry-After": "3"}))
    http.session.headers["Authorization"] = "Bearer district-token"

    response = http.get(f"{clever.url}/v3.0/schools")

    assert response.status_code == 200
    assert sleeps.waits == [3.0]


def test_retry_after_is_capped(clever: FakeClever, sleeps: Any) -> None:
    clever.faults.append(Fault(_always, 503, {"Retry-After": "86400"}))
    http = HttpClient(retry=RetryPolicy(attempts=2, max_retry_after_seconds=5, sleep=sleeps))
    http.session.headers["Authorization"] = "Bearer district-token"

    http.get(f"{clever.url}/v3.0/schools")

    assert sleeps.waits == [5]


def test_5xx_after_every_retry_is_disconnected(clever: FakeClever, http: HttpClient) -> None:
    clever.faults.append(Fault(_always, 500, times=10))

    with pytest.raises(DisconnectedError) as raised:
        http.get(f"{clever.url}/v3.0/schools")

    assert raised.value.hold == "disconnected"
    assert "500" in str(raised.value) and "after 4 attempts" in str(raised.value)
    assert len(clever.log) == 4


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_credentials_and_not_retried(
    clever: FakeClever, http: HttpClient, status: int
) -> None:
    clever.faults.append(Fault(_always, status))

    with pytest.raises(CredentialsError) as raised:
        http.get(f"{clever.url}/v3.0/schools")

    assert raised.value.hold == "credentials"
    assert raised.value.status == status
    assert len(clever.log) == 1


def test_other_4xx_is_a_request_error_not_a_hold(clever: FakeClever, http: HttpClient) -> None:
    http.session.headers["Authorization"] = "Bearer district-token"

    with pytest.raises(SourceRequestError):
        http.get(f"{clever.url}/nowhere")


def test_a_refused_connection_is_disconnected(http: HttpClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: nothing listens

    with pytest.raises(DisconnectedError, match="ConnectionError"):
        http.get(f"http://127.0.0.1:{port}/v3.0/schools")


def test_a_source_that_never_answers_times_out_as_disconnected(sleeps: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections into the backlog, never answers
    stop = threading.Timer(10, listener.close)
    stop.start()
    http = HttpClient(retry=RetryPolicy(attempts=2, read_timeout=0.2, connect_timeout=0.2, sleep=sleeps))
    try:
        with pytest.raises(DisconnectedError, match="Timeout"):
            http.get(f"http://127.0.0.1:{listener.getsockname()[1]}/v3.0/schools")
    finally:
        stop.cancel()
        listener.close()
