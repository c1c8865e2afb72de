"""The composition root of the Lambda functions: settings read once, adapters built once.

Every handler (``functions/*/app.py``) and the API's routes get their adapters here and nowhere
else. On Lambda, the settings are read from the environment once per sandbox, at its first
invocation (a missing variable fails there, naming it: :class:`~rostersync.pipeline.config.SettingsError`),
and :func:`pipeline_deps` / :func:`api_deps` wire the AWS adapters from them
(:func:`rostersync.aws.build_deps`, :func:`rostersync.api.deps.build_api_deps`), cached for the
life of the sandbox. A runtime that is not Lambda (the local stack of ``rostersync_tools.local``,
a test) hands in its own adapters with :func:`provided`, the one injection hook: while it is
active the functions use what it returns and the Lambda wiring is never built. Hooks do not
nest (a second one while another is active is an error), so one root is in charge at any time.
Adapter imports are deferred to the call so each function loads only its own (the API function
never imports pyarrow).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rostersync.pipeline.config import PipelineConfig, get_config

if TYPE_CHECKING:
    from rostersync.api.deps import ApiDeps
    from rostersync.console.signin import SignIn
    from rostersync.pipeline.ports import Deps


class CompositionError(RuntimeError):
    """Adapters are asked for in a way the active root cannot serve."""


@dataclass(frozen=True)
class Provider:
    """Adapters handed in by a root other than Lambda's: what the functions and the API get."""

    pipeline: Callable[[], Deps] | None = None
    api: Callable[[], ApiDeps] | None = None
    console: Callable[[], SignIn] | None = None


_provider: Provider | None = None
_provider_lock = threading.Lock()


def settings() -> PipelineConfig:
    """This sandbox's settings, read from its environment on first use."""
    return get_config()


@lru_cache(maxsize=1)
def _lambda_pipeline_deps() -> Deps:
    from rostersync.aws import build_deps

    return build_deps(settings())


@lru_cache(maxsize=1)
def _lambda_api_deps() -> ApiDeps:
    from rostersync.api.deps import build_api_deps

    return build_api_deps(settings())


@lru_cache(maxsize=1)
def _lambda_console_sign_in() -> SignIn:
    from rostersync.console.signin import build_sign_in

    return build_sign_in()


def pipeline_deps() -> Deps:
    """The adapters the pipeline steps are given."""
    provider = _provider
    if provider is None:
        return _lambda_pipeline_deps()
    if provider.pipeline is None:
        raise CompositionError("the active composition root provides no pipeline adapters")
    return provider.pipeline()


def api_deps() -> ApiDeps:
    """The adapters the release API's services are given."""
    provider = _provider
    if provider is None:
        return _lambda_api_deps()
    if provider.api is None:
        raise CompositionError("the active composition root provides no API adapters")
    return provider.api()


def console_sign_in() -> SignIn:
    """How the admin console signs people in and verifies their session (Cognito on Lambda)."""
    provider = _provider
    if provider is None:
        return _lambda_console_sign_in()
    if provider.console is None:
        raise CompositionError("the active composition root provides no console sign-in")
    return provider.console()


@contextmanager
def provided(provider: Provider) -> Iterator[Provider]:
    """Serve the functions and the API with ``provider``'s adapters meanwhile."""
    global _provider
    with _provider_lock:
        if _provider is not None:
            raise CompositionError("another composition root already provides the adapters")
        _provider = provider
    try:
        yield provider
    finally:
        with _provider_lock:
            _provider = None


def reset() -> None:
    """Forget the cached settings, adapters and boto3 clients (a test that changes the
    environment, a local stack starting on a new moto)."""
    from rostersync.aws import clients

    _lambda_pipeline_deps.cache_clear()
    _lambda_api_deps.cache_clear()
    _lambda_console_sign_in.cache_clear()
    get_config.cache_clear()
    clients.clear_clients()
