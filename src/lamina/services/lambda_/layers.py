"""Layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions,
DeleteLayerVersion and the layer version policy operations."""

from __future__ import annotations

import json
import uuid
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.registry.functions import format_timestamp
from lamina.registry.layers import LayerVersion
from lamina.services.lambda_.base import LambdaBase, decode_marker, encode_marker


def layer_version(layer: LayerVersion, endpoint: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"LayerArn": layer.layer_arn, "LayerVersionArn": layer.arn, "Version": layer.version,
                              "Description": layer.description, "CreatedDate": layer.created_date,
                              "CompatibleRuntimes": list(layer.compatible_runtimes),
                              "CompatibleArchitectures": list(layer.compatible_architectures)}
    if layer.license_info is not None:
        answer["LicenseInfo"] = layer.license_info
    if endpoint is not None:
        answer["Content"] = {"Location": f"{endpoint}/_lamina/code/{layer.code.sha256}.zip",
                             "CodeSha256": layer.code.code_sha256, "CodeSize": layer.code.size}
    return answer


def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = decode_marker(params["Marker"]) if params.get("Marker") else 0
    size = params.get("MaxItems") or 50
    answer: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        answer["NextMarker"] = encode_marker(start + size)
    return answer


class LayersApi(LambdaBase):
    async def publish_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        content = params["Content"]
        if "ZipFile" not in content:
            raise InvalidParameterValueException(
                "Lamina takes layer content as Content.ZipFile; S3 sources are not supported yet.")
        layer = await self._layers.publish(
            ctx.region, ctx.account_id, _layer_name(params["LayerName"]), content["ZipFile"],
            description=params.get("Description") or "",
            runtimes=tuple(params.get("CompatibleRuntimes") or ()),
            architectures=tuple(params.get("CompatibleArchitectures") or ()),
            license_info=params.get("LicenseInfo"), created_date=format_timestamp(self._clock_time()))
        return layer_version(layer, ctx.endpoint)

    async def get_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        layer = self._layers.get(ctx.region, ctx.account_id, _layer_name(params["LayerName"]),
                                 params["VersionNumber"])
        return layer_version(layer, ctx.endpoint)

    async def get_layer_version_by_arn(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        try:
            layer = self._layers.by_arn(params["Arn"])
        except InvalidParameterValueException as error:
            if "does not exist" in error.message:
                raise ResourceNotFoundException(error.message) from None
            raise
        return layer_version(layer, ctx.endpoint)

    async def list_layers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        newest = self._layers.latest(ctx.region, params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"))
        items = [{"LayerName": layer.name, "LayerArn": layer.layer_arn, "LatestMatchingVersion": layer_version(layer)}
                 for layer in newest]
        return _page(items, params, "Layers")

    async def list_layer_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        versions = self._layers.versions(ctx.region, _layer_name(params["LayerName"]),
                                         params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"))
        items = [{k: v for k, v in layer_version(layer).items() if k != "LayerArn"} for layer in versions]
        return _page(items, params, "LayerVersions")

    async def delete_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # Deleting a version that does not exist succeeds, as on AWS.
        await self._layers.delete(ctx.region, ctx.account_id, _layer_name(params["LayerName"]),
                                  params["VersionNumber"])
        return {}

    async def add_layer_version_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        layer = self._layers.get(ctx.region, ctx.account_id, _layer_name(params["LayerName"]), params["VersionNumber"])
        policy = dict(layer.policy) or {"Version": "2012-10-17", "Id": "default", "Statement": [],
                                        "RevisionId": ""}
        if params.get("RevisionId") and params["RevisionId"] != policy.get("RevisionId"):
            raise PreconditionFailedException("The RevisionId provided does not match the latest RevisionId.")
        if any(s["Sid"] == params["StatementId"] for s in policy["Statement"]):
            raise ResourceConflictException(
                f"The statement id ({params['StatementId']}) provided already exists. Please provide a new "
                "statement id, or remove the existing statement.")
        principal = params["Principal"]
        statement: dict[str, Any] = {
            "Sid": params["StatementId"], "Effect": "Allow",
            "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
            "Action": params["Action"], "Resource": layer.arn}
        if params.get("OrganizationId"):
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
        policy = {**policy, "Statement": [*policy["Statement"], statement], "RevisionId": str(uuid.uuid4())}
        await self._layers.set_policy(layer, policy)
        return {"Statement": json.dumps(statement), "RevisionId": policy["RevisionId"]}

    async def remove_layer_version_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        layer = self._layers.get(ctx.region, ctx.account_id, _layer_name(params["LayerName"]), params["VersionNumber"])
        statements = layer.policy.get("Statement", [])
        kept = [s for s in statements if s["Sid"] != params["StatementId"]]
        if len(kept) == len(statements):
            raise ResourceNotFoundException(f"Statement {params['StatementId']} is not found in resource policy.")
        await self._layers.set_policy(layer, {**layer.policy, "Statement": kept, "RevisionId": str(uuid.uuid4())})
        return {}

    async def get_layer_version_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        layer = self._layers.get(ctx.region, ctx.account_id, _layer_name(params["LayerName"]), params["VersionNumber"])
        if not layer.policy.get("Statement"):
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        document = {k: v for k, v in layer.policy.items() if k != "RevisionId"}
        return {"Policy": json.dumps(document), "RevisionId": layer.policy["RevisionId"]}


def _layer_name(value: str) -> str:
    """A layer name, or the layer's ARN (``arn:aws:lambda:region:account:layer:name``)."""
    return value.rsplit(":layer:", 1)[1].split(":")[0] if ":layer:" in value else value
