"""Where a district's roster comes from: the ``source`` part of its settings (pydantic models).

``sftp_push`` (the default) is the district uploading CSVs to our SFTP inbox; the other kinds are
pulled on a schedule by the pull stage (:mod:`rostersync.pipeline.pull`) through the
:class:`~rostersync.pipeline.ports.SourcePuller` port that :mod:`rostersync.connectors`
implements: the Clever API v3, a OneRoster 1.1 REST provider (e.g. ClassLink), or the district's
own SFTP site. Secrets (tokens, client secrets, SFTP passwords or keys) never live here: each pull
source names an AWS Secrets Manager secret holding them. A pulled SFTP site's host key *is* here,
because pinning it is configuration an admin reviews, not a secret. This module imports nothing
but pydantic, so the settings and the API never load a connector.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Plain http is refused except to the loopback interface (the local run and the tests).
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_SECRET_ID = r"^[A-Za-z0-9/_+=.@:-]{1,2048}$"


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        if not parts.hostname:
            raise ValueError(f"not a URL: {value!r}")
        return value.rstrip("/")
    raise ValueError(f"must be an https:// URL (http only to the loopback interface): {value!r}")


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SftpPushSource(_Source):
    """The district uploads to our SFTP server (Transfer Family); nothing is pulled."""

    kind: Literal["sftp_push"] = "sftp_push"


class CleverSource(_Source):
    """Clever API v3 with the district-app bearer token stored in ``secret_id``.

    The secret is JSON ``{"token": "..."}`` (or the bare token as the secret string).
    """

    kind: Literal["clever"]
    secret_id: str = Field(pattern=_SECRET_ID)
    base_url: str = "https://api.clever.com"
    api_version: Literal["v3.0", "v3.1"] = "v3.0"
    page_size: int = Field(10000, ge=1, le=10000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _https_url(value)


class OneRosterSource(_Source):
    """A OneRoster 1.1 REST provider (``<base_url>/ims/oneroster/v1p1/...``).

    ``auth`` "oauth1": the secret is ``{"client_id", "client_secret"}`` (OAuth 1.0a two-legged,
    HMAC-SHA256). "oauth2": ``{"token"}`` (a bearer token), or ``{"client_id", "client_secret"}``
    with ``token_url`` (client-credentials grant).
    """

    kind: Literal["oneroster"]
    secret_id: str = Field(pattern=_SECRET_ID)
    base_url: str
    auth: Literal["oauth1", "oauth2"] = "oauth1"
    token_url: str | None = None
    page_size: int = Field(1000, ge=1, le=10000)

    @field_validator("base_url", "token_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _https_url(value)


class SftpPullSource(_Source):
    """The district's own SFTP site. ``secret_id`` holds ``{"host", "port", "username"}`` and
    ``"password"`` or ``"private_key"`` (PEM/OpenSSH, optional ``"passphrase"``). ``host_key`` is
    the server's public host key as in ``known_hosts`` (``"ssh-ed25519 AAAA..."``): any other key
    is refused, and an unknown one is never accepted."""

    kind: Literal["sftp_pull"]
    secret_id: str = Field(pattern=_SECRET_ID)
    host_key: str = Field(min_length=16)
    remote_dir: str = "."

    @field_validator("host_key")
    @classmethod
    def _known_hosts_key(cls, value: str) -> str:
        parts = value.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError('host_key must look like "ssh-ed25519 AAAA..." (a known_hosts key)')
        try:
            base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("host_key: the key is not valid base64") from None
        return f"{parts[0]} {parts[1]}"


SourceSettings = Annotated[
    SftpPushSource | CleverSource | OneRosterSource | SftpPullSource, Field(discriminator="kind")
]
# The sources the pull stage reads (everything but ``sftp_push``).
PullSource = CleverSource | OneRosterSource | SftpPullSource
PULL_KINDS = frozenset({"clever", "oneroster", "sftp_pull"})
API_KINDS = frozenset({"clever", "oneroster"})
