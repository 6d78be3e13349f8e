"""Lambda functions: create, read, list, update, delete, account settings."""

from __future__ import annotations

from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import InvalidParameterValueException, ResourceConflictException
from lamina.registry.model import Code, FunctionVersion
from lamina.services.lambda_.base import (
    LambdaBase,
    decode_marker,
    encode_marker,
    only_latest,
    refuse_unsupported,
)
from lamina.services.lambda_.shapes import configuration_changes, function_configuration, resolve_function
from lamina.types import LATEST

# CreateFunction builds the configuration first; the registry fills in the stored code.
PLACEHOLDER_CODE = Code(sha256="", code_sha256="", size=0)


class FunctionsApi(LambdaBase):
    async def create_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        if qualifier:
            raise InvalidParameterValueException("Function name cannot contain a qualifier on create.")
        refuse_unsupported(params)
        code = params["Code"]
        if "ZipFile" not in code:
            raise InvalidParameterValueException(
                "Lamina takes function code as Code.ZipFile; S3 and image sources are not supported yet.")
        for required in ("Runtime", "Handler"):
            if not params.get(required):
                raise InvalidParameterValueException(
                    f"{required} must be set for functions with PackageType Zip.")
        fn = FunctionVersion(region=region, account_id=ctx.account_id, name=name,
                             runtime=params["Runtime"], handler=params["Handler"], role=params["Role"],
                             code=PLACEHOLDER_CODE, revision_id="", last_modified="")
        fn = fn.replace(**configuration_changes(params), tags=dict(params.get("Tags") or {}))
        layers = self._function_layers(params)
        if layers is not None:
            fn = fn.replace(layers=layers[0])
        created = await self._registry.create(fn, code["ZipFile"], extra_unzipped=layers[1] if layers else 0)
        if params.get("Publish"):
            # AWS answers with the published version (Version "1"), under the unqualified ARN.
            version = await self._registry.publish(region, name)
            return {**function_configuration(version), "FunctionArn": version.arn}
        return function_configuration(created)

    def _configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """FunctionConfiguration of the version the request names; FunctionArn carries the
        qualifier the caller used (``:$LATEST``, ``:live``), as AWS answers."""
        fn, qualifier = self._resolve(ctx, params)
        config = function_configuration(fn)
        if qualifier:
            config["FunctionArn"] = f"{fn.arn}:{qualifier}"
        return config

    async def get_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = self._function(ctx, params)
        answer: dict[str, Any] = {
            "Configuration": self._configuration(ctx, params),
            "Code": {"RepositoryType": "S3",
                     "Location": f"{ctx.endpoint}/_lamina/code/{fn.code.sha256}.zip"},
        }
        if fn.tags:
            answer["Tags"] = dict(fn.tags)
        if fn.reserved_concurrency is not None:
            answer["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved_concurrency}
        return answer

    async def get_function_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._configuration(ctx, params)

    async def list_functions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        functions = self._registry.in_region(ctx.region)
        if params.get("FunctionVersion") == "ALL":
            functions = [v for fn in functions for v in self._registry.versions(fn.region, fn.name)]
        start = 0
        marker = params.get("Marker")
        if marker:
            start = decode_marker(marker)
        size = params.get("MaxItems") or 50
        page = functions[start:start + size]
        every_version = params.get("FunctionVersion") == "ALL"
        answer: dict[str, Any] = {"Functions": [
            {**function_configuration(fn), "FunctionArn": fn.qualified_arn} if every_version
            else function_configuration(fn) for fn in page]}
        if start + size < len(functions):
            answer["NextMarker"] = encode_marker(start + size)
        return answer

    async def update_function_code(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        only_latest(qualifier)
        if "ZipFile" not in params:
            raise InvalidParameterValueException(
                "Lamina takes function code as ZipFile; S3 and image sources are not supported yet.")
        self._ensure_updatable(self._registry.get(region, name))
        fn = await self._registry.update_code(region, name, params["ZipFile"],
                                              revision_id=params.get("RevisionId"),
                                              dry_run=bool(params.get("DryRun")))
        if params.get("Publish") and not params.get("DryRun"):
            fn = await self._registry.publish(region, name)
        return function_configuration(fn)

    async def update_function_configuration(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        only_latest(qualifier)
        refuse_unsupported(params)
        self._ensure_updatable(self._registry.get(region, name))
        changes = configuration_changes(params)
        layers = self._function_layers(params)
        if layers is not None:
            changes["layers"] = layers[0]
            current = self._registry.get(region, name)
            self._layers.for_function([layer["Arn"] for layer in layers[0]],
                                      self._registry.code_artifact(current).unzipped_size)
        fn = await self._registry.update_configuration(region, name, changes,
                                                       revision_id=params.get("RevisionId"))
        return function_configuration(fn)

    async def delete_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function.")
        if qualifier and not qualifier.isdigit():
            self._aliases.get(region, name, qualifier)
            raise InvalidParameterValueException(
                "Deletion of aliases is not supported through DeleteFunction; use DeleteAlias.")
        if qualifier:
            self._registry.get_version(region, name, qualifier)
            users = self._aliases.referencing(region, name, qualifier)
            if users:
                raise ResourceConflictException(
                    f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]")
            await self._registry.delete_version(region, name, qualifier)
            return {"StatusCode": 204}
        await self._registry.delete(region, name)
        return {"StatusCode": 204}

    async def get_account_settings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limits = self._settings.limits
        functions = self._registry.in_region(ctx.region)
        return {
            "AccountLimit": {
                "TotalCodeSize": limits.code_storage_bytes,
                "CodeSizeUnzipped": limits.code_unzipped_bytes,
                "CodeSizeZipped": limits.code_zip_bytes,
                "ConcurrentExecutions": limits.concurrent_executions,
                "UnreservedConcurrentExecutions": self._invoker.gate.unreserved_limit(ctx.region),
            },
            "AccountUsage": {"TotalCodeSize": sum(fn.code.size for fn in functions),
                             "FunctionCount": len(functions)},
        }

