"""SES email (text and HTML), sent at most once per (district, dedupe key).

The marker item is created with a conditional write before sending and removed again if SES
refuses, so a retried step neither loses nor repeats an email.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rostersync.aws import clients
from rostersync.pipeline.ports import Repository


class SesMailer:
    def __init__(self, sender: str, repo: Repository, client: Any = None) -> None:
        self.sender = sender
        self.repo = repo
        self._client = client

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
        if not to:
            return False
        marker = f"MAIL#{dedupe_key}"
        if not self.repo.claim(district_id, marker, datetime.now(UTC)):
            return False
        try:
            self.client.send_email(
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
        except Exception:
            self.repo.unclaim(district_id, marker)
            raise
        return True
