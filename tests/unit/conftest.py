"""The unit tests are network-free: every test runs with sockets disabled (pytest-socket).

A test that needs a socket (a loopback server, moto's server mode, a subprocess talking HTTP)
belongs in tests/integration. Unix sockets stay allowed: they do not leave the machine (asyncio's
self-pipe uses one).

The X-Ray SDK's recorder opens its UDP emitter's socket once, when ``aws_xray_sdk.core`` is first
imported (Powertools' Tracer imports it when a handler module loads). It is created unconnected and
sends nothing with ``POWERTOOLS_TRACE_DISABLED`` (root conftest.py), so it is imported here, before
the guard is on, rather than letting the first handler import fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import aws_xray_sdk.core  # noqa: F401  (see the module docstring)
import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
