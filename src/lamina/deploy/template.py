"""``lamina deploy``'s reading half: a SAM template, a CloudFormation template or a ``serverless.yml`` to a Stack.

:func:`load` finds the file, reads it (:mod:`.cfnyaml`), maps a ``serverless.yml`` onto a SAM template
(:mod:`.serverless`), checks parameters and that every resource type is one Lamina deploys, expands SAM
(:mod:`.sam`), resolves what is static (:mod:`.intrinsics`) and returns a
:class:`~lamina.deploy.model.Stack` whose resources the engine can create in dependency order. Every
refusal is a :class:`~lamina.deploy.model.TemplateError` naming the file and line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lamina.deploy import cfnyaml, sam, serverless
from lamina.deploy.cfnyaml import Document, Locator
from lamina.deploy.intrinsics import LANGUAGE_EXTENSIONS, Context, Resolver, transforms
from lamina.deploy.model import LocalPath, Resource, Stack, TemplateError
from lamina.deploy.parameters import parameter_values

#: What a folder is searched for, in this order.
TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json", "serverless.yml", "serverless.yaml")

#: CloudFormation resource types Lamina deploys (IAM ones are accepted and not enforced: Lamina has no IAM).
SUPPORTED_TYPES = frozenset({
    "AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Url", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
    "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage",
    "AWS::IAM::Role", "AWS::IAM::Policy",
})
SUPPORTED_PREFIXES = ("AWS::ApiGatewayV2::",)

_SECTIONS = frozenset({
    "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions",
    "Transform", "Resources", "Outputs", "Globals",
})
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")


def load(path: Path, *, stack_name: str | None, region: str, account_id: str,
         parameters: Mapping[str, str] = {}) -> Stack:
    """Load the template at ``path`` (a file, or a folder holding one of :data:`TEMPLATE_NAMES`).

    ``stack_name`` defaults to the template folder's name made a valid stack name (``<service>-<stage>``
    for a ``serverless.yml``). ``parameters`` are the template's parameter overrides; for a
    ``serverless.yml`` they are the CLI options instead (``stage``, ``region``, any ``${opt:…}``).
    """
    file = find_template(path)
    document = cfnyaml.load(file)
    if serverless.is_serverless(document.data):
        converted = serverless.convert(document, region=region, account_id=account_id, options=parameters,
                                       environ=os.environ)
        document = Document(document.source, converted.template, converted.lines)
        name = stack_name or safe_stack_name(converted.stack_name)
        region, overrides = converted.region, {}
    else:
        name = stack_name or safe_stack_name(file.parent.resolve().name)
        overrides = dict(parameters)
    if not _STACK_NAME.fullmatch(name):
        raise TemplateError(f'stack name "{name}" must start with a letter and hold only letters, digits and '
                            "hyphens (128 at most)", source=file)
    return build(document, Context(region=region, account_id=account_id, stack_name=name), overrides)


def find_template(path: Path) -> Path:
    """``path`` itself if it is a file, else the first of :data:`TEMPLATE_NAMES` in that folder."""
    if path.is_dir():
        for name in TEMPLATE_NAMES:
            if (path / name).is_file():
                return path / name
        raise TemplateError(f"no template in {path}: looked for {', '.join(TEMPLATE_NAMES)}", source=path)
    if not path.is_file():
        raise TemplateError(f"{path} does not exist", source=path)
    return path


def safe_stack_name(raw: str) -> str:
    """``raw`` made a CloudFormation stack name: ``[A-Za-z][-A-Za-z0-9]*``, 128 characters at most."""
    name = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]+", "-", raw)).strip("-")
    if not name or name[0] not in string.ascii_letters:
        name = f"stack-{name}".rstrip("-")
    return name[:128]


def build(document: Document, context: Context, overrides: Mapping[str, str]) -> Stack:
    """A parsed template (CloudFormation or SAM) to a :class:`Stack`; relative paths are from its folder."""
    template: Mapping[str, Any] = document.data
    where = document.locator
    _check_sections(template, where)
    names = transforms(template)
    for name in names:
        if name not in (sam.SAM_TRANSFORM, LANGUAGE_EXTENSIONS):
            raise where.error(f"Transform {name} is not supported by Lamina (only {sam.SAM_TRANSFORM} and "
                              f"{LANGUAGE_EXTENSIONS})", ("Transform",))
    values = parameter_values(template, overrides, where)
    resolver = Resolver(template, context=context, parameters=values, where=where)
    base_dir = document.source.parent
    if sam.is_sam(names):
        _check_types(template, resolver, where, extra=sam.SAM_TYPES, sources={})
        expanded = sam.expand(template, resolver=resolver, where=where, base_dir=base_dir, context=context,
                              parameters=values)
        template, where, sources = expanded.template, expanded.where, expanded.sources
        resolver = Resolver(template, context=context, parameters=values, where=where)
    elif "Globals" in template:
        raise where.error(f"Globals needs 'Transform: {sam.SAM_TRANSFORM}'", ("Globals",))
    else:
        sources = {}
    _check_types(template, resolver, where, extra=frozenset(), sources=sources)
    resources = {logical_id: _with_code(resource, base_dir, where)
                 for logical_id, resource in resolver.resources().items()}
    return Stack(name=context.stack_name, source=document.source, region=context.region,
                 account_id=context.account_id, resources=resources, outputs=resolver.outputs())


def _check_sections(template: Mapping[str, Any], where: Locator) -> None:
    for section in template:
        if section not in _SECTIONS:
            raise where.error(f'unknown top-level section "{section}"', (section,))
    if not isinstance(template.get("Resources"), dict) or not template["Resources"]:
        raise where.error("the template has no Resources", ("Resources",))


def _check_types(template: Mapping[str, Any], resolver: Resolver, where: Locator, *, extra: frozenset[str],
                 sources: Mapping[str, str]) -> None:
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if not isinstance(kind, str):
            raise where.error(f'Resource "{logical_id}" needs a Type', ("Resources", logical_id))
        supported = kind in SUPPORTED_TYPES or kind in extra or kind.startswith(SUPPORTED_PREFIXES)
        if not supported and resolver.included(logical_id):
            source = sources.get(logical_id, logical_id)
            generated = f" (SAM generates it for {source})" if source != logical_id else ""
            raise where.error(f'Resource "{logical_id}" has type {kind}, which Lamina does not deploy{generated}',
                              ("Resources", logical_id, "Type"))


def _with_code(resource: Resource, base_dir: Path, where: Locator) -> Resource:
    """Code given as a local path becomes ``{"ZipFile": LocalPath}``, told which runtime builds it."""
    key, kind = {"AWS::Lambda::Function": ("Code", "function"),
                 "AWS::Lambda::LayerVersion": ("Content", "layer")}.get(resource.type, ("", ""))
    if not key or key not in resource.properties:
        return resource
    path = ("Resources", resource.logical_id, "Properties", key)
    code = resource.properties[key]
    if isinstance(code, str):
        # `aws cloudformation package` accepts a local path here; so do we.
        code = {"ZipFile": LocalPath(sam.local_code(code, key=key, base_dir=base_dir, where=where, path=path), kind)}
    if not isinstance(code, dict):
        raise where.error(f"{key} must be a local path or a mapping", path)
    if "S3Bucket" in code or "ImageUri" in code:
        raise where.error(f"{key} from S3 or a container image is not supported by Lamina: give a local path",
                          path)
    local = code.get("ZipFile")
    if not isinstance(local, LocalPath):
        return resource
    runtime = resource.properties.get("Runtime")
    if kind == "layer":
        runtimes = resource.properties.get("CompatibleRuntimes")
        runtime = runtimes[0] if isinstance(runtimes, list) and runtimes else None
    local = dataclasses.replace(local, runtime=runtime if isinstance(runtime, str) else "")
    return dataclasses.replace(resource, properties={**resource.properties, key: {**code, "ZipFile": local}})
