"""``python -m benchmarks [NAME ...] [--reps N]``: run the benchmarks, print a summary, write JSON.

Results go to ``benchmarks/results/<UTC time>.json`` (and ``latest.json``), with the machine they
ran on. Names, in the default order (all of them): cold_start, warm_latency, throughput,
http_trigger, async_enqueue, sqs_esm, observability_overhead, memory_pss (PSS per idle warm
environment), isolation_cost (cold start with isolation auto vs off) and scale (0 -> 1,000 live
environments), the burst last so that the machine it leaves behind moves no other figure.

noisy_neighbour (warm p99 of one function while another crashes, memory-bombs, fork-bombs or spins,
and after each) runs only when named, about 90 s: ``python -m benchmarks noisy_neighbour``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import machine, machine_line

#: Issue 3's targets include the burst, PSS and isolation on/off: ``make bench`` runs them too.
BENCHMARKS = ("cold_start", "warm_latency", "throughput", "http_trigger", "async_enqueue", "sqs_esm",
              "observability_overhead", "memory_pss", "isolation_cost", "scale")
#: Not in the default run (about 90 s); selected by name.
EXTRA = ("noisy_neighbour",)
RESULTS = Path(__file__).resolve().parent / "results"


def _value(row: dict[str, Any]) -> str:
    value = row["value"]
    if isinstance(value, str):
        return value
    if row["unit"] in ("inv/s", "req/s"):
        return f"{value:.0f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement (>= 3 for reporting)")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS + EXTRA]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS + EXTRA)}")

    info = machine()
    print(machine_line(info))
    print("command: " + " ".join(["python -m benchmarks", *args.names, f"--reps {args.reps}"]))
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": info, "reps": args.reps, "benchmarks": {}}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        outcome = module.run(args.reps)
        outcome["wall_s"] = round(time.perf_counter() - t0, 1)
        results["benchmarks"][name] = outcome
        print(f"  ({name} took {outcome['wall_s']} s)\n")
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["loadavg_after"] = list(os.getloadavg())

    rows = [row for outcome in results["benchmarks"].values() for row in outcome["summary"]]
    width = max(len(row["metric"]) for row in rows)
    print(f"summary (medians of {args.reps} reps; {machine_line(info)})")
    print(f"  {'metric'.ljust(width)}  {'measured':>14}  {'target':>10}  verdict")
    for row in rows:
        measured = f"{_value(row)} {row['unit']}"
        print(f"  {row['metric'].ljust(width)}  {measured:>14}  {row['target']:>10}  {row['verdict']}")
    print(f"total {results['wall_s']} s")

    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(results, indent=2, default=str)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"results: {RESULTS / f'{stamp}.json'}")


if __name__ == "__main__":
    main()
