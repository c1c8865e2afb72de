"""Fixtures of the format reader tests (defined in formats_helpers.py)."""

from formats_helpers import fixture_copy

__all__ = ["fixture_copy"]
