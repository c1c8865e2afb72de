"""The settings of one deployment (resource names and durations) as one pydantic model.

The variables are those of ``docs/architecture.md``. Resource names have no default: a function
whose environment lacks one fails at cold start with :class:`SettingsError` naming the variable,
never later as an AWS error on an empty bucket name. :func:`get_config` is the one read of the
process environment, made by the composition root (:mod:`rostersync.runtime`) at the first
invocation of a sandbox; everything else is handed a :class:`PipelineConfig`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_HOLD_EXPIRY_SECONDS = 14 * 24 * 3600


class SettingsError(RuntimeError):
    """The environment misses a required variable or holds a value of the wrong kind."""


class PipelineConfig(BaseModel):
    """Resource names and durations of one deployment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    raw_bucket: str = Field(min_length=1, alias="RAW_BUCKET")
    snapshot_bucket: str = Field(min_length=1, alias="SNAPSHOT_BUCKET")
    table_name: str = Field(min_length=1, alias="TABLE_NAME")
    event_bus_name: str = Field("default", min_length=1, alias="EVENT_BUS_NAME")
    state_machine_arn: str = Field(min_length=1, alias="STATE_MACHINE_ARN")
    sender_email: str = Field(min_length=1, alias="SENDER_EMAIL")
    quiet_period_seconds: int = Field(300, ge=0, alias="QUIET_PERIOD_SECONDS")
    lock_retry_seconds: int = Field(60, ge=0, alias="LOCK_RETRY_SECONDS")
    hold_expiry_seconds: int = Field(DEFAULT_HOLD_EXPIRY_SECONDS, ge=1, alias="HOLD_EXPIRY_SECONDS")
    # Where the admin console is served (its pages: <base>/districts/<d>/syncs/<sync_id>); emails
    # link there. Unset: emails carry no link.
    console_base_url: str | None = Field(None, alias="CONSOLE_BASE_URL")
    # A district's expected sync cadence when its settings name none (expected_sync_hours): the
    # template's SyncCadenceAlarmHours.
    sync_cadence_hours: int = Field(48, ge=1, le=8760, alias="SYNC_CADENCE_HOURS")
    # Pulls (fetch step): attempts per request, first backoff, cap on a source's Retry-After and
    # the socket timeout. A source still failing after them is "disconnected".
    source_retry_attempts: int = Field(6, ge=1, le=20, alias="SOURCE_RETRY_ATTEMPTS")
    source_backoff_seconds: float = Field(1.0, ge=0, alias="SOURCE_BACKOFF_SECONDS")
    source_max_retry_after_seconds: float = Field(120.0, ge=0, alias="SOURCE_MAX_RETRY_AFTER_SECONDS")
    source_timeout_seconds: float = Field(60.0, gt=0, alias="SOURCE_TIMEOUT_SECONDS")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        """The settings in ``environ`` (empty values count as unset); :class:`SettingsError`
        naming every missing or invalid variable.

        ``environ`` defaults to the process environment (tests); the functions' settings come
        from :func:`get_config`, read once per cold start.
        """
        environ = os.environ if environ is None else environ
        fields = {field.alias for field in cls.model_fields.values() if field.alias}
        try:
            return cls.model_validate({k: v for k, v in environ.items() if k in fields and v != ""})
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None


@lru_cache(maxsize=1)
def get_config() -> PipelineConfig:
    """The process's settings, read on first use (after a test has set the environment)."""
    return PipelineConfig.from_env(os.environ)


def _describe(exc: ValidationError) -> str:
    missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
    invalid = [f"{e['loc'][0]}={e['input']!r} ({e['msg']})" for e in exc.errors() if e["type"] != "missing"]
    parts = []
    if missing:
        parts.append(f"missing environment variable(s) {', '.join(missing)}")
    if invalid:
        parts.append(f"invalid environment variable(s) {'; '.join(invalid)}")
    return "rostersync settings: " + "; ".join(parts) + " (set them in template.yaml's Globals.Function)"
