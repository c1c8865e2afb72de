"""Fixtures of the connector tests: local fake sources, a page store on disk, a retry policy that
records its waits instead of sleeping."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rostersync.connectors.http import HttpClient, RetryPolicy  # noqa: E402
from rostersync.connectors.pages import PageWriter  # noqa: E402
from rostersync.storage import LocalBlobStore  # noqa: E402
from tests.support.clever_server import FakeClever  # noqa: E402
from tests.support.data import clever_district, oneroster_collections  # noqa: E402
from tests.support.oneroster_server import FakeOneRoster  # noqa: E402


@dataclass
class Sleeps:
    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(
        attempts=4, backoff_seconds=0.01, max_retry_after_seconds=30, read_timeout=2, sleep=sleeps
    )


@pytest.fixture
def http(retry: RetryPolicy) -> HttpClient:
    return HttpClient(retry=retry, source="test source")


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "raw")


@pytest.fixture
def writer(store: LocalBlobStore) -> PageWriter:
    return PageWriter(store, "syncs/d1/s1/raw/", "clever")


@pytest.fixture
def clever_data() -> dict[str, Any]:
    return clever_district()


@pytest.fixture
def clever(clever_data: dict[str, Any]) -> Iterator[FakeClever]:
    with FakeClever(
        district=clever_data["district"], data=clever_data["data"], users=clever_data["users"], lifetime=30
    ) as server:
        yield server


@pytest.fixture
def oneroster() -> Iterator[FakeOneRoster]:
    with FakeOneRoster(
        oneroster_collections(),
        oauth1_clients={"consumer-key": "consumer-secret"},
        bearer_tokens={"static-token"},
        oauth2_clients={"client-1": "secret-1"},
        lifetime=30,
    ) as server:
        yield server
