"""What the server sends the telemetry process, and how: length-prefixed pickles on a socket pair.

Both ends are Lamina processes started together (the server and its child), so pickle is safe
here; nothing from a client is ever unpickled. Each frame is a 4-byte big-endian length and one
pickled message (a tuple whose first item names it):

- ``("start", settings)``: the first frame, server to worker;
- ``("batch", events, logs, async_events, samples)``: invocations since the previous batch as the
  rows :func:`event_row` makes (read as :class:`~lamina.observability.invocation.Invocation`), log
  records as plain :data:`~lamina.observability.logs.LogRow` tuples (plain tuples are C-speed to
  pickle, unlike dataclasses), the asynchronous engine's reports (kind, region, function,
  version, value, time), and samples of the invocations running, ``(time, [(region, function,
  count), ...])``, taken every quarter second;
- ``("call", id, target, args)`` and ``("reply", id, ok, value)``: a query and its answer (``ok``
  False: ``value`` is the AWS error to raise; None: an unexpected failure, ``value`` describes it);
- ``("stop",)``: write everything and exit.

A batch row holds the :class:`~lamina.registry.model.FunctionVersion` object itself: pickle writes
each distinct object once per frame and refers back to it after, so a batch of a thousand
invocations of one function carries one copy of its configuration.
"""

from __future__ import annotations

import pickle
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from lamina.invoker.invoker import InvocationEvent

LENGTH = struct.Struct("!I")
#: A frame larger than this is a bug (a batch is bounded by what one tick can produce).
MAX_FRAME = 1 << 30


def frame(message: tuple[Any, ...]) -> bytes:
    """One message, ready to write."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(body)) + body


async def read(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """The next message; raises :class:`asyncio.IncompleteReadError` at the end of the stream."""
    (size,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
    if size > MAX_FRAME:
        raise ValueError(f"telemetry frame of {size} bytes")
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
    return message


def event_row(event: InvocationEvent) -> tuple[Any, ...]:
    """One invocation as a plain tuple in :class:`~lamina.observability.invocation.Invocation`'s
    field order (its answer's payload and log text stay behind)."""
    result = event.result
    fn = event.function
    if result is None:
        return (fn, event.throttled or "", "", fn.version, None, None, False, "", 0.0, 0.0, 0.0, 0, fn.memory_size, 0,
                None, None)
    report = result.report
    trace = result.trace
    return (fn, None, result.request_id, result.executed_version, result.function_error, result.error_type,
            result.cold_start, result.log_stream, result.started, result.ended, report.duration_ms,
            report.billed_duration_ms, report.memory_size_mb, report.max_memory_used_mb, report.init_duration_ms,
            # Only a sampled trace is read there (spans); the others need not travel.
            None if trace is None or not trace.sampled else
            (trace.root, trace.caller_parent, trace.function_parent, trace.sampled))
