"""Source credentials from AWS Secrets Manager (the fetch step's only secret store).

A secret is JSON (an object) or, for a bare token, a plain string, which is returned as
``{"token": <string>}``. Values are never logged or put in a sync record. A secret that is
missing or unreadable is a :class:`CredentialsError` (the sync is held on ``credentials`` until
the secret is fixed); Secrets Manager failing or unreachable (after botocore's retries) is
:class:`SecretsUnavailableError`: the sync fails with a reason naming the outage.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from rostersync.aws import clients
from rostersync.pipeline.ports import CredentialsError, SourceConfigError

# Answers that say Secrets Manager itself failed (still failing after botocore's retries), not
# that anything is wrong with the secret.
_OUTAGE_CODES = frozenset(
    {"InternalServiceError", "InternalFailure", "ServiceUnavailable", "ThrottlingException", "RequestTimeout"}
)


class SecretsUnavailableError(RuntimeError):
    """Secrets Manager failed or could not be reached (an outage): the secret and the source are
    not at fault, so this is no credentials hold; the sync fails with this reason and the next
    pull reads the secret again."""

    def __init__(self, secret_id: str, what: str) -> None:
        super().__init__(
            f"AWS Secrets Manager is unavailable ({what}): the source's credentials ({secret_id!r}) "
            "could not be read and nothing was pulled. The next scheduled pull tries again; an "
            "operator can start a pull once the service is back"
        )


def _is_outage(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in _OUTAGE_CODES or status >= 500


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
        except (ConnectionError, HTTPClientError) as exc:
            raise SecretsUnavailableError(secret_id, type(exc).__name__) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if _is_outage(exc):
                raise SecretsUnavailableError(secret_id, code) from None
            # Missing, not readable by this function, or not decryptable: the admin fixes the
            # secret and retries, exactly as for credentials the source rejects.
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
