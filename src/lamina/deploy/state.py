"""What a deployed stack consists of: the record the engine keeps on the server after every step.

A :class:`StackState` is stored as one JSON document per (region, stack) through
``/_lamina/stacks/<name>`` (:mod:`lamina.deploy.endpoints`), written after every resource the
engine creates, changes or deletes, so whatever happens to the client the record names everything
that exists and ``lamina delete`` can remove it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

#: Stack statuses, CloudFormation's words for the same situations.
CREATE_COMPLETE = "CREATE_COMPLETE"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
IN_PROGRESS = "UPDATE_IN_PROGRESS"
FAILED = "UPDATE_FAILED"
DELETE_FAILED = "DELETE_FAILED"
DELETE_COMPLETE = "DELETE_COMPLETE"

#: The fingerprint of a resource that exists but whose creation did not finish: the next plan
#: always updates it.
INCOMPLETE = ""


@dataclass
class ResourceState:
    """One resource the engine made.

    ``attributes`` are what markers resolve to: ``"Ref"`` and every ``Fn::GetAtt`` attribute.
    ``properties`` are the resolved properties as last applied (JSON, code as ``sha256:<hex>``),
    ``fingerprint`` their hash (:func:`lamina.deploy.values.fingerprint`). ``depends_on`` are the
    logical ids it referred to, so deletes can run in reverse order without the template. ``data``
    is the resource handler's own bookkeeping (ids of things it made inside the resource).
    """

    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, str]
    properties: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = INCOMPLETE
    depends_on: tuple[str, ...] = ()
    deletion_policy: str = "Delete"
    data: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {"logicalId": self.logical_id, "type": self.type, "physicalId": self.physical_id,
                "attributes": self.attributes, "properties": self.properties, "fingerprint": self.fingerprint,
                "dependsOn": list(self.depends_on), "deletionPolicy": self.deletion_policy, "data": self.data}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ResourceState:
        return cls(doc["logicalId"], doc["type"], doc["physicalId"], dict(doc.get("attributes") or {}),
                   dict(doc.get("properties") or {}), doc.get("fingerprint", INCOMPLETE),
                   tuple(doc.get("dependsOn") or ()), doc.get("deletionPolicy", "Delete"), dict(doc.get("data") or {}))


@dataclass
class StackState:
    """Everything a stack has made. ``pending_deletes`` are resources a replacement superseded
    whose deletion has not succeeded yet (the next deploy, or ``lamina delete``, retries them)."""

    name: str
    region: str
    account_id: str
    resources: dict[str, ResourceState] = field(default_factory=dict)
    pending_deletes: list[ResourceState] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    status: str = CREATE_COMPLETE
    source: str = ""
    #: The last failure: ``{"logicalId", "message"}``, or None.
    error: dict[str, str] | None = None

    @property
    def exists(self) -> bool:
        """Whether anything of the stack exists (a stack that was never deployed has nothing)."""
        return bool(self.resources or self.pending_deletes)

    def copy(self) -> StackState:
        return copy.deepcopy(self)

    def to_doc(self) -> dict[str, Any]:
        return {"stackName": self.name, "region": self.region, "accountId": self.account_id,
                "status": self.status, "source": self.source, "error": self.error, "outputs": self.outputs,
                "resources": {lid: item.to_doc() for lid, item in self.resources.items()},
                "pendingDeletes": [item.to_doc() for item in self.pending_deletes]}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> StackState:
        return cls(doc["stackName"], doc["region"], doc.get("accountId", ""),
                   {lid: ResourceState.from_doc(item) for lid, item in (doc.get("resources") or {}).items()},
                   [ResourceState.from_doc(item) for item in doc.get("pendingDeletes") or ()],
                   dict(doc.get("outputs") or {}), doc.get("status", CREATE_COMPLETE), doc.get("source", ""),
                   doc.get("error"))
