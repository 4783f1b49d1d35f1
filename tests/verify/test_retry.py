"""Properties of the retry delays (SPEC §9): ``agentos.verify.retry`` is a pure function.

Every delay of every strategy and jitter lies in [0, max_delay]; a seeded ``random.Random``
gives the same sequence twice; without jitter the strategies grow exactly as named (fixed =
base, linear = base·n, exponential = base·multiplier^(n-1), fibonacci = base·F(n)) until
``max_delay`` clamps them, never decreasing; ``equal`` jitter stays in [d/2, d], ``full`` in
[0, d], ``decorrelated`` in [base, 3·previous] (clamped); ``delays()`` gives one delay fewer
than ``max_attempts``; and huge failure counts neither overflow nor leave the bounds.
Run time: about 1-2 s.
"""

from __future__ import annotations

import itertools
import math
import random
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.verify.retry import (
    JitterKind,
    RetryPolicy,
    Strategy,
    base_delay,
    delays,
    fibonacci,
    next_delay,
)

STRATEGIES: tuple[Strategy, ...] = ("fixed", "linear", "exponential", "fibonacci")
JITTERS: tuple[JitterKind, ...] = ("none", "full", "equal", "decorrelated")
# F(1), F(2), ... computed independently of the module under test.
FIB = [1, 1]
while len(FIB) < 100:
    FIB.append(FIB[-1] + FIB[-2])

