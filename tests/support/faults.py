"""Fault injection helpers for the fault matrix (tests/integration/test_fault_matrix*.py).

A botocore ``before-send`` handler that returns a response short-circuits the HTTP request: the
response then goes through botocore's parsing and retry handling as a real one would.
:func:`pinned_crash` kills an invocation once at one request of the functions' shared client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from botocore.awsrequest import AWSResponse

from rostersync.aws import clients

When = Literal["before", "after"]


class RawBody:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def service_error(request: Any, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    """The error response a service would have sent for ``request``."""
    return AWSResponse(request.url, status, headers, RawBody(body))


class PinnedCrash:
    """Raise once (or ``times``; None: every time) at the request whose parameters ``match``:
    ``before`` it is sent (the side effect never happens) or ``after`` the service answered (it
    happened; the invocation dies before it records it). The match is made on the operation's parameters
    (``before-parameter-build``) and carried to the same call's later events in botocore's
    request context, so only that one call raises."""

    def __init__(
        self, match: Callable[[dict[str, Any]], bool], when: When, message: str, times: int | None = 1
    ) -> None:
        self.match, self.when, self.message, self.times = match, when, message, times
        self.crashed = 0

    def mark(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if (self.times is None or self.crashed < self.times) and self.match(params):
            context["fault_matrix_target"] = True

    def before(self, context: dict[str, Any], **_: Any) -> None:
        self._crash(context, "before")

    def after(self, context: dict[str, Any], **_: Any) -> None:
        self._crash(context, "after")

    def _crash(self, context: dict[str, Any], when: When) -> None:
        if self.when == when and context.pop("fault_matrix_target", False):
            self.crashed += 1
            raise RuntimeError(self.message)


@contextmanager
def pinned_crash(
    service: str,
    operation: str,
    match: Callable[[dict[str, Any]], bool],
    when: When,
    message: str,
    times: int | None = 1,
) -> Iterator[PinnedCrash]:
    """Install a :class:`PinnedCrash` on the functions' shared ``service`` client for the block;
    it crashes ``times`` matching calls (None: every one)."""
    hook = PinnedCrash(match, when, message, times)
    client = clients.client(service)
    name = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events
    handlers = [
        (f"before-parameter-build.{name}.{operation}", hook.mark),
        (f"before-call.{name}.{operation}", hook.before),
        (f"after-call.{name}.{operation}", hook.after),
    ]
    for event, handler in handlers:
        events.register(event, handler)
    try:
        yield hook
    finally:
        for event, handler in handlers:
            events.unregister(event, handler)
