"""Domain errors → HTTP, as Powertools exception handlers (one per error class; the resolver
picks the handler of the most specific class in the exception's MRO).

Bodies are :class:`~rostersync.api.models.ErrorBody`: a code and a message, and field errors for
a 422. No body ever carries a stack trace or the offending input; an unexpected error is logged
with its trace and answered with a bare 500 and the request id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import ValidationError

from rostersync.api.auth import ForbiddenError, NotAuthenticatedError
from rostersync.api.models import ErrorBody
from rostersync.api.onboarding_ports import OnboardingUnavailableError
from rostersync.api.services import ConflictError, NotFoundError
from rostersync.pipeline.decisions import (
    AlreadyDecidedError,
    DecisionInProgressError,
    HoldExpiredError,
    InvalidDecisionError,
    NotOnHoldError,
    SyncNotFoundError,
)

logger = Logger(child=True)


class InvalidBodyError(ValueError):
    """A JSON body the API will not parse: nested too deeply or a number too long to convert
    (Python refuses integers of more than 4,300 digits); a 400, never a 500."""


# Each domain error, its HTTP status and the stable code clients switch on.
ERROR_STATUS: dict[type[Exception], tuple[HTTPStatus, str]] = {
    NotAuthenticatedError: (HTTPStatus.UNAUTHORIZED, "not_authenticated"),
    ForbiddenError: (HTTPStatus.FORBIDDEN, "forbidden"),
    SyncNotFoundError: (HTTPStatus.NOT_FOUND, "sync_not_found"),
    NotFoundError: (HTTPStatus.NOT_FOUND, "not_found"),
    NotOnHoldError: (HTTPStatus.CONFLICT, "not_on_hold"),
    AlreadyDecidedError: (HTTPStatus.CONFLICT, "already_decided"),
    DecisionInProgressError: (HTTPStatus.CONFLICT, "decision_in_progress"),
    ConflictError: (HTTPStatus.CONFLICT, "conflict"),
    HoldExpiredError: (HTTPStatus.GONE, "hold_expired"),
    InvalidDecisionError: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_decision"),
    OnboardingUnavailableError: (HTTPStatus.SERVICE_UNAVAILABLE, "onboarding_unavailable"),
    InvalidBodyError: (HTTPStatus.BAD_REQUEST, "invalid_body"),
}

# Error responses of the routes, for the OpenAPI document.
ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    status: {"description": status.phrase, "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}
    for status in (
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        HTTPStatus.UNPROCESSABLE_ENTITY,
    )
}
DECISION_RESPONSES: dict[int, dict[str, Any]] = ERROR_RESPONSES | {
    status: {"description": status.phrase, "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}
    for status in (HTTPStatus.CONFLICT, HTTPStatus.GONE)
}


def documented(success: HTTPStatus = HTTPStatus.OK, *, decision: bool = False) -> dict[int, OpenAPIResponse]:
    """The ``responses`` of a route: its success (the return model's schema) and its errors."""
    errors = DECISION_RESPONSES if decision else ERROR_RESPONSES
    return cast("dict[int, OpenAPIResponse]", {success: {"description": success.phrase}} | errors)


def error_response(
    status: HTTPStatus, code: str, message: str, detail: list[dict[str, Any]] | None = None
) -> Response[str]:
    body = ErrorBody(error=code, message=message, detail=detail)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(exclude_none=True),
    )


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # loc, msg and type only: "input" would echo the body back and "ctx" may hold exceptions.
    return [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def _domain_handler(status: HTTPStatus, code: str) -> Callable[[Exception], Response[str]]:
    def handle(exc: Exception) -> Response[str]:
        return error_response(status, code, str(exc))

    return handle


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Install the handlers on ``app``."""
    for error, (status, code) in ERROR_STATUS.items():
        app.exception_handler(error)(_domain_handler(status, code))

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the request is not valid",
            _field_errors(exc.errors()),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_body(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as application/json"
        )

    @app.exception_handler(UnicodeDecodeError)
    def _undecodable_body(exc: UnicodeDecodeError) -> Response[str]:
        # Raised while the resolver decodes the body, before any route runs.
        return error_response(HTTPStatus.BAD_REQUEST, "invalid_body", "the body is not UTF-8 text")

    @app.exception_handler(ValidationError)
    def _invalid_value(exc: ValidationError) -> Response[str]:
        # A value the request models let through but the domain models refuse.
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the request is not valid",
            _field_errors(exc.errors()),
        )

    @app.exception_handler(ServiceError)
    def _service_error(exc: ServiceError) -> Response[str]:
        # The resolver's own errors (no such route) keep their status; without this the
        # catch-all below would turn them into a 500.
        status = HTTPStatus(exc.status_code)
        return error_response(status, status.phrase.lower().replace(" ", "_"), str(exc.msg))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        request_id = app.lambda_context.aws_request_id if getattr(app, "lambda_context", None) else None
        message = "internal error" + (f" (request {request_id})" if request_id else "")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", message)
