"""Running the health checks of an apply: in parallel, with retries and circuit breakers.

``run_checks`` fans the checks out to a bounded thread pool and fans the results back in; the
apply commits only when every one passed. Each check retries the failure kinds its
``retry_on`` lists, with delays from ``retry.next_delay``; a breaker that is open fails its
check at once, without calling anything. The clock, the sleep and the random source are
passed in, so tests can drive every path deterministically. The checks of one call run as one
reaping stage (``verify/reaper.py``): on Linux, every process a command check leaves behind —
a daemon that called ``setsid`` included — is killed and reaped by the time it returns.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentos.verify.breaker import Breaker, BreakerConfig, admit, record
from agentos.verify.probes import Outcome, Stop, run_command, run_file, run_http
from agentos.verify.reaper import Reaper, reaping
from agentos.verify.retry import next_delay
from agentos.verify.spec import HealthCheckSpec

MAX_PARALLEL = 8
CheckStatus = Literal["passed", "failed", "aborted"]
# Told, from the checks' threads, (check name, state, attempt): "running" before each
# attempt, then "passed", "failed" or "aborted" once — for a front-end's progress display.
CheckProgress = Callable[[str, str, int], None]


@dataclass(frozen=True)
class CheckResult:
    """One check's result: status, attempts, duration, why, and the last lines of output."""

    name: str
    kind: str
    status: CheckStatus
    attempts: int
    duration: float
    message: str
    failure: str | None = None
    output: str = ""
    breaker: str | None = None

    def row(self) -> dict[str, Any]:
        """The form results, records and the audit trail keep."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "duration": round(self.duration, 3),
            "message": self.message,
            "failure": self.failure,
            "output": self.output,
            "breaker": self.breaker,
        }


@dataclass(frozen=True)
class Transition:
    """A breaker that changed state, for the audit trail."""

    check: str
    before: str
    after: str
    since: str


@dataclass
class HealthEnvironment:
    """Everything the runner takes from outside: where, how long, and the injected edges."""

    root: Path
    default_timeout: float
    deadline: float | None = None  # time.monotonic() value the whole apply must end by
    stop: Stop = lambda: None
    env: dict[str, str] = field(default_factory=dict)
    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    report: CheckProgress | None = None


def run_checks(
    checks: list[HealthCheckSpec],
    breakers: dict[str, Breaker],
    environment: HealthEnvironment,
    *,
    retries: bool = True,
) -> tuple[list[CheckResult], list[Transition]]:
    """Run ``checks`` in parallel; ``breakers`` is updated in place (one entry per check).

    Whatever the checks' commands leave running is killed and reaped before this returns,
    whether they passed, failed, timed out or were stopped (on Linux; see ``reaper``).
    """
    if not checks:
        return [], []
    transitions: list[Transition] = []

    with reaping() as reaper:

        def one(check: HealthCheckSpec) -> CheckResult:
            result, moves = run_check(check, breakers, environment, retries=retries, reaper=reaper)
            transitions.extend(moves)
            return result

        with ThreadPoolExecutor(min(MAX_PARALLEL, len(checks))) as pool:
            results = list(pool.map(one, checks))
    return results, transitions


def run_check(
    check: HealthCheckSpec,
    breakers: dict[str, Breaker],
    environment: HealthEnvironment,
    *,
    retries: bool = True,
    reaper: Reaper | None = None,
) -> tuple[CheckResult, list[Transition]]:
    """One check: attempts until it passes, a failure is not retried, or attempts run out."""
    started = environment.monotonic()
    spec = check.circuit_breaker
    config: BreakerConfig | None = spec.config() if spec is not None else None
    policy = check.retry.policy()
    breaker = breakers.get(check.name, Breaker())
    moves: list[Transition] = []
    attempts = 0

    def move(after: Breaker) -> None:
        nonlocal breaker
        if breaker.state != after.state:
            moves.append(Transition(check.name, breaker.state, after.state, after.since()))
        breaker = after

    def finish(status: CheckStatus, outcome: Outcome) -> tuple[CheckResult, list[Transition]]:
        if config is not None:
            breakers[check.name] = breaker
        if environment.report is not None:
            environment.report(check.name, status, attempts)
        result = CheckResult(
            name=check.name,
            kind=check.kind,
            status=status,
            attempts=attempts,
            duration=environment.monotonic() - started,
            message=outcome.message,
            failure=None if outcome.ok else outcome.failure,
            output=outcome.output,
            breaker=breaker.state if config is not None else None,
        )
        return result, moves

    previous_delay: float | None = None
    max_attempts = policy.max_attempts if retries else 1
    while True:
        if config is not None:
            allowed, admitted = admit(breaker, config, environment.now())
            move(admitted)
            if not allowed:
                why = (
                    f"circuit open since {breaker.since()} (after {breaker.failures} "
                    "failures); not called"
                )
                return finish("failed", Outcome(False, "breaker_open", why))
        attempts += 1
        if environment.report is not None:
            environment.report(check.name, "running", attempts)
        outcome = _attempt(check, environment, reaper)
        if outcome.stopped is not None:
            return finish("aborted", outcome)
        if config is not None:
            move(record(breaker, config, environment.now(), success=outcome.ok))
        if outcome.ok:
            return finish("passed", outcome)
        retryable = outcome.failure in check.retry.retry_on
        if not retryable or attempts >= max_attempts or breaker.state == "open":
            return finish("failed", outcome)
        previous_delay = next_delay(policy, attempts, environment.rng, previous_delay)
        if not _pause(previous_delay, environment):
            return finish("aborted" if environment.stop() else "failed", outcome)


def _attempt(
    check: HealthCheckSpec, environment: HealthEnvironment, reaper: Reaper | None
) -> Outcome:
    timeout = check.timeout if check.timeout is not None else environment.default_timeout
    if environment.deadline is not None:
        left = environment.deadline - environment.monotonic()
        if left <= 0:
            return Outcome(False, "timeout", "executor.constraints.max_execution_time ran out")
        timeout = min(timeout, left)
    if check.command is not None:
        return run_command(
            list(check.command),
            cwd=environment.root,
            timeout=timeout,
            stop=environment.stop,
            env=environment.env,
            reaper=reaper,
        )
    if check.http is not None:
        return run_http(check.http, timeout=timeout, stop=environment.stop)
    if check.file is not None:
        return run_file(check.file, root=environment.root)
    return Outcome(False, "timeout", "the check has no probe")


def _pause(seconds: float, environment: HealthEnvironment) -> bool:
    """Sleep between attempts in short steps; False when stopped or out of time."""
    end = environment.monotonic() + seconds
    while True:
        if environment.stop() is not None:
            return False
        left = end - environment.monotonic()
        if environment.deadline is not None and environment.monotonic() >= environment.deadline:
            return False
        if left <= 0:
            return True
        environment.sleep(min(left, 0.05))
