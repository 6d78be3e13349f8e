"""A Serverless Framework (v3/v4) ``serverless.yml`` as a SAM template, so one pipeline deploys both.

:func:`convert` resolves the Framework's variables (``${self:…}``, ``${opt:stage}``, ``${opt:region}``,
``${env:NAME}``, ``${sls:stage}``, ``${aws:region}``, ``${aws:accountId}``, each with ``, fallback``
alternatives; ``${AWS::Region}``-style text is left for ``Fn::Sub``), then maps ``provider``,
``functions`` (with ``httpApi``, ``http`` and ``sqs`` events), ``layers`` and ``resources`` onto SAM
resources named as the Framework names them (``hello`` → ``HelloLambdaFunction``, function name
``<service>-<stage>-hello``, the REST API ``ApiGatewayRestApi``, the HTTP API ``HttpApi``), with the
Framework's defaults (1024 MB, 6 s). Every node of the result keeps the line it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.deploy.cfnyaml import Document, Lines, NodePath
from lamina.deploy.intrinsics import text
from lamina.deploy.sam import SAM_TRANSFORM
from lamina.deploy.slsvars import Variables

#: The Framework's defaults where SAM's differ.
DEFAULT_RUNTIME = "nodejs20.x"
DEFAULT_MEMORY = 1024
DEFAULT_TIMEOUT = 6
#: Headers the Framework allows when ``httpApi.cors`` is ``true``.
CORS_HEADERS = ["Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key", "X-Amz-Security-Token",
                "X-Amz-User-Agent", "X-Amzn-Trace-Id"]
_CORS_KEYS = {"allowedOrigins": "AllowOrigins", "allowedHeaders": "AllowHeaders", "allowedMethods": "AllowMethods",
              "allowCredentials": "AllowCredentials", "exposedResponseHeaders": "ExposeHeaders", "maxAge": "MaxAge"}


@dataclass(frozen=True)
class Converted:
    """The SAM template a ``serverless.yml`` maps to, its lines, and the stack it names."""

    template: dict[str, Any]
    lines: Lines
    stack_name: str
    region: str


def is_serverless(data: Mapping[str, Any]) -> bool:
    """Whether a parsed file is a ``serverless.yml`` rather than a CloudFormation template."""
    return "service" in data and "provider" in data and "Resources" not in data


def convert(document: Document, *, region: str, account_id: str, options: Mapping[str, str],
            environ: Mapping[str, str]) -> Converted:
    """Map ``document`` onto a SAM template; ``options`` are the CLI options (``stage``, ``region``, …).

    The stack's region is ``options["region"]``, else ``provider.region``, else ``region``.
    """
    variables = Variables(document, options=options, environ=environ, region=region, account_id=account_id)
    data = variables.resolve(document.data, ())
    return _Mapper(data, document, stage=variables.stage, region=variables.region).convert()


def logical_name(name: str) -> str:
    """The Framework's normalizeNameToAlphaNumericOnly: ``my-fn`` → ``MyDashfn``."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", name.replace("-", "Dash").replace("_", "Underscore"))
    return cleaned[:1].upper() + cleaned[1:]


