"""SAM templates to CloudFormation with AWS's own translator (aws-sam-translator, the ``lamina[sam]`` extra).

:func:`expand` checks what Lamina cannot run before translating (event types; container images; code
in S3), points every local ``CodeUri``/``ContentUri`` at a placeholder S3 object the translator accepts
(``s3://lamina-local/<content hash>``: the hash makes ``AutoPublishAlias``'s version logical id
``FnVersion<hash>`` change exactly when the code does), translates offline, and puts the local code
back as ``Code: {"ZipFile": LocalPath(folder)}`` (``AWS::Lambda::Function``) and ``Content:
{"ZipFile": LocalPath(folder, kind="layer")}`` (``AWS::Lambda::LayerVersion``). Intrinsics other
than the ones the translator itself needs stay for :mod:`.intrinsics`.

Every generated resource keeps a way back to the SAM resource (or event) it came from, so errors about
``FnAliaslive`` or ``FnRole`` point at ``Fn``'s line: the translator copies a SAM resource's
``Metadata`` onto what it generates, and we put the source's logical id there for the trip.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.deploy.build import SKIPPED_DIRS
from lamina.deploy.cfnyaml import Locator, NodePath
from lamina.deploy.intrinsics import NO_VALUE, Context, Resolver
from lamina.deploy.model import LocalPath, TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
SAM_TYPES = frozenset({
    "AWS::Serverless::Function", "AWS::Serverless::LayerVersion", "AWS::Serverless::Api", "AWS::Serverless::HttpApi",
})
#: Event source types of AWS::Serverless::Function that Lamina runs.
SUPPORTED_EVENTS = frozenset({"Api", "HttpApi", "SQS"})
LOCAL_BUCKET = "lamina-local"
_SOURCE_KEY = "LaminaSource"


@dataclass(frozen=True)
class Expanded:
    """A SAM template after translation: plain CloudFormation, and lines that point into the SAM source."""

    template: dict[str, Any]
    where: Locator
    #: The SAM resource each generated resource comes from (by logical id), where known.
    sources: Mapping[str, str]


def is_sam(transforms: list[str]) -> bool:
    return SAM_TRANSFORM in transforms


def expand(template: Mapping[str, Any], *, resolver: Resolver, where: Locator, base_dir: Path, context: Context,
           parameters: Mapping[str, Any]) -> Expanded:
    """Translate ``template`` (whose resources ``resolver`` knows) into CloudFormation.

    Local paths are relative to ``base_dir``. ``parameters`` are the checked parameter values, given to
    the translator together with the pseudo parameters of ``context``.
    """
    source = copy.deepcopy(dict(template))
    resources: dict[str, Any] = source.get("Resources") or {}
    check_functions(source, resolver, where)
    code = _CodeRewriter(resolver, where, base_dir)
    code.rewrite(source, resources)
    for logical_id, resource in resources.items():
        if isinstance(resource, dict) and resource.get("Type") in SAM_TYPES:
            metadata = resource.setdefault("Metadata", {})
            if isinstance(metadata, dict):
                metadata[_SOURCE_KEY] = logical_id
    values = {**context.pseudo_parameters(), **parameters}
    translated = _translate(source, values, context.region, where)
    # The translator edits its input (implicit APIs join the resources and the events name them), so
    # generated resources are traced back through the template as written.
    origins = _restore(translated, code.paths, template.get("Resources") or {})
    line_of = _lines_through(origins, where)
    generated = translated.get("Resources") or {}
    order = sorted(generated, key=lambda logical_id: (line_of(("Resources", logical_id)) or 0,
                                                      origins.get(logical_id) != ("Resources", logical_id)))
    translated["Resources"] = {logical_id: generated[logical_id] for logical_id in order}
    sources = {logical_id: str(origin[1]) for logical_id, origin in origins.items() if len(origin) > 1}
    return Expanded(translated, Locator(where.source, line_of), sources)


def check_functions(template: Mapping[str, Any], resolver: Resolver, where: Locator) -> None:
    """Refuse, before translating, what a function asks for and Lamina cannot do (never skipped silently).

    Events other than :data:`SUPPORTED_EVENTS`, container images, and ``DeploymentPreference`` (CodeDeploy).
    """
    globals_ = template.get("Globals")
    function_globals = globals_.get("Function") if isinstance(globals_, dict) else None
    if isinstance(function_globals, dict):
        _check_function_properties("Globals", function_globals, ("Globals", "Function"), where)
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        if not resolver.included(logical_id):
            continue
        properties = resource.get("Properties") or {}
        path: NodePath = ("Resources", logical_id, "Properties")
        _check_function_properties(f"function {logical_id}", properties, path, where)
        events = properties.get("Events") or {}
        if not isinstance(events, dict):
            raise where.error(f"Events of function {logical_id} must be a mapping", (*path, "Events"))
        for name, event in events.items():
            kind = event.get("Type") if isinstance(event, dict) else None
            if kind not in SUPPORTED_EVENTS:
                raise where.error(f'Event "{name}" of type {kind} (function {logical_id}) is not supported by '
                                  "Lamina yet", (*path, "Events", name))


def _check_function_properties(owner: str, properties: Mapping[str, Any], path: NodePath, where: Locator) -> None:
    if properties.get("PackageType") == "Image" or "ImageUri" in properties:
        raise where.error(f"{owner} is a container image: Lamina runs zip functions only", path)
    if "DeploymentPreference" in properties:
        raise where.error(f"DeploymentPreference ({owner}) is not supported by Lamina yet: it needs CodeDeploy",
                          (*path, "DeploymentPreference"))


def content_hash(path: Path) -> str:
    """A digest of a folder's files (names and bytes) or of a .zip file.

    Folders the builder never packages (:data:`~lamina.deploy.build.SKIPPED_DIRS`: caches, build output)
    are left out, so a build inside the code folder does not make new code.
    """
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
        return digest.hexdigest()[:32]
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if name not in SKIPPED_DIRS)
        for name in sorted(files):
            file = Path(folder, name)
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def local_code(value: Any, *, key: str, base_dir: Path, where: Locator, path: NodePath) -> Path:
    """The local folder or .zip file a code property (``key``) names, relative to ``base_dir``.

    Refuses code in S3 (Lamina has no S3) and paths that do not exist, with the property's line.
    """
    if isinstance(value, dict) or (isinstance(value, str) and value.startswith("s3://")):
        raise where.error(f"{key} in S3 is not supported by Lamina: point {key} at a local folder", path)
    if not isinstance(value, str) or not value:
        raise where.error(f"{key} must be a path to a local folder or .zip file", path)
    local = Path(os.path.abspath(base_dir / value))
    if not local.exists():
        raise where.error(f'{key} "{value}" does not exist ({local})', path)
    if local.is_file() and local.suffix.lower() != ".zip":
        raise where.error(f'{key} "{value}" must be a folder or a .zip file', path)
    return local


class _CodeRewriter:
    """Local ``CodeUri``/``ContentUri`` to ``s3://lamina-local/<hash>``; remembers which hash is which path."""

    def __init__(self, resolver: Resolver, where: Locator, base_dir: Path) -> None:
        self._resolver = resolver
        self._where = where
        self._base_dir = base_dir
        self.paths: dict[str, Path] = {}

    def rewrite(self, template: dict[str, Any], resources: dict[str, Any]) -> None:
        globals_ = template.get("Globals")
        function_globals = globals_.get("Function") if isinstance(globals_, dict) else None
        if isinstance(function_globals, dict) and "CodeUri" in function_globals:
            self._replace(function_globals, "CodeUri", ("Globals", "Function", "CodeUri"))
        for logical_id, resource in resources.items():
            if not isinstance(resource, dict) or not self._resolver.included(logical_id):
                continue
            properties = resource.get("Properties")
            key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
                str(resource.get("Type")))
            if key and isinstance(properties, dict) and key in properties:
                self._replace(properties, key, ("Resources", logical_id, "Properties", key))

    def _replace(self, holder: dict[str, Any], key: str, path: NodePath) -> None:
        value = self._resolver.value(holder[key], path)
        if value is NO_VALUE:
            del holder[key]
            return
        local = local_code(value, key=key, base_dir=self._base_dir, where=self._where, path=path)
        digest = content_hash(local)
        self.paths.setdefault(digest, local)
        holder[key] = f"s3://{LOCAL_BUCKET}/{digest}"


