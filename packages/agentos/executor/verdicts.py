"""How an attempt is judged before its commit point: verification and health checks.

Each judgement is a pure function over what was found (the written files, the check
results); a failure is an ``AgentosError`` whose kind the result and the exit code show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentos.errors import (
    AbortedError,
    AgentosError,
    HealthCheckFailed,
    VerificationFailed,
)
from agentos.executor.abort import AbortWatch

if TYPE_CHECKING:
    from agentos.verify.health import CheckResult


def reason_of(exc: BaseException) -> str:
    """One line saying what went wrong, naming the file for an I/O error."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, AgentosError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def raise_if_unhealthy(results: list[CheckResult], abort: AbortWatch) -> None:
    """``AbortedError`` / ``ExecutionTimedOut`` / ``HealthCheckFailed`` when a check did not
    pass (an abort or a timeout is named as such, not as a failed check)."""
    if any(r.status == "aborted" for r in results):
        abort.check()
        raise AbortedError("aborted while the health checks ran")
    failed = [r for r in results if r.status != "passed"]
    if failed:
        abort.check()  # out of max_execution_time: say so (a timeout), not "check failed"
    if failed:
        names = "; ".join(f"{r.name}: {r.message}" for r in failed)
        raise HealthCheckFailed(f"health check failed: {names}")


def raise_if_unverified(problems: list[str]) -> None:
    """``VerificationFailed`` naming every problem, if there is one."""
    if problems:
        raise VerificationFailed("verification failed: " + "; ".join(problems))
