"""The pipeline's settings, read once from the environment of a Lambda function (or a test).

This is the only place the pipeline reads ``os.environ``; everything else is handed a
:class:`PipelineConfig`. The variable names and defaults are those of ``docs/architecture.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_HOLD_EXPIRY_SECONDS = 14 * 24 * 3600


class PipelineConfig(BaseModel):
    """Resource names and durations of one deployment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    raw_bucket: str = Field("", alias="RAW_BUCKET")
    snapshot_bucket: str = Field("", alias="SNAPSHOT_BUCKET")
    table_name: str = Field("", alias="TABLE_NAME")
    event_bus_name: str = Field("default", alias="EVENT_BUS_NAME")
    state_machine_arn: str = Field("", alias="STATE_MACHINE_ARN")
    sender_email: str = Field("", alias="SENDER_EMAIL")
    quiet_period_seconds: int = Field(300, ge=0, alias="QUIET_PERIOD_SECONDS")
    lock_retry_seconds: int = Field(60, ge=0, alias="LOCK_RETRY_SECONDS")
    hold_expiry_seconds: int = Field(DEFAULT_HOLD_EXPIRY_SECONDS, ge=1, alias="HOLD_EXPIRY_SECONDS")
    # Pulls (fetch step): attempts per request, first backoff, cap on a source's Retry-After and
    # the socket timeout. A source still failing after them is "disconnected".
    source_retry_attempts: int = Field(6, ge=1, le=20, alias="SOURCE_RETRY_ATTEMPTS")
    source_backoff_seconds: float = Field(1.0, ge=0, alias="SOURCE_BACKOFF_SECONDS")
    source_max_retry_after_seconds: float = Field(120.0, ge=0, alias="SOURCE_MAX_RETRY_AFTER_SECONDS")
    source_timeout_seconds: float = Field(60.0, gt=0, alias="SOURCE_TIMEOUT_SECONDS")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        """The settings in ``environ`` (default: the process environment); empty values are unset."""
        source = os.environ if environ is None else environ
        fields = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({k: v for k, v in source.items() if k in fields and v != ""})


@lru_cache(maxsize=1)
def get_config() -> PipelineConfig:
    """The process's settings, read on first use (after a test has set the environment)."""
    return PipelineConfig.from_env()
