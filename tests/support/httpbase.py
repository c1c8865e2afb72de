"""The test fakes' HTTP server: the local product's JSON server, plus scripted faults, a request
log and a lifetime after which it stops by itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rostersync_tools.local import sample_sources
from rostersync_tools.local.sample_sources import JsonServer, Request


@dataclass
class Fault:
    """Answer ``status`` (with ``headers``) to the next ``times`` requests matching ``when``."""

    when: Callable[[str, dict[str, list[str]]], bool]
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    body: dict[str, Any] = field(default_factory=lambda: {"error": "scripted fault"})


class Reply(Exception):
    """An answer a fake returns, or raises from deep inside its handler."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class LoopbackServer(JsonServer):
    """Base: subclasses implement :meth:`answer` (method, path, query, headers, body, raw target)."""

    poll_interval = 0.05

    def __init__(self, lifetime: float = 120.0) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def respond(self, request: Request) -> sample_sources.Reply:
        try:
            reply = self._fault(request.path, request.query) or self.answer(
                request.method, request.path, request.query, request.headers, request.body, request.target
            )
        except Reply as raised:
            reply = raised
        # Logged before answering, so a test reading the log after its request sees it.
        with self._lock:
            self.log.append((request.method, request.target, reply.status))
        return sample_sources.Reply(reply.status, reply.body, reply.headers)

    def _fault(self, path: str, query: dict[str, list[str]]) -> Reply | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.when(path, query):
                    fault.times -= 1
                    return Reply(fault.status, fault.body, fault.headers)
        return None

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        raw: str,
    ) -> Reply:
        raise NotImplementedError

    def start(self) -> LoopbackServer:
        super().start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        super().stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
