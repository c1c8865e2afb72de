"""Onboarding as an operation: the operator adds a district, its SFTP logins, pulls it now, and
deactivates it, through the API (``/operator/districts``) instead of a stack change.

A district is its settings (the pipeline's, which own its ``time_zone``), its profile (name, pull
times, status, and a copy of the time zone the pull schedules are made in) and its SFTP users;
all live in the district table. The outside world is reached through the
ports below: the SFTP server's users (Transfer Family ``CreateUser`` with a LOGICAL home
directory mapping ``/`` to ``/<raw bucket>/inbox/<district_id>``; the local SFTP server reads the
user records instead), the secret store (the source's credentials) and the per-district pull
schedules. Every change is audited under the district with the operator's identity. Nothing here
knows HTTP or boto3; the adapters are in :mod:`rostersync.aws.districts` and
:mod:`rostersync.aws.provisioning`.
"""

from __future__ import annotations

import secrets
from typing import Any

from rostersync.api.auth import OPERATOR_GROUP, Caller, ForbiddenError
from rostersync.api.deps import ApiDeps
from rostersync.api.onboarding_models import (
    SECRET_TO_CREATE,
    DistrictList,
    DistrictProfile,
    DistrictRequest,
    DistrictView,
    PullNowResponse,
    SftpUser,
    SftpUserRequest,
    SftpUserView,
)
from rostersync.api.onboarding_ports import OnboardingDeps, OnboardingUnavailableError
from rostersync.api.services import ConflictError, NotFoundError, start_requested_sync
from rostersync.pipeline.models import AuditEntry
from rostersync.settings import DistrictSettings, settings_changes
from rostersync.sources import PULL_KINDS

# --- helpers -------------------------------------------------------------------------------------


def _audit(deps: ApiDeps, caller: Caller, district_id: str, action: str, **fields: Any) -> None:
    deps.repo.put_audit(
        AuditEntry(
            district_id=district_id,
            at=deps.clock(),
            actor=caller.label,
            actor_id=caller.sub,
            action=action,
            **fields,
        )
    )


def require_operator(caller: Caller) -> None:
    if caller.role != OPERATOR_GROUP:
        raise ForbiddenError("only an operator may onboard, change or deactivate districts")


def _onboarding(deps: ApiDeps) -> OnboardingDeps:
    onboarding = deps.onboarding
    if onboarding is None:
        raise OnboardingUnavailableError("this deployment's API has no onboarding adapters")
    return onboarding


def _profile(onboarding: OnboardingDeps, district_id: str, *, active: bool = True) -> DistrictProfile:
    profile = onboarding.directory.get_profile(district_id)
    if profile is None:
        raise NotFoundError(f"district {district_id} was not onboarded")
    if active and profile.status != "active":
        raise ConflictError(f"district {district_id} is deactivated")
    return profile


def _view(
    deps: ApiDeps, caller: Caller, onboarding: OnboardingDeps, profile: DistrictProfile
) -> DistrictView:
    users = onboarding.directory.list_sftp_users(profile.district_id)
    settings = _settings_with_zone(deps, caller, profile, deps.repo.get_settings(profile.district_id))
    return DistrictView(
        profile=profile.model_copy(update={"time_zone": settings.time_zone}),
        settings=settings,
        sftp_users=[SftpUserView.of(u) for u in sorted(users, key=lambda u: u.username)],
    )


def _settings_with_zone(
    deps: ApiDeps, caller: Caller, profile: DistrictProfile, settings: DistrictSettings
) -> DistrictSettings:
    """The district's settings own its ``time_zone``; the profile keeps a copy (the pull schedules
    are made in it). A district onboarded before kept its zone in the profile only: read here, the
    zone moves into the settings (audited like a settings change)."""
    if "time_zone" in settings.model_fields_set or profile.time_zone == settings.time_zone:
        return settings
    values = settings.model_dump(mode="json", exclude_unset=True) | {"time_zone": profile.time_zone}
    migrated = DistrictSettings.model_validate(values)
    deps.repo.put_settings(migrated)
    changes = settings_changes(settings, migrated)
    _audit(
        deps,
        caller,
        profile.district_id,
        "settings_updated",
        details={"fields": sorted(changes), "changes": changes, "moved_from": "district profile"},
    )
    return migrated


