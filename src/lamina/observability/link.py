"""The server's side of telemetry: invocations and log records go, in batches, to a separate process.

Why a process: logs, metrics, usage records and traces cost little per invocation, but done in the
server they shared its one interpreter lock and its caches with the event loop, and warm throughput
with them on was 18-20 % below throughput with them off (docs/performance.md). Here the server only
turns each invocation into a plain tuple (:func:`~lamina.observability.wire.event_row`) and, every
:data:`TICK_S`, pickles what gathered into one frame for the telemetry process
(:mod:`lamina.observability.worker`), which does the rest on the other core.

Reads go to the same process over the same socket, after the batch pending here: the CloudWatch
Logs and CloudWatch APIs (:class:`RemoteProvider` forwards each operation to the real provider
there), ``/metrics`` and the ``/_lamina/`` cost, usage and trace endpoints. Messages on the socket
are handled in order, so a read sees every invocation that answered before it was asked.

The server keeps what only it knows: the gauges read at scrape time (concurrency, idle
environments, the async queue), and the X-Ray daemon socket, bound here so environments learn its
address before the telemetry process starts; that process receives the socket itself.

If the telemetry process dies, the calls waiting on it fail, what it had not yet written is lost,
and a new one is started. On a clean stop the server sends what is pending and waits for the process
to write everything and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lamina import priority
from lamina.aio import wait_event
from lamina.aws.http import HttpRequest
from lamina.aws.protocol import RequestContext
from lamina.clock import Clock
from lamina.config import Settings
from lamina.errors import ServiceException
from lamina.observability import endpoints, wire, xray
from lamina.observability.logs import LogRow
from lamina.observability.prometheus import Labels, Registry

if TYPE_CHECKING:
    from lamina.invoker.invoker import InvocationEvent, Invoker

log = logging.getLogger(__name__)

#: Seconds between two samples of the invocations running now (the ConcurrentExecutions metric),
#: taken whether or not the telemetry process is up yet, and sent with the next batch.
TICK_S = 0.25
#: Ticks between two batches to the telemetry process: one a second. Not every tick: each batch is
#: pickled from rows the caches have let go and wakes the process, and over three interleaved A/Bs
#: of 20-40 rounds batches a second apart cost the server 4-8 points less CPU per invocation and gave
#: 4-5 % more warm throughput than a quarter second apart (docs/performance.md, "Morning of
#: 2026-11-27"). Readers do not wait for it: every query sends the pending batch first.
BATCH_EVERY = 4
#: The telemetry process's nice value where SCHED_IDLE is not available.
NICE = 19
#: Invocations (and, separately, log records) kept for the telemetry process while it cannot take
#: them (restarting, or far behind); beyond this the oldest are dropped, and counted.
MAX_PENDING = 500_000
#: Bytes written and not yet taken by the telemetry process beyond which batches wait here.
MAX_BUFFERED = 64 << 20
STOP_TIMEOUT_S = 60.0
RESTART_DELAY_S = 1.0

Answer = endpoints.Answer


def lower(pid: int) -> None:
    """Run ``pid`` under SCHED_IDLE, else at nice 19.

    SCHED_IDLE, not only the lowest nice: the scheduler counts a core that runs only SCHED_IDLE work
    as idle when it places a waking task, so the environments wake beside the telemetry process
    rather than on the event loop's core. At nice 19 they did not, and warm throughput with
    observability on was 15-19 % lower (docs/performance.md, runs L-R). The price: on a machine
    saturated by other work the process gets almost no CPU and its rows wait (bounded by
    :data:`MAX_PENDING`); a query raises it while it waits (:meth:`TelemetryLink._priority`).

    With the kernel's autogroup scheduling (``kernel.sched_autogroup_enabled``, on by default on
    most distributions), the process's own session is a task group of its own, and a policy or nice
    value only orders tasks within their group: against the server and everything else it then
    weighs as much as any session, and only the placement effect above remains. Starting it in the
    server's session instead (its own process group, for Ctrl-C) made no difference to warm
    throughput in an interleaved A/B (docs/performance.md, run OT-2), and under a load that keeps
    both cores busy the process would get almost nothing there, so it keeps a session of its own.
    """
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, NICE)


def pin(pid: int, cores: set[int]) -> None:
    """Let every thread of process ``pid`` run only on ``cores`` (threads it starts later inherit
    its main thread's set). Quietly does nothing for a process or thread that has gone."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in threads:
        with contextlib.suppress(OSError, ValueError):
            os.sched_setaffinity(int(tid), cores)


class _Sink:
    """The invoker's log sink: each record's tuple, appended (it runs before the answer is sent)."""

    def __init__(self) -> None:
        self.rows: list[LogRow] = []

    def write(self, record: LogRow) -> None:
        self.rows.append(record)


class TelemetryLink:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        #: Gauges only the server can read (the telemetry process renders everything else).
        self.registry = Registry()
        self._xray = xray.bind("127.0.0.1", settings.xray_port) if settings.xray_port >= 0 else None
        self._events: list[tuple[Any, ...]] = []
        self._async: list[tuple[str, str, str, str, float, float]] = []
        self._samples: list[tuple[float, list[tuple[str, str, int]]]] = []
        self.logs = _Sink()
        self._invoker: Invoker | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._connected: asyncio.Event | None = None
        self._wanted = asyncio.Event()
        self._closing = False
        #: The core the telemetry process is held to (beside a real-time event loop), if any.
        self._core: int | None = None
        self._beside_loop = False
        #: Rows dropped by :meth:`_bound` since start.
        self.dropped = 0

    @property
    def xray_address(self) -> str:
        """``host:port`` of the X-Ray daemon listener, empty when it is off."""
        if self._xray is None:
            return ""
        host, port = self._xray.getsockname()[:2]
        return f"{host}:{port}"

    # -- the invoker's side -----------------------------------------------------------------------

    def attach(self, invoker: Invoker) -> None:
        """Observe every invocation of ``invoker``; expose its concurrency at scrape time."""
        self._invoker = invoker
        invoker.observers.append(self.observe)
        self.gauge("lamina_concurrent_executions", "Invocations running now, per function.", ("region", "function"),
                   lambda: {(region, name): float(n) for region, name, n in self._running()})
        self.gauge("lamina_idle_environments", "Warm execution environments waiting for work.", (),
                   lambda: {(): float(invoker.idle_environments())})
        self.gauge("lamina_crash_loop_pause_seconds",
                   "Pause before each new environment of a function whose environments keep dying.",
                   ("region", "function"),
                   lambda: {(key.region, key.name): pause for key, pause in invoker.backoff.pausing()})
        self.gauge("lamina_telemetry_rows_dropped", "Invocation and log rows the telemetry process could not take.",
                   (), lambda: {(): float(self.dropped)})

    def observe(self, event: InvocationEvent) -> None:
        self._events.append(wire.event_row(event))

    def async_event(self, kind: str, region: str, name: str, version: str, value: float) -> None:
        """A report of the asynchronous engine (see :meth:`LambdaMetrics.async_event`)."""
        self._async.append((kind, region, name, version, value, self._clock.time()))

    def _bound(self) -> None:
        """Drop the oldest rows beyond :data:`MAX_PENDING` (called once per tick, not per invocation)."""
        for rows in (self._events, self.logs.rows, self._async, self._samples):
            excess = len(rows) - MAX_PENDING
            if excess > 0:
                del rows[:excess]
                self.dropped += excess
                log.warning("telemetry process behind: %d rows dropped", excess)

    def gauge(self, name: str, help_text: str, labelnames: tuple[str, ...],
              collect: Callable[[], dict[Labels, float]]) -> None:
        """Expose a value read at scrape time (the async engine's queue depth, for one)."""
        self.registry.gauge(name, help_text, labelnames, collect)

    def _running(self) -> list[tuple[str, str, int]]:
        if self._invoker is None:
            return []
        return [(key.region, key.name, count) for key, count in self._invoker.gate.running_by_function()]

    def _has_rows(self) -> bool:
        return bool(self._events or self.logs.rows or self._async or self._samples)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start batching; the telemetry process itself starts with the first invocation or query,
        or ``settings.telemetry_spawn_after_s`` after this, whichever comes first: its start-up
        (0.6 s of imports) would otherwise compete with the first cold start for the two cores."""
        self._connected = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(self._spawn_when_wanted()), loop.create_task(self._tick_forever())]

    async def _spawn_when_wanted(self) -> None:
        await wait_event(self._wanted, self._settings.telemetry_spawn_after_s)
        await self._spawn()

    async def _spawn(self) -> None:
        """Start the telemetry process and the task that reads its answers."""
        assert self._connected is not None
        ours, theirs = socket.socketpair()
        fds = [theirs.fileno()] + ([self._xray.fileno()] if self._xray is not None else [])
        self._process = subprocess.Popen(
            [sys.executable, "-m", "lamina.observability.worker", *map(str, fds)], pass_fds=fds,
            stdin=subprocess.DEVNULL, env=os.environ.copy(),
            # Its own session: a terminal's Ctrl-C reaches the server's process group, not this
            # process, which must outlive the server's stop long enough to write the last batch.
            start_new_session=True)
        theirs.close()
        lower(self._process.pid)
        self._core = None
        self._beside_loop = priority.is_realtime() and len(os.sched_getaffinity(0)) > 1
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        self._writer.write(wire.frame(("start", self._settings)))
        self._connected.set()
        self._tasks.append(asyncio.get_running_loop().create_task(self._read_forever(reader, self._process)))

    async def stop(self) -> None:
        """Send what is pending, let the telemetry process write everything, and wait for it."""
        self._closing = True
        # A snapshot: a reader task added meanwhile (a process started as this began) ends only
        # once its process stops, below, so waiting for it here would wait forever.
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # not suppress(): stop() stays cancellable
        if self._process is None and self._has_rows():
            await self._spawn()     # never started, but there is something to keep
        elif self._process is not None and self._writer is None and self._process.poll() is None:
            self._process.kill()    # stopped while it was being started: it has nothing yet
            await asyncio.to_thread(self._process.wait)
        process, writer = self._process, self._writer
        if writer is not None and process is not None and process.poll() is None:
            with contextlib.suppress(ConnectionError):
                self._send_batch(writer)
                writer.write(wire.frame(("stop",)))
                await writer.drain()
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("the telemetry process did not stop within %.0f s; killing it", STOP_TIMEOUT_S)
                process.kill()
                await asyncio.to_thread(process.wait)
        if writer is not None:
            writer.close()
        for task in self._tasks:
            task.cancel()
        if self._xray is not None:
            self._xray.close()
        self._fail_calls("Lamina is shutting down.")

    # -- batches ----------------------------------------------------------------------------------

    def _send_batch(self, writer: asyncio.StreamWriter) -> None:
        batch = self.batch_frame()
        if batch is not None:
            writer.write(batch)

    def batch_frame(self) -> bytes | None:
        """The invocations and log records gathered since the last call, as one frame (None if none)."""
        if not self._has_rows():
            return None
        events, self._events = self._events, []
        logs, self.logs.rows = self.logs.rows, []
        reports, self._async = self._async, []
        samples, self._samples = self._samples, []
        return wire.frame(("batch", events, logs, reports, samples))

    async def _tick_forever(self) -> None:
        for tick in itertools.count(1):
            await asyncio.sleep(TICK_S)
            self._follow_loop()
            running = self._running()
            if running:
                self._samples.append((self._clock.time(), running))
            if self._process is None and self._has_rows():
                self._wanted.set()
            if tick % BATCH_EVERY:
                continue
            writer = self._writer
            # Never wait here: while the process is away or behind, rows wait in memory (bounded).
            if writer is None or writer.is_closing() or writer.transport.get_write_buffer_size() > MAX_BUFFERED:
                self._bound()
                continue
            self._send_batch(writer)

    # -- queries ----------------------------------------------------------------------------------

    async def call(self, target: str, *args: Any) -> Any:
        """Run ``target`` in the telemetry process (after every batch gathered so far) and return its
        answer; an AWS error raised there is raised here."""
        assert self._connected is not None, "start() first"
        self._wanted.set()
        await self._connected.wait()
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ServiceException("Lamina's telemetry process is not running; try again shortly.")
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        if len(self._calls) == 1:
            self._priority(waiting=True)
        try:
            self._send_batch(writer)
            writer.write(wire.frame(("call", call_id, target, args)))
            await writer.drain()
            return await future
        finally:
            self._calls.pop(call_id, None)
            if not self._calls:
                self._priority(waiting=False)

    def _follow_loop(self) -> None:
        """Beside an event loop under SCHED_FIFO, hold the telemetry process to the loop's core
        (checked every tick; the loop rarely moves): it then runs in the loop's pauses, and the
        environments have the other cores to themselves.

        Measured with the loop under SCHED_FIFO (docs/performance.md, runs OD-2 and TL-1 to TL-3):
        left free, the process ran beside the environments and the loop paid more for waking them
        (``_raw_spin_unlock_irqrestore`` +4.7 µs per invocation in one of two profiled pairs; a core
        running only SCHED_IDLE work is picked as idle but is not polling, so the wake-up takes an
        interrupt); observability then cost 4.6-7.6 % of warm throughput at ``-c16``, held to the
        loop's core -0.5 to 1.2 %, and held to the other core 7.4 %. Under normal scheduling the
        loop shares its core with everything, so the process is left free there (:func:`lower`).
        Not while a query waits (:meth:`_priority`)."""
        process = self._process
        if process is None or self._calls or not self._beside_loop:
            return
        core = priority.current_core()
        if core is not None and core != self._core:
            pin(process.pid, {core})
            self._core = core

    def _priority(self, *, waiting: bool) -> None:
        """While a query waits, the telemetry process runs as an ordinary process, so a machine
        saturated by other work does not leave the query unanswered; SCHED_IDLE again after.
        Leaving SCHED_IDLE needs CAP_SYS_NICE: without it the query just waits its turn."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        if not waiting:
            lower(process.pid)
            return
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(process.pid, os.SCHED_OTHER, os.sched_param(0))
        if self._core is not None:
            # Every core while it answers: on the loop's own it would run only when the loop sleeps.
            pin(process.pid, os.sched_getaffinity(0))
            self._core = None

    async def endpoint(self, path: str, query: str) -> Answer | None:
        """Lamina's observability endpoints (:mod:`lamina.observability.endpoints`); None for any
        other path."""
        if not endpoints.serves(path):
            return None
        answer: Answer = await self.call("endpoint", path, query)
        if endpoints.is_prometheus(path):
            status, headers, body = answer
            answer = (status, headers, body + self.registry.render())
        return answer

    def provider(self, service: str, cls: type) -> RemoteProvider:
        """A stand-in for ``cls`` (the provider of ``service`` in the telemetry process)."""
        return RemoteProvider(self, service, cls)

    # -- answers ----------------------------------------------------------------------------------

    async def _read_forever(self, reader: asyncio.StreamReader, process: subprocess.Popen[bytes]) -> None:
        try:
            while True:
                message = await wire.read(reader)
                if message[0] == "reply":
                    self._answer(*message[1:])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self._closing:
            return
        self._writer = None
        assert self._connected is not None
        self._connected.clear()
        code = await asyncio.to_thread(process.wait)
        log.error("the telemetry process exited (%s); starting another", code)
        self._fail_calls("Lamina's telemetry process stopped; try again shortly.")
        await asyncio.sleep(RESTART_DELAY_S)
        if not self._closing:
            await self._spawn()

    def _answer(self, call_id: int, ok: bool | None, value: Any) -> None:
        future = self._calls.get(call_id)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        elif ok is False:
            future.set_exception(value)
        else:
            future.set_exception(RuntimeError(f"telemetry process: {value}"))

    def _fail_calls(self, message: str) -> None:
        for future in self._calls.values():
            if not future.done():
                future.set_exception(ServiceException(message))


class RemoteProvider:
    """Answers the dispatcher like the provider class it stands for, by calling that provider in the
    telemetry process. The request travels without its body and headers: the providers there read
    only the parsed parameters and the context's region and account."""

    def __init__(self, link: TelemetryLink, service: str, cls: type) -> None:
        self._link = link
        self._service = service
        self._operations = {name for name in vars(cls) if not name.startswith("_")}

    def __getattr__(self, name: str) -> Callable[[RequestContext, dict[str, Any]], Awaitable[Any]]:
        if name.startswith("_") or name not in self._operations:
            raise AttributeError(name)

        async def operation(ctx: RequestContext, params: dict[str, Any]) -> Any:
            portable = replace(ctx, request=HttpRequest(ctx.request.method, ctx.request.path, ctx.request.query))
            return await self._link.call("provider", self._service, name, portable, params)

        return operation
