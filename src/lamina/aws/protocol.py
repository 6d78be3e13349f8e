"""The interface every AWS wire protocol implements (rest-json, json, rest-xml, query), and the
request context handed to providers.

A protocol instance serves one service model. The dispatcher asks it, in order: does this request
name one of your operations (:meth:`WireProtocol.match`)? what are its parameters
(:meth:`WireProtocol.parse`)? and then turns the provider's output or error into a response
(:meth:`WireProtocol.serialize` / :meth:`WireProtocol.serialize_error`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Protocol

from lamina.aws.http import HttpRequest, HttpResponse
from lamina.errors import AwsError

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class OperationCall(NamedTuple):
    """A matched request: the model's operation name and the decoded uri label values.

    (A NamedTuple rather than a frozen dataclass: it is built on every request and costs a third.)
    """

    operation: str
    labels: Mapping[str, str] = _NO_LABELS


# Not frozen, by convention never changed: built per invocation, and frozen costs ~5x to build
# (docs/performance.md, "Late evening: telemetry in its own process").
@dataclass(slots=True)
class RequestContext:
    """Who asked what, passed to every provider method as its first argument.

    ``endpoint`` is the base URL clients used (``http://127.0.0.1:4566``), for building URLs in
    responses (function URLs, queue URLs). ``service`` is the botocore service name.
    ``caller_account`` is the account of the signing key when authentication is on (None when off).
    """

    request_id: str
    region: str
    account_id: str
    service: str
    endpoint: str
    request: HttpRequest
    caller_account: str | None = None


class WireProtocol(Protocol):
    """One service's wire protocol. Implementations are immutable after construction and safe to
    share between concurrent requests.

    Contract:

    - :meth:`match` never raises; None means "not one of my operations".
    - :meth:`parse` returns typed, validated parameters keyed by model member names (ints are
      ``int``, timestamps aware UTC ``datetime``, blobs ``bytes``), or raises an
      :class:`~lamina.errors.AwsError` (the parse error the service chose, or ``ValidationException``).
    - :meth:`serialize` and :meth:`serialize_error` never raise for values that fit the model.
    """

    #: botocore service name (``"lambda"``).
    service: str
    #: The header that carries the request id on every response (``x-amzn-RequestId`` for the JSON
    #: protocols, ``x-amz-request-id`` for S3).
    request_id_header: ClassVar[str]

    @property
    def target_prefix(self) -> str | None:
        """The ``X-Amz-Target`` prefix routed by this protocol (json protocols), else None."""
        ...

    @property
    def signing_name(self) -> str:
        """The service name in the SigV4 credential scope (``lambda``)."""
        ...

    def match(self, request: HttpRequest) -> OperationCall | None:
        """The operation this request calls, or None."""
        ...

    def parse(self, operation: str, request: HttpRequest, labels: Mapping[str, str]) -> dict[str, Any]:
        """The operation's typed, validated input parameters."""
        ...

    def serialize(self, operation: str, output: Mapping[str, Any]) -> HttpResponse:
        """The success response for the provider's ``output`` (model member names as keys)."""
        ...

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        """The error response in the service's shape, with the request id header."""
        ...
