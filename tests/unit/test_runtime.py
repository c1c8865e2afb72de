"""The composition root: settings fail at cold start naming the variable; one injection hook."""

from __future__ import annotations

from typing import Any, cast

import pytest

from rostersync import runtime
from rostersync.pipeline.config import PipelineConfig, SettingsError

ENVIRONMENT = {
    "RAW_BUCKET": "raw",
    "SNAPSHOT_BUCKET": "snapshots",
    "TABLE_NAME": "table",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:sync",
    "SENDER_EMAIL": "rostersync@example.org",
}


def test_complete_settings_take_the_defaults_for_the_rest() -> None:
    config = PipelineConfig.from_env(ENVIRONMENT)

    assert (config.table_name, config.event_bus_name, config.quiet_period_seconds) == (
        "table",
        "default",
        300,
    )


def test_a_missing_variable_is_named() -> None:
    environment = {k: v for k, v in ENVIRONMENT.items() if k != "TABLE_NAME"}

    with pytest.raises(SettingsError, match=r"missing environment variable\(s\) TABLE_NAME \("):
        PipelineConfig.from_env(environment)


def test_an_empty_variable_counts_as_missing() -> None:
    with pytest.raises(SettingsError, match=r"missing environment variable\(s\) SENDER_EMAIL \("):
        PipelineConfig.from_env({**ENVIRONMENT, "SENDER_EMAIL": ""})


def test_an_invalid_value_is_named_with_what_was_expected() -> None:
    with pytest.raises(SettingsError, match=r"invalid environment variable\(s\) QUIET_PERIOD_SECONDS='soon'"):
        PipelineConfig.from_env({**ENVIRONMENT, "QUIET_PERIOD_SECONDS": "soon"})


def test_a_provider_serves_the_adapters_while_it_is_active() -> None:
    pipeline, api = cast(Any, object()), cast(Any, object())

    with runtime.provided(runtime.Provider(pipeline=lambda: pipeline, api=lambda: api)):
        assert (runtime.pipeline_deps(), runtime.api_deps()) == (pipeline, api)


def test_a_second_provider_is_refused_while_one_is_active() -> None:
    with (
        runtime.provided(runtime.Provider()),
        pytest.raises(runtime.CompositionError, match="already"),
        runtime.provided(runtime.Provider()),
    ):
        pass


def test_a_provider_without_api_adapters_refuses_the_api() -> None:
    with (
        runtime.provided(runtime.Provider(pipeline=lambda: cast(Any, None))),
        pytest.raises(runtime.CompositionError, match="no API adapters"),
    ):
        runtime.api_deps()
