"""Function URLs: ``handle(url_id, request) -> response``.

The event is payload format 2.0 with ``routeKey``/``stage`` ``$default`` and ``requestContext.apiId``
the url id (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads). With
AuthType NONE the caller is ``accountId: "anonymous"``, as Lambda reports unauthenticated callers.

AuthType AWS_IAM requires a valid SigV4 signature for service ``lambda``, made with a key Lamina
knows (``Settings.credentials``, ``test:test`` by default). With authentication off (the local
default) any other access key id is accepted too, with the secret key :data:`LOCAL_SECRET_KEY`
(``test``, what the AWS CLI and boto3 examples use); with it on, only the configured keys are, within
AWS's 5-minute clock skew. Resource policies (``lambda:InvokeFunctionUrl``) are not evaluated yet: a
valid signature is enough. A request that fails gets AWS's 403 ``{"Message":"Forbidden"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.aws.http import HttpRequest
from lamina.aws.sigv4 import Credential, credential_scope, verify
from lamina.clock import Clock
from lamina.ids import new_request_id
from lamina.triggers.gateway import responses
from lamina.triggers.gateway.cors import decorate, is_preflight, preflight
from lamina.triggers.gateway.events import EventContext, event_v2
from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse, joined_headers, json_response
from lamina.triggers.gateway.invoke import Caller, answer, trace_header
from lamina.triggers.gateway.model import FunctionRef, FunctionUrl
from lamina.triggers.gateway.registry import FunctionUrlRegistry

#: The secret key of an access key id that is not configured, when authentication is off.
LOCAL_SECRET_KEY = "test"
#: AWS allows 5 minutes between a request's X-Amz-Date and its arrival.
MAX_SKEW_S = 300.0


def forbidden() -> GatewayResponse:
    return json_response(403, {"Message": "Forbidden"}, [("x-amzn-ErrorType", "AccessDeniedException")])


def unknown_url() -> GatewayResponse:
    # What Lambda answers for a url id that does not exist (no body message, an AccessDenied type).
    return json_response(403, {"Message": None}, [("x-amzn-ErrorType", "AccessDeniedException")])


class FunctionUrlGateway:
    """Serves every function URL of the node. ``credentials`` maps access key ids to secret keys;
    ``strict`` (the server enforces authentication) accepts only those keys and bounds clock skew."""

    def __init__(self, urls: FunctionUrlRegistry, caller: Caller, clock: Clock, *, port: int,
                 credentials: Mapping[str, str], strict: bool, accounts: Mapping[str, str] | None = None,
                 permits: Callable[[FunctionUrl, str], bool] | None = None) -> None:
        self._urls = urls
        self._caller = caller
        self._clock = clock
        self._port = port
        self._credentials = dict(credentials)
        #: The account of each key that names one (others belong to the URL's own account).
        self._accounts = dict(accounts or {})
        #: Whether the function's resource policy lets another account call the URL
        #: (lambda:InvokeFunctionUrl with FunctionUrlAuthType AWS_IAM); same-account callers are
        #: governed by IAM, which Lamina does not model.
        self._permits = permits
        self._strict = strict
        self._max_skew = MAX_SKEW_S if strict else None

    async def handle(self, url_id: str, request: GatewayRequest, region: str | None = None) -> GatewayResponse:
        """Answer one request to the URL ``url_id`` (``region`` when the host form named one)."""
        url = self._urls.by_id(url_id)
        if url is None or (region is not None and region != url.region):
            return unknown_url()
        if url.cors is not None and is_preflight(request):
            return preflight(url.cors, request, 200)
        authorizer: dict[str, Any] | None = None
        if url.auth_type == "AWS_IAM":
            credential = self._authenticate(request)
            if credential is None:
                return forbidden()
            caller_account = self._accounts.get(credential.access_key, url.account_id)
            if caller_account != url.account_id and (self._permits is None
                                                     or not self._permits(url, caller_account)):
                return forbidden()
            authorizer = {"iam": _caller_identity(credential, caller_account)}
        fn = self._caller.function(FunctionRef(url.region, url.account_id, url.function_name, url.qualifier))
        if fn is None:
            return unknown_url()
        request_id = new_request_id()
        now = self._clock.time()
        trace = request.header("x-amzn-trace-id") or trace_header(now)
        ctx = EventContext(
            account_id=url.account_id if authorizer else "anonymous", api_id=url_id,
            domain_name=f"{url_id}.lambda-url.{url.region}.localhost", request_id=request_id, time=now,
            trace_header=trace, authorizer=authorizer, port=self._port)
        outcome = await self._caller.call(fn, event_v2(request, ctx), request_id=request_id, trace=trace,
                                          invoked_arn=url.function_arn)
        response = answer(outcome, responses.response_v2)
        if url.cors is not None:
            decorate(url.cors, request, response)
        response.headers.append(("x-amzn-RequestId", request_id))
        response.headers.append(("X-Amzn-Trace-Id", trace))
        return response

    def _authenticate(self, request: GatewayRequest) -> Credential | None:
        signed = HttpRequest(request.method, request.signed_path or request.path, request.query,
                             joined_headers(request), request.body)
        credential = credential_scope(signed)
        if credential is None or credential.service != "lambda":
            return None
        secret = self._credentials.get(credential.access_key)
        if secret is None:
            if self._strict:
                return None
            secret = LOCAL_SECRET_KEY
        if not verify(signed, secret, now=self._clock.time(), max_skew=self._max_skew):
            return None
        return credential


def _caller_identity(credential: Credential, account_id: str) -> dict[str, Any]:
    return {"accessKey": credential.access_key, "accountId": account_id, "callerId": credential.access_key,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": f"arn:aws:iam::{account_id}:root",
            "userId": credential.access_key}
