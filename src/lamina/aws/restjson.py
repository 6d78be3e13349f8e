"""The ``rest-json`` protocol (Lambda, Scheduler, Lex V2 ...): routes from ``http.requestUri``,
members in the uri, query string, headers and a JSON (or raw payload) body.

Everything is read from the botocore model. Per operation an input and an output plan (which member
lives where) is built on first use and kept; the route table is built up front.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from lamina.aws import values
from lamina.aws.http import HttpRequest, HttpResponse, parse_query
from lamina.aws.model import service_model
from lamina.aws.protocol import OperationCall
from lamina.aws.routes import RouteTable, compile_route
from lamina.aws.validate import Overrides, Validator, check_overrides
from lamina.errors import AwsError, SerializationException

if TYPE_CHECKING:
    from botocore.model import Shape

_JSON = "application/json"
# Statuses whose responses carry no body (RFC 9110), whatever the output shape says.
_NO_BODY = frozenset({204, 304})


@dataclass(slots=True)
class _Input:
    uri: list[tuple[str, str, Shape]] = field(default_factory=list)  # (label, member, shape)
    query: list[tuple[str, str, Shape]] = field(default_factory=list)  # (key, member, shape)
    query_map: tuple[str, Shape] | None = None
    literal_query: tuple[str, ...] = ()
    headers: list[tuple[str, str, Shape]] = field(default_factory=list)  # (lower name, member, shape)
    header_maps: list[tuple[str, str]] = field(default_factory=list)  # (lower prefix, member)
    payload: tuple[str, Shape] | None = None
    body: Shape | None = None  # the input shape, when some member lives in the JSON body
    validator: Validator = field(default_factory=lambda: Validator(None))


@dataclass(slots=True)
class _Output:
    status: int
    status_member: str | None = None
    headers: list[tuple[str, str, Shape]] = field(default_factory=list)  # (name, member, shape)
    header_maps: list[tuple[str, str]] = field(default_factory=list)  # (prefix, member)
    payload: tuple[str, Shape] | None = None
    body: Shape | None = None


class RestJsonProtocol:
    """rest-json for one service (see :class:`lamina.aws.protocol.WireProtocol` for the contract).

    ``overrides`` tighten model constraints (see :mod:`lamina.aws.validate`). ``parse_error`` is the
    error a malformed or mistyped body answers with, and ``parse_error_prefix`` starts its message:
    Lambda says ``InvalidRequestContentException: Could not parse request body into json: ...``;
    the default is ``SerializationException`` with the same prefix.
    """

    request_id_header: ClassVar[str] = "x-amzn-RequestId"

    def __init__(self, service: str, *, overrides: Overrides | None = None,
                 parse_error: type[AwsError] = SerializationException,
                 parse_error_prefix: str = "Could not parse request body into json: ") -> None:
        self.service = service
        self.model = service_model(service)
        self._overrides = dict(overrides or {})
        check_overrides(self.model, self._overrides)
        self._parse_error = parse_error
        self._parse_prefix = parse_error_prefix
        self._routes = RouteTable.from_model(self.model)
        self._inputs: dict[str, _Input] = {}
        self._outputs: dict[str, _Output] = {}
        # Error shapes spell their message member "message" or "Message"; botocore reads either but
        # AWS's SDKs in other languages read only the modelled one.
        self._error_shapes = {shape.name: shape for shape in self.model.error_shapes}

    @property
    def target_prefix(self) -> str | None:
        return None

    @property
    def signing_name(self) -> str:
        meta = self.model.metadata
        return str(meta.get("signingName") or meta.get("endpointPrefix") or self.service)

    # --- requests ---------------------------------------------------------------------------------

    def match(self, request: HttpRequest) -> OperationCall | None:
        found = self._routes.match(request.method, request.path, request.query)
        return None if found is None else OperationCall(found[0], found[1])

    def parse(self, operation: str, request: HttpRequest, labels: Mapping[str, str]) -> dict[str, Any]:
        plan = self._inputs.get(operation) or self._input_plan(operation)
        params: dict[str, Any] = {}
        try:
            if plan.payload is not None:
                self._parse_payload(plan.payload, request.body, params)
            elif plan.body is not None and request.body.strip():
                params.update(values.from_json(plan.body, self._decode(request.body)) or {})
        except RecursionError:
            raise self._parse_error(f"{self._parse_prefix}Nesting too deep") from None
        except values.ShapeError as exc:
            raise self._parse_error(f"{self._parse_prefix}{exc}") from None
        try:
            for label, member, shape in plan.uri:
                if label in labels:
                    params[member] = values.from_text(shape, labels[label], member, values.ISO8601)
            if request.query and (plan.query or plan.query_map):
                self._parse_query(plan, request.query, params)
            headers = request.headers
            for name, member, shape in plan.headers:
                text = headers.get(name)
                if text is not None:
                    params[member] = values.from_text(shape, text, member, values.RFC822)
            for prefix, member in plan.header_maps:
                found = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
                if found:
                    params[member] = found
        except values.ShapeError as exc:
            raise self._parse_error(str(exc)) from None
        plan.validator.validate(params)
        return params

    def _parse_payload(self, payload: tuple[str, Shape], body: bytes, params: dict[str, Any]) -> None:
        member, shape = payload
        if not body:
            return
        if shape.type_name == "blob":
            params[member] = body
        elif shape.type_name == "string":
            try:
                params[member] = body.decode()
            except UnicodeDecodeError:
                raise values.ShapeError("Invalid UTF-8 in request body") from None
        else:
            value = values.from_json(shape, self._decode(body), member)
            if value is not None:
                params[member] = value

    def _decode(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except UnicodeDecodeError:
            raise values.ShapeError("Invalid UTF-8 in request body") from None
        except json.JSONDecodeError as exc:
            doc, pos = exc.doc, exc.pos
            if pos >= len(doc.rstrip()):
                raise values.ShapeError(f"Unexpected end-of-input: {exc.msg} at position {pos}") from None
            char = doc[pos]
            raise values.ShapeError(f"Unexpected character ({char!r} (code {ord(char)})): {exc.msg} "
                                    f"at position {pos}") from None

    def _parse_query(self, plan: _Input, query: str, params: dict[str, Any]) -> None:
        pairs = parse_query(query)
        for key, member, shape in plan.query:
            found = pairs.pop(key, None)
            if found is None:
                continue
            if shape.type_name == "list":
                params[member] = [values.from_text(shape.member, v, member, values.ISO8601) for v in found]
            else:
                params[member] = values.from_text(shape, found[0], member, values.ISO8601)
        for key in plan.literal_query:
            pairs.pop(key, None)
        if plan.query_map is not None and pairs:
            # A querystring map takes every parameter no other member claimed (Smithy httpQueryParams)
            # nor the requestUri itself (``?mode=import``).
            member, shape = plan.query_map
            if shape.value.type_name == "list":
                params[member] = pairs
            else:
                params[member] = {k: v[0] for k, v in pairs.items()}

    def _input_plan(self, operation: str) -> _Input:
        op = self.model.operation_model(operation)
        shape = op.input_shape
        plan = _Input(validator=Validator(shape, self._overrides),
                      literal_query=tuple(key for key, _ in compile_route(operation, op.http).query))
        if shape is not None:
            payload = shape.serialization.get("payload")
            for name, member in shape.members.items():
                location = member.serialization.get("location")
                wire = member.serialization.get("name", name)
                if location == "uri":
                    plan.uri.append((wire, name, member))
                elif location == "querystring":
                    if member.type_name == "map":
                        plan.query_map = (name, member)
                    else:
                        plan.query.append((wire, name, member))
                elif location == "header":
                    plan.headers.append((wire.lower(), name, member))
                elif location == "headers":
                    plan.header_maps.append((wire.lower(), name))
                elif name == payload:
                    plan.payload = (name, member)
                elif location is None:
                    plan.body = shape
        self._inputs[operation] = plan
        return plan

    # --- responses --------------------------------------------------------------------------------

    def serialize(self, operation: str, output: Mapping[str, Any]) -> HttpResponse:
        plan = self._outputs.get(operation) or self._output_plan(operation)
        status = plan.status
        if plan.status_member is not None and output.get(plan.status_member) is not None:
            status = int(output[plan.status_member])
        headers: list[tuple[str, str]] = []
        for name, member, shape in plan.headers:
            value = output.get(member)
            if value is not None and not (shape.type_name == "list" and not value):
                headers.append((name, _header_safe(values.to_text(shape, value, values.RFC822))))
        for prefix, member in plan.header_maps:
            for key, value in (output.get(member) or {}).items():
                headers.append((prefix + key, _header_safe(str(value))))
        body = b""
        if status in _NO_BODY:
            pass
        elif plan.payload is not None:
            member, shape = plan.payload
            value = output.get(member)
            if value is not None:
                if shape.type_name in ("blob", "string"):
                    body = value.encode() if isinstance(value, str) else bytes(value)
                else:
                    body = _dumps(values.to_json(shape, value))
        elif plan.body is not None:
            body = _dumps(values.to_json(plan.body, output))
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", _JSON))
        return HttpResponse(status, headers, body)

    def _output_plan(self, operation: str) -> _Output:
        op = self.model.operation_model(operation)
        plan = _Output(status=int(op.http.get("responseCode", 200)))
        shape = op.output_shape
        if shape is not None:
            payload = shape.serialization.get("payload")
            for name, member in shape.members.items():
                location = member.serialization.get("location")
                wire = member.serialization.get("name", name)
                if location == "statusCode":
                    plan.status_member = name
                elif location == "header":
                    plan.headers.append((wire, name, member))
                elif location == "headers":
                    plan.header_maps.append((wire, name))
                elif name == payload:
                    plan.payload = (name, member)
                elif location is None:
                    plan.body = shape
        self._outputs[operation] = plan
        return plan

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        shape = self._error_shapes.get(error.code)
        members = shape.members if shape is not None else {}
        message_key = "Message" if "Message" in members and "message" not in members else "message"
        kind = "User" if error.sender_fault else "Service"
        body: dict[str, Any] = {"Type": kind, message_key: error.message}
        headers = [(self.request_id_header, request_id), ("x-amzn-ErrorType", error.code),
                   ("Content-Type", _JSON)]
        for key, value in error.fields.items():
            member = members.get(key)
            if member is not None and member.serialization.get("location") == "header":
                # e.g. TooManyRequestsException.retryAfterSeconds travels as Retry-After.
                headers.append((member.serialization.get("name", key),
                                _header_safe(values.to_text(member, value, values.RFC822))))
            elif member is not None:
                body[member.serialization.get("name", key)] = values.to_json(member, value)
            else:
                body[key] = value
        headers.extend((name, _header_safe(value)) for name, value in error.headers.items())
        return HttpResponse(error.status, headers, _dumps(body))


def _header_safe(text: str) -> str:
    # A CR or LF in a value (say, an error type a function chose) must not split the header block.
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=values.json_default).encode()
