"""The release API's resolver: one ``APIGatewayRestResolver(enable_validation=True)`` with the
routers, the authorization middleware and the error handlers, and its OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from rostersync import __version__
from rostersync.api.auth import caller_from_claims, require_district
from rostersync.api.errors import InvalidBodyError, register_error_handlers
from rostersync.api.routes import districts, operator, syncs
from rostersync.api.routes.common import CALLER_KEY

TITLE = "rostersync release API"
DESCRIPTION = (
    "Holds, decisions, downloads, settings, pause windows, school status, versions, rollback and "
    "audit of the districts the caller may act for. Authorization: a Cognito ID token "
    "(`Authorization: <token>`); group `operator` acts on every district, group `district_admin` "
    "on the districts in its `custom:districts` attribute."
)
SECURITY_SCHEME = "cognito"
_FORM_TYPES = ("multipart/", "application/x-www-form-urlencoded")
UNSUPPORTED_CONTENT_TYPE = "application/x-rostersync-unsupported"


class JsonApiResolver(APIGatewayRestResolver):
    """The resolver of a JSON-only API.

    Why: Powertools parses form and multipart bodies itself, and a multipart Content-Type without
    a boundary raises a bare ValueError there (a 500). Bodies that are not JSON are marked
    unsupported before routing, so the validation answers 415 for them like for any other type.
    """

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return super().resolve(_json_only(event), context)


def _json_only(event: Mapping[str, Any]) -> Mapping[str, Any]:
    headers = event.get("headers") or {}
    name = next((k for k in headers if k.lower() == "content-type"), None)
    if name is None or not str(headers[name]).lower().startswith(_FORM_TYPES):
        return event
    marked = {**event, "headers": {**headers, name: UNSUPPORTED_CONTENT_TYPE}}
    if event.get("multiValueHeaders"):
        multi = {k: v for k, v in event["multiValueHeaders"].items() if k.lower() != "content-type"}
        marked["multiValueHeaders"] = {**multi, name: [UNSUPPORTED_CONTENT_TYPE]}
    return marked


def load_json_body(text: str) -> Any:
    """The JSON of a request body; :class:`InvalidBodyError` where the standard parser would
    raise a bare RecursionError (deep nesting) or ValueError (a number of more than 4,300
    digits). Malformed JSON raises ``JSONDecodeError`` as before (answered with a 422)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise InvalidBodyError("the body nests too deeply") from None
    except ValueError:
        raise InvalidBodyError("a number in the body has too many digits") from None


def authorize(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """Every route: the caller from the authorizer's claims, and its district scope when the
    path names a district (by-sync routes check the sync's district in the services)."""
    request_context = app.current_event.raw_event.get("requestContext") or {}
    claims = (request_context.get("authorizer") or {}).get("claims")
    caller = caller_from_claims(claims)
    district_id = app.request.path_parameters.get("district_id")
    if district_id is not None:
        require_district(caller, district_id)
    app.append_context(**{CALLER_KEY: caller})
    return next_middleware(app)


def create_app() -> APIGatewayRestResolver:
    """A new resolver with every route (routers are built per resolver: their context is its)."""
    # A response that does not match its model is our bug: a 500, never a 422 the client
    # would take for its own mistake.
    app = JsonApiResolver(
        enable_validation=True,
        response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        json_body_deserializer=load_json_body,
    )
    app.use(middlewares=[authorize])
    app.include_router(syncs.build_router())
    app.include_router(districts.build_router())
    app.include_router(operator.build_router())
    register_error_handlers(app)
    return app


def openapi_document(app: APIGatewayRestResolver | None = None) -> dict[str, Any]:
    """The OpenAPI document of the API (what ``docs/openapi.json`` holds)."""
    app = app or create_app()
    text = app.get_openapi_json_schema(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        # As API Gateway's Cognito authorizer reads it: the raw ID token in Authorization.
        security_schemes={
            SECURITY_SCHEME: APIKey(
                name="Authorization", in_=APIKeyIn.header, description="Cognito ID token of the caller"
            )
        },
        security=[{SECURITY_SCHEME: []}],
    )
    document: dict[str, Any] = json.loads(text)
    return document


def openapi_text(app: APIGatewayRestResolver | None = None) -> str:
    return json.dumps(openapi_document(app), indent=2, sort_keys=False) + "\n"
