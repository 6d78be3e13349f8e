"""The Lambda service: one method per operation, wire shapes in, domain calls, wire shapes out.

Operations are named after botocore's lambda model in snake_case; the dispatcher calls them with the
parsed, validated request members and serializes what they return. Each surface lives in its own
mixin module (functions, invoke, concurrency, ...); this class puts them together.
"""

from __future__ import annotations

from lamina.services.lambda_.concurrency import ConcurrencyApi
from lamina.services.lambda_.event_invoke_config import EventInvokeConfigApi
from lamina.services.lambda_.event_source_mappings import EventSourceMappingsApi
from lamina.services.lambda_.function_urls import FunctionUrlsApi
from lamina.services.lambda_.functions import FunctionsApi
from lamina.services.lambda_.invoke import InvokeApi
from lamina.services.lambda_.layers import LayersApi
from lamina.services.lambda_.permissions import PermissionsApi
from lamina.services.lambda_.provisioned import ProvisionedApi
from lamina.services.lambda_.versions import VersionsApi


class LambdaProvider(FunctionsApi, InvokeApi, ConcurrencyApi, VersionsApi, LayersApi,
                     PermissionsApi, ProvisionedApi, FunctionUrlsApi, EventInvokeConfigApi, EventSourceMappingsApi):
    service_name = "lambda"
