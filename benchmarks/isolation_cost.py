"""What isolation costs a cold start: p50 with ``LAMINA_ISOLATION=auto`` against ``off``.

cold_start.py's zygote-hit method with fewer samples: per repetition and per mode a fresh server gets
``FUNCTIONS`` hello-world python3.12 functions and a ``warmer`` whose invoke builds the zygote; each
function is then invoked once over one keep-alive raw socket (each invoke a new environment, proven
by the REPORT line's ``Init Duration``). ``auto`` applies what this machine allows (cgroup, PID and
mount namespaces, uid 993); ``off`` only processes, rlimits and a private TMPDIR. The two modes
alternate rep by rep, so drift in the machine's load hits both.

About 40 s for 3 reps; in ``make bench``, alone: ``python -m benchmarks isolation_cost``.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.cold_start import GAP_S, _invoke
from benchmarks.harness import HELLO, create_function, lamina_server, median_of, rep_stats
from benchmarks.rawhttp import KeepAliveClient

FUNCTIONS = 40
MODES = ("auto", "off")


def _rep(rep: int, mode: str) -> dict[str, Any]:
    with lamina_server(env={"LAMINA_ISOLATION": mode}) as server:
        lam = server.lambda_client()
        names = [f"iso-{mode}-{rep}-{i:02d}" for i in range(FUNCTIONS)]
        for name in ["warmer", *names]:
            create_function(lam, name, HELLO)
        lats, inits, cold = [], [], 0
        with KeepAliveClient(server.port) as client:
            _invoke(client, "warmer")
            time.sleep(0.2)
            for name in names:
                time.sleep(GAP_S)
                took, report = _invoke(client, name)
                lats.append(took)
                if "init_ms" in report:
                    cold += 1
                    inits.append(report["init_ms"])
    stats: dict[str, Any] = dict(rep_stats(lats))
    stats.update(cold=cold, init_p50=sorted(inits)[len(inits) // 2] if inits else 0.0)
    return stats


def run(reps: int = 3) -> dict[str, Any]:
    print(f"isolation_cost: cold start (zygote hit), {FUNCTIONS} functions per rep, LAMINA_ISOLATION auto vs off, "
          f"{reps} reps each, alternating")
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for rep in range(reps):
        for mode in MODES:
            stats = _rep(rep, mode)
            results[mode].append(stats)
            print(f"  rep {rep + 1} {mode:>4}: p50 {stats['p50']:.2f} ms  p99 {stats['p99']:.2f} ms  "
                  f"(Init Duration p50 {stats['init_p50']:.2f} ms; {stats['cold']}/{stats['n']} cold)")
    p50 = {mode: median_of(results[mode], "p50") for mode in MODES}
    p99 = {mode: median_of(results[mode], "p99") for mode in MODES}
    print(f"  median of reps: auto p50 {p50['auto']:.2f} ms, off p50 {p50['off']:.2f} ms: isolation adds "
          f"{p50['auto'] - p50['off']:.2f} ms; p99 auto {p99['auto']:.2f} ms, off {p99['off']:.2f} ms")
    return {
        "method": "cold_start's zygote-hit method, fresh server per rep and mode",
        "functions_per_rep": FUNCTIONS, "reps": results,
        "summary": [
            {"metric": "cold start p50, isolation auto", "value": p50["auto"], "unit": "ms", "target": "-",
             "verdict": "-"},
            {"metric": "cold start p50, isolation off", "value": p50["off"], "unit": "ms", "target": "-",
             "verdict": "-"},
            {"metric": "cold start p50, cost of isolation", "value": p50["auto"] - p50["off"], "unit": "ms",
             "target": "-", "verdict": "-"},
        ],
    }