# --- districts -----------------------------------------------------------------------------------


def list_districts(deps: ApiDeps, caller: Caller) -> DistrictList:
    """Every onboarded district's profile, its ``time_zone`` read from its settings."""
    require_operator(caller)
    profiles = _onboarding(deps).directory.list_profiles()
    stored = {s.district_id: s for s in deps.repo.list_settings()}
    shown = []
    for profile in sorted(profiles, key=lambda p: p.district_id):
        settings = stored.get(profile.district_id) or deps.repo.get_settings(profile.district_id)
        zone = _settings_with_zone(deps, caller, profile, settings).time_zone
        shown.append(profile.model_copy(update={"time_zone": zone}))
    return DistrictList(districts=shown)


def get_district(deps: ApiDeps, caller: Caller, district_id: str) -> DistrictView:
    require_operator(caller)
    onboarding = _onboarding(deps)
    return _view(deps, caller, onboarding, _profile(onboarding, district_id, active=False))


def onboard_district(deps: ApiDeps, caller: Caller, body: DistrictRequest) -> DistrictView:
    """Record the district (profile first: a second onboarding of it is a conflict), store its
    source's credentials, its settings, its SFTP users and its pull schedule."""
    require_operator(caller)
    onboarding = _onboarding(deps)
    district_id = body.district_id
    for user in body.sftp_users:
        if onboarding.directory.get_sftp_user(user.username) is not None:
            raise ConflictError(f"SFTP user name {user.username} is taken")
    now = deps.clock()
    profile = DistrictProfile(
        district_id=district_id,
        name=body.name,
        time_zone=body.time_zone,
        pull_times=body.pull_times,
        created_at=now,
        created_by=caller.label,
    )
    if not onboarding.directory.create_profile(profile):
        raise ConflictError(f"district {district_id} is already onboarded")
    source = _stored_source(onboarding, body)
    values: dict[str, Any] = {
        "district_id": district_id,
        "name": body.name,
        "time_zone": body.time_zone,
        "admin_emails": body.admin_emails,
        "school_ids": body.school_ids,
        "holds": body.holds.model_dump(),
        "phone_region": body.phone_region,
    }
    if source is not None:
        values["source"] = source
    deps.repo.put_settings(DistrictSettings.model_validate(values))
    _audit(
        deps,
        caller,
        district_id,
        "district_onboarded",
        details={
            "name": body.name,
            "time_zone": body.time_zone,
            "source": (source or {}).get("kind", "sftp_push"),
            "schools": len(body.school_ids),
        },
    )
    for user in body.sftp_users:
        _add_user(deps, onboarding, caller, district_id, user)
    _schedule(onboarding, profile, source)
    return _view(deps, caller, onboarding, profile)


def _stored_source(onboarding: OnboardingDeps, body: DistrictRequest) -> dict[str, Any] | None:
    """The source as settings keep it, its credentials stored in the secret it then names."""
    if body.source is None:
        return None
    source = body.source.model_dump()
    if body.credentials and source.get("kind") in PULL_KINDS:
        given = source.get("secret_id")
        name = (
            f"{onboarding.secret_prefix}/districts/{body.district_id}/{source['kind']}"
            if given in (None, SECRET_TO_CREATE)
            else given
        )
        source["secret_id"] = onboarding.secrets.put_secret(
            name, body.credentials, description=f"source credentials of district {body.district_id}"
        )
    return source


def _schedule(onboarding: OnboardingDeps, profile: DistrictProfile, source: dict[str, Any] | None) -> None:
    if onboarding.schedules is None:
        return
    if profile.pull_times and source is not None and source.get("kind") in PULL_KINDS:
        onboarding.schedules.put_schedule(profile.district_id, profile.pull_times, profile.time_zone)


