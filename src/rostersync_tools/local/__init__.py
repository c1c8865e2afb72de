"""Run the real stack locally: ``template.yaml`` in moto, the real state machine definition on
moto's Step Functions interpreter, and the Lambda invocations routed to the real handlers.

Used by the integration tests and the local demo; it needs moto (a development dependency) and is
never imported by the deployed functions.
"""

from rostersync_tools.local.routing import HandlerRoute, LambdaContext, RoutingError
from rostersync_tools.local.stack import (
    Delivery,
    EventRoute,
    InvocationError,
    LocalAws,
    LocalClock,
    LocalFunction,
    LocalStackError,
    SentEmail,
    substitute_definition,
    wait_for,
)
from rostersync_tools.local.template import (
    PhysicalResource,
    Resolver,
    TemplateError,
    UnresolvableError,
    load_template,
    parameter_values,
)

__all__ = [
    "Delivery",
    "EventRoute",
    "HandlerRoute",
    "InvocationError",
    "LambdaContext",
    "LocalAws",
    "LocalClock",
    "LocalFunction",
    "LocalStackError",
    "PhysicalResource",
    "Resolver",
    "RoutingError",
    "SentEmail",
    "TemplateError",
    "UnresolvableError",
    "load_template",
    "parameter_values",
    "substitute_definition",
    "wait_for",
]
