"""Fixtures of the change feed tests (the pipeline's moto deployment, tests/support/pipeline_helpers.py)."""

from tests.support.pipeline_helpers import clock, deps, lambda_context, moto_aws, workflow

__all__ = ["clock", "deps", "lambda_context", "moto_aws", "workflow"]
