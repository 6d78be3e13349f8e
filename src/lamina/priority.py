"""The event loop's place in the CPU scheduler: real-time (``SCHED_FIFO``) where the machine allows it.

One thread serves every function: the event loop runs each request, hands it to an environment and
returns the answer. When the functions' processes and that thread share the CPU as equals, the
functions can only be as fast as the scheduler lets the loop run, and under load it let it run less
and less: with the environments of ``wrk -c32`` on two cores, warm throughput fell from about 12,000
to 9,500 invocations/s within 20 s and stayed there. As the environments aged, each waking one
preempted the loop more often (0.11 to 0.44 involuntary switches of the loop per invocation), its
wait for a core tripled, environments migrated between cores 0.3 times per invocation instead of
0.01, and a core was idle a fifth of the time (docs/performance.md, runs DC, DR, MG and RT-1 to RT-3).

Under ``SCHED_FIFO`` priority 1 no function preempts the loop: it runs whenever it has work and
sleeps in ``epoll`` when it has none, and the kernel's load balancer moves the environments to the
other cores, because real-time work lowers a core's capacity for normal tasks. Throughput then held
at about 12,500 invocations/s with no decline (RT-2). It also means a function that spins on every
core cannot slow the API down for the others. The telemetry process keeps to the loop's core
(:meth:`lamina.observability.link.TelemetryLink._follow_loop`).

Guards against the loop itself running away:

* ``SCHED_RESET_ON_FORK``: threads (``asyncio.to_thread``, the default executor) and every process the
  server starts (zygotes, environments, the telemetry process) begin under ``SCHED_OTHER``.
* The kernel's real-time throttling (``kernel.sched_rt_runtime_us``, 950 ms in every second by
  default) and, from Linux 6.12, its fair-class deadline server leave normal tasks part of every
  core even then.

Raising a policy takes root or ``CAP_SYS_NICE`` (or an ``RLIMIT_RTPRIO`` of 1 or more); without them
the loop stays under ``SCHED_OTHER`` and ``lamina doctor`` says why. ``LAMINA_REALTIME=0`` keeps it
there on purpose.
"""

from __future__ import annotations

import os
import threading

#: The lowest real-time priority: above every normal task, below any real-time task of the machine's.
PRIORITY = 1
_POLICY = getattr(os, "SCHED_FIFO", 1) | getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)


def raise_to_realtime(enabled: bool) -> tuple[str, str]:
    """Put the calling thread (the event loop's) under ``SCHED_FIFO`` :data:`PRIORITY`, reset on
    fork, when ``enabled``. Returns ``(state, why)`` as ``lamina doctor`` reports a feature: "on",
    "off" (turned off by the setting) or "unavailable" (the machine refused, nothing changed)."""
    if not enabled:
        return "off", "turned off by LAMINA_REALTIME"
    try:
        os.sched_setscheduler(0, _POLICY, os.sched_param(PRIORITY))
    except AttributeError:
        return "unavailable", "this platform has no sched_setscheduler"
    except OSError as error:
        return "unavailable", (f"the kernel refused SCHED_FIFO ({error.strerror}): it takes root, "
                               "CAP_SYS_NICE or an RLIMIT_RTPRIO of 1 or more")
    return "on", f"the event loop runs under SCHED_FIFO priority {PRIORITY}, reset on fork"


def is_realtime() -> bool:
    """Whether the calling thread runs as :func:`raise_to_realtime` leaves it."""
    try:
        return os.sched_getscheduler(0) == _POLICY
    except (OSError, AttributeError):
        return False


def current_core() -> int | None:
    """The core the calling thread last ran on (``/proc/thread-self/stat``, field 39)."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            return int(stat.read().rpartition(b")")[2].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def probe(enabled: bool) -> tuple[str, str]:
    """What :func:`raise_to_realtime` would answer, tried in a thread of its own so the caller keeps
    its policy (a thread's policy is its own on Linux)."""
    answer: list[tuple[str, str]] = []
    thread = threading.Thread(target=lambda: answer.append(raise_to_realtime(enabled)), name="lamina-rt-probe")
    thread.start()
    thread.join()
    return answer[0]
