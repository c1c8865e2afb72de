"""Signing in and out of the console, and its style sheet.

``/console/auth/sign-in`` sends the browser to the identity provider (Cognito's Hosted UI on
AWS) with a fresh ``state`` and PKCE challenge, kept meanwhile in a short-lived cookie;
``/console/auth/callback`` checks the state, exchanges the code with the verifier and keeps the
ID token as the session cookie. Signing out is a POST (with its CSRF token) that drops it.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from importlib import resources
from urllib.parse import quote, unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from rostersync import runtime
from rostersync.console.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_MAX_AGE,
    set_cookie,
)
from rostersync.console.signin import code_challenge, new_verifier
from rostersync.console.web import PREFIX, Page, html_response, redirect_response, templates

SESSION_MAX_AGE = 3600  # the ID token's own lifetime is checked on every request too


def _safe_next(page: Page, value: str | None) -> str:
    """Only a path of this console: never a redirect to another site."""
    target = value or page.url()
    return (
        target if target.startswith(page.url()) and "//" not in target and "\\" not in target else page.url()
    )


def build_router() -> Router:
    router = Router()

    @router.get(f"{PREFIX}/auth/sign-in")
    def sign_in() -> Response[str]:
        page = Page(router)
        state, verifier = secrets.token_urlsafe(24), new_verifier()
        next_path = _safe_next(page, router.current_event.get_query_string_value("next"))
        redirect_uri = page.origin + page.url("/auth/callback")
        location = runtime.console_sign_in().authorize_url(
            redirect_uri=redirect_uri, state=state, code_challenge=code_challenge(verifier)
        )
        value = f"{state}.{verifier}.{quote(next_path, safe='')}"
        cookie = set_cookie(SIGN_IN_COOKIE, value, path=page.url("/auth"), max_age=SIGN_IN_MAX_AGE)
        return redirect_response(location, [cookie], status=HTTPStatus.FOUND)

    @router.get(f"{PREFIX}/auth/callback")
    def callback() -> Response[str]:
        page = Page(router)
        event = router.current_event
        state, _, rest = page.cookies.get(SIGN_IN_COOKIE, "").partition(".")
        verifier, _, next_path = rest.partition(".")
        code = event.get_query_string_value("code")
        if (
            not state
            or not code
            or not secrets.compare_digest(state, event.get_query_string_value("state") or "")
        ):
            return _failed(
                page, "The sign-in could not be completed (it was started elsewhere or took too long)."
            )
        token = runtime.console_sign_in().exchange(
            code=code, code_verifier=verifier, redirect_uri=page.origin + page.url("/auth/callback")
        )
        if token is None:
            return _failed(page, "The sign-in was refused. Sign in again.")
        cookie = set_cookie(SESSION_COOKIE, token, path=page.url(), max_age=SESSION_MAX_AGE)
        return redirect_response(_safe_next(page, unquote(next_path)), [cookie])

    @router.post(f"{PREFIX}/auth/sign-out")
    def sign_out() -> Response[str]:
        page = Page(router)
        _ = page.form  # signed in, with this session's CSRF token
        cookie = set_cookie(SESSION_COOKIE, "", path=page.url(), max_age=0)
        return redirect_response(page.url("/auth/signed-out"), [cookie])

    @router.get(f"{PREFIX}/auth/signed-out")
    def signed_out() -> Response[str]:
        page = Page(router)
        return page.render("signed_out.html")

    @router.get(f"{PREFIX}/static/console.css")
    def style() -> Response[str]:
        css = resources.files("rostersync.console").joinpath("static/console.css").read_text("utf-8")
        return Response(
            status_code=HTTPStatus.OK,
            content_type="text/css; charset=utf-8",
            body=css,
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    return router


def _failed(page: Page, message: str) -> Response[str]:
    body = (
        templates()
        .get_template("sign_in_failed.html")
        .render(url=page.url, caller=None, csrf="", flash=None, message=message)
    )
    return html_response(body, HTTPStatus.BAD_REQUEST)
