"""Planning: what a deploy will do to each resource, decided without calling the server.

:func:`plan` compares a loaded :class:`~lamina.deploy.model.Stack` with the stack's recorded
:class:`~lamina.deploy.state.StackState`. Every resource gets an action:

==============  ==========================================================================
``create``      not in the record
``update``      changed in place (``changed`` names the properties)
``replace``     a change the resource cannot take in place (a new function name, new layer
                content, a new version): a new one is made and the old one deleted after
``unchanged``   same fingerprint (resolved properties, code SHA-256) as the last deploy
``no-op``       a type Lamina only records (IAM roles and policies, queue policies)
``delete``      in the record but no longer in the template (kept when DeletionPolicy is Retain)
==============  ==========================================================================

A value of a resource that is created or replaced is only known after apply; a property holding
one counts as changed, and apply compares fingerprints again with the real values, so a plan's
``update`` may turn out to be nothing. Template resources come first, in dependency order
(:func:`order`); deletes follow in reverse dependency order (:func:`delete_order`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lamina.deploy.build import Artifact
from lamina.deploy.handlers import HANDLERS, handler_for
from lamina.deploy.handlers.base import DeployError, Handler
from lamina.deploy.model import GetAtt, LocalPath, Ref, Resource, Stack, TemplateError, markers
from lamina.deploy.state import INCOMPLETE, ResourceState, StackState
from lamina.deploy.values import Unknown, changed_properties, fingerprint, resolve

CREATE, UPDATE, REPLACE, UNCHANGED, NOOP, DELETE = "create", "update", "replace", "unchanged", "no-op", "delete"
#: What apply reports for a delete DeletionPolicy Retain keeps in place.
RETAINED = "retained"


class Progress(Protocol):
    """Where the engine reports long work: ``start`` a phase of ``total`` steps, ``advance`` one."""

    def start(self, phase: str, total: int) -> None: ...

    def advance(self, label: str) -> None: ...


class NullProgress:
    def start(self, phase: str, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass


@dataclass(frozen=True)
class Change:
    """One resource's planned action. ``resource`` is the template's (None for a delete),
    ``prior`` the recorded one (None for a create)."""

    logical_id: str
    type: str
    action: str
    changed: tuple[str, ...] = ()
    resource: Resource | None = None
    prior: ResourceState | None = None

    @property
    def retain(self) -> bool:
        """A delete that leaves the resource in place (DeletionPolicy Retain)."""
        return self.action == DELETE and self.prior is not None and self.prior.deletion_policy == "Retain"


@dataclass(frozen=True)
class Plan:
    """What :func:`lamina.deploy.apply.apply` will do. ``stack`` is None when deleting a whole stack."""

    stack: Stack | None
    prior: StackState
    changes: tuple[Change, ...]
    artifacts: Mapping[LocalPath, Artifact] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        """Whether applying would change anything (a no-op resource not yet recorded counts)."""
        return any(c.action not in (UNCHANGED, NOOP) or c.logical_id not in self.prior.resources
                   for c in self.changes)


def plan(stack: Stack, prior: StackState, *, build: Callable[[LocalPath], Artifact],
         progress: Progress | None = None) -> Plan:
    """Plan deploying ``stack`` over ``prior``. Builds the stack's code with ``build`` (a code
    change is a change); refuses templates Lamina cannot deploy with a TemplateError naming the
    resource and its line, before anything changes."""
    handlers = _check(stack)
    sequence = order(stack.resources, source=stack.source)
    artifacts = _build_all(stack, sequence, build, progress or NullProgress())
    known: dict[str, dict[str, str] | None] = {}
    fingerprints: dict[str, str] = {}
    changes: list[Change] = []
    for lid in sequence:
        resource, handler = stack.resources[lid], handlers[lid]
        lookup = _plan_lookup(known, stack, resource)
        desired = resolve(resource.properties, lookup, artifacts)
        content = tuple(fingerprints[x] for x in handler.content_of(resource) if x in fingerprints)
        fingerprints[lid] = fingerprint(resource.type, desired, content)
        change = _decide(resource, handler, prior.resources.get(lid), desired, fingerprints[lid])
        known[lid] = _known_after(change, handler, stack)
        changes.append(change)
    doomed = list(prior.pending_deletes) + [item for lid, item in prior.resources.items() if lid not in stack.resources]
    changes.extend(Change(item.logical_id, item.type, DELETE, prior=item) for item in delete_order(doomed))
    return Plan(stack, prior, tuple(changes), artifacts)


def plan_delete(prior: StackState) -> Plan:
    """Plan removing everything ``prior`` records, dependents first."""
    everything = list(prior.pending_deletes) + list(prior.resources.values())
    return Plan(None, prior, tuple(Change(item.logical_id, item.type, DELETE, prior=item)
                                   for item in delete_order(everything)))


def order(resources: Mapping[str, Resource], *, source: Any = None) -> list[str]:
    """Logical ids so that every resource comes after those it references; ties keep template order.

    TemplateError for a reference to no resource and for a dependency cycle.
    """
    needs: dict[str, set[str]] = {}
    for lid, resource in resources.items():
        refs = resource.references() - {lid}
        missing = sorted(refs - set(resources))
        if missing:
            raise TemplateError(f"{lid} refers to {', '.join(missing)}, which is not a resource of the template",
                                source=source, line=resource.line)
        needs[lid] = refs
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(resources):
        ready = [lid for lid in resources if lid not in placed and needs[lid] <= placed]
        if not ready:
            cycle = sorted(lid for lid in resources if lid not in placed)
            raise TemplateError(f"circular dependency between resources: {', '.join(cycle)}", source=source)
        done.append(ready[0])
        placed.add(ready[0])
    return done


def delete_order(items: Sequence[ResourceState]) -> list[ResourceState]:
    """``items`` so that each comes before the resources it depended on (reverse creation order)."""
    remaining = list(items)
    result: list[ResourceState] = []
    while remaining:
        # Deletable now: nothing still remaining depends on it.
        needed = {dep for item in remaining for dep in item.depends_on if dep != item.logical_id}
        ready = next((item for item in remaining if item.logical_id not in needed), remaining[0])
        result.append(ready)
        remaining.remove(ready)
    return result


def _check(stack: Stack) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    unsupported: list[str] = []
    for lid, resource in stack.resources.items():
        handler = handler_for(resource.type)
        if handler is None:
            unsupported.append(f"{lid} ({resource.type})")
            continue
        try:
            handler.check(resource, stack)
        except DeployError as error:
            raise TemplateError(f"{lid} ({resource.type}): {error}", source=stack.source, line=resource.line) from None
        handlers[lid] = handler
    if unsupported:
        raise TemplateError(f"Lamina cannot deploy {', '.join(unsupported)}; it deploys "
                            f"{', '.join(sorted(HANDLERS))}", source=stack.source)
    for lid, resource in stack.resources.items():
        for marker in markers(resource.properties):
            target = stack.resources.get(marker.logical_id)
            if (isinstance(marker, GetAtt) and target is not None and target.type in HANDLERS
                    and marker.attribute not in HANDLERS[target.type].attributes):
                raise TemplateError(f"{lid}: Fn::GetAtt {marker.logical_id}.{marker.attribute}: {target.type} "
                                    "has no such attribute", source=stack.source, line=resource.line)
    return handlers


def _local_paths(value: Any) -> Iterator[LocalPath]:
    if isinstance(value, LocalPath):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _local_paths(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _local_paths(item)


def _build_all(stack: Stack, sequence: list[str], build: Callable[[LocalPath], Artifact],
               progress: Progress) -> dict[LocalPath, Artifact]:
    wanted = list(dict.fromkeys(p for lid in sequence for p in _local_paths(stack.resources[lid].properties)))
    progress.start("building", len(wanted))
    artifacts: dict[LocalPath, Artifact] = {}
    for path in wanted:
        artifacts[path] = build(path)
        progress.advance(str(path.path))
    return artifacts


def _plan_lookup(known: Mapping[str, dict[str, str] | None], stack: Stack,
                 resource: Resource) -> Callable[[Ref | GetAtt], str | Unknown]:
    def lookup(marker: Ref | GetAtt) -> str | Unknown:
        name = "Ref" if isinstance(marker, Ref) else marker.attribute
        attributes = known.get(marker.logical_id)
        if attributes is None or name not in attributes:
            return Unknown(f"{marker.logical_id}.{name}" if name != "Ref" else marker.logical_id)
        return attributes[name]

    return lookup


def _decide(resource: Resource, handler: Handler, prior: ResourceState | None, desired: Mapping[str, Any],
            fp: str) -> Change:
    lid, kind = resource.logical_id, resource.type
    if handler.noop:
        return Change(lid, kind, NOOP, resource=resource, prior=prior)
    if prior is None:
        return Change(lid, kind, CREATE, tuple(sorted(desired)), resource=resource)
    if prior.type != kind:
        return Change(lid, kind, REPLACE, ("Type",), resource=resource, prior=prior)
    if fp == prior.fingerprint:
        return Change(lid, kind, UNCHANGED, resource=resource, prior=prior)
    changed = changed_properties({} if prior.fingerprint == INCOMPLETE else prior.properties, desired)
    if not changed:
        # Only what it captures changed: a version whose function has new code or configuration.
        changed = tuple(f"(content of {x})" for x in handler.content_of(resource)) or ("(dependencies)",)
    replace = handler.replace_on is None or bool(set(changed) & handler.replace_on)
    if prior.fingerprint == INCOMPLETE and handler.replace_on is not None:
        replace = False  # it exists but its creation did not finish: finish it in place
    return Change(lid, kind, REPLACE if replace else UPDATE, changed, resource=resource, prior=prior)


def _known_after(change: Change, handler: Handler, stack: Stack) -> dict[str, str] | None:
    """What markers to the resource resolve to after apply, when that is known now."""
    if change.action == NOOP and change.resource is not None:
        return handler.static_attributes(change.resource, stack)
    if change.action in (UNCHANGED, UPDATE) and change.prior is not None:
        return change.prior.attributes
    return None