def deactivate_district(deps: ApiDeps, caller: Caller, district_id: str) -> DistrictView:
    """Stop the district: its SFTP logins are deleted, its pulls stop (its source becomes
    ``sftp_push``, with no login left to push), its schedule goes; its data and history stay."""
    require_operator(caller)
    onboarding = _onboarding(deps)
    profile = _profile(onboarding, district_id)
    removed = []
    for user in onboarding.directory.list_sftp_users(district_id):
        _remove_user(onboarding, user)
        removed.append(user.username)
    if onboarding.schedules is not None:
        onboarding.schedules.delete_schedule(district_id)
    settings = deps.repo.get_settings(district_id)
    previous_source = settings.source.kind
    if previous_source != "sftp_push":
        values = settings.model_dump(mode="json", exclude_unset=True) | {"source": {"kind": "sftp_push"}}
        deps.repo.put_settings(DistrictSettings.model_validate(values))
    profile = profile.model_copy(
        update={"status": "deactivated", "deactivated_at": deps.clock(), "deactivated_by": caller.label}
    )
    onboarding.directory.put_profile(profile)
    _audit(
        deps,
        caller,
        district_id,
        "district_deactivated",
        details={"sftp_users_removed": removed, "source_was": previous_source},
    )
    return _view(deps, caller, onboarding, profile)


# --- SFTP users ----------------------------------------------------------------------------------


def add_sftp_user(deps: ApiDeps, caller: Caller, district_id: str, body: SftpUserRequest) -> SftpUserView:
    require_operator(caller)
    onboarding = _onboarding(deps)
    _profile(onboarding, district_id)
    return _add_user(deps, onboarding, caller, district_id, body)


def _add_user(
    deps: ApiDeps, onboarding: OnboardingDeps, caller: Caller, district_id: str, body: SftpUserRequest
) -> SftpUserView:
    user = SftpUser(
        username=body.username,
        district_id=district_id,
        public_keys=body.public_keys,
        created_at=deps.clock(),
        created_by=caller.label,
    )
    if not onboarding.directory.add_sftp_user(user):
        raise ConflictError(f"SFTP user name {body.username} is taken")
    if onboarding.sftp is not None:
        try:
            onboarding.sftp.create_user(user.username, district_id, user.public_keys)
        except Exception:
            onboarding.directory.remove_sftp_user(user.username)  # no record of a user that is not there
            raise
    _audit(
        deps,
        caller,
        district_id,
        "sftp_user_added",
        details={"username": user.username, "key_types": [k.split()[0] for k in user.public_keys]},
    )
    return SftpUserView.of(user)


def remove_sftp_user(deps: ApiDeps, caller: Caller, district_id: str, username: str) -> SftpUserView:
    require_operator(caller)
    onboarding = _onboarding(deps)
    user = onboarding.directory.get_sftp_user(username)
    if user is None or user.district_id != district_id:
        raise NotFoundError(f"district {district_id} has no SFTP user {username}")
    _remove_user(onboarding, user)
    _audit(deps, caller, district_id, "sftp_user_removed", details={"username": username})
    return SftpUserView.of(user)


def _remove_user(onboarding: OnboardingDeps, user: SftpUser) -> None:
    if onboarding.sftp is not None:
        onboarding.sftp.delete_user(user.username)
    onboarding.directory.remove_sftp_user(user.username)


# --- pull now ------------------------------------------------------------------------------------


def pull_now(deps: ApiDeps, caller: Caller, district_id: str) -> PullNowResponse:
    """Start a scheduled-pull sync of the district now (as its schedule would)."""
    require_operator(caller)
    settings = deps.repo.get_settings(district_id)
    onboarding = deps.onboarding
    profile = onboarding.directory.get_profile(district_id) if onboarding is not None else None
    if profile is not None and profile.status != "active":
        raise ConflictError(f"district {district_id} is deactivated")
    if settings.source.kind not in PULL_KINDS:
        raise ConflictError(
            f"district {district_id}'s roster is uploaded over SFTP ({settings.source.kind}); nothing to pull"
        )
    sync_id = start_requested_sync(
        deps,
        district_id,
        f"{district_id}-pull{secrets.token_hex(5)}",
        trigger="schedule",
        reason=f"pull from {settings.source.kind} requested by {caller.label}",
        pull=True,
    )
    _audit(deps, caller, district_id, "pull_requested", sync_id=sync_id)
    return PullNowResponse(district_id=district_id, sync_id=sync_id)
