"""Fixtures of the pipeline tests (defined in pipeline_helpers.py)."""

from pipeline_helpers import clock, deps, lambda_context, moto_aws, workflow

__all__ = ["clock", "deps", "lambda_context", "moto_aws", "workflow"]
