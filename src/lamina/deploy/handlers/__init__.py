"""One handler per CloudFormation resource type the engine deploys (:mod:`.base` states the contract)."""

from __future__ import annotations

from lamina.deploy.handlers.apis import (
    HttpApiHandler,
    IntegrationHandler,
    RestApiHandler,
    RestStageHandler,
    RouteHandler,
    StageHandler,
)
from lamina.deploy.handlers.base import Handler
from lamina.deploy.handlers.functions import AliasHandler, FunctionHandler, LayerVersionHandler, VersionHandler
from lamina.deploy.handlers.noop import (
    ManagedPolicyHandler,
    PolicyHandler,
    QueuePolicyHandler,
    RestDeploymentHandler,
    RoleHandler,
)
from lamina.deploy.handlers.queues import QueueHandler
from lamina.deploy.handlers.triggers import (
    EventInvokeConfigHandler,
    EventSourceMappingHandler,
    PermissionHandler,
    UrlHandler,
)

HANDLERS: dict[str, Handler] = {handler.type: handler for handler in (
    FunctionHandler(), VersionHandler(), AliasHandler(), LayerVersionHandler(),
    PermissionHandler(), EventSourceMappingHandler(), EventInvokeConfigHandler(), UrlHandler(),
    QueueHandler(),
    HttpApiHandler(), StageHandler(), RouteHandler(), IntegrationHandler(),
    RestApiHandler(), RestStageHandler(), RestDeploymentHandler(),
    RoleHandler(), PolicyHandler(), ManagedPolicyHandler(), QueuePolicyHandler(),
)}


def handler_for(resource_type: str) -> Handler | None:
    """The handler of ``resource_type``, or None when Lamina cannot deploy it."""
    return HANDLERS.get(resource_type)
