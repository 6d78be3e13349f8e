"""Throughput: warm no-op invocations per second through the real Invoke API, driven by wrk.

``wrk -t1 -cN -d5s --latency -s post.lua URL`` for N in 1, 8, 32, each level after a 1 s unmeasured
run that starts the environments N connections need (so the figure is warm invokes). The number of
environments Lamina used is the count of the zygote's live children after each level (idle ones
stay pooled for the keep-alive, so the count is the level's peak). Then the bare HTTP-server floor is
driven the same way. CPU time per request of the server, the environments and wrk comes from
``/proc/PID/schedstat`` and wrk's rusage: on a 2-core box that is the figure that says where a
ceiling comes from, and it is less sensitive to co-tenants than req/s. Without wrk (not
installable), a multi-connection raw-socket client written in Python takes over, and every line
says so: it is slower than wrk and under-reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks import wrk
from benchmarks.floor import floor_server
from benchmarks.harness import INVOKE_PATH, NOOP, cpu_us, create_function, lamina_server, median_of, verdict
from benchmarks.rawhttp import KeepAliveClient

LEVELS = (1, 8, 32)
SECONDS, WARMUP_SECONDS = 5.0, 1.0
TARGET_PER_S = 10_000.0
PAYLOAD = b'{"n": 1}'

Load = wrk.Load


def _env_cpu(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_us(pid)[0] for pid in pids}


def _levels(load: Load, port: int, path: str, reps: int, label: str, server_pid: int,
            environments: Callable[[], list[int]] | None = None,
            count: Callable[[], int] | None = None) -> dict[int, dict[str, Any]]:
    """Each level: warm-up, then ``reps`` measured runs; CPU per request from ``/proc`` schedstat."""
    results: dict[int, dict[str, Any]] = {}
    for connections in LEVELS:
        load(port, path, connections, WARMUP_SECONDS)
        envs0 = _env_cpu(environments()) if environments is not None else {}
        server0 = cpu_us(server_pid)
        runs = [load(port, path, connections, SECONDS) for _ in range(reps)]
        server1 = cpu_us(server_pid)
        # Environments started during the runs count from zero (their init is in the window).
        envs1 = _env_cpu(environments()) if environments is not None else {}
        requests = sum(r["requests"] for r in runs) or 1
        seconds = sum(r.get("seconds", SECONDS) for r in runs)
        bad = sum(r["non_2xx"] + r.get("socket_errors", 0) for r in runs)
        level: dict[str, Any] = {
            "runs": runs, "req_per_s": median_of(runs, "req_per_s"), "errors": bad,
            "server_cpu_us_per_request": (server1[0] - server0[0]) / requests,
            # Share of the wall time the server was runnable but not running (CPU taken by others).
            "server_runnable_waiting": (server1[1] - server0[1]) / 1e6 / seconds,
            "server_busy": (server1[0] - server0[0]) / 1e6 / seconds,
        }
        if envs1:
            level["env_cpu_us_per_request"] = sum(cpu - envs0.get(pid, 0.0) for pid, cpu in envs1.items()) / requests
            level["environments"] = count() if count is not None else len(envs1)
        if all("cpu_s" in r for r in runs):
            level["client_cpu_us_per_request"] = sum(r["cpu_s"] for r in runs) * 1e6 / requests
        if all("p50_ms" in r for r in runs):
            level["p50_ms"] = median_of(runs, "p50_ms")
            level["p99_ms"] = median_of(runs, "p99_ms")
        results[connections] = level
        each = ", ".join(f"{r['req_per_s']:.0f}" for r in runs)
        latency = (f"  latency p50 {level['p50_ms']:.2f} p99 {level['p99_ms']:.2f} ms"
                   if "p50_ms" in level else "")
        cpu = f"  server cpu {level['server_cpu_us_per_request']:.0f} µs/req"
        if "env_cpu_us_per_request" in level:
            cpu += f", environments {level['env_cpu_us_per_request']:.0f}"
        if "client_cpu_us_per_request" in level:
            cpu += f", wrk {level['client_cpu_us_per_request']:.0f}"
        cpu += (f"; server busy {level['server_busy']:.0%}, runnable-waiting "
                f"{level['server_runnable_waiting']:.0%}")
        envs_note = f"  environments used {level['environments']}" if "environments" in level else ""
        print(f"  {label} c{connections}: median {level['req_per_s']:.0f} req/s (reps {each}){latency}")
        print(f"      {cpu}{envs_note}" + (f"  ERRORS {bad}" if bad else ""))
    return results


def run(reps: int = 3) -> dict[str, Any]:
    with wrk.loader(PAYLOAD) as (load, client):
        return _run(load, client, reps)


def _run(load: Load, client: str, reps: int) -> dict[str, Any]:
    print(f"throughput: no-op python3.12 function, {client}, -t1 -c{{{','.join(map(str, LEVELS))}}} "
          f"-d{SECONDS:g}s, {reps} reps per level after a {WARMUP_SECONDS:g} s warm-up")
    with lamina_server() as server:
        create_function(server.lambda_client(), "hello", NOOP)
        path = INVOKE_PATH.format(name="hello")
        with KeepAliveClient(server.port) as probe:
            answer = probe.request("POST", path, PAYLOAD)
            if answer.status != 200 or "x-amz-function-error" in answer.headers:
                raise RuntimeError(f"invoke failed: {answer.status} {answer.body[:200]!r}")
        assert server.process is not None
        lamina = _levels(load, server.port, path, reps, "lamina", server.process.pid,
                         server.environment_processes, server.environments)
    with floor_server() as floor_proc:
        floor = _levels(load, floor_proc.port, "/", reps, "floor ", floor_proc.pid)
    top = max(LEVELS)
    best = max(level["req_per_s"] for level in lamina.values())
    ratios = {c: lamina[c]["req_per_s"] / floor[c]["req_per_s"] for c in LEVELS}
    print(f"  lamina c{top}: {lamina[top]['req_per_s']:.0f} inv/s [target >= {TARGET_PER_S:.0f}: "
          f"{verdict(lamina[top]['req_per_s'], TARGET_PER_S, higher_is_better=True)}]; best level {best:.0f} inv/s; "
          "lamina/floor " + ", ".join(f"c{c} {ratios[c]:.2f}" for c in LEVELS))
    return {
        "client": client, "seconds": SECONDS, "lamina": lamina, "floor": floor, "ratio_lamina_over_floor": ratios,
        "summary": [
            {"metric": f"throughput c{c}", "value": lamina[c]["req_per_s"], "unit": "inv/s",
             "target": f">= {TARGET_PER_S:.0f}" if c == top else "-",
             "verdict": verdict(lamina[c]["req_per_s"], TARGET_PER_S, higher_is_better=True) if c == top else "-"}
            for c in LEVELS
        ] + [
            {"metric": f"floor throughput c{c}", "value": floor[c]["req_per_s"], "unit": "req/s", "target": "-",
             "verdict": "-"}
            for c in LEVELS
        ] + [
            {"metric": f"throughput lamina/floor c{top}", "value": ratios[top], "unit": "x", "target": "-",
             "verdict": "-"},
        ],
    }
