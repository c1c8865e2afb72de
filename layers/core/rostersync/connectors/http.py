"""A ``requests`` session with timeouts and retries, for the API connectors.

429 and 5xx answers are retried with exponential backoff; a ``Retry-After`` header (seconds or an
HTTP date) is honoured, capped so a source cannot park a Lambda for its whole timeout. Connection
errors and timeouts are retried the same way. What is left after the retries becomes a
:mod:`rostersync.pipeline.ports` source error: 401/403 -> :class:`CredentialsError`, anything
unreachable -> :class:`DisconnectedError`. Other 4xx answers are a client bug, not a disconnection:
they raise :class:`SourceRequestError` (a plain failure with the URL and status).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from rostersync.pipeline.ports import CredentialsError, DisconnectedError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SourceRequestError(Exception):
    """A request the source refused for a reason other than credentials or availability."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``sleep`` is injectable so tests never wait."""

    attempts: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before attempt ``attempt + 1``."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _redacted(url: str) -> str:
    # Query strings may carry OAuth parameters; they never go into a hold message or a log.
    return url.split("?", 1)[0]


class HttpClient:
    """GET JSON from one source with retries; every failure is a connector error."""

    def __init__(
        self,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        *,
        source: str = "the source",
    ) -> None:
        self.session = session or requests.Session()
        self.retry = retry or RetryPolicy()
        self.source = source
        self.requests = 0
        self.retries = 0

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """The successful (2xx) response to ``GET url``, after retries."""
        policy = self.retry
        last: str = ""
        for attempt in range(1, policy.attempts + 1):
            self.requests += 1
            try:
                response = self.session.get(
                    url, params=params, timeout=(policy.connect_timeout, policy.read_timeout)
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__} talking to {self.source} ({_redacted(url)})"
                wait = policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status in (401, 403):
                    raise CredentialsError(
                        f"{self.source} answered {status} {response.reason or ''} for {_redacted(url)}: "
                        "the credentials were rejected".replace("  ", " "),
                        status=status,
                    )
                if status not in RETRY_STATUSES:
                    raise SourceRequestError(
                        f"{self.source} answered {status} for {_redacted(url)}: {response.text[:200]}",
                        status,
                    )
                last = f"{self.source} answered {status} for {_redacted(url)}"
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                wait = (
                    min(asked, policy.max_retry_after_seconds)
                    if asked is not None
                    else policy.backoff(attempt)
                )
                response.close()
            if attempt == policy.attempts:
                break
            self.retries += 1
            log.info("retrying after %.2fs: %s (attempt %d)", wait, last, attempt)
            policy.sleep(wait)
        raise DisconnectedError(f"{last}, after {policy.attempts} attempts")

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, requests.Response]:
        response = self.get(url, params)
        try:
            return response.json(), response
        except ValueError:
            raise DisconnectedError(
                f"{self.source} sent a response that is not JSON for {_redacted(url)}"
            ) from None
