"""AWS adapters of the pipeline: the only modules that import boto3.

:func:`build_deps` wires the adapters of one deployment (from a
:class:`~rostersync.pipeline.config.PipelineConfig`) into the :class:`~rostersync.pipeline.ports.Deps`
the stages take, with the source puller of :mod:`rostersync.connectors` (imported here, lazily:
the API function imports this package for its adapters and never loads the connectors).
:mod:`rostersync.runtime` (the composition root) decides when, and caches the result.
"""

from __future__ import annotations

from rostersync.aws.bus import EventBridgeBus
from rostersync.aws.mailer import SesMailer
from rostersync.aws.repository import DynamoRepository
from rostersync.aws.s3store import S3BlobStore
from rostersync.aws.secrets import SecretsManagerSecrets
from rostersync.aws.sfn import StepFunctionsWorkflow
from rostersync.pipeline.config import PipelineConfig
from rostersync.pipeline.ports import Deps


def build_deps(config: PipelineConfig) -> Deps:
    """The adapters of the deployment ``config`` describes (clients come from cached factories)."""
    from rostersync.connectors.puller import ConnectorPuller

    repo = DynamoRepository(config.table_name)
    return Deps(
        config=config,
        raw=S3BlobStore(config.raw_bucket),
        snapshots=S3BlobStore(config.snapshot_bucket),
        repo=repo,
        mailer=SesMailer(config.sender_email, config.table_name),
        bus=EventBridgeBus(config.event_bus_name, repo),
        workflow=StepFunctionsWorkflow(config.state_machine_arn),
        puller=ConnectorPuller(SecretsManagerSecrets(), config),
    )


__all__ = [
    "DynamoRepository",
    "EventBridgeBus",
    "S3BlobStore",
    "SecretsManagerSecrets",
    "SesMailer",
    "StepFunctionsWorkflow",
    "build_deps",
]
