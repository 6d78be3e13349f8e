"""The crash-loop backoff's policy: who waits, how long, and what ends the streak."""

from __future__ import annotations

from lamina.clock import FakeClock
from lamina.invoker.backoff import CrashBackoff
from lamina.types import FunctionKey

FN = FunctionKey("us-east-1", "crasher")
OTHER = FunctionKey("us-east-1", "bystander")


def pauses_after_each_death(backoff: CrashBackoff, deaths: int, revision: str = "r1") -> list[float]:
    """The pause a new environment would get after each of ``deaths`` deaths in a row."""
    found = []
    for _ in range(deaths):
        backoff.died(FN, revision)
        found.append(backoff.pause_s(FN, revision))
    return found


def test_two_deaths_are_free_then_the_pause_doubles_up_to_the_cap() -> None:
    backoff = CrashBackoff(0.1, FakeClock())
    assert backoff.pause_s(FN, "r1") == 0.0
    assert pauses_after_each_death(backoff, 7) == [0.0, 0.0, 0.01, 0.02, 0.04, 0.08, 0.1]
    assert backoff.pause_s(OTHER, "r1") == 0.0  # per function
    backoff.died(OTHER, "r1")
    assert backoff.pausing() == [(FN, 0.1)]  # OTHER's one death costs nothing yet


def test_a_survivor_new_code_or_a_quiet_spell_ends_the_streak() -> None:
    clock = FakeClock()
    backoff = CrashBackoff(0.5, clock)
    pauses_after_each_death(backoff, 4)
    backoff.end(FN)  # an environment survived
    assert backoff.pause_s(FN, "r1") == 0.0 and not backoff.streaks

    pauses_after_each_death(backoff, 4)
    assert backoff.pause_s(FN, "r1") == 0.02
    assert backoff.pause_s(FN, "r2") == 0.0  # the code changed
    assert pauses_after_each_death(backoff, 3, "r2") == [0.0, 0.0, 0.01]

    clock.advance(backoff.forget_after_s + 0.1)
    assert backoff.pause_s(FN, "r2") == 0.0
    assert pauses_after_each_death(backoff, 1, "r2") == [0.0]  # counting starts again


def test_a_cap_of_zero_turns_it_off_and_end_drops_the_function() -> None:
    off = CrashBackoff(0.0, FakeClock())
    assert pauses_after_each_death(off, 10) == [0.0] * 10
    on = CrashBackoff(0.5, FakeClock())
    pauses_after_each_death(on, 5)
    on.end(FN)  # the function was deleted
    assert on.pause_s(FN, "r1") == 0.0 and not on.streaks


def test_prune_forgets_only_expired_streaks() -> None:
    clock = FakeClock()
    backoff = CrashBackoff(0.5, clock)
    pauses_after_each_death(backoff, 3)
    clock.advance(backoff.forget_after_s / 2)
    backoff.died(OTHER, "r1")
    backoff.prune()
    assert set(backoff.streaks) == {FN, OTHER}  # neither has expired
    clock.advance(backoff.forget_after_s / 2 + 0.1)
    backoff.prune()
    assert set(backoff.streaks) == {OTHER}  # FN's last death is over forget_after_s ago
    clock.advance(backoff.forget_after_s)
    backoff.prune()
    assert not backoff.streaks