def _translate(template: dict[str, Any], values: dict[str, Any], region: str, where: Locator) -> dict[str, Any]:
    # Imported here, not at the top: the translator brings pydantic and jsonschema (about half a second
    # to import), and only SAM templates need it.
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template
    except ImportError:
        raise where.error("SAM templates need aws-sam-translator: pip install 'lamina[sam]'", ("Transform",)) from None

    # What samtranslator.translator.transform.transform does, but with a stand-in for the boto3 session:
    # the translator only reads its region_name, and a real one would look for AWS configuration.
    translator = Translator(None, Parser(), boto_session=_Session(region))
    try:
        to_py27_compatible_template(template, values)
        translated = translator.translate(template, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        raise _document_error(exc.causes, template, where) from None
    except TemplateError:
        raise
    except Exception as exc:  # the translator's own failures (KeyError and the like on odd input)
        raise where.error(f"the SAM translator failed: {type(exc).__name__}: {exc}", ("Resources",)) from exc
    finally:
        # Its metrics go to a publisher that drops them; unpublished ones make it warn on stderr at exit.
        translator.metrics.publish()
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


@dataclass(frozen=True)
class _Session:
    region_name: str


def _document_error(causes: list[Any], template: Mapping[str, Any], where: Locator) -> TemplateError:
    located: list[tuple[int | None, str]] = []
    for cause in causes:
        message = str(getattr(cause, "message", cause))
        located.append((where.line_of(_cause_path(cause, message, template)), message))
    first_line = next((line for line, _ in located if line is not None), None)
    if len(located) == 1:
        return TemplateError(located[0][1], source=where.source, line=first_line)
    listing = "\n".join(f"  line {line}: {message}" if line else f"  {message}" for line, message in located)
    return TemplateError(f"the SAM template has {len(located)} problems:\n{listing}", source=where.source,
                         line=first_line)


def _cause_path(cause: Any, message: str, template: Mapping[str, Any]) -> NodePath:
    resources = template.get("Resources") or {}
    named = getattr(cause, "_logical_id", None) or getattr(cause, "_event_id", None)
    candidates = named if isinstance(named, list) else [named] if named else re.findall(r"\[([^\]]+)\]", message)
    for name in candidates:
        if name in resources:
            return ("Resources", name)
        for logical_id, resource in resources.items():
            events = (resource.get("Properties") or {}).get("Events") if isinstance(resource, dict) else None
            for event in events if isinstance(events, dict) else ():
                # An event's generated resources are named <function><event> (ApiWork), or by the event alone.
                if name in (event, f"{logical_id}{event}"):
                    return ("Resources", logical_id, "Properties", "Events", event)
        prefixes = [logical_id for logical_id in resources if str(name).startswith(logical_id)]
        if prefixes:
            return ("Resources", max(prefixes, key=len))
    return ("Resources",)


def _restore(translated: dict[str, Any], paths: Mapping[str, Path], sources: Mapping[str, Any]) -> dict[str, NodePath]:
    """Put local code back, take our Metadata off, and say which source node each resource came from."""
    origins: dict[str, NodePath] = {}
    for logical_id, resource in (translated.get("Resources") or {}).items():
        metadata = resource.get("Metadata")
        if isinstance(metadata, dict) and _SOURCE_KEY in metadata:
            origins[logical_id] = ("Resources", metadata.pop(_SOURCE_KEY))
            if not metadata:
                del resource["Metadata"]
        else:
            origins[logical_id] = _guess_origin(logical_id, sources)
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        for kind, key, resource_type in (("function", "Code", "AWS::Lambda::Function"),
                                          ("layer", "Content", "AWS::Lambda::LayerVersion")):
            location = properties.get(key)
            if resource.get("Type") == resource_type and isinstance(location, dict) \
                    and location.get("S3Bucket") == LOCAL_BUCKET and location.get("S3Key") in paths:
                properties[key] = {"ZipFile": LocalPath(paths[location["S3Key"]], kind=kind)}
    return origins


def _guess_origin(logical_id: str, sources: Mapping[str, Any]) -> NodePath:
    # The implicit APIs (ServerlessRestApi…, ServerlessHttpApi…) come from the first event that uses them.
    for prefix, kind, api_key in (("ServerlessRestApi", "Api", "RestApiId"), ("ServerlessHttpApi", "HttpApi", "ApiId")):
        if logical_id.startswith(prefix):
            for source_id, resource in sources.items():
                events = (resource.get("Properties") or {}).get("Events") if isinstance(resource, dict) else None
                for name, event in (events or {}).items() if isinstance(events, dict) else ():
                    if isinstance(event, dict) and event.get("Type") == kind \
                            and api_key not in (event.get("Properties") or {}):
                        return ("Resources", source_id, "Properties", "Events", name)
    if logical_id in sources:
        return ("Resources", logical_id)
    prefixes = [source_id for source_id in sources if logical_id.startswith(source_id)]
    return ("Resources", max(prefixes, key=len)) if prefixes else ("Resources",)


def _lines_through(origins: Mapping[str, NodePath], where: Locator) -> Callable[[NodePath], int | None]:
    def line_of(path: NodePath) -> int | None:
        if len(path) >= 2 and path[0] == "Resources" and path[1] in origins:
            origin = origins[str(path[1])]
            # Below a resource the source's paths only match when the logical id did not change.
            return where.line_of((*origin, *path[2:]) if origin == path[:2] else origin)
        return where.line_of(path)

    return line_of
