"""Fixtures of the release API tests (defined in tests/support/api_helpers.py)."""

from tests.support.api_helpers import api_deps, clock, handler_module, moto_api, workflow

__all__ = ["api_deps", "clock", "handler_module", "moto_api", "workflow"]
