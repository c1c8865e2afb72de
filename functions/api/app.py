"""The release API function: a thin handler over the resolver of rostersync.api (docs/api.md),
and of the admin console's pages under ``/console`` (rostersync.console, docs/console.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rostersync.api import create_app
from rostersync.console import create_console_app, is_console_path

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = create_app()
console = create_console_app()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="api_requests", unit=MetricUnit.Count, value=1)
    if is_console_path(str(event.get("path") or "")):
        return console.resolve(event, context)
    return app.resolve(event, context)
