"""Applying a :class:`~lamina.deploy.plan.Plan`: the API calls, in order, and the record of what exists.

Guarantees:

- Resources are made or changed in the plan's dependency order, each with its markers resolved
  from what the resources before it turned out to be; its fingerprint is computed again with those
  real values, and an equal fingerprint means no call at all.
- ``save(state)`` is called after every resource that was created, changed or deleted (and as
  soon as a resource exists, before the handler has finished with it), so the record never
  misses something that exists.
- Replaced resources are deleted after everything else is in place (as CloudFormation does in its
  cleanup phase), unless they share their identity with the new one (``Handler.delete_first``).
  Deletes run dependents first; DeletionPolicy Retain resources are dropped from the record only.
- On the first failure apply stops: the record says which resource failed and why (status
  ``UPDATE_FAILED``), is saved, and :class:`ApplyError` is raised. There is no rollback: what was
  done stays recorded, so deploying again continues and ``lamina delete`` removes everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lamina.deploy.handlers import handler_for
from lamina.deploy.handlers.base import Applied, Clients, Context, DeployError, Handler
from lamina.deploy.model import GetAtt, Ref, Resource
from lamina.deploy.outputs import resolve_outputs
from lamina.deploy.plan import (
    CREATE,
    DELETE,
    NOOP,
    REPLACE,
    RETAINED,
    UNCHANGED,
    UPDATE,
    Change,
    NullProgress,
    Plan,
    Progress,
    delete_order,
)
from lamina.deploy.state import (
    CREATE_COMPLETE,
    DELETE_COMPLETE,
    DELETE_FAILED,
    FAILED,
    IN_PROGRESS,
    INCOMPLETE,
    UPDATE_COMPLETE,
    ResourceState,
    StackState,
)
from lamina.deploy.values import changed_properties, fingerprint, resolve, to_json


@dataclass(frozen=True)
class Done:
    """What apply did to one resource: ``action`` is create, update, replace, unchanged, no-op,
    delete or retained."""

    logical_id: str
    type: str
    action: str
    physical_id: str = ""


@dataclass
class Outcome:
    state: StackState
    done: list[Done] = field(default_factory=list)


class ApplyError(Exception):
    """A resource failed; ``state`` is the saved record (what exists), ``done`` what succeeded."""

    def __init__(self, logical_id: str, resource_type: str, message: str, state: StackState,
                 done: list[Done]) -> None:
        super().__init__(f"{logical_id} ({resource_type}): {message}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.message = message
        self.state = state
        self.done = done


@dataclass
class _Run:
    """One apply in progress: the record being written and what has been done."""

    plan: Plan
    clients: Clients
    save: Callable[[StackState], None]
    sleep: Callable[[float], None]
    timeout_s: float
    state: StackState
    done: list[Done] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)

    def context(self, logical_id: str, resource: Resource | None = None) -> Context:
        record = partial(self._record, resource) if resource is not None else (lambda applied: None)
        return Context(self.clients, self.state.name, self.state.region, self.state.account_id, logical_id,
                       record=record, sleep=self.sleep, timeout_s=self.timeout_s)

    def _record(self, resource: Resource, applied: Applied) -> None:
        self.state.resources[resource.logical_id] = _record(resource, applied, {}, INCOMPLETE)
        self.save(self.state)

    def lookup(self, marker: Ref | GetAtt) -> str:
        name = "Ref" if isinstance(marker, Ref) else marker.attribute
        item = self.state.resources.get(marker.logical_id)
        if item is None or name not in item.attributes:
            raise DeployError(f"{marker.logical_id} has no value for {name} (it was not deployed)")
        return item.attributes[name]

    def fail(self, change: Change, error: Exception, status: str = FAILED) -> ApplyError:
        message = _message(error)
        self.state.status = status
        self.state.error = {"logicalId": change.logical_id, "message": message}
        self.save(self.state)
        return ApplyError(change.logical_id, change.type, message, self.state, self.done)


def apply(plan: Plan, clients: Clients, *, progress: Progress | None = None,
          save: Callable[[StackState], None] = lambda state: None, sleep: Callable[[float], None] = time.sleep,
          timeout_s: float = 120.0) -> Outcome:
    """Carry out ``plan`` with ``clients``; returns the new record (see the module docstring)."""
    progress = progress or NullProgress()
    state = plan.prior.copy()
    run = _Run(plan, clients, save, sleep, timeout_s, state,
               fingerprints={lid: item.fingerprint for lid, item in state.resources.items()})
    # Replacements delete the old resource too, at the end.
    steps = sum(2 if c.action == REPLACE else 1 for c in plan.changes if c.action not in (UNCHANGED, NOOP))
    progress.start("deleting" if plan.stack is None else "deploying", steps)
    if plan.has_changes:
        state.status, state.error = IN_PROGRESS, None
        if plan.stack is not None:
            state.source = str(plan.stack.source)
        save(state)
    for change in plan.changes:
        if change.action == DELETE:
            continue
        _apply_one(run, change)
        if change.action not in (UNCHANGED, NOOP):
            progress.advance(f"{change.logical_id} ({change.action})")
    stack = plan.stack
    removed = [item for lid, item in state.resources.items() if stack is None or lid not in stack.resources]
    _delete_all(run, [*state.pending_deletes, *removed], progress)
    state.outputs = resolve_outputs(plan.stack, state) if plan.stack is not None else {}
    if plan.has_changes or state.status != plan.prior.status:
        if plan.stack is None:
            state.status = DELETE_COMPLETE
        else:
            state.status = UPDATE_COMPLETE if plan.prior.exists else CREATE_COMPLETE
        state.error = None
        save(state)
    return Outcome(state, run.done)


def _apply_one(run: _Run, change: Change) -> None:
    resource = change.resource
    assert resource is not None
    handler = handler_for(resource.type)
    assert handler is not None, resource.type  # plan() refuses unknown types
    state = run.state
    prior = state.resources.get(resource.logical_id)
    if handler.noop:
        assert run.plan.stack is not None
        attributes = handler.static_attributes(resource, run.plan.stack)
        state.resources[resource.logical_id] = _record(resource, Applied(attributes["Ref"], attributes), {}, NOOP)
        run.done.append(Done(resource.logical_id, resource.type, NOOP, attributes["Ref"]))
        return
    try:
        props = resolve(resource.properties, run.lookup, run.plan.artifacts)
        content = tuple(run.fingerprints[x] for x in handler.content_of(resource) if x in run.fingerprints)
        fp = run.fingerprints[resource.logical_id] = fingerprint(resource.type, props, content)
        if prior is not None and prior.type == resource.type and prior.fingerprint == fp:
            # Same as deployed (a planned update whose unknown values turned out the same).
            state.resources[resource.logical_id] = _refreshed(prior, resource)
            run.done.append(Done(resource.logical_id, resource.type, UNCHANGED, prior.physical_id))
            return
        action, applied = _change(run, handler, resource, prior, props)
    except Exception as error:
        if not _reportable(error):
            raise
        raise run.fail(change, error) from error
    state.resources[resource.logical_id] = _record(resource, applied, to_json(props), fp)
    run.save(state)
    run.done.append(Done(resource.logical_id, resource.type, action, applied.physical_id))


def _change(run: _Run, handler: Handler, resource: Resource, prior: ResourceState | None,
            props: Mapping[str, Any]) -> tuple[str, Applied]:
    ctx = run.context(resource.logical_id, resource)
    if prior is None:
        return CREATE, handler.create(ctx, props)
    incomplete = prior.fingerprint == INCOMPLETE
    changed = frozenset(changed_properties({} if incomplete else prior.properties, props))
    replace = prior.type != resource.type or handler.replace_on is None or bool(changed & handler.replace_on)
    if incomplete and prior.type == resource.type and handler.replace_on is not None:
        replace = False
    if not replace:
        return UPDATE, handler.update(ctx, props, prior, changed)
    state = run.state
    if handler.delete_first and prior.type == resource.type:
        handler.delete(run.context(prior.logical_id), prior)
        del state.resources[prior.logical_id]
        run.save(state)
        return REPLACE, handler.create(ctx, props)
    # The old one is deleted at the end; until then the record keeps it among the pending deletes.
    state.pending_deletes.append(prior)
    del state.resources[prior.logical_id]
    run.save(state)
    applied = handler.create(ctx, props)
    if applied.physical_id == prior.physical_id and prior.type == resource.type:
        # The same resource came back (a version of a function that did not change): nothing to delete.
        state.pending_deletes.remove(prior)
        return UNCHANGED, applied
    return REPLACE, applied


def _delete_all(run: _Run, doomed: list[ResourceState], progress: Progress) -> None:
    state = run.state
    # A retained version of a function deleted now goes with it (as on AWS): it is not reported as kept.
    dying = {item.physical_id for item in doomed
             if item.type == "AWS::Lambda::Function" and item.deletion_policy != "Retain"}
    for item in delete_order(doomed):
        change = Change(item.logical_id, item.type, DELETE, prior=item)
        handler = handler_for(item.type)
        action = DELETE
        if item.type == "AWS::Lambda::Version" and str(item.data.get("function", "")).split(":")[-1] in dying:
            pass  # deleted with its function, next
        elif item.deletion_policy == "Retain" or (handler is not None and handler.noop):
            action = RETAINED if item.deletion_policy == "Retain" else NOOP
        else:
            try:
                if handler is None:
                    raise DeployError(f"Lamina cannot delete {item.type} resources")
                handler.delete(run.context(item.logical_id), item)
            except Exception as error:
                if not _reportable(error):
                    raise
                raise run.fail(change, error, DELETE_FAILED if run.plan.stack is None else FAILED) from error
        if item in state.pending_deletes:
            state.pending_deletes.remove(item)
        elif state.resources.get(item.logical_id) is item:
            del state.resources[item.logical_id]
        run.save(state)
        run.done.append(Done(item.logical_id, item.type, action, item.physical_id))
        if action == DELETE:
            progress.advance(f"{item.logical_id} (delete)")


def _record(resource: Resource, applied: Applied, properties: dict[str, Any], fp: str) -> ResourceState:
    return ResourceState(resource.logical_id, resource.type, applied.physical_id, applied.attributes, properties, fp,
                         tuple(sorted(resource.references())), resource.deletion_policy, applied.data)


def _refreshed(prior: ResourceState, resource: Resource) -> ResourceState:
    """``prior`` with the template's current dependencies and deletion policy (no call needed)."""
    return ResourceState(prior.logical_id, prior.type, prior.physical_id, prior.attributes, prior.properties,
                         prior.fingerprint, tuple(sorted(resource.references())), resource.deletion_policy, prior.data)


def _reportable(error: Exception) -> bool:
    """Errors that are the server's answer or the resource's fault (reported with the resource),
    as opposed to bugs, which propagate as they are."""
    if isinstance(error, DeployError):
        return True
    # botocore's ClientError (the server's error) and BotoCoreError (parameter validation, connection).
    return type(error).__module__.startswith("botocore")


def _message(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        details = response["Error"]
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".rstrip(": ")
    return str(error)
