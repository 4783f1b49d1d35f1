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

from agentos.clock import rfc3339
from agentos.errors import StateIntegrityError
from agentos.statefs import read_bytes, write_atomic

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
        try:
            return rfc3339(datetime.fromtimestamp(self.opened_at, UTC))
        except (OverflowError, OSError, ValueError):
            return "unknown"


def admit(breaker: Breaker, config: BreakerConfig, now: float) -> tuple[bool, Breaker]:
    """May a call go through now? An open breaker past its timeout becomes half-open."""
    if breaker.state != "open":
        return True, breaker
    # An open breaker with no time (a hand-edited file) is treated as opened long ago.
    opened = breaker.opened_at if breaker.opened_at is not None else float("-inf")
    if now - opened >= config.recovery_timeout:
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
        raw = json.loads(read_bytes(state_dir / BREAKERS_NAME, limit=1 << 20))
    except (OSError, ValueError, RecursionError, StateIntegrityError):
        # A breaker only ever stops calls: one lost starts closed, and the checks run (a link
        # or FIFO in its place is never followed or waited on).
        return {}
    breakers: dict[str, Breaker] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            breaker = _parse(value)
            if breaker is not None:
                breakers[str(name)] = breaker
    return breakers


def _parse(value: object) -> Breaker | None:
    """A breaker from its stored form; wrong types are refused, unknown keys ignored."""
    if not isinstance(value, dict):
        return None
    state = value.get("state", "closed")
    failures = value.get("failures", 0)
    successes = value.get("successes", 0)
    opened_at = value.get("opened_at")
    if state not in ("closed", "open", "half_open"):
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (failures, successes)):
        return None
    if opened_at is not None and not isinstance(opened_at, int | float):
        return None
    return Breaker(
        state=state,
        failures=failures,
        successes=successes,
        opened_at=float(opened_at) if opened_at is not None else None,
    )


def save_breakers(state_dir: Path, breakers: dict[str, Breaker]) -> None:
    """Replace the breaker file atomically."""
    data = {name: asdict(b) for name, b in sorted(breakers.items())}
    write_atomic(
        state_dir / BREAKERS_NAME, json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
    )
