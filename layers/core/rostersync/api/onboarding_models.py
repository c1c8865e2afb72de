"""Bodies of the operator's onboarding routes (``/operator/districts``) and the district records
they keep: the district's profile (name, pull times, active or deactivated, a copy of the
settings' time zone) and its SFTP users (user name, district, SSH public keys).

The profile and the users live in the district table next to the settings
(:mod:`rostersync.aws.districts`); the local SFTP server reads the same user records.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rostersync.api.models import DistrictId, Email, SchoolId
from rostersync.settings import DistrictSettings, HoldSettings
from rostersync.sources import PULL_KINDS, SourceSettings

# Transfer Family's rule for a user name: 3-100 of letters, digits, '_', '-', '.', '@', not
# starting with '-', '.' or '@'.
SFTP_USERNAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{2,99}$"
# The key types Transfer Family accepts for service-managed users.
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
MAX_KEYS = 10
# The secret_id of a pulled source whose credentials onboarding stores (replaced by their name).
SECRET_TO_CREATE = "to-be-created"  # Transfer Family's quota of SSH keys per service-managed user

SftpUsername = Annotated[str, Field(pattern=SFTP_USERNAME_PATTERN)]
DistrictStatus = Literal["active", "deactivated"]


def ssh_public_key(value: str) -> str:
    """``value`` as ``"<type> <base64>"`` (a comment is dropped); ValueError saying what is wrong."""
    parts = value.split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        raise ValueError(
            "an SSH public key must be one line such as 'ssh-ed25519 AAAA... comment' "
            f"(types: {', '.join(SSH_KEY_TYPES)})"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {parts[0]} key is not valid base64") from None
    # The blob starts with its own type name: a key pasted under the wrong type is refused.
    if len(blob) < 4 or blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode("ascii", "replace") != parts[0]:
        raise ValueError(f"the key data is not a {parts[0]} key")
    return f"{parts[0]} {parts[1]}"


def time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an IANA time zone: {value!r} (e.g. America/Chicago)") from None
    return value


class DistrictProfile(BaseModel):
    """What onboarding records about a district besides its settings."""

    model_config = ConfigDict(extra="forbid")

    district_id: DistrictId
    name: str = Field(min_length=1, max_length=255)
    # A copy of the settings' time_zone (which owns it: pauses, reminders, cadence read it there),
    # written through by every change of it; the API shows the settings' value here.
    time_zone: str = "UTC"
    # Local times (in ``time_zone``) of the district's scheduled pulls; empty: the stack's
    # nightly schedule only. Ignored for SFTP-push districts (their uploads start the syncs).
    pull_times: list[time] = Field(default_factory=list, max_length=24)
    status: DistrictStatus = "active"
    created_at: datetime
    created_by: str
    deactivated_at: datetime | None = None
    deactivated_by: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)


class SftpUser(BaseModel):
    """An SFTP login of one district: its home is ``inbox/<district_id>/`` of the raw bucket."""

    model_config = ConfigDict(extra="forbid")

    username: SftpUsername
    district_id: DistrictId
    public_keys: list[str] = Field(min_length=1, max_length=MAX_KEYS)
    created_at: datetime
    created_by: str


# --- requests ------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SftpUserRequest(_Request):
    """A new SFTP login for the district, authenticated by SSH key only."""

    username: SftpUsername = Field(description="3-100 letters, digits, '_', '-', '.', '@'")
    public_keys: list[str] = Field(
        min_length=1, max_length=MAX_KEYS, description="OpenSSH public keys ('ssh-ed25519 AAAA... comment')"
    )

    @field_validator("public_keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        return [ssh_public_key(v) for v in value]


class DistrictRequest(_Request):
    """A new district: who it is, where its roster comes from, who is told about its holds."""

    district_id: DistrictId
    name: str = Field(min_length=1, max_length=255)
    time_zone: str = Field(
        "UTC",
        description="IANA time zone (e.g. America/Chicago): stored in the district's settings "
        "(time_zone; change it there), which its pause windows, reminders, sync cadence and pull "
        "times are read in",
    )
    pull_times: list[time] = Field(
        default_factory=list, max_length=24, description="local times of the scheduled pulls (HH:MM)"
    )
    admin_emails: list[Email] = Field(min_length=1, max_length=50)
    school_ids: list[SchoolId] = Field(default_factory=list, max_length=5000)
    holds: HoldSettings = Field(default_factory=HoldSettings)
    phone_region: str = Field("US", min_length=2, max_length=3)
    source: SourceSettings | None = Field(
        None,
        description="where the roster comes from (omitted: SFTP uploads). For a pulled source, "
        "secret_id may be omitted when credentials are given: onboarding stores them.",
    )
    credentials: dict[str, str] | None = Field(
        None,
        max_length=10,
        description="the source's credentials (e.g. {'token': ...}): stored in Secrets Manager, never shown",
    )
    sftp_users: list[SftpUserRequest] = Field(default_factory=list, max_length=10)

    @field_validator("source", mode="before")
    @classmethod
    def _secret_to_create(cls, value: Any) -> Any:
        # A pulled source without secret_id names the secret onboarding creates from credentials.
        if isinstance(value, dict) and value.get("kind") in PULL_KINDS and not value.get("secret_id"):
            return {**value, "secret_id": SECRET_TO_CREATE}
        return value

    @model_validator(mode="after")
    def _credentials_for_the_secret(self) -> DistrictRequest:
        secret_id = getattr(self.source, "secret_id", None)
        if secret_id == SECRET_TO_CREATE and not self.credentials:
            raise ValueError("a pulled source needs its credentials, or the secret_id of stored ones")
        if self.credentials and secret_id is None:
            raise ValueError("credentials are only stored for a pulled source (clever, oneroster, sftp_pull)")
        return self

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)


# --- views ---------------------------------------------------------------------------------------


def _abbreviated(key: str) -> str:
    kind, data = key.split()[:2]
    return f"{kind} {data[:12]}...{data[-8:]}"


class SftpUserView(BaseModel):
    username: str
    district_id: str
    home: str = Field(description="what the user sees as '/': inbox/<district_id>/ of the raw bucket")
    public_keys: list[str]
    created_at: datetime

    @classmethod
    def of(cls, user: SftpUser) -> SftpUserView:
        return cls(
            username=user.username,
            district_id=user.district_id,
            home=f"inbox/{user.district_id}/",
            public_keys=[_abbreviated(k) for k in user.public_keys],
            created_at=user.created_at,
        )


class DistrictView(BaseModel):
    """A district as the operator sees it: profile, settings and SFTP users (never credentials)."""

    profile: DistrictProfile
    settings: DistrictSettings
    sftp_users: list[SftpUserView]


class DistrictList(BaseModel):
    districts: list[DistrictProfile]


class PullNowResponse(BaseModel):
    district_id: str
    sync_id: str
    status: Literal["waiting"] = "waiting"
