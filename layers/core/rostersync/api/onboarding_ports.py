"""The ports of onboarding (:mod:`rostersync.api.onboarding`): the district table's profiles and
SFTP users, the SFTP server's users, the secret store and the per-district pull schedules.
AWS implements them in :mod:`rostersync.aws.districts` and :mod:`rostersync.aws.provisioning`."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import time
from typing import Protocol

from rostersync.api.onboarding_models import DistrictProfile, SftpUser


class DistrictDirectory(Protocol):
    """Profiles and SFTP users of the districts (the district table)."""

    def get_profile(self, district_id: str) -> DistrictProfile | None: ...
    def create_profile(self, profile: DistrictProfile) -> bool:
        """Store a new profile; False if the district already has one."""
        ...

    def put_profile(self, profile: DistrictProfile) -> None: ...
    def list_profiles(self) -> builtins.list[DistrictProfile]: ...

    def add_sftp_user(self, user: SftpUser) -> bool:
        """Store a new user; False if the user name is taken (by any district)."""
        ...

    def get_sftp_user(self, username: str) -> SftpUser | None: ...
    def remove_sftp_user(self, username: str) -> None: ...
    def list_sftp_users(self, district_id: str | None = None) -> builtins.list[SftpUser]: ...


class SftpServerUsers(Protocol):
    """The SFTP server's own users (Transfer Family); each confined to its district's inbox."""

    def create_user(self, username: str, district_id: str, public_keys: builtins.list[str]) -> None: ...
    def delete_user(self, username: str) -> None:
        """Delete the user; nothing if it does not exist."""
        ...


class SecretWriter(Protocol):
    def put_secret(self, name: str, value: dict[str, str], *, description: str) -> str:
        """Create or overwrite secret ``name`` with the JSON ``value``; the id to read it by."""
        ...


class PullSchedules(Protocol):
    """Per-district schedules of the scheduled pulls (EventBridge Scheduler on AWS)."""

    def put_schedule(self, district_id: str, times: builtins.list[time], time_zone: str) -> None: ...
    def delete_schedule(self, district_id: str) -> None: ...


@dataclass
class OnboardingDeps:
    directory: DistrictDirectory
    secrets: SecretWriter
    # None: no SFTP server of the stack's own (EnableSftpServer false, or the local product,
    # whose SFTP server reads the user records): users are recorded only.
    sftp: SftpServerUsers | None = None
    # None: per-district pull times are not scheduled here (the local product runs them itself).
    schedules: PullSchedules | None = None
    # Secrets are named "<prefix>/districts/<district_id>/<kind>" (what the fetch step may read).
    secret_prefix: str = "rostersync"


class OnboardingUnavailableError(Exception):
    """The deployment's API was built without the onboarding adapters (answered 503)."""
