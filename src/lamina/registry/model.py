"""The function domain model: one immutable snapshot per change.

A :class:`FunctionVersion` is replaced, never mutated, when code or configuration changes; the
invoker holds a reference to the snapshot it started with, so in-flight invocations finish on the
old code while new ones see the new one. ``revision_id`` changes with every snapshot and keys the
warm pools, which is how environments of a changed function are never reused.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from lamina.types import LATEST


class State(enum.StrEnum):
    """``State`` (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html)."""

    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


class UpdateStatus(enum.StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


# Lifecycle transitions; anything else is a programming error, not a silent no-op.
STATE_TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.ACTIVE, State.FAILED}),
    State.ACTIVE: frozenset({State.ACTIVE, State.INACTIVE, State.FAILED}),
    State.INACTIVE: frozenset({State.PENDING, State.ACTIVE}),
    State.FAILED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change the transition table does not allow."""


def check_transition(current: State, target: State) -> None:
    if target not in STATE_TRANSITIONS[current]:
        raise IllegalTransition(f"function state {current} cannot become {target}")


@dataclass(frozen=True, slots=True)
class Code:
    sha256: str          # hex, names the stored blob and tree
    code_sha256: str     # base64 digest, AWS's CodeSha256
    size: int


@dataclass(frozen=True, slots=True)
class FunctionVersion:
    """Everything Lamina knows about one version of one function."""

    region: str
    account_id: str
    name: str
    runtime: str
    handler: str
    role: str
    code: Code
    revision_id: str
    last_modified: str
    version: str = LATEST
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    architectures: tuple[str, ...] = ("x86_64",)
    ephemeral_storage: int = 512
    package_type: str = "Zip"
    tracing_mode: str = "PassThrough"
    log_format: str = "Text"
    log_group: str = ""
    application_log_level: str | None = None
    system_log_level: str | None = None
    dead_letter_target: str | None = None
    kms_key_arn: str | None = None
    state: State = State.PENDING
    state_reason: str | None = "The function is being created."
    state_reason_code: str | None = "Creating"
    last_update_status: UpdateStatus | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: PutFunctionConcurrency; applies to every version, not part of the revision.
    reserved_concurrency: int | None = None
    #: On ``$LATEST``: the number of the newest version ever published (numbers are never reused).
    last_published: int = 0
    #: Layer versions in order: ({"Arn": ..., "CodeSize": ...} as AWS reports them).
    layers: tuple[dict[str, Any], ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"

    @property
    def qualified_arn(self) -> str:
        return f"{self.arn}:{self.version}"

    @property
    def version_arn(self) -> str:
        """The ARN AWS reports for this version: qualified for published versions."""
        return self.arn if self.version == LATEST else self.qualified_arn

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    def replace(self, **changes: Any) -> FunctionVersion:
        return dataclasses.replace(self, **changes)

    def with_state(self, state: State, reason: str | None = None, code: str | None = None) -> FunctionVersion:
        check_transition(self.state, state)
        return self.replace(state=state, state_reason=reason, state_reason_code=code)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["architectures"] = list(self.architectures)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunctionVersion:
        values = dict(data)
        values["code"] = Code(**values["code"])
        values["architectures"] = tuple(values.get("architectures", ("x86_64",)))
        values["layers"] = tuple(values.get("layers", ()))
        values["state"] = State(values["state"])
        status = values.get("last_update_status")
        values["last_update_status"] = UpdateStatus(status) if status else None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
