"""Routes of one district: syncs, holds, bulk release, settings, pause windows, schools,
versions, rollback and audit. The authorization middleware refuses (403) a district the caller
may not act for before any of these run; the services check it again."""

from __future__ import annotations

from datetime import date
from http import HTTPStatus
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from rostersync.api import services
from rostersync.api.errors import documented
from rostersync.api.models import (
    AuditList,
    BulkReleaseRequest,
    BulkReleaseResponse,
    HoldList,
    PauseWindows,
    PauseWindowsRequest,
    RollbackRequest,
    RollbackResponse,
    SchoolList,
    SettingsPatch,
    SettingsRequest,
    SyncList,
    VersionList,
)
from rostersync.api.routes.common import DistrictPath, caller_of, deps
from rostersync.pipeline.models import SyncStatus
from rostersync.settings import DistrictSettings

Limit = Annotated[int, Query(ge=1, le=500, description="at most this many, newest first")]


def build_router() -> Router:
    router = Router()

    @router.get(
        "/districts/<district_id>/syncs",
        summary="The district's syncs, newest first",
        tags=["syncs"],
        operation_id="listSyncs",
        responses=documented(),
    )
    def list_syncs(
        district_id: DistrictPath, status: Annotated[SyncStatus | None, Query()] = None, limit: Limit = 50
    ) -> SyncList:
        return services.list_syncs(deps(), caller_of(router), district_id, status=status, limit=limit)

    @router.get(
        "/districts/<district_id>/holds",
        summary="Held syncs (open), decided ones (closed) or both, with what tripped",
        tags=["holds"],
        operation_id="listHolds",
        responses=documented(),
    )
    def list_holds(
        district_id: DistrictPath, status: Annotated[Literal["open", "closed", "all"], Query()] = "open"
    ) -> HoldList:
        return services.list_holds(deps(), caller_of(router), district_id, status=status)

    @router.post(
        "/districts/<district_id>/holds/release",
        summary="Release across the district's held syncs in one call (some schools, or all)",
        tags=["decisions"],
        operation_id="bulkRelease",
        responses=documented(decision=True),
    )
    def bulk_release(district_id: DistrictPath, body: BulkReleaseRequest) -> BulkReleaseResponse:
        return services.bulk_release(deps(), caller_of(router), district_id, body)

    @router.get(
        "/districts/<district_id>/settings",
        summary="The district's settings (thresholds, contacts, schools, admins, hold expiry)",
        tags=["settings"],
        operation_id="getSettings",
        responses=documented(),
    )
    def get_settings(district_id: DistrictPath) -> DistrictSettings:
        return services.get_settings(deps(), caller_of(router), district_id)

    @router.put(
        "/districts/<district_id>/settings",
        summary="Replace the district's settings (the whole document; PATCH changes some fields)",
        tags=["settings"],
        operation_id="putSettings",
        responses=documented(),
    )
    def put_settings(district_id: DistrictPath, body: SettingsRequest) -> DistrictSettings:
        return services.put_settings(deps(), caller_of(router), district_id, body)

    @router.patch(
        "/districts/<district_id>/settings",
        summary="Change some of the district's settings (the fields given; the rest are kept)",
        tags=["settings"],
        operation_id="patchSettings",
        responses=documented(),
    )
    def patch_settings(district_id: DistrictPath, body: SettingsPatch) -> DistrictSettings:
        return services.patch_settings(deps(), caller_of(router), district_id, body)

    @router.get(
        "/districts/<district_id>/pause-windows",
        summary="The district's pause windows and the one in force today",
        tags=["settings"],
        operation_id="getPauseWindows",
        responses=documented(),
    )
    def get_pause_windows(district_id: DistrictPath) -> PauseWindows:
        return services.get_pause_windows(deps(), caller_of(router), district_id)

    @router.put(
        "/districts/<district_id>/pause-windows",
        summary="Replace the district's pause windows (ordered, non-overlapping)",
        tags=["settings"],
        operation_id="putPauseWindows",
        responses=documented(),
    )
    def put_pause_windows(district_id: DistrictPath, body: PauseWindowsRequest) -> PauseWindows:
        return services.put_pause_windows(deps(), caller_of(router), district_id, body.windows)

    @router.delete(
        "/districts/<district_id>/pause-windows",
        summary="Delete the pause window starting on first_day, or all of them",
        tags=["settings"],
        operation_id="deletePauseWindows",
        responses=documented(),
    )
    def delete_pause_windows(
        district_id: DistrictPath, first_day: Annotated[date | None, Query()] = None
    ) -> PauseWindows:
        return services.delete_pause_windows(deps(), caller_of(router), district_id, first_day)

    @router.get(
        "/districts/<district_id>/schools",
        summary="Per-school status, last accepted sync and counts",
        tags=["status"],
        operation_id="listSchools",
        responses=documented(),
    )
    def list_schools(district_id: DistrictPath) -> SchoolList:
        return services.list_schools(deps(), caller_of(router), district_id)

    @router.get(
        "/districts/<district_id>/versions",
        summary="Accepted snapshot versions, newest first",
        tags=["versions"],
        operation_id="listVersions",
        responses=documented(),
    )
    def list_versions(district_id: DistrictPath, limit: Limit = 50) -> VersionList:
        return services.list_versions(deps(), caller_of(router), district_id, limit=limit)

    @router.post(
        "/districts/<district_id>/rollback",
        summary="Start a sync whose input is an earlier accepted version (diff and holds as usual)",
        tags=["versions"],
        operation_id="rollback",
        status_code=HTTPStatus.ACCEPTED,
        responses=documented(HTTPStatus.ACCEPTED, decision=True),
    )
    def rollback(district_id: DistrictPath, body: RollbackRequest) -> RollbackResponse:
        return services.rollback(deps(), caller_of(router), district_id, body)

    @router.get(
        "/districts/<district_id>/audit",
        summary="Who decided or changed what, when, with which schools (newest first)",
        tags=["audit"],
        operation_id="listAudit",
        responses=documented(),
    )
    def list_audit(
        district_id: DistrictPath,
        sync_id: Annotated[str | None, Query(max_length=80, pattern=r"^[A-Za-z0-9_-]+$")] = None,
        limit: Limit = 100,
    ) -> AuditList:
        return services.list_audit(deps(), caller_of(router), district_id, sync_id=sync_id, limit=limit)

    return router
