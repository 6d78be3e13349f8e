"""Async enqueue: accepted Event invokes per second through the real Invoke API, each one committed to
the durable queue before its 202.

``wrk -t1 -cN -d5s`` POSTs ``{"n": 1}`` with ``X-Amz-Invocation-Type: Event`` for N = 8 and 64, each
level after a 1 s unmeasured warm-up, against two functions on one server:

- **accept only**: a function with reserved concurrency 0, on a server whose retry waits are scaled
  by 1,000 (LAMINA_ASYNC_RETRY_SCALE): each event gets one throttled attempt and then waits, so the
  figure is the durable accept path (HTTP, validation, group commit) with the engine idle.
- **accept while running**: a no-op function; the engine runs the events while more arrive, on the
  same event loop, so accepting and running share the server's CPU. After each run the benchmark
  waits for the queue (the ``async_events`` table) to drain and reports the end-to-end rate.

Any non-2xx answer fails the run. Needs wrk (installed with apt-get when missing, as throughput does).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import wrk
from benchmarks.harness import (
    INVOKE_PATH,
    NOOP,
    LaminaServer,
    cpu_us,
    create_function,
    lamina_server,
    median_of,
    verdict,
)

LEVELS = (8, 64)
SECONDS, WARMUP_SECONDS = 5.0, 1.0
TARGET_PER_S = 5_000.0
PAYLOAD = '{"n": 1}'


def _script() -> Path:
    fd, name = tempfile.mkstemp(prefix="lamina-bench-event-", suffix=".lua")
    with os.fdopen(fd, "w") as script:
        script.write('wrk.method = "POST"\n'
                     f"wrk.body = '{PAYLOAD}'\n"
                     'wrk.headers["Content-Type"] = "application/json"\n'
                     'wrk.headers["X-Amz-Invocation-Type"] = "Event"\n')
    return Path(name)


def _queued(server: LaminaServer, name: str) -> int:
    """Events of function ``name`` not finished yet (read from the server's own SQLite file)."""
    with sqlite3.connect(server.data_dir / "lamina.db", timeout=30) as db:
        (count,) = db.execute("SELECT count(*) FROM async_events WHERE function_name = ?", (name,)).fetchone()
    return int(count)


def _drain(server: LaminaServer, name: str, timeout_s: float = 300.0) -> float:
    started = time.perf_counter()
    while _queued(server, name):
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"the queue of {name} did not drain in {timeout_s} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def _level(binary: str, server: LaminaServer, name: str, connections: int, reps: int, script: Path,
           drain: bool) -> dict[str, Any]:
    url = f"{server.endpoint}{INVOKE_PATH.format(name=name)}"
    wrk.run(binary, url, connections, WARMUP_SECONDS, script)
    if drain:
        _drain(server, name)
    runs = []
    assert server.process is not None
    for _ in range(reps):
        before = cpu_us(server.process.pid)
        run = wrk.run(binary, url, connections, SECONDS, script)
        after = cpu_us(server.process.pid)
        # CPU the server's main thread spent per accepted event, and the share of the run it was
        # runnable but waiting for a CPU (taken by wrk, the environments or other tenants).
        run["server_cpu_us_per_request"] = (after[0] - before[0]) / max(run["requests"], 1)
        run["server_runnable_waiting"] = (after[1] - before[1]) / 1e6 / SECONDS
        if run["non_2xx"] or run["socket_errors"]:
            raise RuntimeError(f"{run['non_2xx']} non-2xx answers, {run['socket_errors']} socket errors: {run}")
        if drain:
            left = _queued(server, name)
            took = _drain(server, name)
            run["queued_at_end"] = left
            run["drain_s"] = took
            run["end_to_end_per_s"] = run["requests"] / (run.get("seconds", SECONDS) + took)
        runs.append(run)
    level: dict[str, Any] = {"runs": runs, "req_per_s": median_of(runs, "req_per_s"),
                             "p50_ms": median_of(runs, "p50_ms"), "p99_ms": median_of(runs, "p99_ms"),
                             "server_cpu_us_per_request": median_of(runs, "server_cpu_us_per_request"),
                             "server_runnable_waiting": median_of(runs, "server_runnable_waiting")}
    if drain:
        level["end_to_end_per_s"] = median_of(runs, "end_to_end_per_s")
    return level


def run(reps: int = 3) -> dict[str, Any]:
    binary, how = wrk.ensure_wrk()
    if binary is None:
        raise RuntimeError(f"async_enqueue needs wrk: {how}")
    script = _script()
    print(f"async_enqueue: Event invokes of a python3.12 function, wrk ({how}) -t1 -c{{{','.join(map(str, LEVELS))}}} "
          f"-d{SECONDS:g}s, {reps} reps per level after a {WARMUP_SECONDS:g} s warm-up")
    results: dict[str, Any] = {"client": f"wrk ({how})", "seconds": SECONDS}
    try:
        with lamina_server(env={"LAMINA_ASYNC_RETRY_SCALE": "1000"}) as server:
            client = server.lambda_client()
            create_function(client, "parked", NOOP)
            client.put_function_concurrency(FunctionName="parked", ReservedConcurrentExecutions=0)
            create_function(client, "noop", NOOP)
            for label, name, drain in (("accept only", "parked", False), ("accept while running", "noop", True)):
                levels = {}
                for connections in LEVELS:
                    level = levels[connections] = _level(binary, server, name, connections, reps, script, drain)
                    each = ", ".join(f"{r['req_per_s']:.0f}" for r in level["runs"])
                    line = (f"  {label} c{connections}: median {level['req_per_s']:.0f} accepted/s (reps {each}); "
                            f"latency p50 {level['p50_ms']:.2f} p99 {level['p99_ms']:.2f} ms; server main thread "
                            f"{level['server_cpu_us_per_request']:.0f} µs CPU per request, runnable-waiting "
                            f"{level['server_runnable_waiting']:.0%}")
                    if drain:
                        line += (f"; end to end {level['end_to_end_per_s']:.0f} events/s "
                                 f"(queued at the end of each run: {[r['queued_at_end'] for r in level['runs']]})")
                    print(line)
                results[label] = levels
    finally:
        script.unlink(missing_ok=True)
    top = max(LEVELS)
    best = max(results["accept only"][c]["req_per_s"] for c in LEVELS)
    summary = [
        {"metric": f"async enqueue, accept only c{c}", "value": results["accept only"][c]["req_per_s"],
         "unit": "req/s", "target": f">= {TARGET_PER_S:.0f}" if c == top else "-",
         "verdict": verdict(results["accept only"][c]["req_per_s"], TARGET_PER_S, True) if c == top else "-"}
        for c in LEVELS
    ] + [
        {"metric": f"async enqueue while running c{c}", "value": results["accept while running"][c]["req_per_s"],
         "unit": "req/s", "target": "-", "verdict": "-"} for c in LEVELS
    ] + [
        {"metric": f"async end to end c{c}", "value": results["accept while running"][c]["end_to_end_per_s"],
         "unit": "inv/s", "target": "-", "verdict": "-"} for c in LEVELS
    ]
    print(f"  accept only, best level: {best:.0f} accepted/s [target >= {TARGET_PER_S:.0f}: "
          f"{verdict(best, TARGET_PER_S, True)}]")
    return {**results, "summary": summary}
