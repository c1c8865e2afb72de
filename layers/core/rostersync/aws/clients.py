"""Cached boto3 client factories.

Clients are made on first use, not at import, so a test can start moto (and set credentials and
region) before any client exists; :func:`clear_clients` drops them between tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str, signature_version: str | None = None) -> Any:
    """The shared client of ``service`` (region and credentials from the environment)."""
    config = (
        _CONFIG if signature_version is None else _CONFIG.merge(Config(signature_version=signature_version))
    )
    return boto3.session.Session().client(service, config=config)


def s3() -> Any:
    return client("s3")


def s3_presigner() -> Any:
    """An S3 client for presigned URLs: SigV4 (``X-Amz-Expires``), valid in every region."""
    return client("s3", "s3v4")


def dynamodb() -> Any:
    return client("dynamodb")


def ses() -> Any:
    return client("ses")


def events() -> Any:
    return client("events")


def stepfunctions() -> Any:
    return client("stepfunctions")


def clear_clients() -> None:
    """Forget every cached client (tests call this when they start or stop moto)."""
    client.cache_clear()
