"""Warm invoke latency: the client round trip of a warm Invoke over one keep-alive raw socket.

The function is a no-op (it returns its event), so the round trip is what the platform adds: the
handler's own share is shown by the REPORT line's ``Duration`` of ``LogType=Tail`` invokes (measured
after the timed loop, so the tail's encoding is not in the headline). The same client then measures
the bare HTTP-server floor (:mod:`benchmarks.floor`, also on uvicorn for comparison), and the ratio
Lamina / floor is printed.

A breakdown follows, by subtraction on the same server: ``GET /_lamina/health`` (the HTTP server and
Lamina's ASGI app), an Invoke with ``InvocationType=DryRun`` (adds the AWS protocol edge, stops
before the invoker) and a full Invoke, each with the server's and the environment's CPU time per
request from ``/proc/PID/schedstat``.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.floor import floor_server
from benchmarks.harness import (
    INVOKE_PATH,
    NOOP,
    cpu_us,
    create_function,
    describe_interpreters,
    lamina_server,
    median_of,
    rep_stats,
    report_fields,
    verdict,
)
from benchmarks.rawhttp import KeepAliveClient, build_request, timed_roundtrips

WARMUP, COUNT, TAIL_COUNT, BREAKDOWN_COUNT = 200, 5000, 300, 2000
TARGET_P50_MS, TARGET_P99_MS = 0.5, 5.0
PAYLOAD = b'{"n": 1}'


def _cpu(pids: list[int]) -> float:
    return sum(cpu_us(pid)[0] for pid in pids)


def _measure(port: int, request: bytes, reps: int, count: int, server_pid: int, env_pids: list[int],
             expect: int = 200, label: str = "") -> list[dict[str, float]]:
    """Per rep: warm-up, ``count`` timed round trips (ms), and CPU µs per request of the server and
    of the environments (schedstat deltas over the timed loop)."""
    results = []
    with KeepAliveClient(port) as client:
        for rep in range(reps):
            timed_roundtrips(client, request, WARMUP, expect)
            server0, envs0 = _cpu([server_pid]), _cpu(env_pids)
            lats = [x / 1000 for x in timed_roundtrips(client, request, count, expect)]
            server1, envs1 = _cpu([server_pid]), _cpu(env_pids)
            stats = rep_stats(lats)
            stats.update(req_per_s=count / (sum(lats) / 1000), server_cpu_us=(server1 - server0) / count,
                         env_cpu_us=(envs1 - envs0) / count)
            results.append(stats)
            if label:
                print(f"  {label} rep {rep + 1}: p50 {stats['p50']:.3f} ms  p99 {stats['p99']:.3f} ms  "
                      f"max {stats['max']:.2f} ms  ({stats['req_per_s']:.0f} sequential req/s; server cpu "
                      f"{stats['server_cpu_us']:.0f} µs/req, environment {stats['env_cpu_us']:.0f})")
    return results


def _breakdown(port: int, server_pid: int, env_pids: list[int], reps: int) -> dict[str, dict[str, float]]:
    """Where a warm invoke's time goes, by subtraction: the same server answering less and less."""
    path = INVOKE_PATH.format(name="hello")
    steps = {
        "GET /_lamina/health (lamina.httpd + Lamina's app)": (build_request("GET", "/_lamina/health"), 200),
        "Invoke DryRun (+ AWS edge: route, parse, validate, serialize)": (
            build_request("POST", path, PAYLOAD, {"X-Amz-Invocation-Type": "DryRun"}), 204),
        "Invoke (+ invoker, Runtime API, environment)": (build_request("POST", path, PAYLOAD), 200),
    }
    out = {}
    for label, (request, expect) in steps.items():
        reps_stats = _measure(port, request, reps, BREAKDOWN_COUNT, server_pid, env_pids, expect)
        row = {key: median_of(reps_stats, key) for key in ("p50", "p99", "server_cpu_us", "env_cpu_us")}
        out[label] = row
        print(f"    {label:64s} p50 {row['p50'] * 1000:5.0f} µs  server cpu {row['server_cpu_us']:4.0f} µs/req"
              f"  environment cpu {row['env_cpu_us']:3.0f} µs/req")
    return out


def _handler_share(port: int) -> dict[str, float]:
    request = build_request("POST", INVOKE_PATH.format(name="hello"), PAYLOAD, {"X-Amz-Log-Type": "Tail"})
    durations = []
    with KeepAliveClient(port) as client:
        for _ in range(TAIL_COUNT):
            status, head, body = client.roundtrip(request)
            if status != 200:
                raise RuntimeError(f"invoke failed: {status} {body[:200]!r}")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"x-amz-log-result:"):
                    durations.append(report_fields(line.split(b":", 1)[1].strip().decode())["duration_ms"])
    return {"n": len(durations), "p50": statistics.median(durations),
            "p99": sorted(durations)[round(0.99 * (len(durations) - 1))]}


