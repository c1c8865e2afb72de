"""The ingest function: a thin handler over rostersync.pipeline (see docs/architecture.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rostersync import runtime
from rostersync.pipeline.dispatch import run_step
from rostersync.pipeline.handlers import parse_ingest_event

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = parse_ingest_event(event)
    step = getattr(model, "step", "arrival")
    logger.append_keys(
        step=step, district_id=getattr(model, "district_id", None), sync_id=getattr(model, "sync_id", None)
    )
    metrics.add_metric(name=f"{step}_invocations", unit=MetricUnit.Count, value=1)
    result = run_step(model, runtime.pipeline_deps())
    return result.model_dump(mode="json")  # type: ignore[no-any-return]
