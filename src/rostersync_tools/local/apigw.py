"""API Gateway (REST, Lambda proxy) on loopback: events from HTTP requests, and a small server.

:func:`proxy_event` builds the event API Gateway sends a proxy integration, including the
Cognito authorizer's claims in ``requestContext.authorizer.claims`` with list claims flattened
to strings as API Gateway does (``"operator,district_admin"``). :func:`serve_api` serves a Lambda
handler over ``http.server`` on a local address: each request becomes such an event, the
handler's proxy result becomes the response. Who the caller is comes from ``claims_for`` (the
request headers → claims, or None for a 401 as the authorizer would answer): :func:`bearer_claims`
verifies HS256 tokens issued by :func:`issue_token` (locally issued stand-ins for Cognito ID
tokens, carrying the same claims; signed and verified with PyJWT), :func:`static_claims` trusts
every request as one caller.
Development and tests only: nothing here is deployed.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from rostersync_tools.local.routing import LambdaContext

Claims = dict[str, Any]
ClaimsFor = Callable[[Mapping[str, str]], Claims | None]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_PARAMETER = re.compile(r"\{([^}/]+)\}")
_BYTE_COUNT = re.compile(r"[0-9]{1,15}")  # ASCII digits only: int() also takes "²" or "1_0"
# What the stack's gateway response UNAUTHORIZED answers (template.yaml, ReleaseApi).
UNAUTHORIZED_BODY = b'{"error": "not_authenticated", "message": "Unauthorized"}'
# API Gateway's payload limit (10 MB); a larger body is refused unread with 413, as it does.
MAX_BODY_BYTES = 10 * 1024 * 1024
TOO_LARGE_BODY = b'{"error": "payload_too_large", "message": "the request body is larger than 10 MB"}'
BAD_LENGTH_BODY = b'{"error": "bad_request", "message": "the Content-Length header is not a byte count"}'


# --- events --------------------------------------------------------------------------------------


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway's Cognito authorizer passes them: every value a string, lists
    joined with commas."""
    flat = {}
    for key, value in claims.items():
        if isinstance(value, list | tuple | set | frozenset):
            flat[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            flat[key] = "true" if value else "false"
        else:
            flat[key] = str(value)
    return flat


def match_resource(path: str, resources: Iterable[str]) -> tuple[str, dict[str, str]] | None:
    """The resource template (``/syncs/{sync_id}``) ``path`` matches, and its path parameters.
    Templates with fewer parameters win, as API Gateway prefers literal segments."""
    segments = path.strip("/").split("/")
    for resource in sorted(resources, key=lambda r: (r.count("{"), r)):
        parts = resource.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        parameters: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            name = _PARAMETER.fullmatch(part)
            if name and segment:
                parameters[name.group(1)] = segment
            elif part != segment:
                break
        else:
            return resource, parameters
    return None


def proxy_event(
    method: str,
    path: str,
    *,
    query: Mapping[str, str | list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    claims: Mapping[str, Any] | None = None,
    resources: Iterable[str] = (),
    stage: str = "local",
) -> dict[str, Any]:
    """The REST API proxy event of one request (``claims``: the caller's, as the authorizer
    verified them; None for a request without an authorizer result)."""
    multi_query = {k: list(v) if isinstance(v, list) else [v] for k, v in (query or {}).items()}
    header_map = dict(headers or {})
    matched = match_resource(path, resources)
    resource, path_parameters = matched if matched else (path, {})
    text: str | None
    encoded = False
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text = body
    now = datetime.now(UTC)
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "resourceId": "local",
        "resourcePath": resource,
        "httpMethod": method.upper(),
        "path": f"/{stage}{path}",
        "stage": stage,
        "protocol": "HTTP/1.1",
        "requestId": str(uuid.uuid4()),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": {"sourceIp": "127.0.0.1", "userAgent": header_map.get("User-Agent", "")},
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": flatten_claims(claims)}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": header_map or None,
        "multiValueHeaders": {k: [v] for k, v in header_map.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": encoded,
    }


# --- locally issued tokens -----------------------------------------------------------------------


def issue_token(secret: str, claims: Mapping[str, Any], *, ttl_seconds: int = 3600) -> str:
    """An HS256 JWT carrying ``claims`` (plus ``iat``/``exp``), signed with ``secret``."""
    now = int(time.time())
    return jwt.encode({**claims, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Claims | None:
    """The claims of a valid, unexpired HS256 token signed with ``secret``; None otherwise.

    Only HS256 is accepted (``algorithms``), so a token cannot choose ``none`` or another
    algorithm; ``exp`` is required and checked by PyJWT.
    """
    try:
        claims: Claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.InvalidTokenError:
        return None
    return claims


def bearer_claims(secret: str) -> ClaimsFor:
    """Claims from ``Authorization: [Bearer ]<token>`` verified with ``secret``."""

    def claims_for(headers: Mapping[str, str]) -> Claims | None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
        return verify_token(secret, token.strip()) if token.strip() else None

    return claims_for


def static_claims(claims: Mapping[str, Any]) -> ClaimsFor:
    """Every request is ``claims``' caller (fuzzing and demos)."""
    return lambda _headers: dict(claims)


# --- server --------------------------------------------------------------------------------------


def _context(function_name: str) -> LambdaContext:
    """The Lambda context a served request's handler gets (the API function's 30 s timeout)."""
    return LambdaContext(
        function_name=function_name,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        memory_limit_in_mb=256,
        timeout_seconds=30,
    )


class ApiServer(ThreadingHTTPServer):
    """The served API; ``url`` is its base, ``start()`` serves in a daemon thread."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        handler: Handler,
        claims_for: ClaimsFor,
        resources: Iterable[str],
        function_name: str = "rostersync-api-local",
        lock: Any = None,
        public: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.handler = handler
        self.claims_for = claims_for
        # Paths served without the authorizer (API Gateway's ``Auth: Authorizer: NONE``): the
        # console's pages, which check their own session.
        self.public = public or (lambda _path: False)
        self.resources = sorted(resources, key=lambda r: (r.count("{"), r))
        self.function_name = function_name
        # Calls are serialised (the handler's adapters and moto are not made for threads).
        self.lock = lock or threading.RLock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self.serve_forever, name="rostersync-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _RequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _refuse(self, status: int, payload: bytes) -> None:
        """Answer without reading the body; the connection closes, so unread bytes cannot be
        taken for the next request."""
        self.close_connection = True
        self._send(status, {"Content-Type": "application/json", "Connection": "close"}, payload)

    def _body_length(self) -> int | None:
        """The declared body length; None when the header is not one non-negative integer."""
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        if len(set(values)) != 1 or not _BYTE_COUNT.fullmatch(values[0].strip()):
            return None
        return int(values[0].strip())

    def _handle(self) -> None:
        split = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        # Who is calling is settled from the headers alone, before a byte of the body is read
        # (the console's pages and its sign-in are public: the console checks its own cookie).
        public = self.server.public(split.path)
        claims = None if public else self.server.claims_for(headers)
        if claims is None and not public:
            self._refuse(401, UNAUTHORIZED_BODY)
            return
        length = self._body_length()
        if length is None:
            self._refuse(400, BAD_LENGTH_BODY)
            return
        if length > MAX_BODY_BYTES:
            self._refuse(413, TOO_LARGE_BODY)
            return
        body = self.rfile.read(length) if length else None
        query = {k: v for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        event = proxy_event(
            self.command,
            split.path,
            query=query,
            headers=headers,
            body=body,
            claims=claims,
            resources=self.server.resources,
        )
        with self.server.lock:
            result = self.server.handler(event, _context(self.server.function_name))
        status, response_headers, payload = proxy_response(result)
        self._send(status, response_headers, payload)

    def _send(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def __getattr__(self, name: str) -> Any:
        # Every method (TRACE, PROPFIND, ...) reaches the handler, which answers what API
        # Gateway would for a route that does not exist, never http.server's 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def proxy_response(result: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes of a Lambda proxy integration result."""
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if values:
            headers[str(key)] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(result.get("statusCode", 502)), headers, payload


def serve_api(
    host: str,
    port: int,
    *,
    handler: Handler,
    claims_for: ClaimsFor,
    resources: Iterable[str],
    lock: Any = None,
    public: Callable[[str], bool] | None = None,
) -> ApiServer:
    """A server of ``handler`` on ``host:port`` (port 0: any free one); ``serve_forever()`` to
    block, or use it as a context manager to serve in the background."""
    return ApiServer(
        (host, port), handler=handler, claims_for=claims_for, resources=resources, lock=lock, public=public
    )