def run(reps: int = 3) -> dict[str, Any]:
    print(f"warm_latency: no-op python3.12 function, {COUNT} sequential invokes per rep after {WARMUP} warm-up, "
          f"{reps} reps, one keep-alive raw socket")
    with lamina_server() as server:
        assert server.process is not None
        create_function(server.lambda_client(), "hello", NOOP)
        invoke = build_request("POST", INVOKE_PATH.format(name="hello"), PAYLOAD)
        with KeepAliveClient(server.port) as client:
            timed_roundtrips(client, invoke, 1)
        envs = server.environment_processes()
        runtime = describe_interpreters(server.runtime_interpreters())
        print(f"  zygote interpreters: {runtime}; environments: {server.environments()} ({len(envs)} processes)")
        lamina = _measure(server.port, invoke, reps, COUNT, server.process.pid, envs, label="lamina")
        handler = _handler_share(server.port)
        print(f"  breakdown (median of {reps} reps x {BREAKDOWN_COUNT}; CPU from /proc/PID/schedstat):")
        breakdown = _breakdown(server.port, server.process.pid, envs, reps)
    with floor_server() as floor_proc:
        floor = _measure(floor_proc.port, build_request("POST", "/", PAYLOAD), reps, COUNT, floor_proc.pid, [],
                         label="floor ")
    with floor_server("uvicorn") as uvicorn_proc:
        uvicorn = _measure(uvicorn_proc.port, build_request("POST", "/", PAYLOAD), reps, COUNT, uvicorn_proc.pid, [],
                           label="uvicorn floor")
    p50, p99 = median_of(lamina, "p50"), median_of(lamina, "p99")
    f50, f99 = median_of(floor, "p50"), median_of(floor, "p99")
    print(f"  median of reps: lamina p50 {p50:.3f} ms [target <= {TARGET_P50_MS:g}: {verdict(p50, TARGET_P50_MS)}]  "
          f"p99 {p99:.3f} ms [target <= {TARGET_P99_MS:g}: {verdict(p99, TARGET_P99_MS)}]")
    u50, u99 = median_of(uvicorn, "p50"), median_of(uvicorn, "p99")
    print(f"  floor (lamina.httpd hello, same client): p50 {f50:.3f} ms  p99 {f99:.3f} ms "
          f"(uvicorn raw ASGI: p50 {u50:.3f} ms  p99 {u99:.3f} ms);  "
          f"ratio lamina/floor p50 {p50 / f50:.1f}x  p99 {p99 / f99:.1f}x;  lamina - floor p50 "
          f"{(p50 - f50) * 1000:.0f} µs")
    print(f"  handler share (REPORT Duration over {handler['n']} Tail invokes): p50 {handler['p50']:.2f} ms  "
          f"p99 {handler['p99']:.2f} ms")
    return {
        "runtime_interpreter": runtime,
        "count_per_rep": COUNT, "warmup": WARMUP, "lamina": lamina, "floor": floor, "uvicorn_floor": uvicorn,
        "report_duration": handler,
        "breakdown": breakdown,
        "ratio_p50": p50 / f50, "ratio_p99": p99 / f99,
        "summary": [
            {"metric": "warm invoke p50", "value": p50, "unit": "ms", "target": f"<= {TARGET_P50_MS:g}",
             "verdict": verdict(p50, TARGET_P50_MS)},
            {"metric": "warm invoke p99", "value": p99, "unit": "ms", "target": f"<= {TARGET_P99_MS:g}",
             "verdict": verdict(p99, TARGET_P99_MS)},
            {"metric": "bare lamina.httpd floor p50 / p99", "value": f"{f50:.3f} / {f99:.3f}", "unit": "ms",
             "target": "-", "verdict": "-"},
            {"metric": "bare uvicorn floor p50 / p99", "value": f"{u50:.3f} / {u99:.3f}", "unit": "ms",
             "target": "-", "verdict": "-"},
            {"metric": "warm invoke / floor, p50", "value": p50 / f50, "unit": "x", "target": "-", "verdict": "-"},
            {"metric": "REPORT Duration p50 (handler share)", "value": handler["p50"], "unit": "ms",
             "target": "-", "verdict": "-"},
        ],
    }
