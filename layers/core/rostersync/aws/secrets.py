"""Source credentials from AWS Secrets Manager (the fetch step's only secret store).

A secret is JSON (an object) or, for a bare token, a plain string, which is returned as
``{"token": <string>}``. Values are never logged or put in a sync record.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from rostersync.aws import clients
from rostersync.pipeline.ports import CredentialsError, SourceConfigError


class SecretsManagerSecrets:
    """Reads secrets by name or ARN."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.client("secretsmanager")

    def get_json(self, secret_id: str) -> dict[str, Any]:
        try:
            response = self.client.get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            # Missing, not readable by this function, or not decryptable: the admin fixes the
            # secret and retries, exactly as for credentials the source rejects.
            code = exc.response.get("Error", {}).get("Code", "")
            raise CredentialsError(f"cannot read secret {secret_id!r}: {code}") from None
        text = response.get("SecretString")
        if text is None:
            raise SourceConfigError(f"secret {secret_id!r} has no string value")
        try:
            value = json.loads(text)
        except ValueError:
            return {"token": text.strip()}
        if isinstance(value, str):
            return {"token": value}
        if not isinstance(value, dict):
            raise SourceConfigError(f"secret {secret_id!r} is not a JSON object")
        return value
