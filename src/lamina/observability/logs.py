"""Where invocation logs go. This first sink keeps recent log text in memory per log group.

The CloudWatch Logs-compatible store replaces it behind the same :class:`LogSink` protocol; the
invoker only ever calls :meth:`LogSink.write`, off the response path.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LogRecord:
    group: str
    stream: str
    timestamp: float
    text: str


class LogSink(Protocol):
    def write(self, record: LogRecord) -> None:
        """Accept one invocation's log text; must not block."""


class MemoryLogSink:
    """The last ``keep`` records of each log group."""

    def __init__(self, keep: int = 1000) -> None:
        self._keep = keep
        self._groups: dict[str, deque[LogRecord]] = {}

    def write(self, record: LogRecord) -> None:
        group = self._groups.get(record.group)
        if group is None:
            group = self._groups[record.group] = deque(maxlen=self._keep)
        group.append(record)

    def records(self, group: str) -> list[LogRecord]:
        return list(self._groups.get(group, ()))

    def drop(self, group: str) -> None:
        self._groups.pop(group, None)
