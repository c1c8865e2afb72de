"""The operator's onboarding routes: districts, their SFTP users, "pull now", deactivation.

Only callers of the ``operator`` group may use them (403 otherwise); what they do is in
:mod:`rostersync.api.onboarding`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from rostersync.api import onboarding
from rostersync.api.errors import documented
from rostersync.api.onboarding_models import (
    SFTP_USERNAME_PATTERN,
    DistrictList,
    DistrictRequest,
    DistrictView,
    PullNowResponse,
    SftpUserRequest,
    SftpUserView,
)
from rostersync.api.routes.common import DistrictPath, caller_of, deps

UsernamePath = Annotated[str, Path(min_length=3, max_length=100, pattern=SFTP_USERNAME_PATTERN)]


def build_router() -> Router:
    router = Router()

    @router.get(
        "/operator/districts",
        summary="Every onboarded district's profile (operators only)",
        tags=["onboarding"],
        operation_id="listDistricts",
        responses=documented(),
    )
    def list_districts() -> DistrictList:
        return onboarding.list_districts(deps(), caller_of(router))

    @router.post(
        "/operator/districts",
        summary="Onboard a district: settings, source credentials, SFTP users, pull times",
        tags=["onboarding"],
        operation_id="onboardDistrict",
        status_code=HTTPStatus.CREATED,
        responses=documented(HTTPStatus.CREATED, decision=True),
    )
    def onboard_district(body: DistrictRequest) -> DistrictView:
        return onboarding.onboard_district(deps(), caller_of(router), body)

    @router.get(
        "/operator/districts/<district_id>",
        summary="A district's profile, settings and SFTP users",
        tags=["onboarding"],
        operation_id="getDistrict",
        responses=documented(),
    )
    def get_district(district_id: DistrictPath) -> DistrictView:
        return onboarding.get_district(deps(), caller_of(router), district_id)

    @router.post(
        "/operator/districts/<district_id>/sftp-users",
        summary="Add an SFTP login (SSH keys) confined to the district's inbox",
        tags=["onboarding"],
        operation_id="addSftpUser",
        status_code=HTTPStatus.CREATED,
        responses=documented(HTTPStatus.CREATED, decision=True),
    )
    def add_sftp_user(district_id: DistrictPath, body: SftpUserRequest) -> SftpUserView:
        return onboarding.add_sftp_user(deps(), caller_of(router), district_id, body)

    @router.delete(
        "/operator/districts/<district_id>/sftp-users/<username>",
        summary="Remove one of the district's SFTP logins",
        tags=["onboarding"],
        operation_id="removeSftpUser",
        responses=documented(),
    )
    def remove_sftp_user(district_id: DistrictPath, username: UsernamePath) -> SftpUserView:
        return onboarding.remove_sftp_user(deps(), caller_of(router), district_id, username)

    @router.post(
        "/operator/districts/<district_id>/deactivate",
        summary="Deactivate a district: SFTP logins deleted, pulls stopped, history kept",
        tags=["onboarding"],
        operation_id="deactivateDistrict",
        responses=documented(decision=True),
    )
    def deactivate_district(district_id: DistrictPath) -> DistrictView:
        return onboarding.deactivate_district(deps(), caller_of(router), district_id)

    @router.post(
        "/operator/districts/<district_id>/pull",
        summary="Pull the district's source now (as its schedule would)",
        tags=["onboarding"],
        operation_id="pullNow",
        status_code=HTTPStatus.ACCEPTED,
        responses=documented(HTTPStatus.ACCEPTED, decision=True),
    )
    def pull_now(district_id: DistrictPath) -> PullNowResponse:
        return onboarding.pull_now(deps(), caller_of(router), district_id)

    return router
