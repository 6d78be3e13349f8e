"""Cold start: Invoke request sent → response received, for a function with no idle environment.

**Zygote hit.** Per repetition a fresh server gets ``FUNCTIONS`` hello-world python3.12 functions
(each with its own zip) and one more, ``warmer``, whose single invoke builds the zygote. Each of
the others is then invoked exactly once over one keep-alive raw socket, so every measured invoke
forks a new environment from a warm zygote, and nothing else is running: no configuration change
is in flight and no old environment is being killed, which is what the other way of forcing cold
starts (UpdateFunctionConfiguration between invokes) would put beside every sample. Each invoke
asks for ``LogType=Tail``; the REPORT line's ``Init Duration`` proves the start was cold. The CPU
time each cold start costs the server, the zygote and the new environment (``/proc/PID/schedstat``)
says where the milliseconds go.

**Zygote miss.** One function is created, then the server is restarted per sample; the measured
invoke is the first invoke after the server answers. A ListFunctions call goes first so the sample
measures the missing zygote, not the server's first-request warm-up (that call is reported too).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    HELLO,
    INVOKE_PATH,
    LaminaServer,
    cmdline,
    cpu_us,
    create_function,
    describe_interpreters,
    lamina_server,
    median_of,
    minor_faults,
    rep_stats,
    report_fields,
    verdict,
)
from benchmarks.rawhttp import KeepAliveClient, build_request, function_failed

FUNCTIONS = 100
NO_ZYGOTE_SAMPLES = 5
#: Between cold invokes: lets the previous environment park on ``GET next`` so samples don't overlap.
GAP_S = 0.01
BUDGET_S = 120.0
TARGET_P50_MS, TARGET_P99_MS, TARGET_NO_ZYGOTE_P50_MS = 10.0, 50.0, 100.0
PAYLOAD = b'{"name": "bench"}'


def _invoke(client: KeepAliveClient, name: str) -> tuple[float, dict[str, float]]:
    """One Invoke; (client round trip ms, REPORT fields)."""
    request = build_request("POST", INVOKE_PATH.format(name=name), PAYLOAD, {"X-Amz-Log-Type": "Tail"})
    started = time.perf_counter()
    status, head, body = client.roundtrip(request)
    took = (time.perf_counter() - started) * 1000
    if status != 200 or function_failed(head):
        raise RuntimeError(f"invoke of {name} failed: {status} {body[:300]!r}")
    result = b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"x-amz-log-result:"):
            result = line.split(b":", 1)[1].strip()
    return took, report_fields(result.decode())


def _hit_rep(rep: int) -> dict[str, Any]:
    with lamina_server() as server:
        lam = server.lambda_client()
        names = [f"cold-{rep}-{i:03d}" for i in range(FUNCTIONS)]
        for name in ["warmer", *names]:
            create_function(lam, name, HELLO)
        assert server.process is not None
        with KeepAliveClient(server.port) as client:
            _invoke(client, "warmer")  # builds the zygote
            zygotes = server.zygotes()
            runtime = describe_interpreters(server.runtime_interpreters())
            before = set(server.environment_pids())
            time.sleep(0.2)
            server_cpu0, zygote_cpu0 = cpu_us(server.process.pid)[0], sum(cpu_us(z)[0] for z in zygotes)
            lats, inits, durations, cold = [], [], [], 0
            give_up = time.perf_counter() + BUDGET_S
            for name in names:
                if time.perf_counter() > give_up:
                    raise RuntimeError(f"cold starts took over {BUDGET_S} s; is the server healthy?")
                time.sleep(GAP_S)
                took, report = _invoke(client, name)
                lats.append(took)
                durations.append(report.get("duration_ms", 0.0))
                if "init_ms" in report:
                    cold += 1
                    inits.append(report["init_ms"])
            server_cpu1, zygote_cpu1 = cpu_us(server.process.pid)[0], sum(cpu_us(z)[0] for z in zygotes)
        started = server.environment_trees(exclude=before)
        # Each new environment's whole life so far (all its processes): fork, init, one invocation,
        # parking on GET next.
        env_cpu = [sum(cpu_us(pid)[0] for pid in tree) / 1000 for tree in started.values()]
        faults = [sum(minor_faults(pid) for pid in tree) for tree in started.values()]
        environments = server.environments()
        same_zygote = server.zygotes() == zygotes
    stats: dict[str, Any] = dict(rep_stats(lats))
    stats.update(init_p50=statistics.median(inits) if inits else 0.0,
                 duration_p50=statistics.median(durations), cold=cold, environments=environments,
                 same_zygote=same_zygote, runtime_interpreter=runtime,
                 server_cpu_ms=(server_cpu1 - server_cpu0) / 1000 / len(names),
                 zygote_cpu_ms=(zygote_cpu1 - zygote_cpu0) / 1000 / len(names),
                 env_cpu_ms=statistics.median(env_cpu) if env_cpu else 0.0,
                 env_minor_faults=statistics.median(faults) if faults else 0)
    return stats


def _no_zygote(samples: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="lamina-bench-"))
    try:
        with lamina_server(data_dir) as server:
            create_function(server.lambda_client(), "first", HELLO)
        firsts, api_warmups, startups, inits = [], [], [], []
        built: set[str] = set()
        for _ in range(samples):
            server = LaminaServer(data_dir)
            try:
                server.start()
                startups.append(server.startup_s * 1000)
                # The server starts its default interpreter's zygote by itself; the function's
                # runtime (python3.12) must get a zygote of its own, built by this invoke.
                before = set(server.zygotes())
                with KeepAliveClient(server.port) as client:
                    started = time.perf_counter()
                    listing = client.request("GET", "/2015-03-31/functions/")
                    api_warmups.append((time.perf_counter() - started) * 1000)
                    if listing.status != 200:
                        raise RuntimeError(f"ListFunctions failed: {listing.status} {listing.body[:200]!r}")
                    took, report = _invoke(client, "first")
                new = [pid for pid in server.zygotes() if pid not in before]
                if not new:
                    raise RuntimeError("the first invoke found its zygote running: the sample would be a hit")
                built.update(cmdline(pid).split(" ", 1)[0] for pid in new)
                firsts.append(took)
                inits.append(report.get("init_ms", 0.0))
            finally:
                server.stop()
        return {"samples_ms": firsts, "p50": statistics.median(firsts), "min": min(firsts), "max": max(firsts),
                "init_p50": statistics.median(inits), "first_api_call_ms": api_warmups,
                "server_start_to_healthy_ms": startups, "zygote_built_for": sorted(built)}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run(reps: int = 3) -> dict[str, Any]:
    print(f"cold_start: {FUNCTIONS} functions invoked once each per rep, {reps} reps, fresh server per rep; "
          "zygote warmed by another function first")
    hits = []
    for rep in range(reps):
        stats = _hit_rep(rep)
        hits.append(stats)
        print(f"  rep {rep + 1}: p50 {stats['p50']:.2f} ms  p99 {stats['p99']:.2f} ms  max {stats['max']:.2f} ms  "
              f"(REPORT Init Duration p50 {stats['init_p50']:.2f} ms; {stats['cold']}/{stats['n']} cold; "
              f"{stats['environments']} environments live)")
        print(f"         CPU per cold start: server {stats['server_cpu_ms']:.2f} ms, "
              f"zygote {stats['zygote_cpu_ms']:.2f} ms, new environment {stats['env_cpu_ms']:.2f} ms "
              f"({stats['env_minor_faults']:.0f} minor page faults)")
    print(f"  zygote interpreters: {hits[0]['runtime_interpreter']}")
    p50, p99 = median_of(hits, "p50"), median_of(hits, "p99")
    print(f"  median of reps: p50 {p50:.2f} ms [target <= {TARGET_P50_MS:g}: {verdict(p50, TARGET_P50_MS)}]  "
          f"p99 {p99:.2f} ms [target <= {TARGET_P99_MS:g}: {verdict(p99, TARGET_P99_MS)}]  "
          f"Init Duration p50 {median_of(hits, 'init_p50'):.2f} ms")
    print(f"  CPU per cold start (medians): server {median_of(hits, 'server_cpu_ms'):.2f} ms, zygote "
          f"{median_of(hits, 'zygote_cpu_ms'):.2f} ms, environment {median_of(hits, 'env_cpu_ms'):.2f} ms")
    print(f"cold_start, no zygote yet: first invoke after server start, {NO_ZYGOTE_SAMPLES} restarts")
    miss = _no_zygote(NO_ZYGOTE_SAMPLES)
    samples = ", ".join(f"{x:.1f}" for x in miss["samples_ms"])
    print(f"  samples ms: {samples}  (each built a zygote for {', '.join(miss['zygote_built_for'])})")
    print(f"  median {miss['p50']:.2f} ms [target <= {TARGET_NO_ZYGOTE_P50_MS:g}: "
          f"{verdict(miss['p50'], TARGET_NO_ZYGOTE_P50_MS)}]  max {miss['max']:.2f} ms  "
          f"(REPORT Init Duration p50 {miss['init_p50']:.2f} ms; first API call after start p50 "
          f"{statistics.median(miss['first_api_call_ms']):.2f} ms; server start to healthy p50 "
          f"{statistics.median(miss['server_start_to_healthy_ms']):.0f} ms)")
    return {
        "method": "create N functions, invoke each once (zygote warmed by another function first)",
        "functions_per_rep": FUNCTIONS, "reps": hits, "no_zygote": miss,
        "summary": [
            {"metric": "cold start, zygote hit, p50", "value": p50, "unit": "ms", "target": f"<= {TARGET_P50_MS:g}",
             "verdict": verdict(p50, TARGET_P50_MS)},
            {"metric": "cold start, zygote hit, p99", "value": p99, "unit": "ms", "target": f"<= {TARGET_P99_MS:g}",
             "verdict": verdict(p99, TARGET_P99_MS)},
            {"metric": f"cold start, no zygote, median of {NO_ZYGOTE_SAMPLES}", "value": miss["p50"], "unit": "ms",
             "target": f"<= {TARGET_NO_ZYGOTE_P50_MS:g}", "verdict": verdict(miss["p50"], TARGET_NO_ZYGOTE_P50_MS)},
        ],
    }
