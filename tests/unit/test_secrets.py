"""rostersync.aws.secrets: a secret that cannot be read is a credentials hold; Secrets Manager
failing is an outage that fails the sync with its own reason (docs/reliability.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from rostersync.aws.secrets import SecretsManagerSecrets, SecretsUnavailableError
from rostersync.pipeline.ports import CredentialsError

SECRET = "districts/d1/clever"


@pytest.fixture
def stubbed() -> Iterator[tuple[SecretsManagerSecrets, Stubber]]:
    client: Any = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield SecretsManagerSecrets(client), stubber


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalServiceError", 500), ("ThrottlingException", 400), ("ServiceUnavailable", 503)],
)
def test_secrets_manager_failing_is_an_outage_naming_the_secret(
    stubbed: tuple[SecretsManagerSecrets, Stubber], code: str, status: int
) -> None:
    secrets, stubber = stubbed
    stubber.add_client_error("get_secret_value", service_error_code=code, http_status_code=status)

    with pytest.raises(SecretsUnavailableError) as raised:
        secrets.get_json(SECRET)

    assert str(raised.value).startswith(
        f"AWS Secrets Manager is unavailable ({code}): "
        f"the source's credentials ('{SECRET}') could not be read"
    )


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"])
def test_a_secret_that_cannot_be_read_is_a_credentials_problem(
    stubbed: tuple[SecretsManagerSecrets, Stubber], code: str
) -> None:
    secrets, stubber = stubbed
    stubber.add_client_error("get_secret_value", service_error_code=code, http_status_code=400)

    with pytest.raises(CredentialsError, match=f"cannot read secret '{SECRET}': {code}"):
        secrets.get_json(SECRET)
