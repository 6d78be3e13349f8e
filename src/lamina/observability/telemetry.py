"""Observability and metering of one node, composed: the log service, the metric store and
Prometheus registry, usage records, traces, the X-Ray daemon listener and the OTLP exporter.

This engine runs in the telemetry process (:mod:`lamina.observability.worker`), not in the server:
the server's :class:`~lamina.observability.link.TelemetryLink` hands it invocations and log records
in batches, so none of the work below competes with the server's event loop. :meth:`observe` only
appends the event to a list. A background tick (every :data:`TICK_S`) turns the batch into
Prometheus samples, ``AWS/Lambda`` metrics, packed usage records and spans, a slice at a time; usage
records, metric minutes and spans (OTLP) are written from a worker thread. Readers (``/metrics``,
the CloudWatch API, the cost report) call :meth:`process` first, so what they show includes every
invocation received. :meth:`stop` writes everything still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any

from lamina import __version__
from lamina.billing.usage import Meter
from lamina.clock import Clock
from lamina.config import Settings
from lamina.observability import emf, otlp, xray
from lamina.observability.cwmetrics import MetricStore
from lamina.observability.lambdametrics import LambdaMetrics
from lamina.observability.logbook import LogBook
from lamina.observability.logservice import LogService
from lamina.observability.prometheus import Registry
from lamina.observability.tracing import Span, TraceStore, invocation_spans
from lamina.store.db import Store
from lamina.store.observability import LogTables, MetricTables
from lamina.store.usage import UsageTables

if TYPE_CHECKING:
    from lamina.observability.invocation import Invocation

log = logging.getLogger(__name__)

TICK_S = 0.25
#: Invocations handled per turn of the event loop (a few hundred microseconds of work).
SLICE = 250
PERSIST_EVERY = 8          # ticks: usage records and metric minutes every 2 s
#: Log records are written once a second (every read flushes first, so no reader waits for it): the
#: fewer the batches, the less the writer thread competes with the event loop for the GIL.
LOG_FLUSH_S = 1.0
SPAN_BATCH = 512


class Telemetry:
    def __init__(self, settings: Settings, store: Store, clock: Clock,
                 xray_socket: socket.socket | None = None) -> None:
        """``xray_socket``: the X-Ray daemon listener's bound UDP socket (the server binds it, so
        environments know its address before this process starts); None: no listener."""
        self._settings = settings
        self._clock = clock
        self.registry = Registry()
        self.metrics = MetricStore(MetricTables(store))
        self.lambda_metrics = LambdaMetrics(self.metrics, self.registry, clock)
        self.logs = LogService(LogBook(LogTables(store)), clock, settings.region, on_emf=self._emf,
                               sweep_s=settings.log_retention_sweep_s, interval_s=LOG_FLUSH_S)
        self.meter = Meter(UsageTables(store))
        self.traces = TraceStore()
        self._events: list[Invocation] = []
        self._export: list[Span] = []
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0
        self.xray = xray.XRayListener(xray_socket, self._xray_spans) if xray_socket is not None else None
        self._gauges()

    @property
    def xray_address(self) -> str:
        """``host:port`` of the X-Ray daemon listener, empty when it is off."""
        return self.xray.address if self.xray is not None else ""

    # -- wiring -----------------------------------------------------------------------------------

    def observe(self, invocation: Invocation) -> None:
        self._events.append(invocation)

    def _gauges(self) -> None:
        self.registry.gauge("lamina_build_info", "Lamina's version.", ("version",), lambda: {(__version__,): 1.0})
        self.registry.gauge("lamina_log_records_pending", "Invocation log records not yet written.", (),
                            lambda: {(): float(self.logs.pending)})

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.logs.start()
        await asyncio.to_thread(self.metrics.load, self._clock.time())
        if self.xray is not None:
            await self.xray.start()
        self._task = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.xray is not None:
            self.xray.close()
        self.process()
        await self.logs.close()
        await asyncio.to_thread(self._persist)

    # -- processing -------------------------------------------------------------------------------

    def process(self) -> None:
        """Turn the invocations observed so far into metrics, usage records and spans."""
        events, self._events = self._events, []
        if events:
            self._handle(events)

    async def _drain(self) -> None:
        """:meth:`process`, a slice at a time, letting the loop serve requests in between."""
        events, self._events = self._events, []
        done = 0
        try:
            while done < len(events):
                self._handle(events[done:done + SLICE])
                done += SLICE
                if done < len(events):
                    await asyncio.sleep(0)
        finally:
            # Cancelled between slices (stop): what is left is handled by stop's process().
            if done < len(events):
                self._events[:0] = events[done:]

    def _handle(self, events: list[Invocation]) -> None:
        self.lambda_metrics.record(events)
        self.meter.record(events)
        for event in events:
            if event.sampled:
                self._spans(invocation_spans(event))

    def _spans(self, spans: list[Span]) -> None:
        self.traces.add(spans)
        if self._settings.otlp_endpoint:
            self._export.extend(spans)

    def _xray_spans(self, spans: list[Span]) -> None:
        self._spans(spans)

    def _emf(self, region: str, line: str, timestamp: float) -> None:
        for datum in emf.parse(line):
            self.metrics.put(region, datum.namespace, datum.name, datum.dims, datum.timestamp,
                             values=datum.values, unit=datum.unit, high_resolution=datum.high_resolution)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._ticks += 1
            try:
                await self._drain()
                if self._ticks % PERSIST_EVERY == 0:
                    await asyncio.to_thread(self._persist)
                if self._export:
                    spans, self._export = self._export[:SPAN_BATCH], self._export[SPAN_BATCH:]
                    await asyncio.to_thread(self._send, spans)
            except Exception:
                log.exception("telemetry tick failed")

    def async_events(self, rows: list[tuple[str, str, str, str, float, float]]) -> None:
        """The asynchronous engine's reports: (kind, region, function, version, value, time) each;
        see :meth:`LambdaMetrics.async_event`."""
        for kind, region, name, version, value, now in rows:
            self.lambda_metrics.async_event(kind, region, name, version, value, now)

    def running(self, now: float, counts: list[tuple[str, str, int]]) -> None:
        """Record a sample of the invocations running now, per (region, function) with any running:
        the ``ConcurrentExecutions`` metric, per function and per region."""
        by_region: dict[str, int] = {}
        for region, name, count in counts:
            if count > 0:
                self.lambda_metrics.concurrency(region, name, count, now)
                by_region[region] = by_region.get(region, 0) + count
        for region, count in by_region.items():
            self.lambda_metrics.concurrency(region, None, count, now)

    def _persist(self) -> None:
        self.meter.persist()
        self.metrics.persist(self._clock.time())

    def _send(self, spans: list[Span]) -> None:
        try:
            otlp.export(self._settings.otlp_endpoint, spans)
        except OSError as error:
            log.warning("could not export %d span(s) to %s: %s", len(spans), self._settings.otlp_endpoint, error)

    # -- reading ----------------------------------------------------------------------------------

    def prometheus(self) -> bytes:
        self.process()
        return self.registry.render()

    async def flush(self) -> None:
        """Make every invocation so far visible to queries: metrics, logs and usage records."""
        self.process()
        await self.logs.flush()
        await asyncio.to_thread(self._persist)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        self.process()
        return [span.to_json() for span in self.traces.get(trace_id)]
