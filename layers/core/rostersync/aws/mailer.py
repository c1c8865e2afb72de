"""SES email (text and HTML), sent exactly once per (district, dedupe key), and never lost.

Powertools idempotency with its DynamoDB persistence layer (on the pipeline's table, items
``IDEMPOTENCY#MAIL`` / ``<function>#<hash of district and dedupe key>``) guards each send: the
record is written ``INPROGRESS`` with a lease before SES is called and ``COMPLETED`` after it,
and deleted again when SES refuses. An invocation killed between the two leaves an in-progress
record whose lease runs out (``MAIL_LEASE_SECONDS``: the longest function timeout), after which a
retried step sends the email; while the lease runs, a concurrent send of the same email is
refused with :class:`MailInProgressError` (the step is retried), never sent twice. A sent email's
record lives 90 days (the table's TTL attribute ``expires_at``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from rostersync.aws import clients

# No function runs longer than this (template.yaml: the longest Timeout is 900 s): an in-progress
# claim older than it belongs to an invocation that died.
MAIL_LEASE_SECONDS = 900
SENT_RECORD_SECONDS = 90 * 24 * 3600


class MailInProgressError(RuntimeError):
    """The same email is being sent by another invocation whose lease has not run out."""


class _Lease:
    """What Powertools reads from a Lambda context to set an in-progress record's expiry."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return self.seconds * 1000


class SesMailer:
    def __init__(
        self,
        sender: str,
        table_name: str,
        client: Any = None,
        dynamodb: Any = None,
        *,
        lease_seconds: int = MAIL_LEASE_SECONDS,
    ) -> None:
        self.sender = sender
        self._client = client
        self._persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value="IDEMPOTENCY#MAIL",
            expiry_attr="expires_at",
            boto3_client=dynamodb if dynamodb is not None else clients.dynamodb(),
        )
        self._config = IdempotencyConfig(
            event_key_jmespath="[district_id, dedupe_key]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=SENT_RECORD_SECONDS,
        )
        self._config.register_lambda_context(_Lease(lease_seconds))  # type: ignore[arg-type]

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else clients.ses()

    def send(
        self,
        *,
        district_id: str,
        dedupe_key: str,
        to: list[str],
        subject: str,
        text: str,
        html: str,
    ) -> bool:
        """Send once per (district, dedupe key); False if it was already sent or nobody to send to."""
        if not to:
            return False
        sent_now: list[bool] = []

        @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
            data_keyword_argument="message", config=self._config, persistence_store=self._persistence
        )
        def deliver(message: dict[str, Any]) -> dict[str, str]:
            response = self.client.send_email(
                Source=self.sender,
                Destination={"ToAddresses": list(to)},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": text, "Charset": "UTF-8"},
                        "Html": {"Data": html, "Charset": "UTF-8"},
                    },
                },
            )
            sent_now.append(True)
            return {"message_id": str(response.get("MessageId", ""))}

        try:
            deliver(message={"district_id": district_id, "dedupe_key": dedupe_key})
        except IdempotencyAlreadyInProgressError:
            raise MailInProgressError(
                f"the email {dedupe_key!r} of district {district_id} is being sent by another invocation"
            ) from None
        return bool(sent_now)
