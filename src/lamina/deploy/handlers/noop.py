"""Resources recorded without any call: IAM (Lamina does not enforce roles and policies), queue
policies, and REST API deployments (Lamina serves every change at once).

They still resolve: a role's ``Arn`` is ``arn:aws:iam::<account>:role/<RoleName or stack-LogicalId>``,
so a function's ``Role`` is the same on every deploy and never causes an update.
"""

from __future__ import annotations

import hashlib

from lamina.deploy.handlers.base import Handler
from lamina.deploy.model import Resource, Stack


def _name(resource: Resource, stack: Stack, prop: str, limit: int) -> str:
    given = resource.properties.get(prop)
    return given if isinstance(given, str) and given else f"{stack.name}-{resource.logical_id}"[:limit]


class NoopHandler(Handler):
    noop = True

    def static_attributes(self, resource: Resource, stack: Stack) -> dict[str, str]:
        return {"Ref": f"{stack.name}-{resource.logical_id}"}


class RoleHandler(NoopHandler):
    type = "AWS::IAM::Role"
    attributes = frozenset({"Arn", "RoleId"})

    def static_attributes(self, resource: Resource, stack: Stack) -> dict[str, str]:
        name = _name(resource, stack, "RoleName", 64)
        path = str(resource.properties.get("Path") or "/")
        return {"Ref": name, "Arn": f"arn:aws:iam::{stack.account_id}:role{path}{name}",
                # Deterministic (not hash(): it changes per process), so it never causes an update.
                "RoleId": "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper()}


class ManagedPolicyHandler(NoopHandler):
    type = "AWS::IAM::ManagedPolicy"
    attributes = frozenset({"PolicyArn"})

    def static_attributes(self, resource: Resource, stack: Stack) -> dict[str, str]:
        arn = f"arn:aws:iam::{stack.account_id}:policy/{_name(resource, stack, 'ManagedPolicyName', 128)}"
        return {"Ref": arn, "PolicyArn": arn}


class PolicyHandler(NoopHandler):
    type = "AWS::IAM::Policy"


class QueuePolicyHandler(NoopHandler):
    type = "AWS::SQS::QueuePolicy"


class RestDeploymentHandler(NoopHandler):
    type = "AWS::ApiGateway::Deployment"
    attributes = frozenset({"DeploymentId"})

    def static_attributes(self, resource: Resource, stack: Stack) -> dict[str, str]:
        ident = f"{stack.name}-{resource.logical_id}"[:64]
        return {"Ref": ident, "DeploymentId": ident}
