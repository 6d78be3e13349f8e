"""Throughput: warm no-op invocations per second through the real Invoke API, driven by wrk.

``wrk -t1 -cN -d5s --latency -s post.lua URL`` for N in 1, 8, 32, each level after a 1 s unmeasured
run that starts the environments N connections need (so the figure is warm invokes). The number of
environments Lamina used is the count of the zygote's live children after each level (idle ones
stay pooled for the keep-alive, so the count is the level's peak). Then the bare uvicorn floor is
driven the same way. Without wrk (not installable), a multi-connection raw-socket client written in
Python takes over, and every line says so: it is slower than wrk and under-reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks import wrk
from benchmarks.floor import floor_server
from benchmarks.harness import INVOKE_PATH, NOOP, create_function, lamina_server, median_of, verdict
from benchmarks.rawhttp import KeepAliveClient, build_request, closed_loop_load

LEVELS = (1, 8, 32)
SECONDS, WARMUP_SECONDS = 5.0, 1.0
TARGET_PER_S = 10_000.0
PAYLOAD = b'{"n": 1}'

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


def _levels(load: Load, port: int, path: str, reps: int, label: str,
            environments: Callable[[], int] | None = None) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    for connections in LEVELS:
        load(port, path, connections, WARMUP_SECONDS)
        runs = [load(port, path, connections, SECONDS) for _ in range(reps)]
        bad = sum(r["non_2xx"] + r.get("socket_errors", 0) for r in runs)
        level: dict[str, Any] = {"runs": runs, "req_per_s": median_of(runs, "req_per_s"), "errors": bad}
        if all("p50_ms" in r for r in runs):
            level["p50_ms"] = median_of(runs, "p50_ms")
            level["p99_ms"] = median_of(runs, "p99_ms")
        if environments is not None:
            level["environments"] = environments()
        results[connections] = level
        each = ", ".join(f"{r['req_per_s']:.0f}" for r in runs)
        latency = (f"  latency p50 {level['p50_ms']:.2f} ms p99 {level['p99_ms']:.2f} ms"
                   if "p50_ms" in level else "")
        envs = f"  environments {level['environments']}" if "environments" in level else ""
        print(f"  {label} c{connections}: median {level['req_per_s']:.0f} req/s (reps {each}){latency}{envs}"
              + (f"  ERRORS {bad}" if bad else ""))
    return results


def run(reps: int = 3) -> dict[str, Any]:
    with _loader() as (load, client):
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
        lamina = _levels(load, server.port, path, reps, "lamina", server.environments)
    with floor_server() as port:
        floor = _levels(load, port, "/", reps, "floor ")
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
