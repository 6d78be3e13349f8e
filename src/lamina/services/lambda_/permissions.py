"""Resource policies and tags: AddPermission, RemovePermission, GetPolicy, TagResource,
UntagResource, ListTags."""

from __future__ import annotations

import json
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.registry.policies import principal_of
from lamina.services.lambda_.base import LambdaBase
from lamina.services.lambda_.shapes import resolve_function


class PermissionsApi(LambdaBase):
    async def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        fn = self._aliases.resolve(region, name, qualifier)[0]
        resource = f"{fn.arn}:{qualifier}" if qualifier else fn.arn
        statement: dict[str, Any] = {"Sid": params["StatementId"], "Effect": "Allow",
                                     "Principal": principal_of(params["Principal"]), "Action": params["Action"],
                                     "Resource": resource}
        conditions: dict[str, dict[str, str]] = {}
        if params.get("SourceAccount"):
            conditions.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("PrincipalOrgID"):
            conditions.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
        if params.get("EventSourceToken"):
            conditions.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params["EventSourceToken"]
        if params.get("FunctionUrlAuthType"):
            conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
        if params.get("SourceArn"):
            conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
        if conditions:
            statement["Condition"] = conditions
        await self._policies.add(region, name, qualifier or "", statement, params.get("RevisionId"))
        return {"Statement": json.dumps(statement)}

    async def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        self._aliases.resolve(region, name, qualifier)
        await self._policies.remove(region, name, qualifier or "", params["StatementId"], params.get("RevisionId"))
        return {}

    async def get_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        self._aliases.resolve(region, name, qualifier)
        policy = self._policies.get(region, name, qualifier or "")
        if policy is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return {"Policy": json.dumps(policy.document()), "RevisionId": policy.revision_id}

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name = self._tagged(ctx, params["Resource"])
        fn = self._registry.get(region, name)
        await self._registry.set_tags(region, name, {**fn.tags, **params["Tags"]})
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name = self._tagged(ctx, params["Resource"])
        fn = self._registry.get(region, name)
        await self._registry.set_tags(region, name, {k: v for k, v in fn.tags.items() if k not in params["TagKeys"]})
        return {}

    async def list_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name = self._tagged(ctx, params["Resource"])
        return {"Tags": dict(self._registry.get(region, name).tags)}

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[str, str]:
        """Tags belong to the function, not to a version or alias."""
        if not arn.startswith("arn:"):
            raise InvalidParameterValueException(f"Invalid ARN: {arn}")
        region, name, qualifier = resolve_function(arn, ctx.region, ctx.account_id)
        if qualifier:
            raise InvalidParameterValueException(
                "Tags are not supported on function versions or aliases; use the unqualified function ARN.")
        return region, name
