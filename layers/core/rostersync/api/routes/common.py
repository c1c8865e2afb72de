"""What every router shares: path parameter types, the caller and the adapters of a request."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from rostersync import runtime
from rostersync.api.auth import Caller
from rostersync.api.deps import ApiDeps

CALLER_KEY = "caller"

DistrictPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
SyncPath = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")]


def caller_of(router: Router) -> Caller:
    """The caller the authorization middleware verified for this request."""
    caller = router.context.get(CALLER_KEY)
    if not isinstance(caller, Caller):  # pragma: no cover - the middleware runs on every route
        raise RuntimeError("no caller: the authorization middleware did not run")
    return caller


def deps() -> ApiDeps:
    """The adapters of this request, from the composition root (:mod:`rostersync.runtime`)."""
    return runtime.api_deps()
