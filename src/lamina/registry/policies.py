"""Resource-based policies of functions, one document per function and qualifier.

https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html. AddPermission adds a
statement, RemovePermission removes one, GetPolicy returns the document. :func:`allows` evaluates a
document for the callers Lamina checks (function URLs, signed invokes when authentication is on).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from lamina.clock import Clock
from lamina.errors import (
    PolicyLengthExceededException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.registry.functions import FunctionRegistry
from lamina.store.resources import POLICY, Resource, Resources
from lamina.types import FunctionKey

MAX_POLICY_BYTES = 20 * 1024


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[dict[str, Any], ...]
    revision_id: str

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Id": "default", "Statement": list(self.statements)}


def principal_of(value: str) -> str | dict[str, str]:
    """AWS's rendering of AddPermission's Principal: a service, an account, an ARN or anyone."""
    if value == "*":
        return "*"
    if re.fullmatch(r"\d{12}", value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if value.startswith("arn:"):
        return {"AWS": value}
    return {"Service": value}


class PolicyRegistry:
    def __init__(self, functions: FunctionRegistry, resources: Resources, clock: Clock) -> None:
        self._functions = functions
        self._resources = resources
        self._clock = clock
        self._policies: dict[tuple[FunctionKey, str], Policy] = {}
        functions.subscribe(self._on_function_changed)

    def load(self) -> None:
        for item in self._resources.load(POLICY):
            key = (FunctionKey(item.region, item.scope), item.name)
            self._policies[key] = Policy(tuple(item.document["Statement"]), item.document["RevisionId"])

    def get(self, region: str, name: str, qualifier: str = "") -> Policy | None:
        return self._policies.get((FunctionKey(region, name), qualifier))

    async def add(self, region: str, name: str, qualifier: str, statement: dict[str, Any],
                  revision_id: str | None = None) -> Policy:
        current = self.get(region, name, qualifier) or Policy((), "")
        if revision_id is not None and current.revision_id and revision_id != current.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API "
                "to retrieve the latest Revision Id")
        if any(s["Sid"] == statement["Sid"] for s in current.statements):
            raise ResourceConflictException(
                f"The statement id ({statement['Sid']}) provided already exists. Please provide a new statement "
                "id, or remove the existing statement.")
        policy = Policy((*current.statements, statement), str(uuid.uuid4()))
        size = len(json.dumps(policy.document()))
        if size > MAX_POLICY_BYTES:
            raise PolicyLengthExceededException(
                f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).")
        await self._save(region, name, qualifier, policy)
        return policy

    async def remove(self, region: str, name: str, qualifier: str, sid: str, revision_id: str | None = None) -> None:
        current = self.get(region, name, qualifier)
        if current is None or not any(s["Sid"] == sid for s in current.statements):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API "
                "to retrieve the latest Revision Id")
        kept = tuple(s for s in current.statements if s["Sid"] != sid)
        if kept:
            await self._save(region, name, qualifier, Policy(kept, str(uuid.uuid4())))
        else:
            self._policies.pop((FunctionKey(region, name), qualifier), None)
            await asyncio.to_thread(self._resources.delete, POLICY, region, name, qualifier)

    async def drop(self, region: str, name: str, qualifier: str) -> None:
        """Forget the policy of a deleted alias: a new alias of that name is a new resource and
        starts without one, as on AWS."""
        if self._policies.pop((FunctionKey(region, name), qualifier), None) is not None:
            await asyncio.to_thread(self._resources.delete, POLICY, region, name, qualifier)

    async def _save(self, region: str, name: str, qualifier: str, policy: Policy) -> None:
        document = {"Statement": list(policy.statements), "RevisionId": policy.revision_id}
        await asyncio.to_thread(self._resources.put, Resource(POLICY, region, name, qualifier, document,
                                                              self._clock.time()))
        self._policies[(FunctionKey(region, name), qualifier)] = policy

    def _on_function_changed(self, key: FunctionKey) -> None:
        if self._functions.find(key.region, key.name) is None:
            for found in [k for k in self._policies if k[0] == key]:
                del self._policies[found]
            self._resources.delete(POLICY, key.region, key.name)


def allows(policy: Policy | None, action: str, *, account: str | None = None, service: str | None = None,
           source_arn: str | None = None, url_auth_type: str | None = None) -> bool:
    """Whether any statement allows ``action`` for this caller (an account or a service principal)."""
    if policy is None:
        return False
    for statement in policy.statements:
        if statement.get("Effect") != "Allow" or not _matches(statement.get("Action"), action):
            continue
        principal = statement.get("Principal")
        if principal != "*":
            wanted = principal or {}
            if not ((service and wanted.get("Service") == service)
                    or (account and wanted.get("AWS") in (f"arn:aws:iam::{account}:root", account))):
                continue
        if _conditions_hold(statement.get("Condition", {}), account, source_arn, url_auth_type):
            return True
    return False


def _matches(pattern: Any, action: str) -> bool:
    patterns = pattern if isinstance(pattern, list) else [pattern]
    return any(isinstance(p, str) and fnmatch.fnmatchcase(action, p) for p in patterns)


def _conditions_hold(conditions: dict[str, Any], account: str | None, source_arn: str | None,
                     url_auth_type: str | None) -> bool:
    facts = {"aws:sourceaccount": account, "aws:sourcearn": source_arn, "lambda:functionurlauthtype": url_auth_type}
    for operator, checks in conditions.items():
        for key, expected in checks.items():
            actual = facts.get(key.lower())
            if actual is None:
                return False
            if operator in ("ArnLike", "StringLike") and not fnmatch.fnmatchcase(actual, expected):
                return False
            if operator in ("StringEquals", "ArnEquals") and actual != expected:
                return False
    return True
