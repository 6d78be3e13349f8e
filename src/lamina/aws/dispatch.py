"""The protocol edge's front door: ``handle(request) -> response`` for every registered service.

A registration is (botocore service name, protocol instance, provider). A provider has one
``async`` method per operation it implements, named after the operation in snake case
(``CreateFunction`` -> ``create_function``), taking ``(ctx, params)`` and returning the output dict
(model member names as keys) or None for an empty output. It raises
:class:`~lamina.errors.AwsError` subclasses for AWS errors; anything else is a bug and answers 500.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.aws.auth import Authenticator
from lamina.aws.http import HttpRequest, HttpResponse
from lamina.aws.model import service_model
from lamina.aws.protocol import OperationCall, RequestContext, WireProtocol
from lamina.aws.sigv4 import credential_scope
from lamina.errors import AwsError, NotImplementedException, ServiceException, UnknownOperationException
from lamina.ids import new_request_id

log = logging.getLogger(__name__)

#: Distinct requests whose route match is remembered (the cache starts over when full).
_PICK_CACHE = 4096

ProviderMethod = Callable[[RequestContext, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class Registration:
    """One service served by the dispatcher."""

    service: str
    protocol: WireProtocol
    # Any rather than object: mypyc (lamina.native) cannot resolve ``object`` in a dataclass field.
    provider: Any


class Dispatcher:
    """Routes requests to registered services, parses, calls the provider, serializes.

    :meth:`handle` never raises: every failure becomes an AWS-shaped response.
    """

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        #: Checks signatures when authentication is on; None accepts every request (local default).
        self.authenticator = authenticator
        self._services: list[Registration] = []
        self._by_target: dict[str, Registration] = {}
        self._by_signing_name: dict[str, Registration] = {}
        self._picked: dict[tuple[str | None, str | None, str, str, str],
                           tuple[Registration | None, OperationCall | None]] = {}

    def register(self, service: str, protocol: WireProtocol, provider: object) -> None:
        """Serve ``service`` (botocore name) with ``protocol``, calling methods of ``provider``.

        The first registration of a SigV4 signing name or target prefix wins.
        """
        self._picked.clear()
        registration = Registration(service, protocol, provider)
        self._services.append(registration)
        if protocol.target_prefix is not None:
            self._by_target.setdefault(protocol.target_prefix, registration)
        self._by_signing_name.setdefault(protocol.signing_name, registration)
        self._by_signing_name.setdefault(service, registration)

    @property
    def services(self) -> tuple[Registration, ...]:
        return tuple(self._services)

    async def handle(self, request: HttpRequest, *, default_region: str, account_id: str,
                     endpoint: str) -> HttpResponse:
        """Answer one request. The region comes from the SigV4 credential scope, else
        ``default_region``; every response carries a fresh request id."""
        request_id = new_request_id()
        credential = credential_scope(request)
        registration, call = self._pick(request, credential.service if credential else None)
        if registration is None:
            return self._unknown(request, request_id, self._services[0] if self._services else None)
        protocol = registration.protocol
        if call is None:
            return self._unknown(request, request_id, registration)
        caller: str | None = None
        if self.authenticator is not None:
            refused = self.authenticator.check(request)
            if refused is not None:
                return protocol.serialize_error(refused, request_id)
            caller = self.authenticator.account_of(credential.access_key if credential else "", account_id)
        ctx = RequestContext(request_id, credential.region if credential else default_region, account_id,
                             registration.service, endpoint, request, caller)
        try:
            method = _method(registration.provider, call.operation)
            if method is None:
                raise NotImplementedException(
                    f"Lamina does not implement {_service_id(registration.service)}.{call.operation} yet")
            params = protocol.parse(call.operation, request, call.labels)
            output = await method(ctx, params)
            response = protocol.serialize(call.operation, output or {})
        except AwsError as error:
            return protocol.serialize_error(error, request_id)
        except Exception:
            log.exception("unhandled error in %s.%s (request %s)", registration.service, call.operation,
                          request_id)
            return protocol.serialize_error(ServiceException("An internal error occurred."), request_id)
        response.headers.append((protocol.request_id_header, request_id))
        return response

    def _pick(self, request: HttpRequest,
              scope_service: str | None) -> tuple[Registration | None, OperationCall | None]:
        # Clients repeat the same few requests (an Invoke of one function, SendMessage to one queue):
        # remembering what a (target, service, method, path, query) matched skips the route regexes
        # and label decoding. Labels are read-only (a Mapping), so sharing the call is safe.
        key = (request.headers.get("x-amz-target"), scope_service, request.method, request.path, request.query)
        found = self._picked.get(key)
        if found is None:
            found = self._pick_uncached(request, scope_service)
            if len(self._picked) >= _PICK_CACHE:
                self._picked.clear()
            self._picked[key] = found
        return found

    def _pick_uncached(self, request: HttpRequest,
                       scope_service: str | None) -> tuple[Registration | None, OperationCall | None]:
        target = request.headers.get("x-amz-target")
        found = self._by_target.get(target.partition(".")[0]) if target is not None else None
        if found is None and scope_service is not None:
            found = self._by_signing_name.get(scope_service)
        if found is not None:
            return found, found.protocol.match(request)
        # Unsigned requests (curl, the dashboard): the first REST service whose routes match.
        for registration in self._services:
            if registration.protocol.target_prefix is None:
                call = registration.protocol.match(request)
                if call is not None:
                    return registration, call
        return None, None

    def _unknown(self, request: HttpRequest, request_id: str,
                 registration: Registration | None) -> HttpResponse:
        error = UnknownOperationException(f"No operation matches {request.method} {request.path}")
        if registration is None:
            body = json.dumps({"Type": "User", "message": error.message}).encode()
            return HttpResponse(error.status, [("x-amzn-RequestId", request_id),
                                               ("x-amzn-ErrorType", error.code),
                                               ("Content-Type", "application/json")], body)
        return registration.protocol.serialize_error(error, request_id)



def _method(provider: object, operation: str) -> ProviderMethod | None:
    method = getattr(provider, _snake(operation), None)
    return method if callable(method) else None


@functools.lru_cache(maxsize=4096)
def _snake(operation: str) -> str:
    # botocore's own transform, so provider method names match boto3's client method names exactly.
    from botocore import xform_name

    return str(xform_name(operation))


def _service_id(service: str) -> str:
    return str(service_model(service).metadata.get("serviceId", service))
