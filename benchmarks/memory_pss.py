"""Memory per idle warm execution environment: PSS (proportional set size), from the kernel.

Per repetition a fresh server gets one hello-world python3.12 function (and a ``warmer`` that builds
the zygote first). ``K`` concurrent invokes force K separate
environments (the invokes go out 10 ms apart and each handler holds its environment until a moment
after the last one went out); once all have answered they sit idle in the warm pool. Then, for every process of
every environment (the PID namespace's init and the runtime, whatever they started), the ``Pss:``
line of ``/proc/PID/smaps_rollup`` is summed and divided by K. PSS charges each shared page to its
sharers in proportion, so pages still shared with the zygote after the fork count for a 1/(K+1)
share each. The zygote's own PSS is reported beside it, not in the per-environment figure.

Takes about 8 s per rep; in ``make bench``, alone: ``python -m benchmarks memory_pss``.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.harness import INVOKE_PATH, create_function, lamina_server, median_of, verdict
from benchmarks.rawhttp import KeepAliveClient, build_request, function_failed

K = int(os.environ.get("LAMINA_BENCH_PSS_K", "200"))
#: Invokes start this far apart: a burst of hundreds of simultaneous spawns currently fails with
#: ServiceException (spawner.py send_fds EAGAIN; see docs/performance.md), which is scale.py's subject.
STAGGER_S = 0.01
HOLD_S = 3.0
TARGET_MB = 3.0

HOLDER = """\
import time

def handler(event, context):
    time.sleep(max(0.0, event.get("until", 0) - time.time()))
    return "hello world"
"""


def pss_kb(pid: int) -> int:
    """``Pss:`` of ``pid`` in kB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _rep(rep: int, k: int) -> dict[str, Any]:
    with lamina_server() as server:
        lam = server.lambda_client()
        create_function(lam, "warmer")
        name = f"pss-{rep}"
        create_function(lam, name, HOLDER, memory_mb=128)
        lam.invoke(FunctionName="warmer", Payload=b"{}")
        base = set(server.environment_pids())
        # Every handler holds its environment until one moment after the last invoke went out, so
        # the K invokes need K environments.
        t0 = time.time()
        until = t0 + k * STAGGER_S + HOLD_S
        request = build_request("POST", INVOKE_PATH.format(name=name), f'{{"until": {until}}}'.encode())

        def call(i: int) -> int:
            time.sleep(max(0.0, t0 + i * STAGGER_S - time.time()))
            with KeepAliveClient(server.port) as client:
                status, head, body = client.roundtrip(request)
                if status != 200 or function_failed(head):
                    raise RuntimeError(f"invoke failed: {status} {body[:200]!r}")
                return status

        with ThreadPoolExecutor(max_workers=k) as pool:
            list(pool.map(call, range(k)))
        time.sleep(1.0)  # every runtime back on GET /next: idle
        trees = server.environment_trees(exclude=base)
        mine = [pid for tree in trees.values() for pid in tree]
        total_pss = sum(pss_kb(pid) for pid in mine)
        total_rss = sum(rss_kb(pid) for pid in mine)
        zygotes = server.zygotes()
        zygote_pss = sum(pss_kb(pid) for pid in zygotes)
        per_env = [pss_kb(pid) for pid in mine]
    envs = len(trees)
    return {
        "k": k, "environments": envs, "processes": len(mine),
        "pss_per_env_mb": total_pss / max(envs, 1) / 1024,
        "rss_per_env_mb": total_rss / max(envs, 1) / 1024,
        "process_pss_p50_kb": statistics.median(per_env) if per_env else 0,
        "zygote_pss_mb": zygote_pss / 1024,
    }


def run(reps: int = 3) -> dict[str, Any]:
    k = K
    print(f"memory_pss: {k} idle warm environments of one function, PSS from smaps_rollup, {reps} reps, "
          "fresh server per rep")
    results = []
    for rep in range(reps):
        stats = _rep(rep, k)
        results.append(stats)
        print(f"  rep {rep + 1}: {stats['environments']} environments, {stats['processes']} processes: "
              f"PSS {stats['pss_per_env_mb']:.2f} MB per environment (RSS {stats['rss_per_env_mb']:.2f} MB); "
              f"zygote(s) PSS {stats['zygote_pss_mb']:.2f} MB")
        if stats["environments"] != k:
            print(f"    WARNING: expected {k} environments")
    pss = median_of(results, "pss_per_env_mb")
    print(f"  median of reps: PSS per idle environment {pss:.2f} MB "
          f"[target <= {TARGET_MB:g}: {verdict(pss, TARGET_MB)}]")
    return {
        "method": f"{k} concurrent invokes force {k} environments; sum of Pss over their processes / {k}",
        "k": k, "reps": results,
        "summary": [{"metric": "PSS per idle warm environment", "value": pss, "unit": "MB",
                     "target": f"<= {TARGET_MB:g}", "verdict": verdict(pss, TARGET_MB)}],
    }
