"""The districts of the local product, onboarded as an operator onboards them on AWS.

At start, ``rostersync serve`` onboards each :class:`LocalDistrict` through the onboarding service
(:mod:`rostersync.api.onboarding`, the code behind ``POST /operator/districts``): its settings,
profile and one SFTP user whose record (user name, district, SSH public keys) goes to the
district table. The local SFTP server then authenticates against those records
(:class:`RecordedAccounts`), as Transfer Family does against its users: a district added later
with ``rostersync districts add`` can log in at once, a removed user or a deactivated district
cannot. Locally, and only locally, each user may also log in with a password (printed by serve),
because a first try with ``sftp`` should not need a key; the key pair serve makes
(``<workdir>/sftp_client_ed25519``) is registered for every district it onboards.
Development only: nothing here is deployed.
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rostersync.api.auth import Caller
from rostersync.api.onboarding import onboard_district
from rostersync.api.onboarding_models import DistrictRequest, SftpUserRequest
from rostersync_tools.local.routing import serialized
from rostersync_tools.local.sftp import SftpAccount, read_public_key_lines

if TYPE_CHECKING:
    from rostersync.api.deps import ApiDeps
    from rostersync.api.onboarding_ports import DistrictDirectory
    from rostersync_tools.local.sample_sources import SampleClever, SampleOneRoster

OPERATOR_EMAIL = "operator@vendor.example.com"
CLIENT_KEY_NAME = "sftp_client_ed25519"
KNOWN_HOSTS_NAME = "known_hosts"


@dataclass(frozen=True)
class LocalDistrict:
    """A district serve onboards at start, with its SFTP user and (local only) its password."""

    district_id: str
    name: str
    admin_email: str
    sftp_user: str
    sftp_password: str | None = None  # None: a new random one each run
    time_zone: str = "UTC"
    source: dict[str, Any] | None = None  # None: SFTP uploads
    credentials: dict[str, str] | None = None
    pull_times: tuple[time, ...] = ()
    extra_public_keys: tuple[str, ...] = field(default_factory=tuple)


def extra_district(value: str) -> LocalDistrict:
    """A district of ``serve --district ID[=NAME]``: SFTP user ID, admin admin@ID.example.org."""
    district_id, _, name = value.partition("=")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{2,63}", district_id):
        raise ValueError(f"{district_id!r} is not a district id (3-64 letters, digits, '_' or '-')")
    return LocalDistrict(
        district_id=district_id,
        name=name or f"{district_id} school district",
        admin_email=f"admin@{district_id.lower()}.example.org",
        sftp_user=district_id,
    )


def local_operator() -> Caller:
    """The operator serve acts as when it onboards its districts (the audit log names it)."""
    return Caller(
        sub=str(uuid.uuid5(uuid.NAMESPACE_DNS, OPERATOR_EMAIL)),
        email=OPERATOR_EMAIL,
        username=OPERATOR_EMAIL,
        role="operator",
    )


def client_key(workdir: Path) -> tuple[Path, str]:
    """The SFTP client key pair serve registers for its districts (made once, kept in workdir):
    the private key's path and the public key line (``ssh-ed25519 AAAA... rostersync-local``)."""
    path = workdir / CLIENT_KEY_NAME
    public = path.with_suffix(".pub")
    if not path.exists() or not public.exists():
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(private)
        os.chmod(path, 0o600)
        line = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        public.write_text(line.decode() + " rostersync-local\n", encoding="utf-8")
    return path, public.read_text(encoding="utf-8").strip()


def onboard(deps: ApiDeps, district: LocalDistrict, public_key: str) -> None:
    """Onboard ``district`` as an operator would, unless it already is."""
    assert deps.onboarding is not None, "the local API deps have no onboarding adapters"
    with serialized():
        if deps.onboarding.directory.get_profile(district.district_id) is not None:
            return
        body = DistrictRequest(
            district_id=district.district_id,
            name=district.name,
            time_zone=district.time_zone,
            pull_times=list(district.pull_times),
            admin_emails=[district.admin_email],
            source=district.source,  # validated into the source model
            credentials=district.credentials,
            sftp_users=[
                SftpUserRequest(
                    username=district.sftp_user, public_keys=[public_key, *district.extra_public_keys]
                )
            ],
        )
        onboard_district(deps, local_operator(), body)


def passwords_for(districts: list[LocalDistrict]) -> dict[str, str]:
    """Each district's local SFTP password: the one given, else a new random one."""
    return {d.sftp_user: d.sftp_password or secrets.token_urlsafe(9) for d in districts}


class RecordedAccounts(Mapping[str, SftpAccount]):
    """The SFTP accounts as the district table records them, read at each login."""

    def __init__(self, directory: DistrictDirectory, passwords: Mapping[str, str]) -> None:
        self.directory = directory
        self.passwords = passwords

    def get(self, username: str, default: Any = None) -> Any:
        with serialized():
            user = self.directory.get_sftp_user(username)
        if user is None:
            return default
        return SftpAccount(
            username=user.username,
            district_id=user.district_id,
            password=self.passwords.get(username),
            public_keys=read_public_key_lines(user.public_keys),
        )

    def __getitem__(self, username: str) -> SftpAccount:
        account = self.get(username)
        if account is None:
            raise KeyError(username)
        assert isinstance(account, SftpAccount)
        return account

    def __iter__(self) -> Iterator[str]:
        with serialized():
            users = self.directory.list_sftp_users()
        return iter([u.username for u in users])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def public_key_of(path: Path) -> paramiko.PKey:
    """The private key file serve made, for clients (the demo) that log in with it."""
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    """The server's ``known_hosts`` line, as OpenSSH writes it for a non-default port."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.get_name()} {key.get_base64()}"


def write_known_hosts(workdir: Path, host: str, port: int, key: paramiko.PKey) -> Path:
    """``<workdir>/known_hosts`` holding the server's line (``sftp -o UserKnownHostsFile=...``;
    ``ssh-keygen -lf`` on it shows the fingerprint serve prints)."""
    path = workdir / KNOWN_HOSTS_NAME
    path.write_text(known_hosts_line(host, port, key) + "\n", encoding="utf-8")
    return path


def sample_source_districts(
    clever: SampleClever, oneroster: SampleOneRoster, first_pull: time
) -> list[LocalDistrict]:
    """The districts of ``serve --with-sample-sources``: one pulled from the local Clever, one
    from the local OneRoster provider, both first pulled at ``first_pull`` (UTC) each day."""
    return [
        LocalDistrict(
            district_id="clever-sample",
            name="Clever sample district",
            admin_email="admin@clever-sample.example.org",
            sftp_user="clever-sample",
            source={"kind": "clever", "base_url": clever.url},
            credentials={"token": clever.token},
            pull_times=(first_pull,),
        ),
        LocalDistrict(
            district_id="oneroster-sample",
            name="OneRoster sample district",
            admin_email="admin@oneroster-sample.example.org",
            sftp_user="oneroster-sample",
            source={
                "kind": "oneroster",
                "base_url": oneroster.url,
                "auth": "oauth2",
                "token_url": oneroster.token_url,
            },
            credentials={"client_id": oneroster.client_id, "client_secret": oneroster.client_secret},
            pull_times=(first_pull,),
        ),
    ]
