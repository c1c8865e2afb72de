"""The local product's stand-in for Cognito's Hosted UI: the console's sign-in, on loopback.

The console signs people in the same way locally as on AWS (authorization code with PKCE, then
a session holding a verified ID token); only the identity provider differs. Here it is
:class:`LocalSignIn`: ``/local-sign-in`` on the served API's own address is a page listing the
local users (an operator, and each district's admin), choosing one issues a one-time code bound
to the PKCE challenge and the redirect URI, and :meth:`LocalSignIn.exchange` trades it for an
ID token signed like the API's local bearer tokens (:func:`~rostersync_tools.local.apigw.issue_token`).
Development only: nothing here is deployed.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from rostersync.console.signin import code_challenge
from rostersync.console.web import SECURITY_HEADERS
from rostersync_tools.local.apigw import issue_token, verify_token

if TYPE_CHECKING:
    from rostersync_tools.local.stack import LocalAws

PATH = "/local-sign-in"
CODE_SECONDS = 120


@dataclass(frozen=True)
class LocalUser:
    """Someone who can sign in locally: what the page shows and the claims of their ID token."""

    label: str
    claims: Mapping[str, Any]


@dataclass
class _Code:
    claims: Mapping[str, Any]
    challenge: str
    redirect_uri: str
    expires: float


class LocalSignIn:
    """The console's :class:`~rostersync.console.signin.SignIn` adapter of the local product."""

    def __init__(self, secret: str, users: Callable[[], list[LocalUser]], *, ttl_seconds: int = 3600) -> None:
        self._secret = secret
        self._users = users
        self._ttl = ttl_seconds
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the SignIn port
    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = urlencode({"redirect_uri": redirect_uri, "state": state, "code_challenge": code_challenge})
        return f"{PATH}?{query}"

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> str | None:
        with self._lock:
            issued = self._codes.pop(code, None)
        if issued is None or issued.expires < time.monotonic() or issued.redirect_uri != redirect_uri:
            return None
        if not secrets.compare_digest(issued.challenge, code_challenge(code_verifier)):
            return None
        return issue_token(self._secret, issued.claims, ttl_seconds=self._ttl)

    def verify(self, token: str) -> dict[str, Any] | None:
        return verify_token(self._secret, token)

    # ------------------------------------------------------------------ the page
    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Hosted UI stand-in's answer (a Lambda proxy result) to a request of ``PATH``."""
        if event.get("httpMethod") == "POST":
            fields = {k: v[0] for k, v in parse_qs(event.get("body") or "").items()}
            return self._choose(fields)
        query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
        if not query.get("redirect_uri") or not query.get("code_challenge"):
            return _html(400, "<h1>Start from the console</h1><p>Open the console and choose Sign in.</p>")
        return _html(200, self._page(query))

    def _page(self, query: Mapping[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
            for name in ("redirect_uri", "state", "code_challenge")
        )
        buttons = "".join(
            f'<li><button type="submit" name="user" value="{i}">{html.escape(user.label)}</button></li>'
            for i, user in enumerate(self._users())
        )
        return (
            "<h1>Sign in (local)</h1><p>The local product signs in its demo users without a password; "
            "on AWS this is Cognito's sign-in page.</p>"
            f'<form method="post" action="{PATH}">{hidden}<ul>{buttons}</ul></form>'
        )

    def _choose(self, fields: Mapping[str, str]) -> dict[str, Any]:
        users = self._users()
        index = fields.get("user", "")
        redirect_uri = fields.get("redirect_uri", "")
        if not index.isdigit() or int(index) >= len(users) or urlsplit(redirect_uri).hostname != "127.0.0.1":
            return _html(400, "<h1>Sign-in refused</h1><p>Choose one of the listed users.</p>")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                claims=users[int(index)].claims,
                challenge=fields.get("code_challenge", ""),
                redirect_uri=redirect_uri,
                expires=time.monotonic() + CODE_SECONDS,
            )
        location = f"{redirect_uri}?{urlencode({'code': code, 'state': fields.get('state', '')})}"
        return {"statusCode": 303, "headers": {**SECURITY_HEADERS, "Location": location}, "body": ""}


def _html(status: int, main: str) -> dict[str, Any]:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Sign in · rostersync (local)</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        f'</head><body><main id="main">{main}</main></body></html>'
    )
    return {
        "statusCode": status,
        "headers": {**SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8"},
        "body": body,
    }


# ------------------------------------------------------------------ who can sign in
def local_users(stack: LocalAws | None, operator_email: str) -> list[LocalUser]:
    """The operator, then each onboarded district's admins (claims as Cognito's would be)."""
    from rostersync_tools.local.routing import serialized  # imports moto: only once serve runs

    users = [
        LocalUser(f"{operator_email} (operator: every district)", id_token_claims(operator_email, "operator"))
    ]
    if stack is None:
        return users
    with serialized():
        districts = stack.api_deps().repo.list_settings()
    for settings in sorted(districts, key=lambda s: s.district_id):
        for email in settings.admin_emails or [f"admin@{settings.district_id}.example.org"]:
            label = f"{email} (admin of {settings.name or settings.district_id}, {settings.district_id})"
            users.append(LocalUser(label, id_token_claims(email, "district_admin", settings.district_id)))
    return users


def id_token_claims(email: str, group: str, district_id: str | None = None) -> dict[str, Any]:
    """The ID token claims of a local user, as the Cognito user pool would issue them."""
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{email}/{district_id or ''}")),
        "email": email,
        "cognito:username": email,
        "cognito:groups": [group],
        "token_use": "id",
    }
    if district_id is not None:
        claims["custom:districts"] = district_id
    return claims


def api_token_claims(email: str, group: str, district_id: str | None = None) -> dict[str, Any]:
    """The claims of a local bearer token for the API (serve prints the admin's and operator's)."""
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid5(uuid.NAMESPACE_DNS, email)),
        "email": email,
        "cognito:username": email,
        "cognito:groups": [group],
    }
    if district_id is not None:
        claims["custom:districts"] = district_id
    return claims
