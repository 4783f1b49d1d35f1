"""Retry delays (SPEC §9): a pure function of the attempt, the settings and a random source.

Strategies give the base delay before attempt ``n + 1`` after ``n`` failures:
``fixed`` base; ``linear`` base·n; ``exponential`` base·multiplier^(n-1); ``fibonacci``
base·F(n) (1, 1, 2, 3, 5, ...). Jitter spreads retries of many clients apart: ``none`` keeps the
delay; ``full`` draws from [0, d]; ``equal`` from [d/2, d]; ``decorrelated`` from
[base, 3·previous] (AWS's "decorrelated jitter"). Every delay is clamped to [0, max_delay].
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["fixed", "linear", "exponential", "fibonacci"]
JitterKind = Literal["none", "full", "equal", "decorrelated"]
# Beyond this many failures the base delay has long since hit any sane max_delay.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed check is retried."""

    strategy: Strategy = "fixed"
    max_attempts: int = 1
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 10.0
    jitter: JitterKind = "none"


def fibonacci(n: int) -> int:
    """F(n) with F(1) = F(2) = 1."""
    a, b = 0, 1
    for _ in range(max(0, n)):
        a, b = b, a + b
    return a


def base_delay(policy: RetryPolicy, failures: int) -> float:
    """The delay before the next attempt after ``failures`` failures, before jitter."""
    n = max(1, failures)
    if policy.strategy == "fixed":
        raw = policy.base_delay
    elif policy.strategy == "linear":
        raw = policy.base_delay * n
    elif policy.strategy == "exponential":
        raw = policy.base_delay
        for _ in range(min(n - 1, _MAX_EXPONENT)):
            raw *= policy.multiplier
            if raw >= policy.max_delay:  # stop before a large multiplier overflows a float
                break
    else:
        raw = policy.base_delay * fibonacci(min(n, _MAX_EXPONENT))
    return min(max(raw, 0.0), policy.max_delay)


def next_delay(
    policy: RetryPolicy, failures: int, rng: random.Random, previous: float | None = None
) -> float:
    """The delay before the next attempt, jitter included, within [0, max_delay]."""
    delay = base_delay(policy, failures)
    if policy.jitter == "full":
        delay = rng.uniform(0.0, delay)
    elif policy.jitter == "equal":
        delay = delay / 2 + rng.uniform(0.0, delay / 2)
    elif policy.jitter == "decorrelated":
        low = min(policy.base_delay, policy.max_delay)
        high = max(low, 3 * (previous if previous is not None else low))
        delay = rng.uniform(low, high)
    return min(max(delay, 0.0), policy.max_delay)


def delays(policy: RetryPolicy, rng: random.Random) -> list[float]:
    """Every delay a check with ``policy`` may wait (one fewer than ``max_attempts``)."""
    out: list[float] = []
    previous: float | None = None
    for failures in range(1, policy.max_attempts):
        previous = next_delay(policy, failures, rng, previous)
        out.append(previous)
    return out
