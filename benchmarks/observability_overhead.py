"""Observability overhead: warm invocations/s with logs, metrics, usage records and traces on, against
the same server build with them off (``LAMINA_OBSERVABILITY=0``: a null log sink, no observers).

Two servers run side by side, each with the same no-op python3.12 function (a REPORT and START/END
per invocation, so the log store writes four lines each time). The load alternates between them rep
by rep (off, on, off, on ...) so drift on a shared machine hits both alike: ``wrk -t1 -c16 -d5s``
after a 1 s unmeasured run per server. Reported: median invocations/s of each; the overhead as the
median over reps of ``1 - on/off`` within each rep (pairs run back to back, so a co-tenant's burst
hits one pair, not one mode; target below 5 %); and the server's CPU time per invocation, all its
threads (``/proc/PID/stat``) and the event loop's thread alone (``/proc/PID/schedstat``), the
steadier figures on a 2-core box. Without wrk, the Python raw-socket client takes over and every
line says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import wrk
from benchmarks.harness import INVOKE_PATH, NOOP, LaminaServer, cpu_us, create_function, lamina_server, verdict
from benchmarks.rawhttp import KeepAliveClient, build_request, closed_loop_load

CONNECTIONS = 16
SECONDS, WARMUP_SECONDS = 5.0, 1.0
TARGET_OVERHEAD = 0.05
PAYLOAD = b'{"n": 1}'
MODES = {"off": {"LAMINA_OBSERVABILITY": "0"}, "on": {}}

Load = Callable[[int, str, int, float], dict[str, Any]]


@contextlib.contextmanager
def _loader() -> Iterator[tuple[Load, str]]:
    binary, how = wrk.ensure_wrk()
    if binary is not None:
        script = wrk.post_script(PAYLOAD)

        def by_wrk(port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
            return wrk.run(binary, f"http://127.0.0.1:{port}{path}", connections, seconds, script)

        try:
            yield by_wrk, f"wrk ({how})"
        finally:
            script.unlink(missing_ok=True)
        return

    def by_python(port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
        return closed_loop_load(port, build_request("POST", path, PAYLOAD), connections, seconds)

    print(f"  NOTE: {how}; falling back to the Python multi-connection raw-socket client (under-reports)")
    yield by_python, "python raw-socket client (wrk unavailable)"


def _prepare(server: LaminaServer) -> str:
    create_function(server.lambda_client(), "noop", NOOP)
    path = INVOKE_PATH.format(name="noop")
    with KeepAliveClient(server.port) as probe:
        answer = probe.request("POST", path, PAYLOAD)
        if answer.status != 200 or "x-amz-function-error" in answer.headers:
            raise RuntimeError(f"invoke failed: {answer.status} {answer.body[:200]!r}")
    return path


def _process_cpu_us(pid: int) -> float:
    """User + system time of every thread of ``pid`` (``/proc/PID/stat`` fields 14 and 15), in µs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run(reps: int = 3) -> dict[str, Any]:
    with _loader() as (load, client), lamina_server(env=MODES["off"]) as off, lamina_server(env=MODES["on"]) as on:
        return _run(load, client, reps, {"off": off, "on": on})


def _run(load: Load, client: str, reps: int, servers: dict[str, LaminaServer]) -> dict[str, Any]:
    print(f"observability overhead: no-op python3.12 function, {client}, -t1 -c{CONNECTIONS} -d{SECONDS:g}s, "
          f"{reps} reps per mode, interleaved, after a {WARMUP_SECONDS:g} s warm-up each")
    paths = {mode: _prepare(server) for mode, server in servers.items()}
    for mode, server in servers.items():
        load(server.port, paths[mode], CONNECTIONS, WARMUP_SECONDS)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in servers}
    for rep in range(reps):
        for mode, server in servers.items():
            assert server.process is not None
            pid = server.process.pid
            cpu0, all0 = cpu_us(pid)[0], _process_cpu_us(pid)
            result = load(server.port, paths[mode], CONNECTIONS, SECONDS)
            cpu1, all1 = cpu_us(pid)[0], _process_cpu_us(pid)
            requests = max(1, result.get("requests", 1))
            result["server_cpu_us_per_request"] = (cpu1 - cpu0) / requests
            result["process_cpu_us_per_request"] = (all1 - all0) / requests
            runs[mode].append(result)
            errors = result["non_2xx"] + result.get("socket_errors", 0)
            print(f"  rep {rep + 1} {mode:>3}: {result['req_per_s']:.0f} inv/s, server CPU/inv "
                  f"{result['process_cpu_us_per_request']:.0f} µs "
                  f"(loop thread {result['server_cpu_us_per_request']:.0f})" + (f"  ERRORS {errors}" if errors else ""))
    throughput = {mode: _median([r["req_per_s"] for r in found]) for mode, found in runs.items()}
    cpu = {mode: _median([r["process_cpu_us_per_request"] for r in found]) for mode, found in runs.items()}
    loop_cpu = {mode: _median([r["server_cpu_us_per_request"] for r in found]) for mode, found in runs.items()}
    pairs = zip(runs["off"], runs["on"], strict=True)
    overhead = _median([1 - on["req_per_s"] / off["req_per_s"] for off, on in pairs])
    cpu_overhead = cpu["on"] / cpu["off"] - 1
    print(f"  median: off {throughput['off']:.0f} inv/s, on {throughput['on']:.0f} inv/s; overhead (median of "
          f"paired reps) {overhead:.1%} [target < {TARGET_OVERHEAD:.0%}: {verdict(overhead, TARGET_OVERHEAD)}]; "
          f"server CPU per invocation off {cpu['off']:.0f} µs, on {cpu['on']:.0f} µs ({cpu_overhead:+.1%}); loop "
          f"thread off {loop_cpu['off']:.0f} µs, on {loop_cpu['on']:.0f} µs")
    return {
        "client": client, "connections": CONNECTIONS, "seconds": SECONDS, "runs": runs,
        "throughput": throughput, "process_cpu_us_per_request": cpu, "loop_cpu_us_per_request": loop_cpu,
        "overhead": overhead,
        "summary": [
            {"metric": "warm throughput, observability off", "value": throughput["off"], "unit": "inv/s",
             "target": "-", "verdict": "-"},
            {"metric": "warm throughput, observability on", "value": throughput["on"], "unit": "inv/s",
             "target": "-", "verdict": "-"},
            {"metric": "observability throughput overhead", "value": overhead * 100, "unit": "%",
             "target": f"< {TARGET_OVERHEAD * 100:.0f}", "verdict": verdict(overhead, TARGET_OVERHEAD)},
            {"metric": "observability server CPU overhead", "value": cpu_overhead * 100, "unit": "%",
             "target": "-", "verdict": "-"},
        ],
    }