class _Mapper:
    """The resolved ``serverless.yml`` to SAM, recording the line each generated node comes from."""

    def __init__(self, data: dict[str, Any], document: Document, *, stage: str, region: str) -> None:
        self._data = data
        self._source_lines = document.lines
        self._where = document.locator
        self._lines: dict[NodePath, int] = {}
        self._stage = stage
        self._region = region
        self._resources: dict[str, Any] = {}
        self._outputs: dict[str, Any] = {}
        self._sections: dict[str, dict[str, Any]] = {}
        service = data.get("service")
        self._service = service.get("name") if isinstance(service, dict) else service
        if not isinstance(self._service, str) or not self._service:
            raise self._where.error("service must be a name", ("service",))
        provider = data.get("provider")
        self._provider: dict[str, Any] = provider if isinstance(provider, dict) else {}
        if self._provider.get("name", "aws") != "aws":
            raise self._where.error(f'provider {self._provider.get("name")} is not supported: Lamina speaks AWS',
                                    ("provider", "name"))

    def convert(self) -> Converted:
        self._layers()
        functions = self._data.get("functions") or {}
        if not isinstance(functions, dict):
            raise self._where.error("functions must be a mapping", ("functions",))
        for name, spec in functions.items():
            self._function(str(name), spec or {})
        self._merge_resources()
        template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Transform": SAM_TRANSFORM,
                                    **self._sections, "Resources": self._resources}
        if self._outputs:
            template["Outputs"] = self._outputs
        return Converted(template, Lines(self._lines), f"{self._service}-{self._stage}", self._region)

    def _place(self, logical_id: str, resource: dict[str, Any], source: NodePath) -> None:
        if logical_id in self._resources:
            raise self._where.error(f'two resources are named "{logical_id}"', source)
        self._resources[logical_id] = resource
        self._lines[("Resources", logical_id)] = self._source_lines.at(source) or 1

    def _layers(self) -> None:
        layers = self._data.get("layers") or {}
        for name, spec in layers.items() if isinstance(layers, dict) else ():
            path = ("layers", name)
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
                raise self._where.error(f"layer {name} needs a path", path)
            properties: dict[str, Any] = {"ContentUri": spec["path"], "LayerName": spec.get("name", name),
                                          "RetentionPolicy": "Retain" if spec.get("retain") else "Delete"}
            for key, target in (("description", "Description"), ("compatibleRuntimes", "CompatibleRuntimes"),
                                ("compatibleArchitectures", "CompatibleArchitectures")):
                if key in spec:
                    properties[target] = spec[key]
            self._place(f"{logical_name(name)}LambdaLayer",
                        {"Type": "AWS::Serverless::LayerVersion", "Properties": properties}, path)
            self._lines[("Resources", f"{logical_name(name)}LambdaLayer", "Properties", "ContentUri")] = \
                self._source_lines.at((*path, "path")) or 1

    def _function(self, name: str, spec: Any) -> None:
        path = ("functions", name)
        if not isinstance(spec, dict) or not isinstance(spec.get("handler"), str):
            if isinstance(spec, dict) and "image" in spec:
                raise self._where.error(f"function {name} is a container image: Lamina runs zip functions only", path)
            raise self._where.error(f"function {name} needs a handler (path/file.function)", path)
        provider = self._provider
        package = spec.get("package") or self._data.get("package") or {}
        properties: dict[str, Any] = {
            "FunctionName": spec.get("name") or f"{self._service}-{self._stage}-{name}",
            "Handler": spec["handler"],
            "Runtime": spec.get("runtime") or provider.get("runtime") or DEFAULT_RUNTIME,
            "CodeUri": package.get("artifact") if isinstance(package, dict) and package.get("artifact") else ".",
            "MemorySize": spec.get("memorySize") or provider.get("memorySize") or DEFAULT_MEMORY,
            "Timeout": spec.get("timeout") or provider.get("timeout") or DEFAULT_TIMEOUT,
        }
        environment = {**(provider.get("environment") or {}), **(spec.get("environment") or {})}
        if environment:
            properties["Environment"] = {"Variables": {key: value if isinstance(value, dict) else text(value)
                                                       for key, value in environment.items()}}
        architecture = spec.get("architecture") or provider.get("architecture")
        if architecture:
            properties["Architectures"] = [architecture]
        layers = spec.get("layers") or provider.get("layers")
        if layers:
            properties["Layers"] = layers
        if spec.get("description"):
            properties["Description"] = spec["description"]
        if spec.get("reservedConcurrency") is not None:
            properties["ReservedConcurrentExecutions"] = spec["reservedConcurrency"]
        if spec.get("provisionedConcurrency"):
            # The Framework publishes a version and points a "provisioned" alias at it.
            properties["AutoPublishAlias"] = "provisioned"
            properties["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions":
                                                          spec["provisionedConcurrency"]}
        tracing = spec.get("tracing", (provider.get("tracing") or {}).get("lambda"))
        if tracing in (True, "Active", "true"):
            properties["Tracing"] = "Active"
        logical_id = f"{logical_name(name)}LambdaFunction"
        events = self._events(name, logical_id, spec.get("events") or [])
        if events:
            properties["Events"] = events
        self._place(logical_id, {"Type": "AWS::Serverless::Function", "Properties": properties}, path)
        for key in ("handler", "runtime", "memorySize", "timeout", "environment"):
            if key in spec:
                self._lines[("Resources", logical_id, "Properties", key[:1].upper() + key[1:])] = \
                    self._source_lines.at((*path, key)) or 1

    def _events(self, function: str, logical_id: str, events: Any) -> dict[str, Any]:
        if not isinstance(events, list):
            raise self._where.error(f"events of function {function} must be a list", ("functions", function, "events"))
        result: dict[str, Any] = {}
        for index, event in enumerate(events):
            path = ("functions", function, "events", index)
            if not isinstance(event, dict) or len(event) != 1:
                raise self._where.error("each event is a mapping with one key (httpApi, http, sqs, …)", path)
            ((kind, spec),) = event.items()
            if kind == "httpApi":
                name, sam_event = f"HttpApi{index}", self._http_api_event(spec, (*path, kind))
            elif kind == "http":
                name, sam_event = f"Http{index}", self._http_event(spec, (*path, kind))
            elif kind == "sqs":
                name, sam_event = f"Sqs{index}", self._sqs_event(spec, (*path, kind))
            else:
                raise self._where.error(f'Event "events[{index}]" of type {kind} (function {function}) is not '
                                        "supported by Lamina yet", path)
            result[name] = sam_event
            self._lines[("Resources", logical_id, "Properties", "Events", name)] = self._source_lines.at(path) or 1
        return result

    def _route(self, spec: Any, path: NodePath) -> tuple[str, str]:
        if isinstance(spec, str):
            if spec.strip() == "*":
                return "*", "*"
            method, _, route = spec.strip().partition(" ")
        elif isinstance(spec, dict) and "path" in spec:
            method, route = str(spec.get("method", "*")), str(spec["path"])
        else:
            raise self._where.error("an HTTP event is 'METHOD /path' or {method, path}", path)
        method = "ANY" if method.strip() in ("*", "any", "ANY") else method.strip().upper()
        return method, route.strip() if route.strip() == "*" else "/" + route.strip().lstrip("/")

    def _http_api_event(self, spec: Any, path: NodePath) -> dict[str, Any]:
        method, route = self._route(spec, path)
        properties: dict[str, Any] = {"ApiId": {"Ref": "HttpApi"}}
        if (method, route) != ("ANY", "*") and route != "*":
            properties.update(Method=method, Path=route)
        payload = (self._provider.get("httpApi") or {}).get("payload")
        if payload:
            properties["PayloadFormatVersion"] = text(payload)
        if "HttpApi" not in self._resources:
            self._place("HttpApi", {"Type": "AWS::Serverless::HttpApi",
                                    "Properties": self._http_api_properties()}, path)
            self._outputs["HttpApiUrl"] = {
                "Value": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}}
        return {"Type": "HttpApi", "Properties": properties}

    def _http_api_properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = {"Name": f"{self._stage}-{self._service}"}
        cors = (self._provider.get("httpApi") or {}).get("cors")
        if cors is True:
            properties["CorsConfiguration"] = {"AllowOrigins": ["*"], "AllowHeaders": CORS_HEADERS,
                                               "AllowMethods": ["*"]}
        elif isinstance(cors, dict):
            properties["CorsConfiguration"] = {_CORS_KEYS[key]: value for key, value in cors.items()
                                               if key in _CORS_KEYS}
        return properties

    def _http_event(self, spec: Any, path: NodePath) -> dict[str, Any]:
        method, route = self._route(spec, path)
        if route == "*":
            raise self._where.error("an http event needs a path", path)
        if "ApiGatewayRestApi" not in self._resources:
            self._place("ApiGatewayRestApi", {"Type": "AWS::Serverless::Api", "Properties": {
                "Name": f"{self._stage}-{self._service}", "StageName": self._stage}}, path)
            self._outputs["ServiceEndpoint"] = {"Value": {
                "Fn::Sub": f"https://${{ApiGatewayRestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{self._stage}"}}
        return {"Type": "Api", "Properties": {"RestApiId": {"Ref": "ApiGatewayRestApi"}, "Method": method,
                                              "Path": route}}

    def _sqs_event(self, spec: Any, path: NodePath) -> dict[str, Any]:
        settings = spec if isinstance(spec, dict) and "arn" in spec else {"arn": spec}
        properties: dict[str, Any] = {"Queue": settings["arn"]}
        if not isinstance(settings["arn"], str | dict):
            raise self._where.error("an sqs event needs the queue's arn", path)
        for key, target in (("batchSize", "BatchSize"), ("maximumBatchingWindow", "MaximumBatchingWindowInSeconds"),
                            ("enabled", "Enabled")):
            if key in settings:
                properties[target] = settings[key]
        if "functionResponseType" in settings:
            properties["FunctionResponseTypes"] = [settings["functionResponseType"]]
        if "maximumConcurrency" in settings:
            properties["ScalingConfig"] = {"MaximumConcurrency": settings["maximumConcurrency"]}
        if settings.get("filterPatterns"):
            properties["FilterCriteria"] = {"Filters": [{"Pattern": json.dumps(pattern)}
                                                        for pattern in settings["filterPatterns"]]}
        return {"Type": "SQS", "Properties": properties}

    def _merge_resources(self) -> None:
        declared = self._data.get("resources") or {}
        blocks = declared if isinstance(declared, list) else [declared]
        for index, block in enumerate(blocks):
            base: NodePath = ("resources", index) if isinstance(declared, list) else ("resources",)
            if not isinstance(block, dict):
                raise self._where.error("resources must be a mapping (Resources, Outputs, …)", base)
            if "extensions" in block:
                raise self._where.error("resources.extensions is not supported by Lamina", (*base, "extensions"))
            for section in ("Conditions", "Mappings", "Outputs", "Resources"):
                for key, value in (block.get(section) or {}).items():
                    target = self._resources if section == "Resources" else \
                        self._outputs if section == "Outputs" else self._sections.setdefault(section, {})
                    if key in target:
                        raise self._where.error(f'{section} "{key}" is defined twice', (*base, section, key))
                    target[key] = value
            for source_path, line in self._source_lines.by_path.items():
                if source_path[:len(base)] == base and len(source_path) > len(base):
                    self._lines.setdefault(source_path[len(base):], line)
