"""The contract between template loading and deploying.

:func:`lamina.deploy.template.load` turns a SAM template, a plain CloudFormation template or a
``serverless.yml`` into a :class:`Stack`: CloudFormation resources (``AWS::Lambda::Function``,
``AWS::SQS::Queue``, ``AWS::ApiGatewayV2::Api``, …) after SAM expansion, with every intrinsic that can
be resolved without running anything already resolved (parameters, pseudo parameters, conditions,
mappings, ``Fn::Sub``/``Fn::Join``/``Fn::Select``/``Fn::Split`` over known values). What only exists
once a resource does (its name, ARN, URL, a published version number) stays as a marker —
:class:`Ref`, :class:`GetAtt`, or :class:`Concat` when such a value is part of a string — and the
deploy engine resolves markers in dependency order. Local code (``CodeUri``, ``ContentUri``, a
``serverless.yml`` handler's folder) is a :class:`LocalPath` the engine builds and uploads.

Property values are JSON values (dict, list, str, int, float, bool, None) or markers, nested freely.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Ref:
    """``{"Ref": logical_id}`` to a resource: its physical id (a function's name, a queue's URL, …)."""

    logical_id: str


@dataclass(frozen=True)
class GetAtt:
    """``{"Fn::GetAtt": [logical_id, attribute]}``: e.g. ``Arn`` of a function or queue, ``Version``."""

    logical_id: str
    attribute: str


@dataclass(frozen=True)
class Concat:
    """A string made of literal pieces and resource values (what ``Fn::Sub``/``Fn::Join`` leave)."""

    parts: tuple[str | Ref | GetAtt, ...]


@dataclass(frozen=True)
class LocalPath:
    """Code on this machine: a folder (or a .zip file) the engine packages and uploads.

    ``kind`` is ``"function"`` (built like ``sam build``: ``requirements.txt`` / ``package.json``
    dependencies installed into the package) or ``"layer"`` (zipped as is; a ``requirements.txt``
    in it goes to ``python/``). ``runtime`` says which builder applies ("" when unknown).
    """

    path: Path
    kind: str = "function"
    runtime: str = ""


@dataclass(frozen=True)
class Resource:
    """One CloudFormation resource of a stack."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    #: Line of the resource (or of the SAM resource it was expanded from) in the source file.
    line: int | None = None
    #: CloudFormation's DeletionPolicy ("Delete" unless the template says otherwise; SAM's versions "Retain").
    deletion_policy: str = "Delete"

    def references(self) -> set[str]:
        """Logical ids this resource needs to exist first: DependsOn plus every marker in its properties."""
        found = set(self.depends_on)
        for marker in markers(self.properties):
            found.add(marker.logical_id)
        return found


@dataclass(frozen=True)
class Stack:
    """A loaded template: resources in template order, outputs, and where it came from."""

    name: str
    source: Path
    region: str
    account_id: str
    resources: Mapping[str, Resource]
    outputs: Mapping[str, Any] = field(default_factory=dict)


def markers(value: Any) -> Iterator[Ref | GetAtt]:
    """Every :class:`Ref` and :class:`GetAtt` inside ``value`` (including inside :class:`Concat`)."""
    if isinstance(value, Ref | GetAtt):
        yield value
    elif isinstance(value, Concat):
        for part in value.parts:
            if not isinstance(part, str):
                yield part
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from markers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from markers(item)


class TemplateError(Exception):
    """A template Lamina cannot deploy; ``str()`` reads ``file:line: message`` when the line is known."""

    def __init__(self, message: str, *, source: Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        where = f"{source.name if source else 'template'}:{line}: " if line else (f"{source.name}: " if source else "")
        super().__init__(where + message)
