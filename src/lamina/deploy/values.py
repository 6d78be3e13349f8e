"""Property values: resolving markers, values known only after apply, and fingerprints.

A template's properties hold markers (:class:`~lamina.deploy.model.Ref`, ``GetAtt``, ``Concat``)
and code (:class:`~lamina.deploy.model.LocalPath`). :func:`resolve` replaces markers through a
lookup and code by its built :class:`~lamina.deploy.build.Artifact`. While planning, a marker to a
resource that does not exist yet resolves to :class:`Unknown`; a property holding one is "known
after apply". :func:`to_json` is the stored and compared form (code as ``sha256:<hex>``) and
:func:`fingerprint` hashes it: equal fingerprints mean there is nothing to change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.deploy.build import Artifact
from lamina.deploy.model import Concat, GetAtt, LocalPath, Ref


@dataclass(frozen=True)
class Unknown:
    """A value that exists once another resource is created: ``what`` is ``Logical.Attribute``."""

    what: str

    def __str__(self) -> str:
        return f"(known after apply: {self.what})"


Lookup = Callable[[Ref | GetAtt], "str | Unknown"]


class MissingArtifact(KeyError):
    """Code that was not built before resolving (a bug in the caller, never the user's input)."""


def resolve(value: Any, lookup: Lookup, artifacts: Mapping[LocalPath, Artifact]) -> Any:
    """``value`` with every marker looked up and every LocalPath replaced by its artifact.

    A :class:`Concat` with an unknown part is unknown as a whole.
    """
    if isinstance(value, Ref | GetAtt):
        return lookup(value)
    if isinstance(value, Concat):
        pieces = [part if isinstance(part, str) else lookup(part) for part in value.parts]
        unknown = next((p for p in pieces if isinstance(p, Unknown)), None)
        return unknown if unknown is not None else "".join(str(p) for p in pieces)
    if isinstance(value, LocalPath):
        if value not in artifacts:
            raise MissingArtifact(str(value.path))
        return artifacts[value]
    if isinstance(value, Mapping):
        return {key: resolve(item, lookup, artifacts) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, lookup, artifacts) for item in value]
    return value


def has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_unknown(item) for item in value)
    return False


def to_json(value: Any) -> Any:
    """The JSON form of a resolved value, as stored in the stack record and compared between deploys."""
    if isinstance(value, Artifact):
        return f"sha256:{value.sha256}"
    if isinstance(value, Unknown):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def fingerprint(resource_type: str, properties: Mapping[str, Any], content: tuple[str, ...] = ()) -> str:
    """A hash of what a resource is: its type, resolved properties (code by SHA-256) and the
    fingerprints of resources whose content it captures (``content``, e.g. a version's function)."""
    document = json.dumps({"type": resource_type, "properties": to_json(properties), "content": list(content)},
                          sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(document.encode()).hexdigest()


def changed_properties(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level property names whose JSON form differs (added, removed or changed), sorted;
    a property known only after apply counts as changed."""
    old, new = to_json(before), to_json(after)
    names = set(old) | set(new)
    return tuple(sorted(n for n in names if old.get(n) != new.get(n) or has_unknown(after.get(n))))
