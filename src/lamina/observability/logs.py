"""Where invocation logs go: the :class:`LogSink` protocol the invoker writes to.

The server's sink is the telemetry link's (:mod:`lamina.observability.link`), which batches records
for the telemetry process, where :class:`lamina.observability.logservice.LogService` stores them
(CloudWatch Logs-compatible, durable). The invoker only ever calls :meth:`LogSink.write`, which
must be cheap: it runs before the answer is sent.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

#: A :class:`LogRecord` as a plain tuple (what the server sends the telemetry process).
LogRow = tuple[str, str, float, str, str]


class LogRecord(NamedTuple):
    """One invocation's log text (START, output, END, REPORT; one event per line), by field name.

    The invoker and the wire carry records as plain :data:`LogRow` tuples in this field order (they
    build and pickle faster); anything that only reads records takes either."""

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


class NullLogSink:
    """Drops every record: for measuring what logging costs (``LAMINA_OBSERVABILITY=0``)."""

    def write(self, record: LogRow) -> None:
        pass
