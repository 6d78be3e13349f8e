"""Where invocation logs go: the :class:`LogSink` protocol the invoker writes to.

The platform's sink is :class:`lamina.observability.logstore.LogService` (CloudWatch Logs-compatible,
durable); :class:`MemoryLogSink` keeps recent records in memory for tests and tools. The invoker
only ever calls :meth:`LogSink.write`, which must be cheap: it runs before the answer is sent.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple, Protocol

#: A :class:`LogRecord` as a plain tuple (what the server sends the telemetry process).
LogRow = tuple[str, str, float, str, str]


class LogRecord(NamedTuple):
    """One invocation's log text (START, output, END, REPORT; one event per line).

    A named tuple: cheap to build once per invocation, and a plain tuple of the same fields
    (:data:`LogRow`) can stand for it wherever records are only read (:meth:`LogBook.prepare`)."""

    group: str
    stream: str
    #: Seconds since the epoch.
    timestamp: float
    text: str
    #: The function's region; empty means the platform's default region.
    region: str = ""


class LogSink(Protocol):
    def write(self, record: LogRow) -> None:
        """Accept one invocation's log text, as a plain tuple in :class:`LogRecord`'s field order
        (the invoker builds no named tuple on its hot path); must not block."""


class MemoryLogSink:
    """The last ``keep`` records of each log group."""

    def __init__(self, keep: int = 1000) -> None:
        self._keep = keep
        self._groups: dict[str, deque[LogRecord]] = {}

    def write(self, record: LogRow) -> None:
        named = LogRecord._make(record)
        group = self._groups.get(named.group)
        if group is None:
            group = self._groups[named.group] = deque(maxlen=self._keep)
        group.append(named)

    def records(self, group: str) -> list[LogRecord]:
        return list(self._groups.get(group, ()))

    def drop(self, group: str) -> None:
        self._groups.pop(group, None)


class NullLogSink:
    """Drops every record: for measuring what logging costs (``LAMINA_OBSERVABILITY=0``)."""

    def write(self, record: LogRow) -> None:
        pass
