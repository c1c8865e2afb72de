"""A threaded HTTP server on loopback that stops by itself, plus scripted faults."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    """Answer ``status`` (with ``headers``) to the next ``times`` requests matching ``when``."""

    when: Callable[[str, dict[str, list[str]]], bool]
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    body: dict[str, Any] = field(default_factory=lambda: {"error": "scripted fault"})


class Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class LoopbackServer:
    """Base: subclasses implement :meth:`handle` (method, path, query, headers, body) -> Reply."""

    def __init__(self, lifetime: float = 120.0) -> None:
        self.lifetime = lifetime
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as separate writes: without this, delayed ACKs add
                # ~40 ms to every keep-alive request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                try:
                    reply = outer._fault(parts.path, query) or outer.handle(
                        method, parts.path, query, dict(self.headers.items()), body, self.path
                    )
                except Reply as raised:
                    reply = raised
                # Logged before answering, so a test reading the log after its request sees it.
                with outer._lock:
                    outer.log.append((method, self.path, reply.status))
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _fault(self, path: str, query: dict[str, list[str]]) -> Reply | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.when(path, query):
                    fault.times -= 1
                    return Reply(fault.status, fault.body, fault.headers)
        return None

    def handle(
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
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
