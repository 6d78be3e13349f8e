"""Warm invoke latency: the client round trip of a warm Invoke over one keep-alive raw socket.

The function is a no-op (it returns its event), so the round trip is what the platform adds: the
handler's own share is shown by the REPORT line's ``Duration`` of ``LogType=Tail`` invokes (measured
after the timed loop, so the tail's encoding is not in the headline). The same client then measures
the bare uvicorn floor (:mod:`benchmarks.floor`), and the ratio Lamina / floor is printed.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.floor import floor_server
from benchmarks.harness import (
    INVOKE_PATH,
    NOOP,
    create_function,
    lamina_server,
    median_of,
    rep_stats,
    report_fields,
    verdict,
)
from benchmarks.rawhttp import KeepAliveClient, build_request, timed_roundtrips

WARMUP, COUNT, TAIL_COUNT = 200, 5000, 300
TARGET_P50_MS, TARGET_P99_MS = 0.5, 5.0
PAYLOAD = b'{"n": 1}'


def _measure(port: int, path: str, reps: int, label: str) -> list[dict[str, float]]:
    request = build_request("POST", path, PAYLOAD)
    results = []
    with KeepAliveClient(port) as client:
        for rep in range(reps):
            timed_roundtrips(client, request, WARMUP)
            lats = [x / 1000 for x in timed_roundtrips(client, request, COUNT)]
            stats = rep_stats(lats)
            stats["req_per_s"] = COUNT / (sum(lats) / 1000)
            results.append(stats)
            print(f"  {label} rep {rep + 1}: p50 {stats['p50']:.3f} ms  p99 {stats['p99']:.3f} ms  "
                  f"max {stats['max']:.2f} ms  ({stats['req_per_s']:.0f} sequential req/s)")
    return results


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
        create_function(server.lambda_client(), "hello", NOOP)
        lamina = _measure(server.port, INVOKE_PATH.format(name="hello"), reps, "lamina")
        handler = _handler_share(server.port)
    with floor_server() as port:
        floor = _measure(port, "/", reps, "floor ")
    p50, p99 = median_of(lamina, "p50"), median_of(lamina, "p99")
    f50, f99 = median_of(floor, "p50"), median_of(floor, "p99")
    print(f"  median of reps: lamina p50 {p50:.3f} ms [target <= {TARGET_P50_MS:g}: {verdict(p50, TARGET_P50_MS)}]  "
          f"p99 {p99:.3f} ms [target <= {TARGET_P99_MS:g}: {verdict(p99, TARGET_P99_MS)}]")
    print(f"  floor (uvicorn raw ASGI, same client): p50 {f50:.3f} ms  p99 {f99:.3f} ms;  "
          f"ratio lamina/floor p50 {p50 / f50:.1f}x  p99 {p99 / f99:.1f}x;  lamina - floor p50 "
          f"{(p50 - f50) * 1000:.0f} µs")
    print(f"  handler share (REPORT Duration over {handler['n']} Tail invokes): p50 {handler['p50']:.2f} ms  "
          f"p99 {handler['p99']:.2f} ms")
    return {
        "count_per_rep": COUNT, "warmup": WARMUP, "lamina": lamina, "floor": floor, "report_duration": handler,
        "ratio_p50": p50 / f50, "ratio_p99": p99 / f99,
        "summary": [
            {"metric": "warm invoke p50", "value": p50, "unit": "ms", "target": f"<= {TARGET_P50_MS:g}",
             "verdict": verdict(p50, TARGET_P50_MS)},
            {"metric": "warm invoke p99", "value": p99, "unit": "ms", "target": f"<= {TARGET_P99_MS:g}",
             "verdict": verdict(p99, TARGET_P99_MS)},
            {"metric": "bare uvicorn floor p50 / p99", "value": f"{f50:.3f} / {f99:.3f}", "unit": "ms",
             "target": "-", "verdict": "-"},
            {"metric": "warm invoke / floor, p50", "value": p50 / f50, "unit": "x", "target": "-", "verdict": "-"},
            {"metric": "REPORT Duration p50 (handler share)", "value": handler["p50"], "unit": "ms",
             "target": "-", "verdict": "-"},
        ],
    }
