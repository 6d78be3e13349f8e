"""Crash-loop backoff: a function whose environments keep dying gets new ones more slowly.

On AWS each execution environment is its own microVM, so a function whose runtime exits on every
invoke (``sys.exit``, a segfault, an out-of-memory kill) costs nobody else anything. On one machine
it does: each replacement is a fork, an init and a teardown (about 11 ms of CPU here), and a client
invoking such a function back to back had Lamina replace 273-385 environments in a noisy-neighbour
phase, both cores' worth, while a healthy function's p99 rose eightfold (docs/performance.md,
"Morning of 2026-11-27, 07:50 on").

So, as Kubernetes' CrashLoopBackOff and systemd's start limits do: after :attr:`free` deaths in a
row of one function's environments (same code; no environment of it survived an invocation in
between), each new environment for it waits before it starts, twice as long each time, from
:attr:`first_s` up to :attr:`cap_s`. An environment that survives an invocation (a handled error
counts: only the environment's death matters), new code, or :attr:`forget_after_s` without a death
ends the streak, so someone retrying a broken function by hand, ten seconds or more apart, never
waits.
The waiting invocation holds its concurrency slot and its answer is the same, only later; it is not
a throttle (nothing on AWS would answer 429 here).
"""

from __future__ import annotations

import logging

from lamina.clock import Clock
from lamina.types import FunctionKey

log = logging.getLogger(__name__)


class CrashBackoff:
    def __init__(self, cap_s: float, clock: Clock, free: int = 2, first_s: float = 0.01,
                 forget_after_s: float = 10.0) -> None:
        #: Longest pause before a new environment; 0 turns the backoff off.
        self.cap_s = cap_s
        self._clock = clock
        #: Deaths in a row that cost nothing.
        self.free = free
        self.first_s = first_s
        self.forget_after_s = forget_after_s
        #: Per function: (code revision, deaths in a row, monotonic time of the last). Empty in the
        #: usual case, which is all the warm path looks at.
        self.streaks: dict[FunctionKey, tuple[str, int, float]] = {}

    def pause_s(self, key: FunctionKey, revision: str) -> float:
        """Seconds to wait before starting a new environment of ``key`` (0.0 when not in a loop)."""
        count = self._count(key, revision)
        if count <= self.free or self.cap_s <= 0:
            return 0.0
        return min(self.first_s * 2.0 ** min(count - self.free - 1, 30), self.cap_s)

    def pausing(self) -> list[tuple[FunctionKey, float]]:
        """Every function whose next new environment would wait, with how long (for ``/metrics``)."""
        pauses = ((key, self.pause_s(key, revision)) for key, (revision, _count, _last) in self.streaks.items())
        return [(key, pause) for key, pause in pauses if pause > 0]

    def died(self, key: FunctionKey, revision: str) -> None:
        """An environment of ``key`` running ``revision`` died during or after an invocation."""
        count = self._count(key, revision) + 1
        self.streaks[key] = (revision, count, self._clock.monotonic())
        if count == self.free + 1 and self.cap_s > 0:
            log.warning("%s: %d environments in a row died; new ones start after a pause that doubles up to "
                        "%.2f s, until one survives an invocation, the code changes or %.0f s pass without a death",
                        key.name, count, self.cap_s, self.forget_after_s)

    def _count(self, key: FunctionKey, revision: str) -> int:
        streak = self.streaks.get(key)
        if streak is None or streak[0] != revision or self._expired(streak[2], self._clock.monotonic()):
            return 0
        return streak[1]

    def _expired(self, last: float, now: float) -> bool:
        return now - last > self.forget_after_s

    def end(self, key: FunctionKey) -> None:
        """End ``key``'s streak: one of its environments survived an invocation, or it was deleted."""
        self.streaks.pop(key, None)

    def prune(self) -> None:
        """Forget streaks that have expired (:attr:`forget_after_s` without a death). Called by the
        invoker's reaper: a function that crashed and is never invoked again would otherwise keep
        its entry, and every warm success pays a dict pop while any entry is left."""
        now = self._clock.monotonic()
        for key in [key for key, (_revision, _count, last) in self.streaks.items() if self._expired(last, now)]:
            del self.streaks[key]
