"""What every part of the Lambda API shares: the parts it is built from, and name resolution."""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.config import Settings
from lamina.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    ResourceConflictException,
)
from lamina.invoker.invoker import Invoker
from lamina.invoker.provisioned import ProvisionedConcurrency
from lamina.registry.aliases import AliasRegistry
from lamina.registry.functions import FunctionRegistry
from lamina.registry.layers import LayerRegistry
from lamina.registry.model import FunctionVersion, State
from lamina.registry.policies import PolicyRegistry
from lamina.services.lambda_.shapes import resolve_function
from lamina.types import LATEST


class LambdaBase:
    """The state every Lambda API mixin works with. Each mixin adds the operations of one surface;
    :class:`lamina.services.lambda_.provider.LambdaProvider` combines them."""

    def __init__(self, settings: Settings, registry: FunctionRegistry, invoker: Invoker,
                 aliases: AliasRegistry, layers: LayerRegistry, policies: PolicyRegistry,
                 provisioned: ProvisionedConcurrency) -> None:
        self._settings = settings
        self._registry = registry
        self._invoker = invoker
        self._aliases = aliases
        self._layers = layers
        self._policies = policies
        self._provisioned = provisioned

    def _clock_time(self) -> float:
        return self._registry.now()

    def _function_layers(self, params: dict[str, Any]) -> tuple[tuple[dict[str, Any], ...], int] | None:
        """The ``Layers`` member resolved: (FunctionVersion.layers, their unzipped size), or None
        when the request does not set layers."""
        if "Layers" not in params:
            return None
        layers = self._layers.for_function(list(params["Layers"] or []), 0)
        return (tuple({"Arn": layer.arn, "CodeSize": layer.code.size, "sha256": layer.code.sha256,
                       "UnzippedSize": layer.unzipped_size} for layer in layers),
                sum(layer.unzipped_size for layer in layers))

    # -- helpers ---------------------------------------------------------------------------

    def _target(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[str, str, str | None]:
        """``(region, name, qualifier)`` from FunctionName (any form) and the Qualifier member."""
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        given = params.get("Qualifier")
        if given and qualifier and given != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier.")
        return region, name, given or qualifier

    def _resolve(self, ctx: RequestContext, params: dict[str, Any],
                 route: bool = False) -> tuple[FunctionVersion, str | None]:
        """The version the request names (``$LATEST``, a number, or an alias's version, chosen by the
        alias's weights when ``route``, as invocations are) and the qualifier it named."""
        region, name, qualifier = self._target(ctx, params)
        return self._aliases.resolve(region, name, qualifier, route=route)[0], qualifier

    def _function(self, ctx: RequestContext, params: dict[str, Any], route: bool = False) -> FunctionVersion:
        """The version the request names; see :meth:`_resolve`."""
        return self._resolve(ctx, params, route)[0]

    @staticmethod
    def _ensure_updatable(fn: FunctionVersion) -> None:
        if fn.state not in (State.ACTIVE, State.INACTIVE):
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the "
                f"following state: {fn.state.value}")


def only_latest(qualifier: str | None) -> None:
    if qualifier and qualifier != LATEST:
        raise InvalidParameterValueException("Only $LATEST can be updated; published versions are immutable.")


def refuse_unsupported(params: dict[str, Any]) -> None:
    """Say clearly what Lamina does not do yet instead of ignoring it."""
    if params.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValueException("Lamina runs Zip functions; PackageType Image is not supported.")
    if params.get("FileSystemConfigs"):
        raise InvalidParameterValueException("FileSystemConfigs (EFS) are not supported by Lamina.")


_DECODER = json.JSONDecoder()


def check_json(payload: bytes) -> bytes:
    """AWS refuses invoke payloads that are not JSON; an empty payload is the empty object."""
    if not payload.strip():
        return b"{}"
    try:
        if b"\0" in payload[:4] or payload.startswith(codecs.BOM_UTF8):
            json.loads(payload)  # UTF-16/32 or a BOM: json's own encoding detection
        else:
            # Plain UTF-8, the usual case: skips json.loads's Python-level encoding detection.
            _DECODER.decode(payload.decode())
    except ValueError as error:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {error}") from None
    return payload


def client_context(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object.") from None


def encode_marker(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()


def decode_marker(marker: str) -> int:
    try:
        index = json.loads(base64.urlsafe_b64decode(marker.encode()))["i"]
        if not isinstance(index, int) or index < 0:
            raise ValueError
        return index
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidParameterValueException(f"Invalid Marker: {marker}") from None
