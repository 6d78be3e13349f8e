"""The ``json`` protocol, versions 1.0 and 1.1 (SQS, Kinesis, CloudWatch Logs, EventBridge, DynamoDB):
``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``, the input shape as a JSON body, the
output shape as a JSON body, errors as ``{"__type": ..., "message": ...}``.

Everything is read from the botocore model: the target prefix, the JSON version (which names the
``Content-Type``, ``application/x-amz-json-1.0`` or ``-1.1``), the shapes, the error shapes.

Services that moved from the ``query`` protocol keep their old error codes on the wire: the model's
``awsQueryCompatible`` trait makes SDKs read the ``x-amzn-query-error: <QueryCode>;Sender`` header, and
boto3 exposes that code as ``Error.Code`` (``AWS.SimpleQueueService.NonExistentQueue``) while it picks
the exception class by the ``__type`` (``QueueDoesNotExist``). The query code of an error comes from
the error shape's ``error.code`` in the model, else from ``query_codes`` (SQS's model no longer lists
them), else it is the code itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from lamina.aws import values
from lamina.aws.http import HttpRequest, HttpResponse
from lamina.aws.model import service_model
from lamina.aws.protocol import OperationCall
from lamina.aws.validate import Overrides, Validator, check_overrides
from lamina.errors import AwsError, SerializationException

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape


class JsonProtocol:
    """``json`` for one service (see :class:`lamina.aws.protocol.WireProtocol` for the contract).

    ``overrides`` tighten model constraints (see :mod:`lamina.aws.validate`). ``validate=False`` skips
    the model's constraint checks (type checks still apply) for services whose front end answers
    bad values with its own errors rather than Coral's ``ValidationException`` — SQS says
    ``InvalidAttributeName: Unknown Attribute Foo.`` where the model has an enum; such a provider
    checks its parameters itself. ``error_namespace`` prefixes ``__type`` the way the service does
    (SQS sends ``com.amazonaws.sqs#QueueDoesNotExist``; SDKs strip everything up to ``#``).
    ``query_codes`` maps error codes to legacy query codes (see the module docstring).
    """

    request_id_header: ClassVar[str] = "x-amzn-RequestId"

    def __init__(self, service: str, *, overrides: Overrides | None = None, validate: bool = True,
                 parse_error: type[AwsError] = SerializationException,
                 error_namespace: str | None = None,
                 query_codes: Mapping[str, str] | None = None) -> None:
        self.service = service
        self.model = service_model(service)
        meta = self.model.metadata
        self._prefix = str(meta["targetPrefix"])
        self.content_type = f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}"
        self._overrides = dict(overrides or {})
        check_overrides(self.model, self._overrides)
        self._validate = validate
        self._parse_error = parse_error
        self._namespace = error_namespace
        self._operations = frozenset(self.model.operation_names)
        self._inputs: dict[str, tuple[Shape | None, Validator]] = {}
        self._error_shapes = {shape.name: shape for shape in self.model.error_shapes}
        self._query_compatible = "awsQueryCompatible" in meta
        self._query_codes = dict(query_codes or {})
        for shape in self.model.error_shapes:
            code = shape.metadata.get("error", {}).get("code")
            if code:
                self._query_codes.setdefault(shape.name, str(code))

    @property
    def target_prefix(self) -> str | None:
        return self._prefix

    @property
    def signing_name(self) -> str:
        meta = self.model.metadata
        return str(meta.get("signingName") or meta.get("endpointPrefix") or self.service)

    # --- requests ---------------------------------------------------------------------------------

    def match(self, request: HttpRequest) -> OperationCall | None:
        if request.method != "POST":
            return None
        target = request.headers.get("x-amz-target")
        if target is None:
            return None
        prefix, _, operation = target.partition(".")
        if prefix != self._prefix or operation not in self._operations:
            return None
        return OperationCall(operation)

    def parse(self, operation: str, request: HttpRequest, labels: Mapping[str, str]) -> dict[str, Any]:
        shape, validator = self._inputs.get(operation) or self._input_plan(operation)
        params: dict[str, Any] = {}
        body = request.body
        if shape is not None and body.strip():
            try:
                document = _decode(body)
                if not isinstance(document, dict):
                    raise values.ShapeError(f"Cannot deserialize value of type {shape.name} from "
                                            f"{'Array' if isinstance(document, list) else 'a JSON scalar'}")
                params = values.from_json(shape, document) or {}
            except RecursionError:
                raise self._parse_error("Nesting too deep") from None
            except values.ShapeError as exc:
                raise self._parse_error(str(exc)) from None
        if self._validate:
            validator.validate(params)
        return params

    def _input_plan(self, operation: str) -> tuple[Shape | None, Validator]:
        op: OperationModel = self.model.operation_model(operation)
        plan = (op.input_shape, Validator(op.input_shape, self._overrides))
        self._inputs[operation] = plan
        return plan

    # --- responses --------------------------------------------------------------------------------

    def serialize(self, operation: str, output: Mapping[str, Any]) -> HttpResponse:
        shape = self.model.operation_model(operation).output_shape
        body = _dumps(values.to_json(shape, output)) if shape is not None else b"{}"
        return HttpResponse(200, [("Content-Type", self.content_type)], body)

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        shape = self._error_shapes.get(error.code)
        members = shape.members if shape is not None else {}
        message_key = "Message" if "Message" in members and "message" not in members else "message"
        kind = f"{self._namespace}#{error.code}" if self._namespace else error.code
        body: dict[str, Any] = {"__type": kind, message_key: error.message}
        for key, value in error.fields.items():
            member = members.get(key)
            body[key] = values.to_json(member, value) if member is not None else value
        headers = [(self.request_id_header, request_id), ("x-amzn-ErrorType", error.code),
                   ("Content-Type", self.content_type)]
        if self._query_compatible:
            fault = "Sender" if error.sender_fault else "Receiver"
            headers.append(("x-amzn-query-error", f"{self.query_code(error.code)};{fault}"))
        headers.extend((name, _header_safe(value)) for name, value in error.headers.items())
        return HttpResponse(error.status, headers, _dumps(body))

    def query_code(self, code: str) -> str:
        """The legacy query protocol's name for error ``code`` (the code itself when it has none)."""
        return self._query_codes.get(code, code)


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise values.ShapeError("Invalid UTF-8 in request body") from None
    except json.JSONDecodeError as exc:
        raise values.ShapeError(f"Could not parse request body into json: {exc.msg} at position {exc.pos}") \
            from None


def _header_safe(text: str) -> str:
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=values.json_default).encode()