ANY_STRATEGY = st.sampled_from(STRATEGIES)
ANY_JITTER = st.sampled_from(JITTERS)
# Subnormal delays (below 2.2e-308 s) lose precision with every multiplication, so no
# relative comparison holds for them; no policy means them.
seconds = st.floats(
    min_value=0.0, max_value=1000.0, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@st.composite
def policies(
    draw: st.DrawFn,
    strategy: st.SearchStrategy[Strategy] = ANY_STRATEGY,
    jitter: st.SearchStrategy[JitterKind] = ANY_JITTER,
) -> RetryPolicy:
    """Policies within what the policy file accepts (multiplier >= 1, delays >= 0)."""
    return RetryPolicy(
        strategy=draw(strategy),
        max_attempts=draw(st.integers(min_value=1, max_value=40)),
        base_delay=draw(seconds),
        multiplier=draw(st.floats(min_value=1.0, max_value=10.0)),
        max_delay=draw(seconds),
        jitter=draw(jitter),
    )


def seeded(seed: int) -> random.Random:
    """The random source the runner is given, seeded for repeatable tests."""
    return random.Random(seed)  # noqa: S311 - retry jitter, not secrets


def expected_base(policy: RetryPolicy, n: int) -> float:
    """The unclamped delay after ``n`` failures, from the strategy's definition."""
    if policy.strategy == "fixed":
        return policy.base_delay
    if policy.strategy == "linear":
        return policy.base_delay * n
    if policy.strategy == "exponential":
        return policy.base_delay * policy.multiplier ** (n - 1)
    return policy.base_delay * FIB[n - 1]


def in_bounds(value: float, policy: RetryPolicy) -> bool:
    return math.isfinite(value) and 0.0 <= value <= policy.max_delay


# --- bounds and determinism ------------------------------------------------------------------


@given(
    policy=policies(),
    failures=st.integers(min_value=0, max_value=10**6),
    previous=st.none() | seconds,
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_delay_is_within_zero_and_max_delay(
    policy: RetryPolicy, failures: int, previous: float | None, seed: int
) -> None:
    rng = seeded(seed)
    assert in_bounds(base_delay(policy, failures), policy)
    assert in_bounds(next_delay(policy, failures, rng, previous), policy)
    assert all(in_bounds(d, policy) for d in delays(policy, rng))


@given(policy=policies(), seed=st.integers(min_value=0, max_value=2**32))
def test_delays_gives_one_fewer_than_max_attempts(policy: RetryPolicy, seed: int) -> None:
    assert len(delays(policy, seeded(seed))) == policy.max_attempts - 1


@given(policy=policies(), seed=st.integers(min_value=0, max_value=2**32))
def test_same_seed_gives_the_same_sequence(policy: RetryPolicy, seed: int) -> None:
    first = delays(policy, seeded(seed))
    second = delays(policy, seeded(seed))
    assert first == second
    # next_delay step by step, fed its own previous value, agrees with delays().
    rng = seeded(seed)
    stepped: list[float] = []
    previous: float | None = None
    for failures in range(1, policy.max_attempts):
        previous = next_delay(policy, failures, rng, previous)
        stepped.append(previous)
    assert stepped == first


@pytest.mark.parametrize("jitter", ["full", "equal", "decorrelated"])
def test_jitter_uses_the_random_source(jitter: JitterKind) -> None:
    # A control for the determinism property: different seeds do give different sequences.
    policy = RetryPolicy("exponential", 8, base_delay=1.0, max_delay=1000.0, jitter=jitter)
    assert delays(policy, seeded(1)) != delays(policy, seeded(2))


# --- growth without jitter -------------------------------------------------------------------


@given(
    policy=policies(jitter=st.just("none")),
    failures=st.integers(min_value=1, max_value=60),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_without_jitter_each_strategy_grows_as_named_until_clamped(
    policy: RetryPolicy, failures: int, seed: int
) -> None:
    want = min(expected_base(policy, failures), policy.max_delay)
    assert base_delay(policy, failures) == pytest.approx(want, rel=1e-12, abs=0.0)
    assert next_delay(policy, failures, seeded(seed)) == base_delay(policy, failures)


@given(policy=policies(jitter=st.just("none")), seed=st.integers(min_value=0, max_value=2**32))
def test_without_jitter_delays_never_decrease(policy: RetryPolicy, seed: int) -> None:
    sequence = delays(policy, seeded(seed))
    assert sequence == [base_delay(policy, n) for n in range(1, policy.max_attempts)]
    assert all(a <= b for a, b in itertools.pairwise(sequence))
    if policy.strategy == "fixed":
        assert len(set(sequence)) <= 1


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("fixed", [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ("linear", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]),
        ("exponential", [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]),
        ("fibonacci", [0.5, 0.5, 1.0, 1.5, 2.5, 4.0, 5.0]),
    ],
)
def test_strategy_examples(strategy: Strategy, expected: list[float]) -> None:
    policy = RetryPolicy(strategy, max_attempts=8, base_delay=0.5, multiplier=2.0, max_delay=5.0)
    assert delays(policy, seeded(0)) == expected


def test_fibonacci_numbers() -> None:
    assert [fibonacci(n) for n in range(1, 11)] == [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]
    assert fibonacci(0) == 0


def test_zero_failures_counts_as_one() -> None:
    policy = RetryPolicy("linear", base_delay=2.0, max_delay=100.0)
    assert base_delay(policy, 0) == base_delay(policy, 1) == 2.0


# --- jitter ranges ---------------------------------------------------------------------------


@given(
    policy=policies(jitter=st.just("equal")),
    failures=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_equal_jitter_stays_between_half_and_whole(
    policy: RetryPolicy, failures: int, seed: int
) -> None:
    d = base_delay(policy, failures)
    assert d / 2 <= next_delay(policy, failures, seeded(seed)) <= d


@given(
    policy=policies(jitter=st.just("full")),
    failures=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_full_jitter_stays_between_zero_and_whole(
    policy: RetryPolicy, failures: int, seed: int
) -> None:
    d = base_delay(policy, failures)
    assert 0.0 <= next_delay(policy, failures, seeded(seed)) <= d


@given(
    policy=policies(jitter=st.just("decorrelated")), seed=st.integers(min_value=0, max_value=2**32)
)
def test_decorrelated_jitter_stays_between_base_and_three_times_previous(
    policy: RetryPolicy, seed: int
) -> None:
    low = min(policy.base_delay, policy.max_delay)
    previous = policy.base_delay  # AWS starts from sleep = base
    for d in delays(policy, seeded(seed)):
        high = min(policy.max_delay, max(policy.base_delay, 3 * previous))
        assert low <= d <= high
        previous = d


@given(
    policy=policies(jitter=st.just("decorrelated")),
    previous=seconds,
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_decorrelated_jitter_with_any_previous(
    policy: RetryPolicy, previous: float, seed: int
) -> None:
    d = next_delay(policy, 3, seeded(seed), previous)
    assert min(policy.base_delay, policy.max_delay) <= d
    assert d <= min(policy.max_delay, max(policy.base_delay, 3 * previous))


# --- huge failure counts ---------------------------------------------------------------------


@given(
    policy=policies(),
    failures=st.integers(min_value=10**6, max_value=10**30) | st.just(sys.maxsize),
    previous=st.none() | seconds,
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_huge_failure_counts_do_not_overflow(
    policy: RetryPolicy, failures: int, previous: float | None, seed: int
) -> None:
    assert in_bounds(base_delay(policy, failures), policy)
    assert in_bounds(next_delay(policy, failures, seeded(seed), previous), policy)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_huge_failure_counts_reach_max_delay(strategy: Strategy) -> None:
    policy = RetryPolicy(strategy, base_delay=0.5, multiplier=2.0, max_delay=7.0)
    want = 0.5 if strategy == "fixed" else 7.0
    assert base_delay(policy, sys.maxsize) == want


def test_large_multiplier_is_clamped_not_overflowed() -> None:
    policy = RetryPolicy("exponential", max_attempts=4, base_delay=0.5, multiplier=1e300)
    assert delays(policy, seeded(0)) == [0.5, 10.0, 10.0]
