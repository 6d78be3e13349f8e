"""HTTP triggers: a warm hello-world function through a function URL and an HTTP API route, against a
direct Invoke of the same function on the same server.

Two measurements, each with the three targets interleaved rep by rep (so drift on a shared machine
hits them alike):

1. Sequential latency over one keep-alive raw socket (the warm_latency client): ``COUNT`` round
   trips per rep after ``WARMUP``; p50/p99 per target and what the gateway adds over Invoke at p50.
   The URL and the API are reached by their host form (``Host: <id>.lambda-url.<region>.localhost``,
   ``Host: <id>.execute-api.localhost``), as a browser would.
2. ``wrk -t1 -cN -d5s --latency`` at N = 1 and 32 after a 1 s unmeasured run: requests/s, p50, p99.

The Invoke is ``POST .../invocations`` with ``{}``; the URL and API requests are ``GET`` (the
function gets a ~700-byte payload 2.0 event instead): building, sending and mapping that event is
the gateway's share, and is what the target bounds (at most 0.3 ms p50 added).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import wrk
from benchmarks.harness import (
    HELLO,
    INVOKE_PATH,
    cpu_us,
    create_function,
    lamina_server,
    median_of,
    rep_stats,
    verdict,
)
from benchmarks.rawhttp import KeepAliveClient, build_request, timed_roundtrips

WARMUP, COUNT = 200, 3000
LEVELS = (1, 32)
SECONDS, WARMUP_SECONDS = 5.0, 1.0
TARGET_ADDED_P50_MS = 0.3
TARGETS = ("invoke", "function_url", "http_api")


def _lua(method: str, host: str | None, body: bytes) -> Path:
    lines = [f'wrk.method = "{method}"']
    if host:
        lines.append(f'wrk.headers["Host"] = "{host}"')
    if body:
        lines.append(f'wrk.body = "{body.decode()}"')
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    fd, name = tempfile.mkstemp(prefix="lamina-bench-", suffix=".lua")
    with os.fdopen(fd, "w") as script:
        script.write("\n".join(lines) + "\n")
    return Path(name)


def _setup(server: Any) -> dict[str, dict[str, Any]]:
    """The function, its URL and a quick-created API; how to reach each target."""
    import boto3
    from botocore.config import Config

    lam = server.lambda_client()
    create_function(lam, "hello", HELLO)
    url = lam.create_function_url_config(FunctionName="hello", AuthType="NONE")["FunctionUrl"]
    gw = boto3.client("apigatewayv2", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(retries={"max_attempts": 2}))
    arn = lam.get_function(FunctionName="hello")["Configuration"]["FunctionArn"]
    api = gw.create_api(Name="bench", ProtocolType="HTTP", Target=arn, RouteKey="GET /hello")
    url_host = url.split("//", 1)[1].rstrip("/")
    api_host = api["ApiEndpoint"].split("//", 1)[1]
    return {
        "invoke": {"method": "POST", "path": INVOKE_PATH.format(name="hello"), "host": None, "body": b"{}"},
        "function_url": {"method": "GET", "path": "/", "host": url_host, "body": b""},
        "http_api": {"method": "GET", "path": "/hello", "host": api_host, "body": b""},
    }


def _sequential(port: int, server_pid: int, targets: dict[str, dict[str, Any]],
                reps: int) -> dict[str, list[dict[str, float]]]:
    requests = {name: build_request(t["method"], t["path"], t["body"], host=t["host"] or "127.0.0.1")
                for name, t in targets.items()}
    out: dict[str, list[dict[str, float]]] = {name: [] for name in TARGETS}
    with KeepAliveClient(port) as client:
        for name in TARGETS:
            timed_roundtrips(client, requests[name], WARMUP)
        for rep in range(reps):
            for name in TARGETS:
                cpu0 = cpu_us(server_pid)[0]
                lats = [x / 1000 for x in timed_roundtrips(client, requests[name], COUNT)]
                stats = rep_stats(lats)
                # The server's CPU per request is less sensitive to co-tenants than wall-clock latency.
                stats["server_cpu_us"] = (cpu_us(server_pid)[0] - cpu0) / COUNT
                out[name].append(stats)
                print(f"  sequential rep {rep + 1} {name:12s} p50 {stats['p50']:.3f} ms  p99 {stats['p99']:.3f} ms"
                      f"  server cpu {stats['server_cpu_us']:.0f} µs/req")
    return out


def _loaded(binary: str, port: int, targets: dict[str, dict[str, Any]], reps: int) -> dict[str, dict[int, Any]]:
    scripts = {name: _lua(t["method"], t["host"], t["body"]) for name, t in targets.items()}
    out: dict[str, dict[int, Any]] = {name: {} for name in TARGETS}
    try:
        for connections in LEVELS:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in TARGETS}
            for name in TARGETS:
                wrk.run(binary, f"http://127.0.0.1:{port}{targets[name]['path']}", connections, WARMUP_SECONDS,
                        scripts[name])
            for _ in range(reps):
                for name in TARGETS:
                    run = wrk.run(binary, f"http://127.0.0.1:{port}{targets[name]['path']}", connections, SECONDS,
                                  scripts[name])
                    if run["non_2xx"] or run["socket_errors"]:
                        raise RuntimeError(f"{name} c{connections}: {run['non_2xx']} non-2xx, "
                                           f"{run['socket_errors']} socket errors")
                    runs[name].append(run)
            for name in TARGETS:
                level = {"runs": runs[name], "req_per_s": median_of(runs[name], "req_per_s"),
                         "p50_ms": median_of(runs[name], "p50_ms"), "p99_ms": median_of(runs[name], "p99_ms")}
                out[name][connections] = level
                print(f"  wrk c{connections:<2d} {name:12s} {level['req_per_s']:7.0f} req/s  p50 "
                      f"{level['p50_ms']:.3f} ms  p99 {level['p99_ms']:.3f} ms")
    finally:
        for script in scripts.values():
            script.unlink(missing_ok=True)
    return out


def run(reps: int = 3) -> dict[str, Any]:
    binary, how = wrk.ensure_wrk()
    print(f"http_trigger: hello-world python3.12 function; Invoke vs function URL vs HTTP API route; "
          f"{COUNT} sequential round trips x {reps} reps, then wrk ({how}) -t1 -c{{{','.join(map(str, LEVELS))}}} "
          f"-d{SECONDS:g}s")
    with lamina_server() as server:
        targets = _setup(server)
        with KeepAliveClient(server.port) as probe:
            for name, t in targets.items():
                status, _, body = probe.roundtrip(build_request(t["method"], t["path"], t["body"],
                                                                host=t["host"] or "127.0.0.1"))
                if status != 200:
                    raise RuntimeError(f"{name}: {status} {body[:200]!r}")
        assert server.process is not None
        sequential = _sequential(server.port, server.process.pid, targets, reps)
        loaded = _loaded(binary, server.port, targets, reps) if binary else {}
    p50 = {name: median_of(sequential[name], "p50") for name in TARGETS}
    p99 = {name: median_of(sequential[name], "p99") for name in TARGETS}
    cpu = {name: median_of(sequential[name], "server_cpu_us") for name in TARGETS}
    added = {name: p50[name] - p50["invoke"] for name in ("function_url", "http_api")}
    for name, extra in added.items():
        print(f"  {name}: adds {extra * 1000:.0f} µs p50 over Invoke [target <= {TARGET_ADDED_P50_MS * 1000:.0f} µs: "
              f"{verdict(extra, TARGET_ADDED_P50_MS)}]; server cpu {cpu[name]:.0f} µs/req vs Invoke's "
              f"{cpu['invoke']:.0f}")
    summary: list[dict[str, Any]] = []
    for name in TARGETS:
        summary.append({"metric": f"{name} sequential p50 / p99", "value": f"{p50[name]:.3f} / {p99[name]:.3f}",
                        "unit": "ms", "target": "-", "verdict": "-"})
        summary.append({"metric": f"{name} server cpu per request", "value": cpu[name], "unit": "µs",
                        "target": "-", "verdict": "-"})
    for name, extra in added.items():
        summary.append({"metric": f"{name} added p50 over Invoke", "value": extra, "unit": "ms",
                        "target": f"<= {TARGET_ADDED_P50_MS:g}", "verdict": verdict(extra, TARGET_ADDED_P50_MS)})
    for name in TARGETS:
        for connections in LEVELS if loaded else ():
            level = loaded[name][connections]
            summary.append({"metric": f"{name} wrk c{connections}", "value": level["req_per_s"], "unit": "req/s",
                            "target": "-", "verdict": "-"})
    if not binary:
        print(f"  NOTE: {how}; the wrk part was skipped")
    return {"count_per_rep": COUNT, "warmup": WARMUP, "sequential": sequential, "wrk": loaded,
            "added_p50_ms": added, "server_cpu_us": cpu, "summary": summary}
