"""Fixtures of the pipeline tests (defined in tests/support/pipeline_helpers.py)."""

from tests.support.pipeline_helpers import clock, deps, lambda_context, moto_aws, workflow

__all__ = ["clock", "deps", "lambda_context", "moto_aws", "workflow"]
