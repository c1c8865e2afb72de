"""Local Clever and OneRoster sources for ``rostersync serve --with-sample-sources``.

Two small HTTP servers on loopback that answer as the real APIs do for what the connectors read
(:mod:`rostersync.connectors`): :class:`SampleClever` is the Clever Data API v3 (bearer token,
``limit``/``starting_after`` paging with ``links``, users by ``role``, the district's ``state``),
:class:`SampleOneRoster` a OneRoster 1.1 REST provider (``/ims/oneroster/v1p1/<collection>``,
``limit``/``offset`` paging with ``X-Total-Count``, OAuth 2 client-credentials tokens from
``/oauth/token``). They serve the small data sets of :mod:`rostersync_tools.local.sample_data`
and refuse (401) a request without the credentials they were made with. Development only:
nothing here is deployed.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from rostersync_tools.local.sample_data import clever_district, oneroster_collections

ONEROSTER_ROOT = "/ims/oneroster/v1p1/"
TOKEN_SECONDS = 3600


@dataclass
class Reply:
    status: int
    body: Any  # JSON-encoded, unless already bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    target: str = ""  # the request target as sent: path and query string (OAuth 1.0a signs it)

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]

    def int_param(self, name: str, default: int) -> int:
        value = self.param(name)
        return int(value) if value is not None and value.isdigit() else default


class JsonServer:
    """A threaded JSON-over-HTTP server on 127.0.0.1; subclasses answer :meth:`handle`.

    Every request goes through :meth:`respond` (by default :meth:`handle`), the hook for a server
    that wraps the answer (the test suite's fakes script faults and log requests there).
    """

    poll_interval = 0.1  # seconds: how soon :meth:`stop` is noticed

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # serve logs what matters; one line per request would bury it

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    dict(self.headers.items()),
                    self.rfile.read(length) if length else b"",
                    self.path,
                )
                reply = outer.respond(request)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(self.poll_interval,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def respond(self, request: Request) -> Reply:
        return self.handle(request)

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def start(self) -> JsonServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class SampleClever(JsonServer):
    """Clever Data API v3.0 over :func:`clever_district`, for the bearer ``token``."""

    def __init__(self, token: str | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.token = token or secrets.token_urlsafe(16)
        data = clever_district()
        self.district: dict[str, Any] = data["district"]
        self.data: dict[str, list[dict[str, Any]]] = data["data"]
        self.users: dict[str, list[dict[str, Any]]] = data["users"]

    def handle(self, request: Request) -> Reply:
        if not _same(request.headers.get("Authorization"), f"Bearer {self.token}"):
            return Reply(401, {"error": "Unauthorized"})
        resource = request.path.removeprefix("/v3.0/")
        if resource == request.path:
            return Reply(404, {"error": "not found"})
        if resource == "districts":
            records = [self.district]
        elif resource == "users":
            records = self.users.get(request.param("role") or "", [])
        elif resource in self.data:
            records = self.data[resource]
        else:
            return Reply(404, {"error": "not found"})
        return Reply(200, self._page(request, records))

    @staticmethod
    def _page(request: Request, records: list[dict[str, Any]]) -> dict[str, Any]:
        limit = max(1, request.int_param("limit", 100))
        after = request.param("starting_after")
        ids = [r["id"] for r in records]
        start = ids.index(after) + 1 if after in ids else 0
        page = records[start : start + limit]
        params = {
            "limit": str(limit),
            **({"role": request.param("role") or ""} if request.param("role") else {}),
        }
        links = [{"rel": "self", "uri": f"{request.path}?{urlencode(params)}"}]
        if start + limit < len(records):
            next_params = {**params, "starting_after": page[-1]["id"]}
            links.append({"rel": "next", "uri": f"{request.path}?{urlencode(next_params)}"})
        return {"data": [{"data": r, "uri": f"{request.path}/{r['id']}"} for r in page], "links": links}


class SampleOneRoster(JsonServer):
    """OneRoster 1.1 REST over :func:`oneroster_collections`, for one OAuth 2 client."""

    def __init__(
        self,
        client_id: str = "rostersync-sample",
        client_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(16)
        self.collections = oneroster_collections()
        self._tokens: set[str] = set()
        self._lock = threading.Lock()

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    def handle(self, request: Request) -> Reply:
        if request.path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        auth = request.headers.get("Authorization", "")
        with self._lock:
            known = auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self._tokens
        if not known:
            return Reply(401, {"imsx_codeMajor": "failure", "imsx_description": "Unauthorized"})
        name = request.path.removeprefix(ONEROSTER_ROOT)
        if name == request.path or name not in self.collections:
            return Reply(404, {"imsx_codeMajor": "failure", "imsx_description": "not found"})
        records = self.collections[name]
        limit = max(1, request.int_param("limit", 100))
        offset = request.int_param("offset", 0)
        return Reply(200, {name: records[offset : offset + limit]}, {"X-Total-Count": str(len(records))})

    def _token(self, request: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
        valid = _same(client_id, self.client_id) and _same(secret, self.client_secret)
        if form.get("grant_type") != "client_credentials" or not valid:
            return Reply(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS})
