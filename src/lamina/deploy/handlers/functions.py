"""Functions and their releases: ``AWS::Lambda::Function``, ``Version``, ``Alias``, ``LayerVersion``.

Property names are CloudFormation's, which are the Lambda API's members except ``KmsKeyArn``
(``KMSKeyArn``), ``Tags`` (a list of Key/Value pairs), ``ReservedConcurrentExecutions`` (its own
API) and ``Code``. A function's update waits for ``LastUpdateStatus`` to settle after each call, as
AWS requires before the next change to the same function.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

from lamina.deploy.build import ZIP_TIME, Artifact
from lamina.deploy.handlers.base import (
    Applied,
    Context,
    DeployError,
    Handler,
    drop_none,
    ignore_missing,
    tag_dict,
)
from lamina.deploy.model import LocalPath, Ref, Resource, Stack
from lamina.deploy.state import ResourceState

#: Properties passed to Create/UpdateFunctionConfiguration as they are (CloudFormation name → API member).
CONFIG = {"Handler": "Handler", "Runtime": "Runtime", "Role": "Role", "Timeout": "Timeout",
          "MemorySize": "MemorySize", "Description": "Description", "Environment": "Environment",
          "Layers": "Layers", "DeadLetterConfig": "DeadLetterConfig", "TracingConfig": "TracingConfig",
          "LoggingConfig": "LoggingConfig", "EphemeralStorage": "EphemeralStorage", "KmsKeyArn": "KMSKeyArn",
          "VpcConfig": "VpcConfig", "FileSystemConfigs": "FileSystemConfigs", "ImageConfig": "ImageConfig",
          "SnapStart": "SnapStart"}
#: What a configuration property returns to when the template drops it (AWS's defaults).
RESET: Mapping[str, Any] = {
    "Timeout": 3, "MemorySize": 128, "Description": "", "Environment": {"Variables": {}}, "Layers": [],
    "DeadLetterConfig": {"TargetArn": ""}, "TracingConfig": {"Mode": "PassThrough"},
    "EphemeralStorage": {"Size": 512}, "LoggingConfig": {"LogFormat": "Text"}, "KmsKeyArn": "",
    "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}, "FileSystemConfigs": [],
}
#: Properties only UpdateFunctionCode (or nothing, for PackageType) changes.
CODE = frozenset({"Code", "Architectures"})
#: Properties that are recorded without effect on Lamina.
IGNORED = frozenset({"RecursiveLoop", "CodeSigningConfigArn", "RuntimeManagementConfig"})
FUNCTION_PROPERTIES = frozenset(CONFIG) | CODE | IGNORED | {"FunctionName", "Tags", "ReservedConcurrentExecutions",
                                                           "PackageType"}
_NAME_LIMIT = 64


def as_int(value: Any) -> Any:
    """A number a template may give as a string (CloudFormation Number parameters are strings)."""
    return int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else value


def _text(value: Any) -> str:
    # CloudFormation turns scalars into strings for string-only properties, booleans lower case.
    return str(value).lower() if isinstance(value, bool) else str(value)


def code_bytes(code: Any, runtime: str) -> bytes:
    """A function's zip from resolved ``Code``: an artifact, or inline source (CloudFormation's
    ``ZipFile`` string, packaged as ``index.py`` / ``index.js`` as AWS does)."""
    value = code.get("ZipFile") if isinstance(code, Mapping) else code
    if isinstance(value, Artifact):
        return value.data
    if isinstance(value, str):
        name = "index.js" if runtime.startswith("nodejs") else "index.py"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, value)
        return buffer.getvalue()
    raise DeployError("Code must be local code (CodeUri, a folder or a .zip) or inline ZipFile source")


def check_code(code: Any, what: str) -> None:
    """Refuse code Lamina cannot fetch: S3 locations and container images."""
    if isinstance(code, LocalPath):
        return
    if not isinstance(code, Mapping):
        raise DeployError(f"{what} must be local code or inline ZipFile source")
    if "ImageUri" in code:
        raise DeployError(f"{what}: container images are not supported; Lamina runs Zip functions")
    if "S3Bucket" in code or "S3Key" in code:
        raise DeployError(f"{what} points to S3 (s3://{code.get('S3Bucket')}/{code.get('S3Key')}); Lamina deploys "
                          "local code: give CodeUri/ContentUri a local folder or .zip file")
    if not isinstance(code.get("ZipFile"), LocalPath | str):
        raise DeployError(f"{what} must be local code or inline ZipFile source")


def configuration(props: Mapping[str, Any], reset: frozenset[str] = frozenset()) -> dict[str, Any]:
    """UpdateFunctionConfiguration's parameters for ``props``; ``reset`` names dropped properties
    that go back to their defaults."""
    params: dict[str, Any] = {}
    for name, member in CONFIG.items():
        if name in props:
            params[member] = props[name]
        elif name in reset and name in RESET:
            params[member] = RESET[name]
    for name in ("Timeout", "MemorySize"):
        if name in params:
            params[name] = as_int(params[name])
    if "EphemeralStorage" in params:
        params["EphemeralStorage"] = {"Size": as_int(params["EphemeralStorage"].get("Size"))}
    environment = params.get("Environment")
    if isinstance(environment, Mapping):
        variables = environment.get("Variables") or {}
        params["Environment"] = {"Variables": {str(k): _text(v) for k, v in variables.items()}}
    return params


class FunctionHandler(Handler):
    type = "AWS::Lambda::Function"
    attributes = frozenset({"Arn", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus"})
    replace_on = frozenset({"FunctionName", "PackageType"})

    def check(self, resource: Resource, stack: Stack) -> None:
        props = resource.properties
        unknown = sorted(set(props) - FUNCTION_PROPERTIES)
        if unknown:
            raise DeployError(f"unknown AWS::Lambda::Function properties: {', '.join(unknown)}")
        if props.get("PackageType", "Zip") != "Zip":
            raise DeployError("PackageType Image is not supported; Lamina runs Zip functions")
        check_code(props.get("Code"), "Code")
        for required in ("Handler", "Runtime"):
            if not props.get(required):
                raise DeployError(f"{required} is required for Zip functions")

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        lam = ctx.clients.lambda_
        name = props.get("FunctionName") or ctx.generated_name(_NAME_LIMIT)
        params = configuration(props)
        params.setdefault("Role", f"arn:aws:iam::{ctx.account_id}:role/{ctx.generated_name(64)}")
        if props.get("Architectures"):
            params["Architectures"] = props["Architectures"]
        tags = tag_dict(props.get("Tags"))
        answer = lam.create_function(FunctionName=name, Code={"ZipFile": code_bytes(props["Code"], props["Runtime"])},
                                     **params, **({"Tags": tags} if tags else {}))
        applied = Applied(name, {"Ref": name, "Arn": answer["FunctionArn"]})
        ctx.record(applied)
        wait_updated(ctx, name)
        if props.get("ReservedConcurrentExecutions") is not None:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=as_int(
                props["ReservedConcurrentExecutions"]))
        return applied

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        lam = ctx.clients.lambda_
        name = prior.physical_id
        if changed & CODE:
            lam.update_function_code(FunctionName=name, ZipFile=code_bytes(props["Code"], props["Runtime"]),
                                     Architectures=list(props.get("Architectures") or ["x86_64"]))
            wait_updated(ctx, name)
        if changed & set(CONFIG):
            lam.update_function_configuration(FunctionName=name, **configuration(props, changed))
            wait_updated(ctx, name)
        if "Tags" in changed:
            arn = prior.attributes["Arn"]
            before, after = tag_dict(prior.properties.get("Tags")), tag_dict(props.get("Tags"))
            gone = sorted(set(before) - set(after))
            if gone:
                lam.untag_resource(Resource=arn, TagKeys=gone)
            if after:
                lam.tag_resource(Resource=arn, Tags=after)
        if "ReservedConcurrentExecutions" in changed:
            reserved = props.get("ReservedConcurrentExecutions")
            if reserved is None:
                lam.delete_function_concurrency(FunctionName=name)
            else:
                lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=as_int(reserved))
        return Applied(name, dict(prior.attributes))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.lambda_.delete_function(FunctionName=prior.physical_id))


def wait_updated(ctx: Context, name: str) -> None:
    """Wait until the function is Active and its last update finished (AWS refuses the next change
    while LastUpdateStatus is InProgress); DeployError with the reason when it failed."""
    def settled() -> bool:
        config = ctx.clients.lambda_.get_function_configuration(FunctionName=name)
        if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
            reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason given"
            raise DeployError(f"function {name} failed to update: {reason}")
        return bool(config.get("State") == "Active" and config.get("LastUpdateStatus", "Successful") == "Successful")

    ctx.wait(settled, f"function {name} to finish updating")


def _function_ref(resource: Resource) -> tuple[str, ...]:
    target = resource.properties.get("FunctionName")
    return (target.logical_id,) if isinstance(target, Ref) else ()


def _unqualified(function: str) -> str:
    """A function name or ARN without a version or alias qualifier."""
    parts = function.split(":")
    return ":".join(parts[:7]) if function.startswith("arn:") and len(parts) > 7 else function


class VersionHandler(Handler):
    """Every change publishes a new version; a version captures its function's fingerprint, so new
    code or configuration publishes one even when the template's Version resource is unchanged.
    Lamina, like AWS, publishes nothing new when the function did not change since the last
    version (the same version comes back)."""

    type = "AWS::Lambda::Version"
    attributes = frozenset({"Version", "FunctionArn"})
    replace_on = None

    def content_of(self, resource: Resource) -> tuple[str, ...]:
        return _function_ref(resource)

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        lam = ctx.clients.lambda_
        function = _unqualified(str(props["FunctionName"]))
        answer = lam.publish_version(**drop_none({"FunctionName": function, "Description": props.get("Description")}))
        version = str(answer["Version"])
        arn = answer["FunctionArn"] if answer["FunctionArn"].endswith(f":{version}") else \
            f"{answer['FunctionArn']}:{version}"
        applied = Applied(arn, {"Ref": arn, "Version": version, "FunctionArn": arn},
                          {"function": function, "version": version})
        provisioned = (props.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
        if provisioned is not None:
            ctx.record(applied)
            lam.put_provisioned_concurrency_config(FunctionName=function, Qualifier=version,
                                                   ProvisionedConcurrentExecutions=as_int(provisioned))
        return applied

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.lambda_.delete_function(FunctionName=prior.data["function"],
                                                                   Qualifier=prior.data["version"]))


def _routing(props: Mapping[str, Any]) -> dict[str, Any]:
    weights = (props.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or ()
    return {"AdditionalVersionWeights": {str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in weights}}


class AliasHandler(Handler):
    type = "AWS::Lambda::Alias"
    attributes = frozenset({"AliasArn"})
    replace_on = frozenset({"Name", "FunctionName"})

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        lam = ctx.clients.lambda_
        function = _unqualified(str(props["FunctionName"]))
        answer = lam.create_alias(FunctionName=function, Name=props["Name"], FunctionVersion=str(
            props["FunctionVersion"]), Description=props.get("Description") or "", RoutingConfig=_routing(props))
        arn = answer["AliasArn"]
        applied = Applied(arn, {"Ref": arn, "AliasArn": arn}, {"function": function, "name": props["Name"]})
        ctx.record(applied)
        provisioned = (props.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
        if provisioned is not None:
            lam.put_provisioned_concurrency_config(FunctionName=function, Qualifier=props["Name"],
                                                   ProvisionedConcurrentExecutions=as_int(provisioned))
        return applied

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        lam = ctx.clients.lambda_
        function, name = prior.data["function"], prior.data["name"]
        if changed & {"FunctionVersion", "Description", "RoutingConfig"}:
            lam.update_alias(FunctionName=function, Name=name, FunctionVersion=str(props["FunctionVersion"]),
                             Description=props.get("Description") or "", RoutingConfig=_routing(props))
        if "ProvisionedConcurrencyConfig" in changed:
            provisioned = (props.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
            if provisioned is None:
                ignore_missing(lambda: lam.delete_provisioned_concurrency_config(FunctionName=function,
                                                                                 Qualifier=name),
                               "ProvisionedConcurrencyConfigNotFoundException")
            else:
                lam.put_provisioned_concurrency_config(FunctionName=function, Qualifier=name,
                                                       ProvisionedConcurrentExecutions=as_int(provisioned))
        return Applied(prior.physical_id, dict(prior.attributes), dict(prior.data))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.lambda_.delete_alias(FunctionName=prior.data["function"],
                                                                Name=prior.data["name"]))


class LayerVersionHandler(Handler):
    """A layer version is immutable: every change publishes a new one."""

    type = "AWS::Lambda::LayerVersion"
    attributes = frozenset({"LayerVersionArn"})
    replace_on = None

    def check(self, resource: Resource, stack: Stack) -> None:
        check_code(resource.properties.get("Content"), "Content")

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        name = props.get("LayerName") or ctx.generated_name(140)
        params = drop_none({key: props.get(key) for key in ("CompatibleRuntimes", "CompatibleArchitectures",
                                                              "Description", "LicenseInfo")})
        answer = ctx.clients.lambda_.publish_layer_version(
            LayerName=name, Content={"ZipFile": code_bytes(props["Content"], "")}, **params)
        arn = answer["LayerVersionArn"]
        return Applied(arn, {"Ref": arn, "LayerVersionArn": arn}, {"name": name, "version": answer["Version"]})

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.lambda_.delete_layer_version(
            LayerName=prior.data["name"], VersionNumber=int(prior.data["version"])))
