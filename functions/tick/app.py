"""The tick function: a thin handler over rostersync.pipeline.tick (see docs/architecture.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rostersync import runtime
from rostersync.pipeline.dispatch import run_step
from rostersync.pipeline.handlers import parse_tick_event

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = parse_tick_event(event)
    logger.append_keys(step="tick", scheduled_time=model.scheduled_time)
    result = run_step(model, runtime.pipeline_deps())
    metrics.add_metric(name="tick_syncs_started", unit=MetricUnit.Count, value=len(result.started))
    metrics.add_metric(name="tick_emails_sent", unit=MetricUnit.Count, value=len(result.emailed))
    metrics.add_metric(name="tick_holds_expired", unit=MetricUnit.Count, value=len(result.expired))
    return result.model_dump(mode="json")  # type: ignore[no-any-return]
