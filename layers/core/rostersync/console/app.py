"""The console's resolver: its routers and what each error looks like as a page.

Another district's page, a sync that does not exist or is not the caller's, a version or a
download that is not there: all are the same 404 page, so guessing IDs reveals nothing. No
session sends the browser to sign in; a form without this session's CSRF token is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError

from rostersync.api.auth import ForbiddenError, NotAuthenticatedError
from rostersync.api.models import ID_PATTERN
from rostersync.api.services import NotFoundError
from rostersync.console import auth_pages, district_pages, settings_pages, sync_pages
from rostersync.console.signin import SignInError
from rostersync.console.web import (
    FormExpired,
    NoConsoleAccess,
    Page,
    SignInRequired,
    html_response,
    redirect_response,
    templates,
)
from rostersync.pipeline.decisions import SyncNotFoundError

logger = Logger(child=True)


def _message_page(app: APIGatewayRestResolver, status: HTTPStatus, title: str, message: str) -> Response[str]:
    page = Page(app)
    body = (
        templates()
        .get_template("message.html")
        .render(url=page.url, caller=None, csrf="", flash=None, title=title, message=message)
    )
    return html_response(body, status)


def known_ids(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """Every route: a district or sync ID that no district or sync could have (the API's own
    ID pattern) is "not found" before any page runs."""
    for value in app.request.path_parameters.values():
        if not re.fullmatch(ID_PATTERN, str(value)):
            raise NotFoundError("no such page")
    return next_middleware(app)


def create_console_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    app.use(middlewares=[known_ids])
    app.include_router(auth_pages.build_router())
    app.include_router(district_pages.build_router())
    app.include_router(settings_pages.build_router())
    app.include_router(sync_pages.build_router())

    def handler(status: HTTPStatus, title: str, message: str) -> Callable[[Exception], Response[str]]:
        return lambda _exc: _message_page(app, status, title, message)

    not_found = handler(
        HTTPStatus.NOT_FOUND, "Not found", "There is no such page, or it is not yours to see."
    )
    for error in (SyncNotFoundError, NotFoundError, ForbiddenError):
        app.exception_handler(error)(not_found)
    app.exception_handler(NoConsoleAccess)(
        handler(
            HTTPStatus.FORBIDDEN,
            "No access",
            "Your account is neither a district admin nor an operator. Ask your operator for access.",
        )
    )
    app.exception_handler(FormExpired)(
        handler(
            HTTPStatus.FORBIDDEN,
            "Form expired",
            "The form was not sent from this session. Reload the page and try again.",
        )
    )
    app.exception_handler(SignInError)(
        handler(
            HTTPStatus.BAD_GATEWAY,
            "Sign-in unavailable",
            "The sign-in service could not be reached. Try again shortly.",
        )
    )

    @app.exception_handler(SignInRequired)
    def _sign_in(exc: SignInRequired) -> Response[str]:
        page = Page(app)
        from urllib.parse import quote

        return redirect_response(page.url(f"/auth/sign-in?next={quote(exc.next_path, safe='/')}"))

    @app.exception_handler(NotAuthenticatedError)
    def _not_authenticated(exc: NotAuthenticatedError) -> Response[str]:
        return redirect_response(Page(app).url("/auth/sign-in"))

    @app.exception_handler(ServiceError)
    def _service_error(exc: ServiceError) -> Response[str]:
        status = HTTPStatus(exc.status_code)
        return _message_page(app, status, status.phrase, "There is no such page.")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("console error")
        context: Any = getattr(app, "lambda_context", None)
        request_id = getattr(context, "aws_request_id", None)
        message = "Something went wrong on our side." + (
            f" Quote request {request_id} when you report it." if request_id else ""
        )
        return _message_page(app, HTTPStatus.INTERNAL_SERVER_ERROR, "Error", message)

    return app
