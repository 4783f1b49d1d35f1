"""What ``apply_plan`` is asked to do and what it reports: plain values between the caller
(which ran the WriteGate) and the executor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agentos.clock import Clock, system_clock
from agentos.executor.executions import execution_id_for
from agentos.executor.journal import ChangeRef, ExecutionKind
from agentos.model import ChangePlan, Decision

if TYPE_CHECKING:
    from agentos.verify.health import CheckProgress, CheckResult
    from agentos.verify.spec import HealthCheckSpec

Status = Literal[
    "committed",
    "already_applied",
    "dry_run",
    "rolled_back",
    "aborted",
    "denied",
    "needs_approval",
    "stale",
    "busy",
]


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply: who, how long to wait for the lock, dry run, kind, checks."""

    actor: str
    lock_timeout: float | None = None
    dry_run: bool = False
    kind: ExecutionKind = "apply"
    parent: str | None = None
    on_wait: Callable[[str], None] | None = None
    # Called as (done, total) while files are written, for a progress display.
    progress: Callable[[int, int], None] | None = None
    # Told as each health check runs and ends, for a progress display.
    on_check: CheckProgress | None = None
    # Exact permission bits to give paths (a rollback restores the modes its parent found).
    exact_modes: dict[str, int] = field(default_factory=dict)
    # The health checks that apply to this plan, and whether to syntax-check written files.
    checks: tuple[HealthCheckSpec, ...] = ()
    syntax_checks: bool = False
    clock: Clock = system_clock
    # The policy this apply runs under: {source, digest, override} (recorded, never decided).
    policy: dict[str, object] = field(default_factory=dict)
    # The WriteGate's decision that let the plan through (carried into the result).
    decision: Decision | None = None


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of one plan's transaction: a value (the front-end picks the exit code)."""

    execution_id: str
    plan_id: str
    checksum: str
    kind: ExecutionKind
    status: Status
    message: str
    files: tuple[ChangeRef, ...] = ()
    attempt: int = 0
    parent: str | None = None
    decision: Decision | None = None
    drifted: tuple[str, ...] = ()
    # For a replay: the plan's paths that no longer hold what it wrote.
    changed_since: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: dict[str, Any] | None = None
    checks: tuple[CheckResult, ...] = ()
    post_rollback: tuple[CheckResult, ...] = ()
    policy: dict[str, object] = field(default_factory=dict)
    # For ``busy``: what the lock's holder recorded (execution_id, plan_id, operation, pid,
    # host, since), or None when it recorded nothing.
    holder: dict[str, Any] | None = None


@dataclass
class ResultDraft:
    """What a transaction has found so far; made into an ``ApplyResult`` when it stops."""

    attempt: int = 0
    drifted: list[str] = field(default_factory=list)
    changed_since: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    checks: list[CheckResult] = field(default_factory=list)
    post_rollback: list[CheckResult] = field(default_factory=list)
    holder: dict[str, Any] | None = None

    def result(
        self, plan: ChangePlan, options: ApplyOptions, *, status: Status, message: str
    ) -> ApplyResult:
        """The transaction's result, ending in ``status``."""
        return ApplyResult(
            execution_id=execution_id_for(plan.plan_id, plan.changeset.checksum),
            plan_id=plan.plan_id,
            checksum=plan.changeset.checksum,
            kind=options.kind,
            status=status,
            message=message,
            files=change_refs(plan),
            attempt=self.attempt,
            parent=options.parent,
            decision=options.decision,
            drifted=tuple(self.drifted),
            changed_since=tuple(self.changed_since),
            warnings=tuple(self.warnings),
            error=self.error,
            checks=tuple(self.checks),
            post_rollback=tuple(self.post_rollback),
            policy=dict(options.policy),
            holder=self.holder,
        )


def change_refs(plan: ChangePlan) -> tuple[ChangeRef, ...]:
    """The plan's changes as the journal and results list them."""
    return tuple(
        ChangeRef(op=c.op, path=c.path, from_path=c.from_path if c.op == "rename" else None)
        for c in plan.changeset.changes
    )


def refused(
    plan: ChangePlan,
    *,
    kind: ExecutionKind,
    parent: str | None,
    status: Status,
    message: str,
    decision: Decision,
    policy: dict[str, object],
    error: dict[str, Any] | None = None,
) -> ApplyResult:
    """The result for a plan the WriteGate stopped before the executor (nothing written);
    ``error``: the result's error (``type``, ``message``, ``details``)."""
    return ApplyResult(
        execution_id=execution_id_for(plan.plan_id, plan.changeset.checksum),
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        kind=kind,
        status=status,
        message=message,
        files=change_refs(plan),
        parent=parent,
        decision=decision,
        policy=policy,
        error=error,
    )
