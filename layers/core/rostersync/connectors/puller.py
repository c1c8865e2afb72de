"""The source puller: the :class:`~rostersync.pipeline.ports.SourcePuller` port over the clients.

:class:`ConnectorPuller` reads a pulled district's secret, builds the Clever, OneRoster or SFTP
client its source settings name (with the deployment's retry and timeout settings) and pulls into
the stage's page writer. :func:`rostersync.aws.build_deps` creates it (for the composition root,
:mod:`rostersync.runtime`); the client modules, which import requests, requests-oauthlib and
paramiko, are imported only when a pull of their kind runs, so a function that never pulls never
loads them.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rostersync.connectors.pages import PageWriter
from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.ports import Secrets, SourceConfigError
from rostersync.sources import CleverSource, OneRosterSource, PullSource, SftpPullSource

if TYPE_CHECKING:
    from rostersync.connectors.http import HttpClient


class ConnectorPuller:
    """Pulls Clever, OneRoster and SFTP sources with credentials from ``secrets``."""

    def __init__(self, secrets: Secrets, config: PipelineConfig) -> None:
        self.secrets = secrets
        self.config = config

    def pull(self, source: PullSource, writer: PageWriter, today: date) -> None:
        if isinstance(source, CleverSource):
            self._clever(source, writer, today)
        elif isinstance(source, OneRosterSource):
            self._oneroster(source, writer)
        else:
            self._sftp(source, writer)

    def _secret(self, secret_id: str) -> dict[str, Any]:
        return self.secrets.get_json(secret_id)

    def _http(self, source_name: str) -> HttpClient:
        from rostersync.connectors.http import HttpClient, RetryPolicy

        config = self.config
        retry = RetryPolicy(
            attempts=config.source_retry_attempts,
            backoff_seconds=config.source_backoff_seconds,
            max_backoff_seconds=max(config.source_backoff_seconds, 60.0),
            max_retry_after_seconds=config.source_max_retry_after_seconds,
            read_timeout=config.source_timeout_seconds,
            connect_timeout=min(config.source_timeout_seconds, 10.0),
        )
        return HttpClient(retry=retry, source=source_name)

    def _clever(self, source: CleverSource, writer: PageWriter, today: date) -> None:
        from rostersync.connectors.clever import CleverClient

        token = self._secret(source.secret_id).get("token")
        if not token:
            raise SourceConfigError(f"secret {source.secret_id!r} has no 'token'")
        client = CleverClient(
            source.base_url,
            str(token),
            self._http("Clever"),
            api_version=source.api_version,
            page_size=source.page_size,
        )
        client.pull(writer, today)

    def _oneroster(self, source: OneRosterSource, writer: PageWriter) -> None:
        from rostersync.connectors.oneroster import OneRosterClient, oauth1

        secret = self._secret(source.secret_id)
        http = self._http("the OneRoster provider")
        if source.auth == "oauth1":
            if not secret.get("client_id") or not secret.get("client_secret"):
                raise SourceConfigError(f"secret {source.secret_id!r} needs 'client_id' and 'client_secret'")
            auth = oauth1(str(secret["client_id"]), str(secret["client_secret"]))
            client = OneRosterClient(source.base_url, http, auth=auth, page_size=source.page_size)
        else:
            token = _oauth2_token(source, secret)
            client = OneRosterClient(source.base_url, http, token=token, page_size=source.page_size)
        client.pull(writer)

    def _sftp(self, source: SftpPullSource, writer: PageWriter) -> None:
        from rostersync.connectors.sftp import SftpPuller

        site = SftpPuller(
            self._secret(source.secret_id),
            source.host_key,
            remote_dir=source.remote_dir,
            timeout=self.config.source_timeout_seconds,
        )
        with tempfile.TemporaryDirectory() as tmp:
            for path in site.download(Path(tmp)):
                writer.write_file(path)


def _oauth2_token(source: OneRosterSource, secret: dict[str, Any]) -> str:
    """The bearer token of an OAuth 2 source: stored, or from the client-credentials grant."""
    from rostersync.connectors.oneroster import client_credentials_token

    token = secret.get("token")
    if not token and source.token_url and secret.get("client_id") and secret.get("client_secret"):
        token = client_credentials_token(
            source.token_url, str(secret["client_id"]), str(secret["client_secret"])
        )
    if not token:
        raise SourceConfigError(
            f"secret {source.secret_id!r} needs a 'token', or 'client_id'/'client_secret' and a token_url"
        )
    return str(token)
