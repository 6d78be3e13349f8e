"""Stages of HTTP APIs: Create/Get/Update/Delete Stage(s).

``$default`` serves the API at its root; a named stage serves it under ``/<stage>/``. Stage
variables reach the function as ``stageVariables``. Lamina serves every change at once on every
stage (as AutoDeploy does); ``AutoDeploy`` is kept and reported.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import BadRequestException, ConflictException, NotFoundException
from lamina.services.apigatewayv2.base import ApiGatewayV2Base, listing, new_id, stage_shape
from lamina.triggers.gateway.model import HttpApi, Stage

_STAGE_NAME = re.compile(r"\$default|[a-zA-Z0-9_-]{1,128}")
_VARIABLE_NAME = re.compile(r"[a-zA-Z0-9_]{1,64}")


def _stage(api: HttpApi, name: str) -> Stage:
    stage = api.stages.get(name)
    if stage is None:
        raise NotFoundException(f"Invalid stage identifier specified {name}", fields={"ResourceType": "Stage"})
    return stage


def _variables(value: dict[str, str] | None) -> dict[str, str]:
    variables = dict(value or {})
    for name, item in variables.items():
        if not _VARIABLE_NAME.fullmatch(name):
            raise BadRequestException(f"Stage variable name {name!r} must match [a-zA-Z0-9_]{{1,64}}")
        if len(item) > 2048:
            raise BadRequestException(f"Stage variable {name!r} is longer than 2048 characters")
    return variables


class StagesApi(ApiGatewayV2Base):
    async def create_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["StageName"]
        if not _STAGE_NAME.fullmatch(name):
            raise BadRequestException("Stage name only allows a-zA-Z0-9_- or $default")
        now = self._clock.time()
        auto = bool(params.get("AutoDeploy", False))
        stage = Stage(name, now, now, auto_deploy=auto, variables=_variables(params.get("StageVariables")),
                      description=params.get("Description"), tags=dict(params.get("Tags") or {}),
                      deployment_id=new_id(6) if auto else params.get("DeploymentId"))

        def change(api: HttpApi) -> HttpApi:
            if name in api.stages:
                raise ConflictException(f"Stage {name} already exists")
            return api.replace(stages={**api.stages, name: stage})

        await self._change(ctx, params["ApiId"], change)
        return stage_shape(stage)

    async def get_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return stage_shape(_stage(self._api(ctx, params["ApiId"]), params["StageName"]))

    async def get_stages(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = self._api(ctx, params["ApiId"])
        return listing([stage_shape(s) for s in api.stages.values()], params)

    async def update_stage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        variables = _variables(params.get("StageVariables")) if "StageVariables" in params else None
        now = self._clock.time()

        def change(api: HttpApi) -> HttpApi:
            current = _stage(api, params["StageName"])
            changes: dict[str, Any] = {"updated": now}
            if variables is not None:
                # UpdateStage merges: a variable given with an empty value is removed.
                merged = {**current.variables, **variables}
                changes["variables"] = {k: v for k, v in merged.items() if v}
            if "AutoDeploy" in params:
                changes["auto_deploy"] = bool(params["AutoDeploy"])
            if "Description" in params:
                changes["description"] = params["Description"]
            if "DeploymentId" in params:
                changes["deployment_id"] = params["DeploymentId"]
            return api.replace(stages={**api.stages, current.name: dataclasses.replace(current, **changes)})

        api = await self._change(ctx, params["ApiId"], change)
        return stage_shape(api.stages[params["StageName"]])

    async def delete_stage(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        def change(api: HttpApi) -> HttpApi:
            stage = _stage(api, params["StageName"])
            return api.replace(stages={k: v for k, v in api.stages.items() if k != stage.name})

        await self._change(ctx, params["ApiId"], change)
