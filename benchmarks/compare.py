"""Interleaved A/B of source trees: ``python -m benchmarks.compare ROUNDS SECONDS NAME=SRC ...``.

Each ``NAME=SRC`` starts one server from the ``lamina`` package under ``SRC`` (a ``src`` directory,
put first on ``PYTHONPATH``; copy it with ``cp -a`` so the compiled modules' manifest still matches
the sources), optionally with settings: ``NAME=SRC:LAMINA_X=1,LAMINA_Y=2``. All servers stay up
together, each with a no-op python3.12 function warmed at ``-c32``; then ``wrk -t1 -c32`` windows of
SECONDS alternate between them for ROUNDS rounds, the order reversed every other round, so a host
that speeds up or slows down weighs on every tree alike. Per window: invocations per second, the
server's CPU per invocation (schedstat), its environments' (schedstat of each of their processes) and the whole
machine's (``/proc/stat``, both cores, everything on them). Medians over the rounds are printed.

A control is a second copy of the same tree: the difference between two identical servers is the
noise any other difference has to clear (docs/performance.md, runs AB-1 to AB-6).
"""

from __future__ import annotations

import os
import statistics
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field

from benchmarks import wrk
from benchmarks.harness import INVOKE_PATH, NOOP, LaminaServer, cpu_us, create_function, lamina_server

CONNECTIONS = 32
WARMUP_SECONDS = 2.0


@dataclass
class Variant:
    name: str
    env: dict[str, str]
    #: Per window: (inv/s, server µs, environments µs, machine µs per invocation).
    windows: list[tuple[float, float, float, float]] = field(default_factory=list)


def parse(spec: str) -> Variant:
    """``NAME=SRC[:K=V,...]``."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise SystemExit(f"expected NAME=SRC[:K=V,...], got {spec!r}")
    src, _, settings = rest.partition(":")
    env = {"PYTHONPATH": os.path.abspath(src)}
    for item in filter(None, settings.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected K=V in {spec!r}, got {item!r}")
        env[key] = value
    return Variant(name, env)


def machine_busy_us() -> float:
    """CPU time spent on every core so far, not idle, in µs (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) * 1e6 / os.sysconf("SC_CLK_TCK")


def window(load: wrk.Load, server: LaminaServer, seconds: float) -> tuple[float, float, float, float]:
    # Every process of every environment, as the throughput benchmark counts them.
    processes = server.environment_processes()
    assert server.process is not None
    env0 = sum(cpu_us(pid)[0] for pid in processes)
    server0, machine0 = cpu_us(server.process.pid)[0], machine_busy_us()
    result = load(server.port, INVOKE_PATH.format(name="noop"), CONNECTIONS, seconds)
    server1, machine1 = cpu_us(server.process.pid)[0], machine_busy_us()
    env1 = sum(cpu_us(pid)[0] for pid in processes)
    n = max(1, result["requests"])
    return result["req_per_s"], (server1 - server0) / n, (env1 - env0) / n, (machine1 - machine0) / n


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit(__doc__)
    rounds, seconds = int(argv[0]), float(argv[1])
    variants = [parse(spec) for spec in argv[2:]]
    with ExitStack() as stack, wrk.loader(b'{"n": 1}') as (load, how):
        print(f"compare: {len(variants)} servers, {rounds} rounds of {seconds:g} s at -c{CONNECTIONS}, {how}")
        servers: list[tuple[Variant, LaminaServer]] = []
        for variant in variants:
            server = stack.enter_context(lamina_server(env=variant.env))
            create_function(server.lambda_client(), "noop", NOOP)
            load(server.port, INVOKE_PATH.format(name="noop"), CONNECTIONS, WARMUP_SECONDS)
            servers.append((variant, server))
        for round_ in range(rounds):
            for variant, server in servers if round_ % 2 == 0 else servers[::-1]:
                variant.windows.append(window(load, server, seconds))
    for variant in variants:
        columns = list(zip(*variant.windows, strict=True))
        medians = [statistics.median(column) for column in columns]
        print(f"{variant.name}: {medians[0]:.0f} inv/s; per invocation: server {medians[1]:.1f} µs, "
              f"environments {medians[2]:.1f} µs, machine {medians[3]:.1f} µs")
        print("    inv/s by round: " + ", ".join(f"{value:.0f}" for value in columns[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
