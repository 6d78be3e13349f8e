"""An event source mapping: its settings, its lifecycle and the rules its settings follow.

States (https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html):
Create answers ``Creating``; the mapping then becomes ``Enabled`` (or ``Disabled`` when created with
``Enabled=false``). Update answers ``Enabling`` / ``Disabling`` / ``Updating`` and settles on
``Enabled`` or ``Disabled``; Delete answers ``Deleting`` and the mapping is gone after it. While a
mapping is in a passing state, Update and Delete are refused with ``ResourceInUseException``, as on
AWS. :data:`TRANSITIONS` is the only way states change.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from lamina.errors import InvalidParameterValueException

DEFAULT_BATCH_SIZE = 10
#: Standard queues take batches up to 10,000 with a batching window; FIFO queues up to 10.
FIFO_MAX_BATCH_SIZE = 10
MAX_FILTERS = 5


class MappingState(enum.StrEnum):
    CREATING = "Creating"
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    UPDATING = "Updating"
    DELETING = "Deleting"


TRANSITIONS: dict[MappingState, frozenset[MappingState]] = {
    MappingState.CREATING: frozenset({MappingState.ENABLED, MappingState.DISABLED}),
    MappingState.ENABLING: frozenset({MappingState.ENABLED}),
    MappingState.ENABLED: frozenset({MappingState.DISABLING, MappingState.UPDATING, MappingState.DELETING}),
    MappingState.DISABLING: frozenset({MappingState.DISABLED}),
    MappingState.DISABLED: frozenset({MappingState.ENABLING, MappingState.UPDATING, MappingState.DELETING}),
    MappingState.UPDATING: frozenset({MappingState.ENABLED, MappingState.DISABLED}),
    MappingState.DELETING: frozenset(),
}
SETTLED = frozenset({MappingState.ENABLED, MappingState.DISABLED})


class IllegalTransition(RuntimeError):
    """A state change :data:`TRANSITIONS` does not allow."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """One mapping. ``function_arn`` is as AWS reports it: qualified only when created qualified."""

    uuid: str
    region: str
    account_id: str
    function_arn: str
    event_source_arn: str
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: int = 0
    filters: tuple[str, ...] = ()
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True
    state: MappingState = MappingState.CREATING
    state_reason: str = "USER_INITIATED"
    last_modified: float = 0.0
    last_result: str = "No records processed"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:event-source-mapping:{self.uuid}"

    @property
    def function_name(self) -> str:
        return self.function_arn.split(":")[6]

    @property
    def qualifier(self) -> str | None:
        parts = self.function_arn.split(":")
        return parts[7] if len(parts) > 7 else None

    @property
    def busy(self) -> bool:
        return self.state not in SETTLED

    def replace(self, **changes: Any) -> Mapping:
        return dataclasses.replace(self, **changes)

    def with_state(self, state: MappingState) -> Mapping:
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"event source mapping state {self.state} cannot become {state}")
        return self.replace(state=state)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["filters"] = list(self.filters)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mapping:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["filters"] = tuple(values.get("filters", ()))
        values["state"] = MappingState(values.get("state", MappingState.CREATING))
        return cls(**values)


def check_sqs_batching(batch_size: int, batching_window_s: int, fifo: bool) -> None:
    """The batching rules of SQS sources (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html)."""
    if fifo and batch_size > FIFO_MAX_BATCH_SIZE:
        raise InvalidParameterValueException(
            f"Batch size for SQS FIFO queues must be between 1 and {FIFO_MAX_BATCH_SIZE}; got {batch_size}.")
    if fifo and batching_window_s:
        raise InvalidParameterValueException("MaximumBatchingWindowInSeconds is not supported for SQS FIFO queues.")
    # AWS's wording for a standard queue's batch above 10 without a window.
    if batch_size > DEFAULT_BATCH_SIZE and batching_window_s <= 0:
        raise InvalidParameterValueException(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
