"""Fixtures of the release API tests (defined in api_helpers.py)."""

from api_helpers import api_deps, clock, handler_module, moto_api, workflow

__all__ = ["api_deps", "clock", "handler_module", "moto_api", "workflow"]
