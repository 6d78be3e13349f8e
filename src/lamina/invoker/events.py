"""Asynchronous invocation (InvocationType=Event): a durable queue, workers, AWS's retry policy,
dead-letter queues and destinations.

Contract:

- :meth:`AsyncInvoker.enqueue` returns only after the event is committed to the store (concurrent
  enqueues share one commit, see :func:`~lamina.store.events.event_journal`); the API answers 202
  after that, so an answered event survives ``kill -9``. Nothing is stored when it raises.
- Events are run at least once. An event leaves the store only after its outcome was delivered
  (destination, dead-letter queue) or when it can no longer run (its function was deleted); a crash
  at any point before that runs it again after the restart, with the counters of its last stored
  attempt. Every attempt uses the event's request id, so the function sees the same
  ``aws_request_id`` on retries, as on AWS.
- Retries follow :mod:`lamina.invoker.event_policy`; the config of the invoked qualifier
  (:mod:`lamina.invoker.event_config`) is read at each attempt.
- Ownership: this node claims its events with a lease (:meth:`EventStore.claim`) at start, and
  renews it while it runs; on PostgreSQL it also takes over the events of nodes whose lease ran out.
- Workers: at most ``per_function`` attempts of one function (qualifier) and ``total`` attempts
  overall run at once; events of one function start in the order they became due.

Time comes from the injected clock. With a :class:`~lamina.clock.FakeClock`, call
:meth:`AsyncInvoker.run_due` after advancing it instead of starting the background loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.aio import wait_event
from lamina.clock import Clock
from lamina.errors import AwsError, TooManyRequestsException
from lamina.ids import new_request_id
from lamina.invoker import event_policy as policy
from lamina.invoker.event_config import EventInvokeConfig, EventInvokeConfigs
from lamina.invoker.event_records import AttemptResult, dead_letter_attributes, error_message, invocation_record
from lamina.invoker.invoker import InvokeResult
from lamina.registry.model import FunctionVersion
from lamina.store.events import DropEvent, EventOp, EventRecord, EventStore, PutEvent, UpdateEvent, event_journal
from lamina.types import LATEST

log = logging.getLogger(__name__)

PER_FUNCTION = 32
TOTAL = 256
LEASE_S = 30.0
#: The dispatcher looks at the clock at least this often, whatever it expects.
MAX_SLEEP_S = 1.0

#: ``resolve(region, name, qualifier)``: the function version an event runs on, None if gone.
Resolver = Callable[[str, str, str], FunctionVersion | None]
#: Hears the engine's metrics: ``(kind, region, function, version, value)``; see :class:`AsyncInvoker`.
Reporter = Callable[[str, str, str, str, float], None]


def _unheard(kind: str, region: str, name: str, version: str, value: float) -> None:
    """The reporter when nobody listens (observability off)."""


def tolerant(resolve: Callable[[str, str, str], FunctionVersion]) -> Resolver:
    """A :data:`Resolver` from one that raises (``ResourceNotFoundException``) for a missing function."""
    def resolver(region: str, name: str, qualifier: str) -> FunctionVersion | None:
        try:
            return resolve(region, name, qualifier)
        except AwsError:
            return None

    return resolver


class SyncInvoker(Protocol):
    """``Invoker.invoke``: one synchronous invocation; function errors are results, a throttle is
    TooManyRequestsException."""

    async def invoke(self, fn: FunctionVersion, payload: bytes, *, request_id: str | None = None,
                     invoked_arn: str | None = None) -> InvokeResult: ...


class MessageSender(Protocol):
    """``QueueManager.send``: the message is committed when it returns."""

    async def send(self, arn: str, body: str, *, attributes: Mapping[str, Any] | None = None,
                   sender_id: str = "") -> object: ...


@dataclass(slots=True, eq=False)
class QueuedEvent:
    """One accepted event, with its retry counters; mirrors its row."""

    id: str
    region: str
    function_name: str
    #: As the invoke named it: '' (unqualified), a version or an alias.
    qualifier: str
    payload: bytes
    enqueued_at: float
    due_at: float
    invocations: int = 0
    function_errors: int = 0
    backoff: int = 0
    last: AttemptResult | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.region, self.function_name, self.qualifier

    @property
    def config_qualifier(self) -> str:
        """An unqualified invoke uses the config of ``$LATEST``."""
        return self.qualifier or LATEST

    def record(self, owner: str) -> EventRecord:
        return EventRecord(self.id, self.region, self.function_name, self.qualifier, self.payload,
                           self.enqueued_at, self.due_at, self.invocations, self.function_errors, self.backoff,
                           owner, self.last.to_json() if self.last else None)

    @classmethod
    def of(cls, record: EventRecord) -> QueuedEvent:
        return cls(record.id, record.region, record.function_name, record.qualifier, record.payload,
                   record.enqueued_at, record.due_at, record.invocations, record.function_errors,
                   record.backoff, AttemptResult.from_json(record.last_result))


class AsyncInvoker:
    """The asynchronous invocation engine of one node (see the module docstring)."""

    def __init__(self, store: EventStore, queues: MessageSender, configs: EventInvokeConfigs,
                 invoker: SyncInvoker, resolve: Resolver, clock: Clock, *, scale: float = 1.0,
                 per_function: int = PER_FUNCTION, total: int = TOTAL, lease_s: float = LEASE_S,
                 report: Reporter | None = None) -> None:
        """``report(kind, region, function, version, value)`` hears ``received`` (an event accepted),
        ``age`` (seconds from acceptance, before each attempt), ``dropped`` (finished without
        success), ``dead_lettered`` and ``dead_letter_error``: metrics, not behaviour."""
        self._store = store
        self._queues = queues
        self._configs = configs
        self._invoker = invoker
        self._resolve = resolve
        self._clock = clock
        self._scale = scale
        self._per_function = per_function
        self._total = total
        self._lease_s = lease_s
        self.node_id = str(uuid.uuid4())
        self._journal = event_journal(store)
        self._events: dict[str, QueuedEvent] = {}
        self._ready: dict[tuple[str, str, str], deque[QueuedEvent]] = {}
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._running: dict[tuple[str, str, str], int] = {}
        self._attempts: set[asyncio.Task[None]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._report: Reporter = report or _unheard

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> None:
        """Claim this node's events; with ``background``, run the dispatcher and renew the lease."""
        now = self._clock.time()
        records = await asyncio.to_thread(self._store.claim, self.node_id, now + self._lease_s, now)
        for record in records:
            self._add(QueuedEvent.of(record))
        self._journal.start()
        if records:
            log.warning("resuming %d queued asynchronous invocation(s)", len(records))
        if background:
            loop = asyncio.get_running_loop()
            self._background = [loop.create_task(self._dispatch_forever(), name="async-dispatch"),
                                loop.create_task(self._renew_forever(), name="async-lease")]

    async def close(self, grace_s: float = 10.0) -> None:
        """Stop starting attempts, let running ones finish (up to ``grace_s``), then cancel the rest;
        what did not finish stays stored and runs after the next start."""
        for task in self._background:
            task.cancel()
        self._background = []
        if self._attempts:
            await asyncio.wait(set(self._attempts), timeout=grace_s)
        for task in set(self._attempts):
            task.cancel()
        if self._attempts:
            await asyncio.wait(set(self._attempts), timeout=1.0)
        await self._journal.close()
        await asyncio.to_thread(self._store.release, self.node_id)

    def pending(self) -> int:
        """Events accepted and not finished."""
        return len(self._events)

    def oldest_age(self) -> float:
        """Seconds since the oldest unfinished event was accepted (0 with none): read at scrape time."""
        if not self._events:
            return 0.0
        return max(0.0, self._clock.time() - min(event.enqueued_at for event in self._events.values()))

    # -- accepting -------------------------------------------------------------------------------

    async def enqueue(self, region: str, function_name: str, qualifier: str | None, payload: bytes,
                      request_id: str, version: str | None = None) -> None:
        """Store one event for the function ``qualifier`` names (None or '': unqualified); it runs
        after this returns (see the module docstring). ``version`` is the version ``qualifier``
        resolves to now (an alias's), under which the event is counted as received; the attempts
        resolve the qualifier again when they run."""
        now = self._clock.time()
        event = QueuedEvent(request_id, region, function_name, qualifier or "", payload, now, now)
        await self._journal.write([PutEvent(event.record(self.node_id))])
        self._add(event)
        self._report("received", region, function_name, version or qualifier or LATEST, 1.0)

    # -- dispatching -----------------------------------------------------------------------------

    def _add(self, event: QueuedEvent) -> None:
        self._events[event.id] = event
        self._schedule(event)

    def _schedule(self, event: QueuedEvent) -> None:
        if event.due_at <= self._clock.time():
            self._ready.setdefault(event.key, deque()).append(event)
        else:
            heapq.heappush(self._delayed, (event.due_at, next(self._seq), event.id))
        self._wakeup.set()

    def _dispatch(self) -> None:
        """Start every attempt that is due and fits under the limits."""
        now = self._clock.time()
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            due_at, _, event_id = heapq.heappop(delayed)
            event = self._events.get(event_id)
            if event is not None and event.due_at == due_at:
                self._ready.setdefault(event.key, deque()).append(event)
        for key in list(self._ready):
            queue = self._ready[key]
            while queue and self._running.get(key, 0) < self._per_function and len(self._attempts) < self._total:
                self._running[key] = self._running.get(key, 0) + 1
                task = asyncio.get_running_loop().create_task(self._attempt(queue.popleft()))
                self._attempts.add(task)
            if not queue:
                del self._ready[key]

    async def _dispatch_forever(self) -> None:
        while True:
            self._wakeup.clear()
            self._dispatch()
            sleep = MAX_SLEEP_S
            if self._delayed:
                sleep = min(sleep, max(self._delayed[0][0] - self._clock.time(), 0.001))
            await wait_event(self._wakeup, sleep)

    async def run_due(self) -> None:
        """Run every attempt due now, and those that become due as they finish, until none is left
        (for tests that move a FakeClock instead of running the background loop)."""
        while True:
            self._dispatch()
            if not self._attempts:
                return
            await asyncio.wait(set(self._attempts))

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            now = self._clock.time()
            try:
                if self._store.single_node:
                    await asyncio.to_thread(self._store.renew, self.node_id, now + self._lease_s)
                    continue
                records = await asyncio.to_thread(self._store.claim, self.node_id, now + self._lease_s, now)
            except Exception:
                log.exception("could not renew the asynchronous invocation lease")
                continue
            for record in records:
                if record.id not in self._events:
                    self._add(QueuedEvent.of(record))

    # -- one attempt -----------------------------------------------------------------------------

    async def _attempt(self, event: QueuedEvent) -> None:
        try:
            await self._process(event)
        except Exception:
            # A failure of the platform itself: the event stays stored and is tried again later.
            log.exception("asynchronous invocation %s failed in the platform", event.id)
            event.due_at = self._clock.time() + policy.BACKOFF_MAX_S * self._scale
            self._schedule(event)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._attempts.discard(task)
            left = self._running.get(event.key, 1) - 1
            if left > 0:
                self._running[event.key] = left
            else:
                self._running.pop(event.key, None)
            self._wakeup.set()

    async def _process(self, event: QueuedEvent) -> None:
        config = self._configs.get(event.region, event.function_name, event.config_qualifier)
        limits = config.limits if config is not None else policy.RetryLimits()
        fn = self._resolve(event.region, event.function_name, event.config_qualifier)
        if fn is None:
            log.warning("dropping asynchronous invocation %s: function %s:%s no longer exists", event.id,
                        event.function_name, event.qualifier)
            await self._journal.write([DropEvent(event.id)])
            self._events.pop(event.id, None)
            return
        if policy.expired(event.enqueued_at, self._clock.time(), limits, self._scale):
            await self._finish(event, fn, config, policy.Condition.EVENT_AGE_EXCEEDED)
            return
        outcome = await self._run(fn, event)
        decision = policy.after_attempt(outcome, function_errors=event.function_errors, backoff=event.backoff,
                                        enqueued_at=event.enqueued_at, now=self._clock.time(),
                                        limits=limits, scale=self._scale)
        if isinstance(decision, policy.Finish):
            await self._finish(event, fn, config, decision.condition)
            return
        event.due_at, event.backoff = decision.at, decision.backoff
        if outcome is policy.Outcome.FUNCTION_ERROR:
            # Stored so that a restart neither forgets a used retry nor retries early. Throttles and
            # system errors are not: after a crash their backoff merely starts again from 1 s.
            event.function_errors = decision.function_errors
            await self._journal.write([UpdateEvent(event.id, event.due_at, event.invocations, event.function_errors,
                                                   event.backoff, event.last.to_json() if event.last else None)])
        self._schedule(event)

    async def _run(self, fn: FunctionVersion, event: QueuedEvent) -> policy.Outcome:
        self._report("age", fn.region, fn.name, fn.version, self._clock.time() - event.enqueued_at)
        try:
            result = await self._invoker.invoke(
                fn, event.payload, request_id=event.id,
                invoked_arn=f"{fn.arn}:{event.qualifier}" if event.qualifier else fn.arn)
        except TooManyRequestsException as throttle:
            if event.last is None or event.last.executed_version is None:
                event.last = AttemptResult(429, error_message=throttle.message)
            return policy.Outcome.THROTTLED
        except AwsError as error:
            if event.last is None or event.last.executed_version is None:
                event.last = AttemptResult(error.status, error_message=f"{error.code}: {error.message}")
            return policy.Outcome.SYSTEM_ERROR
        event.invocations += 1
        payload = result.payload.decode("utf-8", "replace")
        if result.function_error:
            event.last = AttemptResult(200, result.executed_version, result.function_error, payload,
                                       error_message(result.payload))
            return policy.Outcome.FUNCTION_ERROR
        event.last = AttemptResult(200, result.executed_version, None, payload)
        return policy.Outcome.SUCCESS

    # -- after the last attempt ------------------------------------------------------------------

    async def _finish(self, event: QueuedEvent, fn: FunctionVersion, config: EventInvokeConfig | None,
                      condition: policy.Condition) -> None:
        success = condition is policy.Condition.SUCCESS
        if not success:
            self._report("dropped", fn.region, fn.name, fn.version, 1.0)
        target = (config.on_success if success else config.on_failure) if config is not None else None
        ops: list[EventOp] = []
        follow_up: QueuedEvent | None = None
        if target:
            record = invocation_record(
                request_id=event.id, function_arn=f"{fn.arn}:{event.config_qualifier}", condition=condition.value,
                # Attempts that ran the function; throttled attempts never reached it.
                invoke_count=event.invocations, request_payload=event.payload, result=event.last,
                now=self._clock.time())
            follow_up = await self._deliver(target, record, fn)
            if follow_up is not None:
                ops.append(PutEvent(follow_up.record(self.node_id)))
        if not success and fn.dead_letter_target:
            await self._dead_letter(fn, event)
        ops.append(DropEvent(event.id))
        await self._journal.write(ops)
        self._events.pop(event.id, None)
        if follow_up is not None:
            self._add(follow_up)

    async def _deliver(self, target: str, record: dict[str, object], fn: FunctionVersion) -> QueuedEvent | None:
        """Send the record to an SQS queue now, or return the event that invokes a Lambda function
        destination (asynchronously, stored in the same commit that ends this event)."""
        body = json.dumps(record)
        parts = target.split(":")
        service = parts[2] if len(parts) > 2 else ""
        try:
            if service == "sqs":
                await self._queues.send(target, body, sender_id=fn.account_id)
                return None
            if service == "lambda" and len(parts) >= 7:
                region, name = parts[3], parts[6]
                qualifier = parts[7] if len(parts) > 7 else ""
                if self._resolve(region, name, qualifier or LATEST) is None:
                    raise LookupError(f"function {target} does not exist")
                now = self._clock.time()
                return QueuedEvent(new_request_id(), region, name, qualifier, body.encode(), now, now)
            raise LookupError(f"unsupported destination {target}")
        except (AwsError, LookupError) as error:
            # AWS counts these as DestinationDeliveryFailures; the event is not retried for it.
            log.warning("could not deliver the outcome of %s to %s: %s", record["requestContext"], target, error)
            return None

    async def _dead_letter(self, fn: FunctionVersion, event: QueuedEvent) -> None:
        target = fn.dead_letter_target or ""
        try:
            if target.split(":")[2:3] != ["sqs"]:
                raise LookupError("Lamina delivers to SQS dead-letter queues only")
            await self._queues.send(target, event.payload.decode("utf-8", "replace"),
                                    attributes=dead_letter_attributes(event.id, event.last),
                                    sender_id=fn.account_id)
        except (AwsError, LookupError) as error:
            # AWS counts these as DeadLetterErrors.
            log.warning("could not send %s to the dead-letter queue %s: %s", event.id, target, error)
            self._report("dead_letter_error", fn.region, fn.name, fn.version, 1.0)
            return
        self._report("dead_lettered", fn.region, fn.name, fn.version, 1.0)
