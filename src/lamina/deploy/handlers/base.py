"""What every resource handler is: the contract between the engine and one CloudFormation type.

A handler turns resolved properties into API calls. Its contract:

- :meth:`Handler.check` runs while planning, on the template's properties (markers unresolved):
  it refuses what Lamina cannot deploy with a :class:`DeployError` saying why, before anything changes.
- :meth:`Handler.create` makes the resource and returns what markers to it resolve to
  (:class:`Applied`). When it makes more than one thing, it calls ``ctx.record`` as soon as the
  first exists, so a failure after that leaves a record ``lamina delete`` can clean up.
- :meth:`Handler.update` changes an existing resource in place to match the properties; ``changed``
  names the top-level properties that differ from the last deploy. It is only called for changes
  outside ``replace_on``; those make a new resource (create, then the old one is deleted).
- :meth:`Handler.delete` removes it; a resource already gone is not an error (deletes are retried).

Errors from the server propagate as botocore's ``ClientError``; the engine reports them with the
resource they happened on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lamina.deploy.model import Resource, Stack
from lamina.deploy.state import ResourceState


class DeployError(Exception):
    """A resource Lamina cannot deploy as written, or a server state that makes it impossible."""


@dataclass(frozen=True)
class Clients:
    """botocore clients for the services a stack uses, all pointed at one Lamina server and region."""

    lambda_: Any
    sqs: Any
    apigatewayv2: Any


@dataclass
class Applied:
    """What a resource is once it exists: its physical id and what markers to it resolve to
    (``"Ref"`` and each ``Fn::GetAtt`` attribute), plus the handler's own bookkeeping."""

    physical_id: str
    attributes: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What a handler call may use: the clients, where the stack lives, and the resource at hand."""

    clients: Clients
    stack_name: str
    region: str
    account_id: str
    logical_id: str
    #: Record a resource as existing before the handler has finished with it (see the module docstring).
    record: Callable[[Applied], None] = lambda applied: None
    sleep: Callable[[float], None] = time.sleep
    timeout_s: float = 120.0

    def wait(self, ready: Callable[[], bool], what: str, interval_s: float = 0.1) -> None:
        """Poll ``ready()`` until it is true; DeployError after ``timeout_s``."""
        deadline = time.monotonic() + self.timeout_s
        while not ready():
            if time.monotonic() >= deadline:
                raise DeployError(f"timed out after {self.timeout_s:g} s waiting for {what}")
            self.sleep(interval_s)

    def generated_name(self, limit: int, suffix: str = "") -> str:
        """A name for a resource the template leaves unnamed: ``<stack>-<LogicalId>``, cut to ``limit``
        characters with ``suffix`` kept. Deterministic, so a redeploy finds the same resource."""
        return f"{self.stack_name}-{self.logical_id}"[:limit - len(suffix)] + suffix


class Handler:
    """Base of every resource handler; see the module docstring for the contract."""

    #: The CloudFormation type handled.
    type: ClassVar[str] = ""
    #: ``Fn::GetAtt`` attributes the resource has (``Ref`` always exists).
    attributes: ClassVar[frozenset[str]] = frozenset()
    #: Properties whose change needs a new resource; None: every change does (immutable resources).
    replace_on: ClassVar[frozenset[str] | None] = frozenset()
    #: A replacement has the same identity as the resource it replaces (a statement id, a function's
    #: only URL): the old one is deleted first instead of after the new one exists.
    delete_first: ClassVar[bool] = False
    #: Nothing to call: the resource is only recorded (IAM, which Lamina does not enforce).
    noop: ClassVar[bool] = False

    def check(self, resource: Resource, stack: Stack) -> None:
        """Refuse what cannot be deployed, before anything changes (DeployError)."""

    def content_of(self, resource: Resource) -> tuple[str, ...]:
        """Logical ids whose fingerprint is part of this resource's (a version captures its function)."""
        return ()

    def static_attributes(self, resource: Resource, stack: Stack) -> dict[str, str]:
        """For ``noop`` handlers: the attributes, known without calling anything."""
        raise NotImplementedError

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        raise NotImplementedError

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        raise NotImplementedError

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        raise NotImplementedError


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def ignore_missing(call: Callable[[], Any], *codes: str) -> None:
    """Run a delete call; a resource that is already gone (``codes``, or the usual not-found
    codes) is what a delete wants, so it is not an error."""
    try:
        call()
    except Exception as error:
        if error_code(error) not in {"ResourceNotFoundException", "NotFoundException", *codes}:
            raise


def tag_dict(value: Any) -> dict[str, str]:
    """CloudFormation's ``[{"Key": k, "Value": v}]`` tags (or a plain map) as a map."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {str(item["Key"]): str(item.get("Value", "")) for item in value or ()}


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
