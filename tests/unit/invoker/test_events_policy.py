"""The retry schedule as pure functions: AWS's waits, counters and end conditions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lamina.invoker.event_policy import (
    BACKOFF_MAX_S,
    Condition,
    Finish,
    Outcome,
    Retry,
    RetryLimits,
    after_attempt,
    expired,
)

T0 = 1_700_000_000.0
AWS_DEFAULTS = RetryLimits()


def step(outcome: Outcome, errors: int = 0, backoff: int = 0, now: float = T0, limits: RetryLimits = AWS_DEFAULTS,
         scale: float = 1.0) -> Retry | Finish:
    return after_attempt(outcome, function_errors=errors, backoff=backoff, enqueued_at=T0, now=now,
                         limits=limits, scale=scale)


def test_function_errors_retry_after_one_then_two_minutes_then_exhaust() -> None:
    first = step(Outcome.FUNCTION_ERROR)
    assert first == Retry(T0 + 60, 1, 0)
    second = step(Outcome.FUNCTION_ERROR, errors=1, now=T0 + 60)
    assert second == Retry(T0 + 180, 2, 0)
    assert step(Outcome.FUNCTION_ERROR, errors=2, now=T0 + 180) == Finish(Condition.RETRIES_EXHAUSTED)


def test_maximum_retry_attempts_zero_means_one_attempt() -> None:
    assert step(Outcome.FUNCTION_ERROR, limits=RetryLimits(max_retries=0)) == Finish(Condition.RETRIES_EXHAUSTED)


def test_success_finishes() -> None:
    assert step(Outcome.SUCCESS, errors=2) == Finish(Condition.SUCCESS)


def test_throttles_back_off_from_one_second_doubling_to_five_minutes() -> None:
    waits = []
    backoff, now = 0, T0
    for _ in range(12):
        decision = step(Outcome.THROTTLED, backoff=backoff, now=now)
        assert isinstance(decision, Retry)
        assert decision.function_errors == 0  # throttles never use up retry attempts
        waits.append(decision.at - now)
        backoff, now = decision.backoff, decision.at
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_a_function_error_resets_the_backoff() -> None:
    decision = step(Outcome.FUNCTION_ERROR, backoff=5)
    assert isinstance(decision, Retry) and decision.backoff == 0


def test_retries_never_go_past_the_maximum_age_and_then_the_event_expires() -> None:
    limits = RetryLimits(max_age_s=60)
    decision = step(Outcome.FUNCTION_ERROR, now=T0 + 30, limits=limits)  # 30 + 60 > 60
    assert decision == Retry(T0 + 60, 1, 0)
    assert expired(T0, T0 + 60, limits, 1.0)
    assert not expired(T0, T0 + 59.9, limits, 1.0)


def test_the_scale_shrinks_waits_and_age_alike() -> None:
    limits = RetryLimits(max_age_s=3600)
    assert step(Outcome.FUNCTION_ERROR, limits=limits, scale=0.01) == Retry(T0 + 0.6, 1, 0)
    assert step(Outcome.SYSTEM_ERROR, limits=limits, scale=0.01) == Retry(T0 + 0.01, 0, 1)
    assert expired(T0, T0 + 36, limits, 0.01)


@given(st.integers(0, 200), st.floats(0.001, 10))
def test_backoff_is_bounded(backoff: int, scale: float) -> None:
    decision = after_attempt(Outcome.THROTTLED, function_errors=0, backoff=backoff, enqueued_at=T0, now=T0,
                             limits=RetryLimits(max_age_s=21_600), scale=scale)
    assert isinstance(decision, Retry)
    assert 0 < decision.at - T0 <= BACKOFF_MAX_S * scale + 1e-6
