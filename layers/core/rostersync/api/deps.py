"""The adapters the API's services are given, and the process's default set.

The API needs less than a pipeline step (no raw bucket, no mailer: emails are sent by the state
machine's own steps) and one thing more: presigned download URLs.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

from rostersync.pipeline.config import PipelineConfig, get_config
from rostersync.pipeline.models import SyncRecord
from rostersync.pipeline.ports import Repository, Workflow
from rostersync.storage import BlobStore

DOWNLOAD_EXPIRY_SECONDS = 300


class ApiRepository(Repository, Protocol):
    def list_syncs(self, district_id: str) -> builtins.list[SyncRecord]: ...


class Presigner(Protocol):
    def exists(self, key: str) -> bool: ...

    def url(self, key: str, *, filename: str, expires_in: int) -> str: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiDeps:
    config: PipelineConfig
    repo: ApiRepository
    snapshots: BlobStore
    workflow: Workflow
    presigner: Presigner
    clock: Callable[[], datetime] = field(default=_utcnow)
    download_expiry_seconds: int = DOWNLOAD_EXPIRY_SECONDS


def build_api_deps(config: PipelineConfig) -> ApiDeps:
    from rostersync.aws import DynamoRepository, S3BlobStore, StepFunctionsWorkflow
    from rostersync.aws.presign import S3Presigner

    return ApiDeps(
        config=config,
        repo=DynamoRepository(config.table_name),
        snapshots=S3BlobStore(config.snapshot_bucket),
        workflow=StepFunctionsWorkflow(config.state_machine_arn),
        presigner=S3Presigner(config.snapshot_bucket),
    )


@lru_cache(maxsize=1)
def default_api_deps() -> ApiDeps:
    """The adapters of this process's deployment (environment read once, on first use)."""
    return build_api_deps(get_config())


_override: list[ApiDeps] = []


def current_api_deps() -> ApiDeps:
    """What the routes use: the adapters set by :func:`use_api_deps`, else the default ones."""
    return _override[-1] if _override else default_api_deps()


@contextmanager
def use_api_deps(deps: ApiDeps) -> Iterator[ApiDeps]:
    """Serve requests with ``deps`` meanwhile (tests: a recording workflow, a fixed clock)."""
    _override.append(deps)
    try:
        yield deps
    finally:
        _override.remove(deps)
