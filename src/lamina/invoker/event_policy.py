"""AWS's retry policy for asynchronous invocation, as pure functions of an event's history and the time.

From https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html:

- A **function error** (an error the code returns or raises, or one of its runtime's: timeout, crash,
  out of memory) is retried ``MaximumRetryAttempts`` times (0-2, default 2), waiting about one
  minute before the first retry and two minutes before the second.
- **Throttling** (429) and **system errors** (5xx) put the event back in the queue; the retry
  interval starts at 1 second and doubles up to 5 minutes. These retries do not count against
  ``MaximumRetryAttempts``; they go on until the event is ``MaximumEventAgeInSeconds`` old
  (60-21,600, default 6 hours).
- An event that reaches its maximum age is not run again: it fails with ``EventAgeExceeded``; one
  whose function errors used every retry fails with ``RetriesExhausted``.

Every wait, and the maximum age with them, is multiplied by ``scale`` (``Settings.async_retry_scale``,
1.0 by default): a scale of 0.01 turns the minute between retries into 0.6 s and six hours into 216
s, keeping AWS's proportions, so local development and tests see the whole schedule in seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600
#: Waits before the first and the second retry after a function error.
ERROR_RETRY_WAITS_S = (60.0, 120.0)
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0


class Outcome(enum.Enum):
    """What one attempt came to."""

    SUCCESS = "success"
    FUNCTION_ERROR = "function error"
    THROTTLED = "throttled"
    SYSTEM_ERROR = "system error"


class Condition(enum.StrEnum):
    """``requestContext.condition`` of AWS's invocation record."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True, slots=True)
class RetryLimits:
    """An event invoke config's limits, AWS's defaults where it sets none."""

    max_retries: int = DEFAULT_MAX_RETRIES
    max_age_s: float = DEFAULT_MAX_AGE_S


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again at ``at`` (epoch seconds), with the event's new counters."""

    at: float
    function_errors: int
    backoff: int


@dataclass(frozen=True, slots=True)
class Finish:
    """No more attempts: deliver the outcome (destination, dead-letter queue) and forget the event."""

    condition: Condition


def expires_at(enqueued_at: float, limits: RetryLimits, scale: float) -> float:
    return enqueued_at + limits.max_age_s * scale


def expired(enqueued_at: float, now: float, limits: RetryLimits, scale: float) -> bool:
    """Whether an event accepted at ``enqueued_at`` is too old to run at ``now``."""
    return now >= expires_at(enqueued_at, limits, scale)


def after_attempt(outcome: Outcome, *, function_errors: int, backoff: int, enqueued_at: float, now: float,
                  limits: RetryLimits, scale: float) -> Retry | Finish:
    """The next step after an attempt that ended at ``now``.

    ``function_errors`` counts the function errors before this attempt and ``backoff`` the
    throttles and system errors since the last attempt that ran the function.
    """
    if outcome is Outcome.SUCCESS:
        return Finish(Condition.SUCCESS)
    if outcome is Outcome.FUNCTION_ERROR:
        if function_errors >= limits.max_retries:
            return Finish(Condition.RETRIES_EXHAUSTED)
        wait = ERROR_RETRY_WAITS_S[min(function_errors, len(ERROR_RETRY_WAITS_S) - 1)]
        function_errors, backoff = function_errors + 1, 0
    else:
        wait = min(BACKOFF_FIRST_S * 2 ** min(backoff, 20), BACKOFF_MAX_S)
        backoff += 1
    # A retry that would come after the maximum age is replaced by the event's expiry at that
    # moment (it then finishes as EventAgeExceeded, as AWS reports it).
    at = min(now + wait * scale, expires_at(enqueued_at, limits, scale))
    return Retry(at, function_errors, backoff)
