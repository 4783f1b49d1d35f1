"""``doctor``'s workspace checks: can this workspace run the pipeline right now?

Each check returns a ``CheckResult`` (ok, warn or fail, with one line saying why) and never
changes anything: the policy loads and validates, ``.agentos/`` is a real writable directory
(or absent), no interrupted execution waits for recovery, the lock is free or held by a live
process, and the audit chain verifies. The agent checks (``agentos.hooks.doctor``) add their
own results to these.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from agentos.errors import AUDIT_REPAIR_HINT, AgentosError, AuditChainError
from agentos.pipeline.context import Context

OK = "ok"
WARN = "warn"
FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """One line of ``doctor``: what was checked, ok / warn / fail, and why in one line."""

    name: str
    status: str
    detail: str
    agent: str | None = None
    scope: str | None = None

    @property
    def failed(self) -> bool:
        """True for a failure (a warning is not one)."""
        return self.status == FAIL


def workspace_checks(ctx: Context) -> tuple[CheckResult, ...]:
    """Every workspace check, in the order ``doctor`` shows them."""
    checks: list[tuple[str, Callable[[Context], tuple[str, str]]]] = [
        ("policy", _policy),
        ("state directory", _state_dir),
        ("recovery", _recovery),
        ("lock", _lock),
        ("audit trail", _audit),
    ]
    results = []
    for name, check in checks:
        try:
            status, detail = check(ctx)
        except (AgentosError, OSError) as exc:
            message = exc.message if isinstance(exc, AgentosError) else _os_error(exc)
            status, detail = FAIL, message
        results.append(CheckResult(name, status, detail))
    return tuple(results)


def _policy(ctx: Context) -> tuple[str, str]:
    from agentos.pipeline.queries import validate_policy

    checked = validate_policy(ctx, None)
    detail = f"{checked.source}: valid, digest {checked.digest[:12]}"
    if checked.warnings:
        key, message = checked.warnings[0]
        more = f" (+{len(checked.warnings) - 1} more)" if len(checked.warnings) > 1 else ""
        return WARN, f"{detail}; lint: {key}: {message}{more}"
    return OK, detail


def _state_dir(ctx: Context) -> tuple[str, str]:
    state = ctx.workspace.state_dir
    try:
        info = os.lstat(state)
    except FileNotFoundError:
        return OK, f"{state} absent (made on first use)"
    if stat.S_ISLNK(info.st_mode):
        return FAIL, (
            f"{state} is a symlink; agentos keeps its state only in a real directory — remove "
            "the link (and check where it pointed)"
        )
    if not stat.S_ISDIR(info.st_mode):
        return FAIL, f"{state} is not a directory; move it away, agentos needs that name"
    if not os.access(state, os.W_OK | os.X_OK):
        return FAIL, f"{state} is not writable by this user; fix its permissions"
    return OK, f"{state} is a writable directory"


def _recovery(ctx: Context) -> tuple[str, str]:
    from agentos.executor.journal import load_journals, recovery_pending
    from agentos.executor.lock import describe_holder, lock_is_held, read_holder

    state = ctx.workspace.state_dir
    if not state.is_dir() or not recovery_pending(state):
        return OK, "no interrupted execution"
    ids = ", ".join(j.execution_id for j in load_journals(state)) or "(unreadable journal)"
    if lock_is_held(ctx.workspace):
        holder = describe_holder(read_holder(ctx.workspace))
        return WARN, f"execution {ids} is running ({holder})"
    return FAIL, (
        f"execution {ids} was interrupted and awaits recovery: run 'agentos recover' "
        "(apply and rollback also recover first)"
    )


def _lock(ctx: Context) -> tuple[str, str]:
    from agentos.executor.lock import describe_holder, lock_is_held, read_holder

    holder = read_holder(ctx.workspace)
    if holder is None:
        return OK, "free"
    if lock_is_held(ctx.workspace):
        return OK, f"held by {describe_holder(holder)}"
    return WARN, (
        f"the lock record names {describe_holder(holder)}, which is gone: the lock itself is "
        "free (the kernel released it); an interrupted execution is reported under recovery"
    )


def _audit(ctx: Context) -> tuple[str, str]:
    # Even with no audit folder: a trail deleted beside recorded executions fails.
    try:
        report = ctx.audit.verify()
    except AuditChainError as exc:
        return FAIL, f"{exc.message} — {AUDIT_REPAIR_HINT}"
    if not report.events:
        return OK, "no events yet"
    sealed = ", HEAD sealed" if report.sealed else ""
    detail = f"{report.events} event(s) verified, head {report.head[:12]}{sealed}"
    if report.warnings:
        return WARN, f"{detail}; {report.warnings[0]}"
    return OK, detail


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
