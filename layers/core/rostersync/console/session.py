"""The console's cookies and CSRF tokens.

The session cookie holds the ID token itself (what API Gateway's Cognito authorizer checks for
the JSON API), ``HttpOnly; Secure; SameSite=Lax``, scoped to the console's path and expiring
with the token; every request verifies it again. While signing in, a second short-lived cookie
carries the OAuth ``state`` and the PKCE verifier to the callback. A form's CSRF token is an
HMAC of a fixed label keyed with the session token: only a page served to the signed-in browser
can know it (the cookie is unreadable to scripts and never sent cross-site on a POST), and it
needs no server-side storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "rs_session"
SIGN_IN_COOKIE = "rs_sign_in"
SIGN_IN_MAX_AGE = 600
_CSRF_LABEL = b"rostersync-console-csrf"


def read_cookies(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's cookies (an unreadable Cookie header reads as none)."""
    raw = next((v for k, v in headers.items() if k.lower() == "cookie"), "")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def set_cookie(name: str, value: str, *, path: str, max_age: int) -> str:
    """A ``Set-Cookie`` value: HttpOnly, Secure, SameSite=Lax (max_age 0 deletes it)."""
    return f"{name}={value}; Path={path}; Max-Age={max(0, max_age)}; HttpOnly; Secure; SameSite=Lax"


def csrf_token(session_token: str) -> str:
    digest = hmac.new(session_token.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_valid(session_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(session_token), str(given))
