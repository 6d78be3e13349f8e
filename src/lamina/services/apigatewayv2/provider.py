"""The apigatewayv2 service (HTTP APIs): one method per operation, named after botocore's model.

Each surface is a mixin (APIs, routes and integrations, stages); definitions live in
:class:`lamina.triggers.gateway.registry.HttpApiRegistry`, which the HTTP gateway serves from.
"""

from __future__ import annotations

from lamina.services.apigatewayv2.apis import ApisApi
from lamina.services.apigatewayv2.routes import RoutesApi
from lamina.services.apigatewayv2.stages import StagesApi


class ApiGatewayV2Provider(ApisApi, RoutesApi, StagesApi):
    service_name = "apigatewayv2"
