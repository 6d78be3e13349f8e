"""What a deployed stack offers: its template's Outputs resolved, and a summary of where things are.

SAM templates usually build API URLs by hand
(``!Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/"``); such a URL of
an API of the stack is rewritten to the API's endpoint on Lamina
(``http://<api-id>.execute-api.localhost:<port>/``), which is where it answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lamina.deploy.model import GetAtt, Ref, Stack
from lamina.deploy.state import StackState
from lamina.deploy.values import resolve

_AWS_API_URL = re.compile(r"https://(?P<id>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com")
API_TYPES = ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")
STAGE_TYPES = ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage")


def resolve_outputs(stack: Stack, state: StackState) -> dict[str, dict[str, Any]]:
    """The template's Outputs as ``{name: {"Value": ..., "Description": ...}}`` with every marker
    resolved from ``state``; a value naming something that does not exist reads ``(unresolved: …)``."""
    endpoints = {item.physical_id: item.attributes.get("ApiEndpoint", "") for item in state.resources.values()
                 if item.type in API_TYPES}

    def lookup(marker: Ref | GetAtt) -> str:
        name = "Ref" if isinstance(marker, Ref) else marker.attribute
        item = state.resources.get(marker.logical_id)
        if item is None or name not in item.attributes:
            return f"(unresolved: {marker.logical_id}.{name})"
        return item.attributes[name]

    result: dict[str, dict[str, Any]] = {}
    for name, declaration in stack.outputs.items():
        body = declaration if isinstance(declaration, Mapping) and "Value" in declaration else {"Value": declaration}
        value = _local(resolve(body["Value"], lookup, {}), endpoints)
        result[name] = {"Value": value, **({"Description": body["Description"]} if body.get("Description") else {})}
    return result


def _local(value: Any, endpoints: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _AWS_API_URL.sub(lambda m: endpoints.get(m["id"]) or m[0], value)
    if isinstance(value, list):
        return [_local(item, endpoints) for item in value]
    if isinstance(value, Mapping):
        return {key: _local(item, endpoints) for key, item in value.items()}
    return value


def summary(state: StackState) -> dict[str, list[dict[str, Any]]]:
    """Where the stack's things are: functions (name, ARN), APIs (id, URL of each stage), queues
    (name, URL) and function URLs, each with its logical id, in the record's order."""
    items = list(state.resources.values())
    stages: dict[str, list[str]] = {}
    for item in items:
        if item.type in STAGE_TYPES:
            stages.setdefault(str(item.data.get("api")), []).append(item.physical_id)
    functions = [{"logicalId": i.logical_id, "name": i.physical_id, "arn": i.attributes.get("Arn")}
                 for i in items if i.type == "AWS::Lambda::Function"]
    apis = []
    for item in items:
        if item.type in API_TYPES:
            base = item.attributes.get("ApiEndpoint", "")
            names = stages.get(item.physical_id) or (["$default"] if item.properties.get("Target") else [])
            apis.append({"logicalId": item.logical_id, "id": item.physical_id, "endpoint": base,
                         "urls": [base + "/" if name == "$default" else f"{base}/{name}/" for name in names]})
    queues = [{"logicalId": i.logical_id, "name": i.attributes.get("QueueName"), "url": i.physical_id}
              for i in items if i.type == "AWS::SQS::Queue"]
    urls = [{"logicalId": i.logical_id, "url": i.attributes.get("FunctionUrl")}
            for i in items if i.type == "AWS::Lambda::Url"]
    return {"functions": functions, "apis": apis, "queues": queues, "functionUrls": urls}
