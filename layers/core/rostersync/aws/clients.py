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
def client(service: str) -> Any:
    """The shared client of ``service`` (region and credentials from the environment)."""
    return boto3.session.Session().client(service, config=_CONFIG)


def s3() -> Any:
    return client("s3")


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
