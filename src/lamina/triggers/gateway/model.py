"""HTTP trigger definitions: function URL configurations and HTTP APIs, as immutable values.

Each serializes to a JSON document (``to_doc``/``from_doc``) that :mod:`lamina.store.gateway` keeps;
a change makes a new value (``dataclasses.replace``), so a request in flight keeps the snapshot it
started with.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lamina.triggers.gateway.cors import Cors

BUFFERED = "BUFFERED"
DEFAULT_STAGE = "$default"

# arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>], alone or inside API Gateway's
# arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations form.
_FUNCTION_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?")
_INVOCATION_URI = re.compile(r"arn:aws[a-zA-Z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/"
                             r"(?P<arn>.+)/invocations")


class FunctionRef(NamedTuple):
    """The function an integration or URL invokes."""

    region: str
    account_id: str
    name: str
    qualifier: str | None

    @property
    def arn(self) -> str:
        """The function's ARN, qualified when the reference names an alias or version."""
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"
        return f"{arn}:{self.qualifier}" if self.qualifier else arn


def function_ref(uri: str) -> FunctionRef | None:
    """The function a Lambda ARN or an API Gateway Lambda invocation URI names, or None."""
    wrapped = _INVOCATION_URI.fullmatch(uri)
    match = _FUNCTION_ARN.fullmatch(wrapped["arn"] if wrapped else uri)
    if match is None:
        return None
    qualifier = match["qualifier"]
    return FunctionRef(match["region"], match["account"], match["name"],
                       None if qualifier in (None, "$LATEST") else qualifier)


def url_id(account_id: str, region: str, function_name: str, qualifier: str | None) -> str:
    """A function URL's id: 32 lowercase letters and digits, the same for the same function and
    qualifier (so a deleted and recreated URL keeps its address)."""
    digest = hashlib.sha256(f"{account_id}:{region}:{function_name}:{qualifier or ''}".encode()).digest()
    return base64.b32encode(digest).decode().lower()[:32]


@dataclass(frozen=True, slots=True)
class FunctionUrl:
    url_id: str
    region: str
    account_id: str
    function_name: str
    qualifier: str | None
    auth_type: str
    cors: Cors | None
    invoke_mode: str
    created: str
    modified: str

    @property
    def function_arn(self) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"
        return f"{arn}:{self.qualifier}" if self.qualifier else arn

    def to_doc(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["cors"] = self.cors.to_wire() if self.cors else None
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> FunctionUrl:
        values = dict(doc)
        values["cors"] = Cors.from_wire(doc["cors"]) if doc.get("cors") else None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Integration:
    id: str
    uri: str
    payload_format_version: str = "1.0"
    timeout_ms: int = 30_000
    description: str | None = None
    managed: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    key: str
    target: str | None = None
    operation_name: str | None = None
    managed: bool = False

    @property
    def integration_id(self) -> str | None:
        """The integration ``Target`` names (``integrations/<id>``), or None."""
        if self.target and self.target.startswith("integrations/"):
            return self.target[len("integrations/"):]
        return None


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    created: float
    updated: float
    auto_deploy: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    deployment_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    managed: bool = False


@dataclass(frozen=True, slots=True)
class HttpApi:
    id: str
    region: str
    account_id: str
    name: str
    created: float
    description: str | None = None
    version: str | None = None
    cors: Cors | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    disable_execute_api_endpoint: bool = False
    #: Set by quick create: the managed route and integration UpdateApi's Target/RouteKey change.
    quick_create: bool = False
    routes: Mapping[str, Route] = field(default_factory=dict)
    integrations: Mapping[str, Integration] = field(default_factory=dict)
    stages: Mapping[str, Stage] = field(default_factory=dict)

    def replace(self, **changes: Any) -> HttpApi:
        return dataclasses.replace(self, **changes)

    def to_doc(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc["cors"] = self.cors.to_wire() if self.cors else None
        doc["tags"] = dict(self.tags)
        doc["routes"] = [dataclasses.asdict(r) for r in self.routes.values()]
        doc["integrations"] = [dataclasses.asdict(i) for i in self.integrations.values()]
        doc["stages"] = [dataclasses.asdict(s) | {"variables": dict(s.variables), "tags": dict(s.tags)}
                         for s in self.stages.values()]
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> HttpApi:
        values = dict(doc)
        values["cors"] = Cors.from_wire(doc["cors"]) if doc.get("cors") else None
        values["routes"] = {r["id"]: Route(**r) for r in doc.get("routes", ())}
        values["integrations"] = {i["id"]: Integration(**i) for i in doc.get("integrations", ())}
        values["stages"] = {s["name"]: Stage(**s) for s in doc.get("stages", ())}
        return cls(**values)
