"""The adapters the API's services are given.

The API needs less than a pipeline step (no raw bucket, no mailer: emails are sent by the state
machine's own steps) and one thing more: presigned download URLs. :func:`build_api_deps` wires
them from the settings; :mod:`rostersync.runtime` (the composition root) decides when.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from rostersync.api.onboarding_ports import OnboardingDeps
from rostersync.pipeline.config import PipelineConfig
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
    # The operator's onboarding routes (rostersync.api.onboarding); None: they answer 503.
    onboarding: OnboardingDeps | None = None


def build_api_deps(config: PipelineConfig) -> ApiDeps:
    from rostersync.aws import DynamoRepository, S3BlobStore, StepFunctionsWorkflow
    from rostersync.aws.presign import S3Presigner
    from rostersync.aws.provisioning import build_onboarding

    return ApiDeps(
        config=config,
        repo=DynamoRepository(config.table_name),
        snapshots=S3BlobStore(config.snapshot_bucket),
        workflow=StepFunctionsWorkflow(config.state_machine_arn),
        presigner=S3Presigner(config.snapshot_bucket),
        onboarding=build_onboarding(config),
    )
