"""Circuit breakers per health check (SPEC §9): CLOSED -> OPEN -> HALF_OPEN -> CLOSED.

CLOSED counts consecutive failures and opens at ``failure_threshold``. OPEN fails the check at
once (fail closed, "circuit open since ...") until ``recovery_timeout`` seconds have passed;
then the next call is a trial: HALF_OPEN. In HALF_OPEN, ``success_threshold`` successes close
the breaker and one failure opens it again. The transitions are pure functions of the state,
the settings and the time; ``.agentos/breakers.json`` keeps the state between processes
(written atomically, under the workspace lock).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from agentos.statefs import write_atomic

BreakerState = Literal["closed", "open", "half_open"]
BREAKERS_NAME = "breakers.json"


@dataclass(frozen=True)
class BreakerConfig:
    """A check's breaker settings."""

    failure_threshold: int = 3
    recovery_timeout: float = 60.0
    success_threshold: int = 1


@dataclass(frozen=True)
class Breaker:
    """One breaker's state; ``opened_at`` is a Unix time."""

    state: BreakerState = "closed"
    failures: int = 0
    successes: int = 0
    opened_at: float | None = None

    def since(self) -> str:
        """When the breaker opened, for messages."""
        if self.opened_at is None:
            return "unknown"
        return datetime.fromtimestamp(self.opened_at, UTC).isoformat(timespec="seconds")


def admit(breaker: Breaker, config: BreakerConfig, now: float) -> tuple[bool, Breaker]:
    """May a call go through now? An open breaker past its timeout becomes half-open."""
    if breaker.state != "open":
        return True, breaker
    if breaker.opened_at is not None and now - breaker.opened_at >= config.recovery_timeout:
        return True, replace(breaker, state="half_open", successes=0)
    return False, breaker


def record(breaker: Breaker, config: BreakerConfig, now: float, *, success: bool) -> Breaker:
    """The state after a call's outcome."""
    if breaker.state == "half_open":
        if not success:
            return Breaker(state="open", failures=breaker.failures + 1, opened_at=now)
        successes = breaker.successes + 1
        if successes >= config.success_threshold:
            return Breaker()
        return replace(breaker, successes=successes)
    if success:
        return Breaker()
    failures = breaker.failures + 1
    if failures >= config.failure_threshold:
        return Breaker(state="open", failures=failures, opened_at=now)
    return replace(breaker, failures=failures)


def load_breakers(state_dir: Path) -> dict[str, Breaker]:
    """Every breaker's state (unknown or unreadable entries start closed)."""
    try:
        raw = json.loads((state_dir / BREAKERS_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    breakers: dict[str, Breaker] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            try:
                breakers[str(name)] = Breaker(**value)
            except TypeError:
                continue
    return breakers


def save_breakers(state_dir: Path, breakers: dict[str, Breaker]) -> None:
    """Replace the breaker file atomically."""
    data = {name: asdict(b) for name, b in sorted(breakers.items())}
    write_atomic(
        state_dir / BREAKERS_NAME, json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
    )
