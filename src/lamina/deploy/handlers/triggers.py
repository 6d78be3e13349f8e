"""What invokes functions: ``AWS::Lambda::Permission``, ``EventSourceMapping``, ``EventInvokeConfig``, ``Url``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.deploy.handlers.base import Applied, Context, Handler, drop_none, error_code, ignore_missing, tag_dict
from lamina.deploy.handlers.functions import as_int
from lamina.deploy.state import ResourceState

_PERMISSION = ("Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "PrincipalOrgID",
               "FunctionUrlAuthType")


class PermissionHandler(Handler):
    """A statement in the function's resource policy; its StatementId is the logical id, so a
    changed permission is removed before it is added again."""

    type = "AWS::Lambda::Permission"
    replace_on = None
    delete_first = True

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        function = str(props["FunctionName"])
        params = drop_none({key: props.get(key) for key in _PERMISSION})
        ctx.clients.lambda_.add_permission(FunctionName=function, StatementId=ctx.logical_id, **params)
        return Applied(ctx.logical_id, {"Ref": ctx.logical_id}, {"function": function})

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.lambda_.remove_permission(FunctionName=prior.data["function"],
                                                                     StatementId=prior.physical_id))


#: Properties UpdateEventSourceMapping takes, and what each returns to when the template drops it.
_MAPPING_UPDATABLE: Mapping[str, Any] = {
    "FunctionName": None, "Enabled": True, "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0,
    "FilterCriteria": {"Filters": []}, "FunctionResponseTypes": [], "ScalingConfig": {},
}
#: Passing states of a mapping (AWS refuses changes while it is in one).
_SETTLING = frozenset({"Creating", "Enabling", "Disabling", "Updating"})


def _mapping_params(props: Mapping[str, Any]) -> dict[str, Any]:
    params = {key: value for key, value in props.items() if value is not None}
    for name in ("BatchSize", "MaximumBatchingWindowInSeconds"):
        if name in params:
            params[name] = as_int(params[name])
    if isinstance(params.get("Enabled"), str):
        params["Enabled"] = params["Enabled"].lower() == "true"
    if "Tags" in params:
        params["Tags"] = tag_dict(params["Tags"])  # CloudFormation's Key/Value list, the API's map
    return params


class EventSourceMappingHandler(Handler):
    """An SQS queue polled for a function. Create, update and delete return while the mapping is
    still settling; the handler waits until it has, so what follows sees it working (or gone)."""

    type = "AWS::Lambda::EventSourceMapping"
    attributes = frozenset({"Id", "EventSourceMappingArn"})
    replace_on = frozenset({"EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "Topics", "Queues",
                            "SelfManagedEventSource"})

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        answer = ctx.clients.lambda_.create_event_source_mapping(**_mapping_params(props))
        ident = answer["UUID"]
        arn = answer.get("EventSourceMappingArn") or \
            f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:event-source-mapping:{ident}"
        applied = Applied(ident, {"Ref": ident, "Id": ident, "EventSourceMappingArn": arn})
        ctx.record(applied)
        self._settle(ctx, ident)
        return applied

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        self._settle(ctx, prior.physical_id)
        params = _mapping_params({key: props.get(key, default) for key, default in _MAPPING_UPDATABLE.items()
                                  if key in props or key in changed})
        ctx.clients.lambda_.update_event_source_mapping(UUID=prior.physical_id, **params)
        self._settle(ctx, prior.physical_id)
        return Applied(prior.physical_id, dict(prior.attributes))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        lam = ctx.clients.lambda_
        ignore_missing(lambda: lam.delete_event_source_mapping(UUID=prior.physical_id))

        def gone() -> bool:
            try:
                lam.get_event_source_mapping(UUID=prior.physical_id)
            except Exception as error:
                if error_code(error) == "ResourceNotFoundException":
                    return True
                raise
            return False

        # The queue or function may be deleted next: wait until nothing polls any more.
        ctx.wait(gone, f"event source mapping {prior.physical_id} to be deleted")

    @staticmethod
    def _settle(ctx: Context, ident: str) -> None:
        lam = ctx.clients.lambda_
        ctx.wait(lambda: lam.get_event_source_mapping(UUID=ident)["State"] not in _SETTLING,
                 f"event source mapping {ident} to settle")


class EventInvokeConfigHandler(Handler):
    """Asynchronous invocation settings of a function qualifier (PutFunctionEventInvokeConfig
    replaces them all, so an update puts them again)."""

    type = "AWS::Lambda::EventInvokeConfig"
    replace_on = frozenset({"FunctionName", "Qualifier"})
    delete_first = True

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        function, qualifier = str(props["FunctionName"]), str(props.get("Qualifier") or "$LATEST")
        params = drop_none({"MaximumEventAgeInSeconds": as_int(props.get("MaximumEventAgeInSeconds")),
                            "MaximumRetryAttempts": as_int(props.get("MaximumRetryAttempts")),
                            "DestinationConfig": props.get("DestinationConfig")})
        ctx.clients.lambda_.put_function_event_invoke_config(FunctionName=function, Qualifier=qualifier, **params)
        ident = f"{function}:{qualifier}"
        return Applied(ident, {"Ref": ident}, {"function": function, "qualifier": qualifier})

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        return self.create(ctx, props)

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.lambda_.delete_function_event_invoke_config(
            FunctionName=prior.data["function"], Qualifier=prior.data["qualifier"]))


class UrlHandler(Handler):
    """A function URL; ``Fn::GetAtt FunctionUrl`` is Lamina's local address for it."""

    type = "AWS::Lambda::Url"
    attributes = frozenset({"FunctionArn", "FunctionUrl"})
    replace_on = frozenset({"TargetFunctionArn", "Qualifier"})
    delete_first = True

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        function, qualifier = str(props["TargetFunctionArn"]), props.get("Qualifier")
        params = drop_none({"Qualifier": qualifier, "Cors": props.get("Cors"), "InvokeMode": props.get("InvokeMode")})
        answer = ctx.clients.lambda_.create_function_url_config(FunctionName=function, AuthType=props["AuthType"],
                                                               **params)
        arn = answer["FunctionArn"]
        return Applied(arn, {"Ref": arn, "FunctionArn": arn, "FunctionUrl": answer["FunctionUrl"]},
                       drop_none({"function": function, "qualifier": qualifier}))

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        qualifier = prior.data.get("qualifier")
        params = drop_none({"Qualifier": qualifier, "InvokeMode": props.get("InvokeMode", "BUFFERED")})
        ctx.clients.lambda_.update_function_url_config(FunctionName=prior.data["function"],
                                                       AuthType=props["AuthType"], Cors=props.get("Cors") or {},
                                                       **params)
        return Applied(prior.physical_id, dict(prior.attributes), dict(prior.data))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        params = drop_none({"Qualifier": prior.data.get("qualifier")})
        ignore_missing(lambda: ctx.clients.lambda_.delete_function_url_config(FunctionName=prior.data["function"],
                                                                              **params))
