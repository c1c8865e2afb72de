"""Fault injection helpers for the fault matrix (tests/integration/test_fault_matrix*.py).

A botocore ``before-send`` handler that returns a response short-circuits the HTTP request: the
response then goes through botocore's parsing and retry handling as a real one would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse


class RawBody:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def service_error(request: Any, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    """The error response a service would have sent for ``request``."""
    return AWSResponse(request.url, status, headers, RawBody(body))
