"""A OneRoster 1.1 REST server (``/ims/oneroster/v1p1/<collection>``) with real auth checks.

Paging: ``limit``/``offset``, ``X-Total-Count`` on every page, the envelope named after the
collection. Auth: OAuth 1.0a signatures are *verified* by oauthlib's ``SignatureOnlyEndpoint``
(HMAC-SHA256, timestamp and nonce checked, each nonce usable once), or an OAuth 2 bearer token,
optionally issued by the client-credentials grant at ``/oauth/token``.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA256

from tests.support.httpbase import LoopbackServer, Reply

ROOT = "/ims/oneroster/v1p1/"


class _Validator(RequestValidator):
    def __init__(self, clients: dict[str, str]) -> None:
        super().__init__()
        self.clients = clients
        self.nonces: set[tuple[str, str, str]] = set()
        self.lock = threading.Lock()

    enforce_ssl = False  # the fake listens on loopback http

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return (SIGNATURE_HMAC_SHA256,)

    @property
    def dummy_client(self) -> str:
        return "dummy-client-key-000000"

    @property
    def client_key_length(self) -> tuple[int, int]:
        return (3, 100)

    @property
    def nonce_length(self) -> tuple[int, int]:
        return (8, 100)

    def check_client_key(self, client_key: str) -> bool:
        return bool(client_key)

    def check_nonce(self, nonce: str) -> bool:
        return bool(nonce)

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key in self.clients

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self.clients.get(client_key, "dummy-secret")

    def validate_timestamp_and_nonce(
        self, client_key, timestamp, nonce, request, request_token=None, access_token=None
    ):  # type: ignore[no-untyped-def]
        if abs(time.time() - int(timestamp)) > 600:
            return False
        with self.lock:
            key = (client_key, timestamp, nonce)
            if key in self.nonces:
                return False
            self.nonces.add(key)
        return True


class FakeOneRoster(LoopbackServer):
    def __init__(
        self,
        collections: dict[str, list[dict[str, Any]]],
        *,
        oauth1_clients: dict[str, str] | None = None,
        bearer_tokens: set[str] | None = None,
        oauth2_clients: dict[str, str] | None = None,
        max_limit: int = 10000,
        total_count: bool = True,
        lifetime: float = 120.0,
    ) -> None:
        super().__init__(lifetime)
        self.collections = collections
        self.oauth1_clients = oauth1_clients or {}
        self.endpoint = SignatureOnlyEndpoint(_Validator(self.oauth1_clients))
        self.bearer_tokens = set(bearer_tokens or ())
        self.oauth2_clients = oauth2_clients or {}
        self.max_limit = max_limit
        self.total_count = total_count
        self.verified_signatures = 0

    def _authorized(self, method: str, raw: str, headers: dict[str, str], body: bytes) -> bool:
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :] in self.bearer_tokens
        if auth.startswith("OAuth ") and self.oauth1_clients:
            uri = f"http://{headers.get('Host')}{raw}"
            valid, _ = self.endpoint.validate_request(uri, method, body or None, headers)
            if valid:
                self.verified_signatures += 1
            return bool(valid)
        return False

    def _token(self, headers: dict[str, str], body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (
            form.get("grant_type") != "client_credentials"
            or self.oauth2_clients.get(client_id or "") != secret
        ):
            return Reply(401, {"error": "invalid_client"})
        token = f"tok-{client_id}"
        self.bearer_tokens.add(token)
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def answer(self, method, path, query, headers, body, raw):  # type: ignore[no-untyped-def]
        if path == "/oauth/token" and method == "POST":
            return self._token(headers, body)
        if not self._authorized(method, raw, headers, body):
            raise Reply(401, {"imsx_codeMajor": "failure", "imsx_description": "Unauthorized"})
        if not path.startswith(ROOT) or path[len(ROOT) :] not in self.collections:
            raise Reply(404, {"imsx_codeMajor": "failure", "imsx_description": "not found"})
        name = path[len(ROOT) :]
        records = self.collections[name]
        limit = min(int(query.get("limit", ["100"])[0]), self.max_limit)
        offset = int(query.get("offset", ["0"])[0])
        headers_out = {"X-Total-Count": str(len(records))} if self.total_count else {}
        return Reply(200, {name: records[offset : offset + limit]}, headers_out)
