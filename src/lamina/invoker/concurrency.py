"""Concurrency accounting and throttling, as AWS does it per account and region.

https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html: a region's account limit
(1,000 by default) is shared by every function without reserved concurrency; a function with
reserved concurrency may use exactly that many environments and the rest of the account cannot.
https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: each function may add 1,000
execution environments every 10 seconds. Over a limit, invokes fail with 429
``TooManyRequestsException`` and the matching ``Reason``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from lamina.clock import Clock
from lamina.config import Limits
from lamina.errors import TooManyRequestsException
from lamina.types import FunctionKey


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class ConcurrencyGate:
    """Counts running invocations; ``admit`` before running, ``release`` after."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._running: dict[FunctionKey, int] = defaultdict(int)
        self._unreserved_running: dict[str, int] = defaultdict(int)
        self._reserved: dict[FunctionKey, int] = {}
        self._reserved_total: dict[str, int] = defaultdict(int)
        self._buckets: dict[FunctionKey, _Bucket] = {}

    # -- configuration ---------------------------------------------------------------------

    def set_reserved(self, key: FunctionKey, reserved: int | None) -> None:
        previous = self._reserved.pop(key, None)
        if previous is not None:
            self._reserved_total[key.region] -= previous
        if reserved is not None:
            self._reserved[key] = reserved
            self._reserved_total[key.region] += reserved

    def reserved_total(self, region: str, excluding: FunctionKey | None = None) -> int:
        total = self._reserved_total[region]
        if excluding is not None:
            total -= self._reserved.get(excluding, 0)
        return total

    def unreserved_limit(self, region: str) -> int:
        return self._limits.concurrent_executions - self._reserved_total[region]

    def running(self, region: str) -> int:
        return sum(n for key, n in self._running.items() if key.region == region)

    def running_by_function(self) -> list[tuple[FunctionKey, int]]:
        """Invocations running now, per function that has any (for metrics, read at a sample)."""
        return [(key, count) for key, count in self._running.items() if count > 0]

    # -- the invoke path -------------------------------------------------------------------

    def admit(self, key: FunctionKey) -> None:
        """Count one invocation in, or raise TooManyRequestsException."""
        reserved = self._reserved.get(key)
        if reserved is not None:
            if self._running[key] >= reserved:
                raise _throttle("ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._unreserved_running[key.region] >= self.unreserved_limit(key.region):
            raise _throttle("ConcurrentInvocationLimitExceeded")
        self._running[key] += 1
        if reserved is None:
            self._unreserved_running[key.region] += 1

    def release(self, key: FunctionKey) -> None:
        self._running[key] -= 1
        if key not in self._reserved:
            self._unreserved_running[key.region] -= 1
        if self._running[key] <= 0:
            del self._running[key]

    def take_scale_token(self, key: FunctionKey) -> None:
        """A new execution environment for ``key``, within the scaling rate, or a 429."""
        per_10s = self._limits.scale_per_10s
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(per_10s), now)
        bucket.tokens = min(float(per_10s), bucket.tokens + (now - bucket.updated) * per_10s / 10.0)
        bucket.updated = now
        if bucket.tokens < 1.0:
            reason = ("ReservedFunctionInvocationRateLimitExceeded" if key in self._reserved
                      else "FunctionInvocationRateLimitExceeded")
            raise _throttle(reason)
        bucket.tokens -= 1.0

    def forget(self, key: FunctionKey) -> None:
        """The function was deleted."""
        self.set_reserved(key, None)
        self._buckets.pop(key, None)


def _throttle(reason: str) -> TooManyRequestsException:
    # botocore reads retryAfterSeconds from the Retry-After header the error shape declares.
    return TooManyRequestsException("Rate Exceeded.", fields={"Reason": reason, "retryAfterSeconds": "1"})
