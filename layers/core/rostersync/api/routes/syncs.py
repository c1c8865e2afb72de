"""Routes by sync id: read a sync, decide its hold, download its CSVs.

A sync of a district the caller may not act for is "not found", like an id that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from rostersync.api import services
from rostersync.api.errors import documented
from rostersync.api.models import (
    DecisionNote,
    DecisionResponse,
    DownloadLink,
    FailRequest,
    FailResponse,
    ReleaseRequest,
    SyncDetail,
)
from rostersync.api.routes.common import SyncPath, caller_of, deps

REDIRECT_KEY = "download_redirect"
_REDIRECT_RESPONSES: dict[int, Any] = documented() | {
    HTTPStatus.FOUND: {
        "description": "Found (redirect=true): Location is the presigned URL",
        "content": {content_types.TEXT_PLAIN: {"schema": {"type": "string"}}},
    }
}


def build_router() -> Router:
    router = Router()

    @router.get(
        "/syncs/<sync_id>",
        summary="A sync: status, counts, holds with their numbers, per-school findings",
        tags=["syncs"],
        operation_id="getSync",
        responses=documented(),
    )
    def get_sync(sync_id: SyncPath) -> SyncDetail:
        return services.get_sync(deps(), caller_of(router), sync_id)

    @router.post(
        "/syncs/<sync_id>/release",
        summary="Release a held sync (all held schools, or some: the rest stay on hold)",
        tags=["decisions"],
        operation_id="releaseSync",
        status_code=HTTPStatus.ACCEPTED,
        responses=documented(HTTPStatus.ACCEPTED, decision=True),
    )
    def release(sync_id: SyncPath, body: ReleaseRequest) -> DecisionResponse:
        return services.release(deps(), caller_of(router), sync_id, body)

    @router.post(
        "/syncs/<sync_id>/reject",
        summary="Reject a held sync: nothing more of it is applied",
        tags=["decisions"],
        operation_id="rejectSync",
        status_code=HTTPStatus.ACCEPTED,
        responses=documented(HTTPStatus.ACCEPTED, decision=True),
    )
    def reject(sync_id: SyncPath, body: Annotated[DecisionNote | None, Body()] = None) -> DecisionResponse:
        return services.reject(deps(), caller_of(router), sync_id, body.comment if body else None)

    @router.post(
        "/syncs/<sync_id>/retry",
        summary="Retry a held sync ('I fixed it' / check for new data): read the source again",
        tags=["decisions"],
        operation_id="retrySync",
        status_code=HTTPStatus.ACCEPTED,
        responses=documented(HTTPStatus.ACCEPTED, decision=True),
    )
    def retry(sync_id: SyncPath, body: Annotated[DecisionNote | None, Body()] = None) -> DecisionResponse:
        return services.retry(deps(), caller_of(router), sync_id, body.comment if body else None)

    @router.post(
        "/syncs/<sync_id>/fail",
        summary="Operators: fail a stuck sync (stop its execution, restore its schools, release the lock)",
        tags=["operators"],
        operation_id="failSync",
        status_code=HTTPStatus.ACCEPTED,
        responses=documented(HTTPStatus.ACCEPTED),
    )
    def fail(sync_id: SyncPath, body: Annotated[FailRequest | None, Body()] = None) -> FailResponse:
        return services.fail_sync(deps(), caller_of(router), sync_id, body.comment if body else None)

    def redirect_when_asked(app: Any, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
        # Runs around the response validation: the link was validated; with redirect=true the
        # answer is a 302 to its URL instead of the JSON.
        response = next_middleware(app)
        if response.status_code != HTTPStatus.OK or not router.context.get(REDIRECT_KEY):
            return response
        body = response.body if isinstance(response.body, dict) else json.loads(response.body or "{}")
        return Response(
            status_code=HTTPStatus.FOUND,
            content_type=content_types.TEXT_PLAIN,
            body="",
            headers={"Location": body["url"], "Cache-Control": "no-store"},
        )

    def _download(sync_id: str, name: services.Download, redirect: bool) -> DownloadLink:
        router.append_context(**{REDIRECT_KEY: redirect})
        return services.download(deps(), caller_of(router), sync_id, name)

    @router.get(
        "/syncs/<sync_id>/changes.csv",
        summary="The CSV of changes: a short-lived presigned URL (JSON, or a 302 with redirect=true)",
        tags=["downloads"],
        operation_id="downloadChanges",
        responses=_REDIRECT_RESPONSES,
        middlewares=[redirect_when_asked],
    )
    def changes_csv(
        sync_id: SyncPath, redirect: Annotated[bool, Query(description="answer 302 to the URL")] = False
    ) -> DownloadLink:
        return _download(sync_id, "changes.csv", redirect)

    @router.get(
        "/syncs/<sync_id>/changes.csv.gz",
        summary="A first sync's full CSV of changes, gzip-compressed (its changes.csv counts them per "
        "school): a short-lived presigned URL (JSON, or a 302 with redirect=true)",
        tags=["downloads"],
        operation_id="downloadAllChanges",
        responses=_REDIRECT_RESPONSES,
        middlewares=[redirect_when_asked],
    )
    def changes_csv_gz(
        sync_id: SyncPath, redirect: Annotated[bool, Query(description="answer 302 to the URL")] = False
    ) -> DownloadLink:
        return _download(sync_id, "changes.csv.gz", redirect)

    @router.get(
        "/syncs/<sync_id>/errors.csv",
        summary="The CSV of row errors: a short-lived presigned URL (JSON, or a 302 with redirect=true)",
        tags=["downloads"],
        operation_id="downloadErrors",
        responses=_REDIRECT_RESPONSES,
        middlewares=[redirect_when_asked],
    )
    def errors_csv(
        sync_id: SyncPath, redirect: Annotated[bool, Query(description="answer 302 to the URL")] = False
    ) -> DownloadLink:
        return _download(sync_id, "errors.csv", redirect)

    return router
