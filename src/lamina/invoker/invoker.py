"""The data plane of one node: run an invocation in an execution environment and account for it.

``invoke`` is the synchronous path (RequestResponse): no database access, the function snapshot
comes from the registry's cache, the environment from the warm pool, and logs are handed to the
sink after the result is ready. The asynchronous path (Event) is :mod:`lamina.invoker.events`,
which calls ``invoke`` for each attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.clock import Clock
from lamina.config import Settings
from lamina.errors import TooManyRequestsException
from lamina.ids import new_request_id
from lamina.invoker import runtimes
from lamina.invoker.backoff import CrashBackoff
from lamina.invoker.concurrency import ConcurrencyGate
from lamina.invoker.pool import WarmPool
from lamina.invoker.spec import build_spec
from lamina.observability import report as fmt
from lamina.observability.logs import LogSink
from lamina.observability.platformlog import json_log_text
from lamina.observability.tracing import TraceContext, trace_context
from lamina.registry.functions import FunctionRegistry
from lamina.registry.model import FunctionVersion
from lamina.sandbox.environment import Environment, EnvState, Invocation, Outcome
from lamina.sandbox.spawner import Spawner
from lamina.types import FunctionErrorType, FunctionKey

log = logging.getLogger(__name__)

#: AWS limits the init phase to 10 seconds; when it does not finish, Lambda runs it again as part of
#: the first invocation, under the function's timeout
#: (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
INIT_TIMEOUT_S = 10.0
#: Provisioned environments may take 130 s or the function's timeout, whichever is longer (same page).
PROVISIONED_INIT_TIMEOUT_S = 130.0


# Not frozen, by convention never changed: built per invocation, and frozen costs ~5x to build
# (docs/performance.md, "Late evening: telemetry in its own process").
@dataclass(slots=True)
class InvokeResult:
    request_id: str
    payload: bytes
    executed_version: str
    #: "Unhandled" when the function failed (the payload is then AWS's error object).
    function_error: str | None
    log_text: str
    report: fmt.Report
    #: errorType of a failed invocation (``Runtime.ExitError``, ``Sandbox.Timedout``, a user class ...).
    error_type: str | None = None
    cold_start: bool = False
    log_stream: str = ""
    #: Wall-clock time the invocation started and ended (seconds since the epoch).
    started: float = 0.0
    ended: float = 0.0
    #: The X-Ray trace the invocation ran in (its header went to the function).
    trace: TraceContext | None = None


# Not frozen, by convention never changed: built per invocation, and frozen costs ~5x to build
# (docs/performance.md, "Late evening: telemetry in its own process").
@dataclass(slots=True)
class InvocationEvent:
    """What observers learn about each invocation, after its answer is ready (never before)."""

    function: FunctionVersion
    result: InvokeResult | None
    #: The throttle Reason when the invocation was refused with 429; ``result`` is then None.
    throttled: str | None = None


#: Called on the event loop after every invocation; must not block (metrics, usage records, traces).
Observer = Callable[[InvocationEvent], None]


class Invoker:
    def __init__(self, settings: Settings, registry: FunctionRegistry, spawner: Spawner,
                 logs: LogSink, clock: Clock, opt_tree: Callable[[list[str]], Path] | None = None) -> None:
        self._settings = settings
        self._registry = registry
        self._spawner = spawner
        self._logs = logs
        self._clock = clock
        #: Builds (once) and returns the merged /opt of an ordered list of layer code digests.
        self._opt_tree = opt_tree
        self._pool = WarmPool()
        self._busy: dict[str, set[Environment]] = defaultdict(set)   # by region
        self.gate = ConcurrencyGate(settings.limits, clock)
        self.backoff = CrashBackoff(settings.crash_backoff_max_s, clock)
        self._tasks: set[asyncio.Task[None]] = set()
        #: Observability and metering hook: see :data:`Observer`.
        self.observers: list[Observer] = []
        self._reaper: asyncio.Task[None] | None = None
        #: Set by start(): asyncio.get_running_loop() per invocation costs a getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None
        registry.subscribe(self._on_function_changed)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for fn in self._registry.all():
            self.gate.set_reserved(FunctionKey(fn.region, fn.name), fn.reserved_concurrency)
        self._loop = asyncio.get_running_loop()
        self._reaper = self._loop.create_task(self._reap_forever())

    async def close(self, grace_s: float = 30.0) -> None:
        """Let running invocations finish (up to ``grace_s``), then kill every environment."""
        if self._reaper is not None:
            self._reaper.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace_s)
        for env in self._pool.drain():
            env.kill()
        for busy in self._busy.values():
            for env in busy:
                env.kill()
        self._spawner.close()

    def concurrent_executions(self, region: str) -> int:
        return self.gate.running(region)

    def idle_environments(self) -> int:
        return len(self._pool)

    # -- invoking --------------------------------------------------------------------------

    async def invoke(self, fn: FunctionVersion, payload: bytes, *, request_id: str | None = None,
                     client_context: str | None = None, trace_header: str | None = None,
                     invoked_arn: str | None = None) -> InvokeResult:
        """Run one invocation and return its result; function failures are results, not raises.

        ``request_id`` is the API request's id: on AWS the invoke's ``x-amzn-RequestId`` is the
        ``context.aws_request_id`` the function sees. A fresh one is made when absent.
        ``invoked_arn`` is the ARN the caller named (qualified with the alias or version it used),
        which the function sees as ``context.invoked_function_arn``.

        Raises TooManyRequestsException over a concurrency limit or the scaling rate.
        """
        key = FunctionKey(fn.region, fn.name)
        try:
            self.gate.admit(key)
        except TooManyRequestsException as throttle:
            self._notify(InvocationEvent(fn, None, str(throttle.fields.get("Reason", ""))))
            raise
        try:
            result = await self._run(fn, payload, request_id or new_request_id(), client_context, trace_header,
                                     invoked_arn or fn.arn)
        finally:
            self.gate.release(key)
        self._notify(InvocationEvent(fn, result))
        return result

    def _notify(self, invocation: InvocationEvent) -> None:
        for observer in self.observers:
            try:
                observer(invocation)
            except Exception:
                log.exception("invocation observer failed")

    async def _run(self, fn: FunctionVersion, payload: bytes, request_id: str, client_context: str | None,
                   trace_header: str | None, invoked_arn: str) -> InvokeResult:
        key = FunctionKey(fn.region, fn.name)
        env = self._pool.take(key, fn.revision_id)
        cold = env is None
        paused = 0.0
        if env is None:
            self.gate.take_scale_token(key)
            paused = self.backoff.pause_s(key, fn.revision_id)
            if paused:
                await asyncio.sleep(paused)
            env = await self._start_environment(fn)
        busy = self._busy[fn.region]
        busy.add(env)
        trace = trace_context(trace_header, fn.tracing_mode == "Active", self._clock.time())
        headers = [
            (b"Lambda-Runtime-Aws-Request-Id", request_id.encode()),
            (b"Lambda-Runtime-Deadline-Ms", b"0"),  # replaced at delivery
            (b"Lambda-Runtime-Invoked-Function-Arn", invoked_arn.encode()),
            (b"Lambda-Runtime-Trace-Id", trace.header().encode()),
        ]
        if client_context:
            headers.append((b"Lambda-Runtime-Client-Context", client_context.encode()))
        invocation = Invocation(request_id, payload, headers)
        status: str | None = None
        #: Set when the init ran past its limit and was run again inside this invocation.
        retried: _RetriedInit | None = None
        try:
            future = env.submit(invocation, fn.timeout)
            limit_s = float(fn.timeout)
            if cold:
                try:
                    await asyncio.wait_for(env.wait_ready(), INIT_TIMEOUT_S)
                except TimeoutError:
                    busy.discard(env)
                    retried = await self._retry_init(fn, env)
                    env = retried.env
                    busy.add(env)
                    deadline = retried.began + fn.timeout
                    future = env.submit(invocation, fn.timeout, deadline_ms=int(deadline * 1000))
                    limit_s = deadline - self._clock.time()
            # A timer, not asyncio.wait_for: wait_for costs a task and a shield per invocation.
            loop = self._loop or asyncio.get_running_loop()
            timer = loop.call_later(max(0.0, limit_s), _expire, future)
            outcome = await future
            timer.cancel()
            if outcome is _TIMED_OUT:
                outcome = self._timed_out(env, fn, request_id)
                status = "timeout"
        finally:
            busy.discard(env)
        init_s = (env.ready_at or time.monotonic()) - env.started_at if cold else None
        if retried is not None:
            # As on AWS: no Init Duration, the retried init counts in the invocation's Duration, and
            # the first attempt's output and an INIT_REPORT line come first in the log.
            init_s = None
            if status != "timeout":
                outcome.duration_ms = (self._clock.time() - retried.began) * 1000
            outcome.output = retried.log + outcome.output
        memory = env.memory_used_mb()
        if outcome.fatal or env.state is EnvState.DEAD:
            env.kill()
            self.backoff.died(key, fn.revision_id)
        else:
            if self.backoff.streaks:  # the warm path: one look at an empty dict, no call
                self.backoff.end(key)
            env.finish()
            env.last_used = self._clock.monotonic()
            if self._registry.still_current(fn):
                self._pool.put(key, fn.revision_id, env)
            else:
                env.kill()
        if outcome.error_type and status is None and (outcome.fatal or outcome.init_error):
            status = "error"
        report = fmt.Report(request_id, fn.version, outcome.duration_ms, fn.memory_size, memory,
                            init_s * 1000 if init_s is not None else None,
                            status, outcome.error_type if status else None)
        ended = self._clock.time()
        log_text = self._log_text(fn, request_id, outcome, report, ended, paused)
        self._logs.write((fn.log_group_name, env.log_stream, ended, log_text, fn.region))
        return InvokeResult(request_id, outcome.body, fn.version,
                            "Unhandled" if outcome.error_type else None, log_text, report,
                            error_type=outcome.error_type, cold_start=cold, log_stream=env.log_stream,
                            started=ended - (report.duration_ms + (init_s or 0.0) * 1000) / 1000, ended=ended,
                            trace=trace)

    async def provision(self, fn: FunctionVersion, count: int) -> int:
        """Start ``count`` environments of ``fn`` initialised ahead of any invocation (provisioned
        concurrency), pinned in the warm pool; returns how many became ready."""
        key = FunctionKey(fn.region, fn.name)

        async def one() -> bool:
            env = await self._start_environment(fn, "provisioned-concurrency")
            try:
                await asyncio.wait_for(env.wait_ready(), max(PROVISIONED_INIT_TIMEOUT_S, fn.timeout))
            except TimeoutError:
                env.kill()
            if env.state is not EnvState.IDLE:
                env.kill()
                return False
            env.pinned = True
            env.last_used = self._clock.monotonic()
            self._pool.put(key, fn.revision_id, env)
            return True

        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        return sum(1 for ready in results if ready is True)

    def unpin(self, fn: FunctionVersion) -> None:
        """Provisioned environments of ``fn`` become ordinary warm ones (reaped when idle)."""
        for env in self._pool:
            if env.pinned and env.spec.env.get("AWS_LAMBDA_FUNCTION_NAME") == fn.name and \
                    env.spec.env.get("AWS_LAMBDA_FUNCTION_VERSION") == fn.version:
                env.pinned = False

    def _relieve_memory_pressure(self) -> None:
        """Before starting an environment on a machine short of memory, stop idle ones (least
        recently used first) rather than let the kernel's OOM killer pick a busy one."""
        floor = self._settings.min_available_mb
        if floor <= 0 or available_memory_mb() >= floor:
            return
        victims = self._pool.oldest(max(1, len(self._pool) // 10))
        if victims:
            log.warning("memory is short (under %d MB available): stopping %d idle environments",
                        floor, len(victims))
        for env in victims:
            env.kill()

    async def _start_environment(self, fn: FunctionVersion, initialization: str = "on-demand") -> Environment:
        self._relieve_memory_pressure()
        artifact = self._registry.code_artifact(fn)
        environment_id = secrets.token_hex(16)
        runner = runtimes.resolve(fn.runtime, self._settings)
        opt: str | None = None
        if fn.layers and self._opt_tree is not None:
            opt = str(await asyncio.to_thread(self._opt_tree, [layer["sha256"] for layer in fn.layers]))
        spec = build_spec(fn, runner, artifact, environment_id, self._settings, self._clock.time(), opt)
        spec.env["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization
        # Custom runtimes exec their own program: any zygote can fork them, so use the default one.
        python = runner.program if runner.kind == "python" else runtimes.default_python(self._settings)
        zygote = self._spawner.zygote(python)
        env = Environment(zygote, spec, self._settings.limits.sync_payload_bytes, environment_id,
                          spec.env["AWS_LAMBDA_LOG_STREAM_NAME"])
        await env.start()
        return env

    async def _retry_init(self, fn: FunctionVersion, env: Environment) -> _RetriedInit:
        """``env``'s init ran past :data:`INIT_TIMEOUT_S`: stop it and start another environment,
        whose init and invocation must both fit in the function's timeout (AWS's "suppressed init")."""
        began = self._clock.time()
        output, dropped = env.take_output()
        env.kill()
        self.backoff.died(FunctionKey(fn.region, fn.name), fn.revision_id)
        # AWS's platform line for an init cut at its limit (Text format).
        notice = (f"INIT_REPORT Init Duration: {(time.monotonic() - env.started_at) * 1000:.2f} ms\t"
                  f"Phase: init\tStatus: timeout\n").encode()
        if dropped:
            notice = f"[lamina: {dropped} bytes of init output were dropped]\n".encode() + notice
        return _RetriedInit(await self._start_environment(fn), began, output + notice)

    def _timed_out(self, env: Environment, fn: FunctionVersion, request_id: str) -> Outcome:
        output, dropped = env.take_output()
        env.kill()
        # Wording of AWS's timeout (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html).
        notice = f"{fmt.timestamp(self._clock.time())} {request_id} Task timed out after {fn.timeout:.2f} seconds\n"
        body = json.dumps({"errorType": FunctionErrorType.TIMEOUT.value,
                           "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                                           f"{fn.timeout:.2f} seconds"}).encode()
        return Outcome(body, FunctionErrorType.TIMEOUT.value, output=output + notice.encode(),
                       dropped_output=dropped, fatal=True, duration_ms=fn.timeout * 1000.0)

    def _log_text(self, fn: FunctionVersion, request_id: str, outcome: Outcome, report: fmt.Report,
                  now: float, paused: float) -> str:
        output = outcome.output.decode("utf-8", "replace")
        if paused:
            # Said where the developer looks: the invocation's own log (see lamina.invoker.backoff).
            output = (f"[lamina: this environment started after a {paused:.2f} s pause: the function's "
                      f"environments keep dying (crash-loop backoff)]\n{output}")
        if outcome.dropped_output:
            output += f"[lamina: {outcome.dropped_output} bytes of output were dropped]\n"
        if output and not output.endswith("\n"):
            output += "\n"
        if outcome.error_type == _EXIT_ERROR:
            message = json.loads(outcome.body).get("errorMessage", "")
            output += f"{message}\n{outcome.error_type}\n"
        if fn.log_format == "JSON":
            return json_log_text(request_id=request_id, version=fn.version, output=output, report=report,
                                 error_type=outcome.error_type, now=now, system_level=fn.system_log_level,
                                 application_level=fn.application_log_level, function_name=fn.name)
        return (fmt.start_line(request_id, fn.version) + output + fmt.end_line(request_id)
                + fmt.report_line(report))

    # -- housekeeping ----------------------------------------------------------------------

    def _on_function_changed(self, key: FunctionKey) -> None:
        if self._registry.find(key.region, key.name) is None:
            self.gate.forget(key)
            self.backoff.end(key)
        for env in self._pool.evict(key, self._registry.live_revisions(key)):
            env.kill()

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self._settings.keep_alive_s / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            for env in self._pool.expire(self._clock.monotonic() - self._settings.keep_alive_s):
                env.kill()
            self.backoff.prune()
            self._spawner.reap_idle(self._settings.keep_alive_s, keep=runtimes.default_python(self._settings))


@dataclass(slots=True)
class _RetriedInit:
    """An init run again inside the invocation (see :meth:`Invoker._retry_init`)."""

    env: Environment
    #: Wall-clock seconds when the retry began: the function's timeout counts from here.
    began: float
    #: The cut-off attempt's output and the INIT_REPORT line, put before the invocation's output.
    log: bytes


#: Put in place of an outcome when the deadline passes first; a late result is then refused.
_TIMED_OUT = Outcome(b"", "timeout")
#: An enum member's ``.value`` runs Python code (enum.property) each time: read once.
_EXIT_ERROR = FunctionErrorType.EXIT_ERROR.value


def _expire(future: asyncio.Future[Outcome]) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


def available_memory_mb() -> int:
    """MemAvailable from /proc/meminfo, in MB (a large number where it cannot be read)."""
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 1 << 30

