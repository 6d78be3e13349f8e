"""Scale: a burst from 0 to N concurrent live, isolated execution environments of one function.

Per repetition a fresh server (isolation as the machine allows) gets a ``warmer`` function, whose
one invoke builds the python3.12 zygote, and the measured function, whose handler records when it
started (``time.time()``, same machine, same clock as here) and then sleeps ``HOLD_S`` so every
environment is still busy when the last one starts. N keep-alive sockets are connected first; then
one request goes out on each, as fast as one asyncio loop writes them. Reported, from the moment
the first request was written:

* ``all_started_s``: until the N-th handler started (the largest recorded start), i.e. N
  environments forked, isolated, initialised and running user code at the same time;
* ``all_forked_s``: until N environments of the function were counted under the zygote (a /proc
  scan every ~50 ms; coarser, and it includes the scan);
* how many handlers had started within the 5 s target;
* that all N answers came back correct and that the handlers overlapped (the earliest end is later
  than the latest start), so the N environments were live at once.

N defaults to 1,000 (``LAMINA_BENCH_SCALE_N``), AWS's scaling rate per 10 s, and within the default
account concurrency of 1,000. Takes about 15 s per rep; the last benchmark of ``make bench``;
alone: ``python -m benchmarks scale``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import threading
import time
from typing import Any

from benchmarks.harness import INVOKE_PATH, create_function, lamina_server, median_of, verdict
from benchmarks.rawhttp import CRLF2, build_request, function_failed

N = int(os.environ.get("LAMINA_BENCH_SCALE_N", "1000"))
HOLD_S = 8.0
TARGET_S = 5.0
BUDGET_S = 90.0

HOLDER = f"""\
import time

def handler(event, context):
    started = time.time()
    time.sleep({HOLD_S})
    return {{"started": started, "ended": time.time()}}
"""


def _raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        soft = min(hard, needed) if hard != resource.RLIM_INFINITY else needed
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes, bytes]:
    head = await reader.readuntil(CRLF2)
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    writer.close()
    return status, head, body


async def _burst(port: int, request: bytes, n: int) -> tuple[float, list[tuple[int, bytes, bytes]]]:
    connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
                                         for _ in range(n)))
    sent_at = time.time()
    for _reader, writer in connections:
        writer.write(request)
    await asyncio.gather(*(writer.drain() for _reader, writer in connections))
    answers = await asyncio.wait_for(asyncio.gather(*(_one(r, w) for r, w in connections)), BUDGET_S)
    return sent_at, answers


def _rep(rep: int, n: int) -> dict[str, Any]:
    with lamina_server() as server:
        lam = server.lambda_client()
        create_function(lam, "warmer")
        name = f"scale-{rep}"
        create_function(lam, name, HOLDER, memory_mb=128)
        lam.invoke(FunctionName="warmer", Payload=b"{}")  # builds the zygote: the burst measures environments
        base = server.environments()
        request = build_request("POST", INVOKE_PATH.format(name=name), b"{}")

        forked_at: list[float] = []
        peak = [0]
        stop = threading.Event()

        def count() -> None:
            while not stop.is_set():
                live = server.environments() - base
                peak[0] = max(peak[0], live)
                if live >= n and not forked_at:
                    forked_at.append(time.time())
                stop.wait(0.05)

        counter = threading.Thread(target=count, daemon=True)
        counter.start()
        try:
            sent_at, answers = asyncio.run(_burst(server.port, request, n))
        finally:
            stop.set()
            counter.join()
        log_tail = server.log_tail(5)
    statuses: dict[int, int] = {}
    errors: list[str] = []
    starts, ends = [], []
    for status, head, body in answers:
        statuses[status] = statuses.get(status, 0) + 1
        if status != 200 or function_failed(head):
            errors.append(body[:200].decode("utf-8", "replace"))
            continue
        payload = json.loads(body)
        starts.append(payload["started"] - sent_at)
        ends.append(payload["ended"] - sent_at)
    ok = len(starts)
    return {
        "n": n, "ok": ok, "statuses": statuses, "errors": errors[:5],
        "all_started_s": max(starts) if ok == n else float("inf"),
        "p50_started_s": statistics.median(starts) if starts else float("inf"),
        "started_within_target": sum(1 for start in starts if start <= TARGET_S),
        "all_forked_s": forked_at[0] - sent_at if forked_at else float("inf"),
        "peak_environments": peak[0],
        "overlapped": bool(starts) and min(ends) > max(starts),
        "server_log_tail": log_tail if errors else "",
    }


def run(reps: int = 3) -> dict[str, Any]:
    n = N
    fds = _raise_fd_limit(n + 256)
    print(f"scale: burst of {n} concurrent invokes of one function (handler sleeps {HOLD_S:g} s), {reps} reps, "
          f"fresh server per rep; client RLIMIT_NOFILE {fds}")
    results = []
    for rep in range(reps):
        stats = _rep(rep, n)
        results.append(stats)
        print(f"  rep {rep + 1}: {stats['ok']}/{n} correct answers {stats['statuses']}; N-th handler started at "
              f"{stats['all_started_s']:.2f} s (median start {stats['p50_started_s']:.2f} s); "
              f"{n} environments counted at {stats['all_forked_s']:.2f} s; peak {stats['peak_environments']}; "
              f"all live at once: {stats['overlapped']}; "
              f"{stats['started_within_target']} started within {TARGET_S:g} s")
        if stats["errors"]:
            print(f"    errors (first 5): {stats['errors']}\n    server log: {stats['server_log_tail']}")
    started = median_of(results, "all_started_s")
    # The target is for 1,000 environments; a smaller burst is a data point, not a verdict.
    judged = verdict(started, TARGET_S) if n >= 1000 else "n/a (N < 1000)"
    print(f"  median of reps: 0 -> {n} live environments in {started:.2f} s "
          f"[target <= {TARGET_S:g} s for 1000: {judged}]")
    return {
        "method": f"{n} concurrent raw-socket invokes, handler records its start then sleeps {HOLD_S:g} s",
        "n": n, "reps": results,
        "summary": [{"metric": f"scale 0 -> {n} live environments", "value": started, "unit": "s",
                     "target": f"<= {TARGET_S:g}", "verdict": judged}],
    }
