"""The console's request plumbing: who is signed in, forms and their CSRF tokens, links under
the API's stage, rendering with Jinja2 (autoescaped) and the security headers of every page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from jinja2 import Environment, PackageLoader, StrictUndefined

from rostersync import runtime
from rostersync.api.auth import Caller, ForbiddenError, caller_from_claims
from rostersync.console.session import SESSION_COOKIE, csrf_token, csrf_valid, read_cookies, set_cookie

PREFIX = "/console"
FLASH_COOKIE = "rs_flash"
HTML = "text/html; charset=utf-8"
# No script at all; styles and images from the console itself; forms post to it alone.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """No valid session: the browser is sent to sign in, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


class NoConsoleAccess(Exception):
    """Signed in, but neither an operator nor a district admin."""


class FormExpired(Exception):
    """A POST without the session's CSRF token (another site's form, or a stale page)."""


@cache
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("rostersync.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{int(n or 0):,}"
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else "never"
    return env


class Page:
    """One request to the console, as its pages see it."""

    def __init__(self, app: BaseRouter) -> None:
        self.event = app.current_event
        raw = self.event.raw_event
        self.headers: dict[str, str] = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
        self.cookies = read_cookies(self.headers)
        self.root = _stage_root(raw)
        self._form: dict[str, list[str]] | None = None
        self._caller: Caller | None = None
        self.token: str | None = None

    # ------------------------------------------------------------------ links
    def url(self, path: str = "") -> str:
        """The absolute path of a console page (under the API's stage, e.g. ``/v1/console/…``)."""
        return f"{self.root}{PREFIX}{path}"

    @property
    def origin(self) -> str:
        host = next((v for k, v in self.headers.items() if k.lower() == "host"), "localhost")
        proto = next((v for k, v in self.headers.items() if k.lower() == "x-forwarded-proto"), "http")
        return f"{proto}://{host}"

    @property
    def here(self) -> str:
        return f"{self.root}{self.event.path}"

    # ------------------------------------------------------------------ who
    @property
    def caller(self) -> Caller:
        """The signed-in caller (:class:`SignInRequired` without a valid session)."""
        if self._caller is None:
            token = self.cookies.get(SESSION_COOKIE)
            claims = runtime.console_sign_in().verify(token) if token else None
            if claims is None:
                raise SignInRequired(self.here if self.event.http_method == "GET" else self.url())
            try:
                self._caller = caller_from_claims(claims)
            except ForbiddenError as exc:
                raise NoConsoleAccess(str(exc)) from exc
            self.token = token
        return self._caller

    # ------------------------------------------------------------------ forms
    @property
    def form(self) -> dict[str, list[str]]:
        """The POSTed form (``application/x-www-form-urlencoded``), CSRF token checked."""
        if self._form is None:
            body = self.event.body or ""
            if self.event.is_base64_encoded:
                try:
                    body = base64.b64decode(body).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    body = ""
            fields = parse_qs(body[:MAX_FORM_BYTES], keep_blank_values=True)
            _ = self.caller
            assert self.token is not None
            if not csrf_valid(self.token, next(iter(fields.get("csrf") or []), None)):
                raise FormExpired("the form's security token does not match this session")
            self._form = fields
        return self._form

    def field(self, name: str, default: str = "") -> str:
        return (self.form.get(name) or [default])[0].strip()

    def fields(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, [])]

    # ------------------------------------------------------------------ answers
    def render(self, template: str, status: int = HTTPStatus.OK, **context: Any) -> Response[str]:
        flash = self.cookies.get(FLASH_COOKIE)
        signed_in = self._caller
        body = (
            templates()
            .get_template(template)
            .render(
                url=self.url,
                caller=signed_in,
                csrf=csrf_token(self.token) if self.token else "",
                flash=_unflash(flash) if flash else None,
                **context,
            )
        )
        cookies = [set_cookie(FLASH_COOKIE, "", path=self.url(), max_age=0)] if flash else []
        return html_response(body, status, cookies)

    def redirect(self, location: str, *, flash: str | None = None) -> Response[str]:
        """POST → redirect → GET (303), with a one-time message for the next page."""
        cookie = (
            [set_cookie(FLASH_COOKIE, quote(flash, safe=""), path=self.url(), max_age=120)] if flash else []
        )
        return redirect_response(location, cookie)


def html_response(body: str, status: int = HTTPStatus.OK, cookies: list[str] | None = None) -> Response[str]:
    headers: dict[str, str | list[str]] = dict(SECURITY_HEADERS)
    if cookies:
        headers["Set-Cookie"] = cookies
    return Response(status_code=status, content_type=HTML, body=body, headers=headers)


def redirect_response(location: str, cookies: list[str] | None = None, status: int = 303) -> Response[str]:
    headers: dict[str, str | list[str]] = {**SECURITY_HEADERS, "Location": location}
    if cookies:
        headers["Set-Cookie"] = cookies
    return Response(status_code=status, content_type="text/plain; charset=utf-8", body="", headers=headers)


def _unflash(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)[:500]


def _stage_root(raw: Mapping[str, Any]) -> str:
    """What precedes the resource path in the browser's URL: ``/v1`` behind API Gateway's
    stage, nothing behind a server that has no stage segment."""
    path = str(raw.get("path") or "")
    full = str((raw.get("requestContext") or {}).get("path") or path)
    return full[: -len(path)] if path and full.endswith(path) else ""
