"""``agentos apply``, ``rollback``, ``recover`` and ``status``: the Executor's commands.

``apply`` runs the WriteGate with the current policy, then hands an allowed plan to the
executor (idempotency, lock, recovery, drift check, journal, writes, verify, commit).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command, current_user, save_traceback
from agentos.cli.render import Outcome, print_info

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.executor.fsops import Guard
    from agentos.executor.journal import ExecutionKind
    from agentos.executor.options import ApplyResult, Status
    from agentos.governance.policy import Policy
    from agentos.governance.policyfile import LoadedPolicy
    from agentos.model import ChangePlan
    from agentos.workspace import Workspace

# The exit code of each apply status (SPEC §3).
STATUS_EXIT = {
    "committed": 0,
    "already_applied": 0,
    "dry_run": 0,
    "rolled_back": 1,
    "denied": 3,
    "needs_approval": 4,
    "stale": 5,
    "aborted": 130,
}
SUCCESS = ("committed", "already_applied", "dry_run")
FILES_SHOWN = 20

LockTimeout = Annotated[
    float | None,
    typer.Option(
        "--lock-timeout",
        min=0,
        help="Seconds to wait for the workspace lock (default: concurrency.lock_timeout).",
        show_default=False,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Stop after the drift check; write nothing.")
]


def execution_row(result: ApplyResult) -> dict[str, Any]:
    """One execution as ``--json`` shows it (keys pinned by tests)."""
    return {
        "execution_id": result.execution_id,
        "plan_id": result.plan_id,
        "checksum": result.checksum,
        "kind": result.kind,
        "parent": result.parent,
        "status": result.status,
        "message": result.message,
        "attempt": result.attempt,
        "decision": result.decision.decision if result.decision is not None else None,
        "files": [{"op": f.op, "path": f.path, "from": f.from_path} for f in result.files],
        "drifted": list(result.drifted),
        "changed_since": list(result.changed_since),
        "warnings": list(result.warnings),
        "checks": [c.row() for c in result.checks],
        "post_rollback": [c.row() for c in result.post_rollback],
        "policy": dict(result.policy),
    }


def run_plan(
    workspace: Workspace,
    plan: ChangePlan,
    loaded: LoadedPolicy,
    *,
    opts: GlobalOptions,
    dry_run: bool,
    lock_timeout: float | None,
    approvals: tuple[Path, ...] = (),
    kind: ExecutionKind = "apply",
    parent: str | None = None,
    exact_modes: dict[str, int] | None = None,
) -> ApplyResult:
    """The WriteGate with the current policy, then (if it allows) the executor."""
    from agentos.executor.options import ApplyOptions, refused
    from agentos.executor.transaction import apply_plan
    from agentos.governance.facts import plan_paths
    from agentos.governance.gate import approval_key, run_gate
    from agentos.governance.policy import executor_settings
    from agentos.governance.policyfile import policy_use
    from agentos.governance.writegate import applicable_checks

    actor = current_user()
    policy = loaded.policy
    use = policy_use(loaded, workspace, command=kind)
    gate = run_gate(
        plan,
        workspace,
        loaded,
        approval_files=approvals,
        actor=actor,
        command=kind,
        key=approval_key(),
    )
    waived = kind == "rollback" and not loaded.policy.executor.rollback.require_approval
    if gate.verdict == "DENY" or (gate.verdict == "NEED_APPROVAL" and not waived):
        status: Status
        if gate.verdict == "DENY":
            rules = sorted({f.rule for f in gate.decision.findings if f.severity == "DENY"})
            status, message = "denied", f"denied by policy ({', '.join(rules)}); nothing written"
        else:
            needed = gate.approvals
            status = "needs_approval"
            message = (
                f"needs {needed.required} approval(s), has {len(needed.approvers)}; run "
                f"'agentos approve {plan.plan_id} --by <name>'; nothing written"
            )
        result = refused(
            plan,
            kind=kind,
            parent=parent,
            status=status,
            message=message,
        )
        result.decision = gate.decision
        result.policy = use.row()
        return result

    def waiting(message: str) -> None:
        if not opts.quiet or opts.json:
            print_info(message)

    with progress_display(opts, len(plan.changeset.changes)) as progress:
        options = ApplyOptions(
            actor=actor,
            lock_timeout=lock_timeout,
            dry_run=dry_run,
            approval_files=approvals,
            kind=kind,
            parent=parent,
            on_wait=waiting,
            progress=progress,
            exact_modes=exact_modes or {},
            checks=tuple(applicable_checks(policy, plan_paths(plan))),
            syntax_checks=policy.verification.syntax_checks
            and gate.decision.risk.level in policy.executor.require_verification_for_risk,
            policy=use.row(),
        )
        result = apply_plan(workspace, plan, executor_settings(loaded.policy), options)
    result.decision = gate.decision
    if result.traceback is not None:
        log = save_traceback(workspace.root, RuntimeError(result.traceback))
        result.message += f" (a bug in agentos: traceback saved to {log})"
    return result


def policy_guard(policy: Policy) -> Guard:
    """The policy's path rules, which the file-writing layer enforces on its own."""
    from agentos.executor.fsops import Guard

    return Guard(tuple(policy.executor.allowed_paths), tuple(policy.writegate.forbidden_paths))


# Plans smaller than this finish before a progress bar would be worth drawing.
PROGRESS_MIN_FILES = 100


@contextlib.contextmanager
def progress_display(
    opts: GlobalOptions, files: int
) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for big plans; none with --json, -q or no terminal."""
    if opts.json or opts.quiet or files < PROGRESS_MIN_FILES or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agentos.cli.render import console

    with Progress(
        TextColumn("writing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("write", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def outcome_of(results: list[ApplyResult]) -> Outcome:
    """Results of one or more plans: the last one decides the exit code."""
    last = results[-1]
    result = execution_row(last)
    result["executions"] = [execution_row(r) for r in results]
    error = None
    if last.status not in SUCCESS:
        error = last.error or {"type": last.status, "message": last.message, "details": {}}
        error = {**error, "message": last.message}
    return Outcome(
        result=result,
        exit_code=STATUS_EXIT[last.status],
        human=lambda out: _render(out, results),
        warnings=[w for r in results for w in r.warnings],
        error=error,
    )


def _render(out: Console, results: list[ApplyResult]) -> None:
    from rich.text import Text

    for result in results:
        style = "green" if result.status in SUCCESS else "bold red"
        line = Text(f"{result.kind} {result.plan_id}: ")
        line.append(result.status, style=style)
        line.append(f"  (execution {result.execution_id}")
        line.append(f", attempt {result.attempt})" if result.attempt else ")")
        out.print(line)
        if result.status in SUCCESS:
            out.print(f"  {result.message}")
        listed = result.files if result.status == "committed" else []
        for change in listed[:FILES_SHOWN]:
            name = f"{change.from_path} -> {change.path}" if change.from_path else change.path
            out.print(f"  {change.op:<7} {name}")
        if len(listed) > FILES_SHOWN:
            out.print(f"  ... and {len(listed) - FILES_SHOWN} more (--json lists them all)")
        for drifted in result.drifted:
            out.print(f"  drifted: {drifted}")
        for label, checks in (("check", result.checks), ("after rollback", result.post_rollback)):
            for check in checks:
                tries = f", {check.attempts} attempt(s)" if check.attempts != 1 else ""
                out.print(
                    f"  {label} {check.name}: {check.status} ({check.duration:.2f}s{tries}) "
                    f"{check.message}"
                )
                if check.status != "passed" and check.output:
                    for output_line in check.output.splitlines()[-3:]:
                        out.print(f"    | {output_line}")
        if result.status == "committed" and result.kind == "apply":
            out.print(f"Undo it with: agentos rollback {result.execution_id}")


@command(app, "apply")
def apply(
    opts: GlobalOptions,
    refs: Annotated[
        list[str], typer.Argument(metavar="PLAN...", help="Plan files or plan ids, in order.")
    ],
    *,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = None,
    approval: Annotated[
        list[Path] | None,
        typer.Option(
            "--approval",
            help="An approval file made elsewhere; may be repeated.",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Apply plans through the whole pipeline; each is its own transaction."""
    from agentos.cli.show_cmd import resolve_plan_file
    from agentos.governance.policyfile import load_policy
    from agentos.planner.planfile import load_plan

    workspace = opts.workspace()
    # Every plan is verified before the first one is applied.
    plans = [load_plan(resolve_plan_file(workspace, ref)) for ref in refs]
    loaded = load_policy(opts.policy, workspace)
    results = []
    for plan in plans:
        result = run_plan(
            workspace,
            plan,
            loaded,
            opts=opts,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            approvals=tuple(approval or ()),
        )
        results.append(result)
        if result.status not in SUCCESS:
            break
    return outcome_of(results)


@command(app, "rollback")
def rollback(
    opts: GlobalOptions,
    execution_id: Annotated[
        str, typer.Argument(metavar="EXECUTION_ID", help="A committed execution's id.")
    ],
    *,
    dry_run: DryRun = False,
    lock_timeout: LockTimeout = None,
) -> Outcome:
    """Undo a committed execution with its inverse changeset, through the same pipeline."""
    from agentos.executor.inverse import inverse_modes, inverse_plan
    from agentos.executor.recovery import recover
    from agentos.governance.gate import decide_plan
    from agentos.governance.policyfile import load_policy, policy_use
    from agentos.model import seal_plan
    from agentos.planner.planfile import write_plan

    workspace = opts.workspace()
    loaded = load_policy(opts.policy, workspace)
    policy_use(loaded, workspace, command="rollback")
    timeout = (
        lock_timeout
        if lock_timeout is not None
        else loaded.policy.executor.concurrency.lock_timeout
    )
    # Recovery first: an execution whose commit a crash interrupted is finished (archived).
    recover(
        workspace,
        actor=current_user(),
        timeout=timeout,
        on_wait=print_info,
        guard=policy_guard(loaded.policy),
    )
    plan = inverse_plan(workspace, execution_id, author=current_user())
    plan = seal_plan(plan, risk=decide_plan(plan, workspace, loaded).risk)
    write_plan(plan, workspace.plans_dir / f"{plan.plan_id}.json")
    result = run_plan(
        workspace,
        plan,
        loaded,
        opts=opts,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        kind="rollback",
        parent=execution_id,
        exact_modes=inverse_modes(workspace, execution_id),
    )
    return outcome_of([result])


@command(app, "recover")
def recover_cmd(
    opts: GlobalOptions,
    *,
    lock_timeout: LockTimeout = None,
    journal_rules: Annotated[
        bool,
        typer.Option(
            "--journal-rules",
            help="Restore where the interrupted execution's own (sealed) journal allows, even "
            "where the current policy now forbids it (recorded in the audit trail).",
        ),
    ] = False,
) -> Outcome:
    """Roll back interrupted executions and finish interrupted commits."""
    from agentos.executor.recovery import recover
    from agentos.governance.policyfile import load_policy, policy_use

    workspace = opts.workspace()
    loaded = load_policy(opts.policy, workspace)
    use = policy_use(loaded, workspace, command="recover")
    timeout = lock_timeout
    if timeout is None:
        timeout = loaded.policy.executor.concurrency.lock_timeout
    outcomes = recover(
        workspace,
        actor=current_user(),
        timeout=timeout,
        on_wait=print_info,
        guard=None if journal_rules else policy_guard(loaded.policy),
    )
    rows = [
        {
            "execution_id": o.execution_id,
            "plan_id": o.plan_id,
            "action": o.action,
            "restored": o.restored,
            "removed": o.removed,
            "warnings": o.warnings,
        }
        for o in outcomes
    ]

    def human(out: Console) -> None:
        if not outcomes:
            out.print("Nothing to recover: no interrupted execution.")
        for o in outcomes:
            out.print(f"{o.execution_id} (plan {o.plan_id}): {o.action.replace('_', ' ')}")

    return Outcome(
        result={"recovered": rows, "policy": use.row()},
        human=human,
        warnings=[w for o in outcomes for w in o.warnings],
    )


@command(app, "abort")
def abort(
    opts: GlobalOptions,
    *,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
) -> Outcome:
    """Hard-stop the execution running in this workspace: it rolls back and exits 130."""
    import json
    from datetime import UTC, datetime

    from agentos.audit.trail import AuditTrail
    from agentos.executor.executions import abort_marker
    from agentos.executor.lock import lock_is_held, read_holder
    from agentos.statefs import write_atomic

    workspace = opts.workspace()
    holder = read_holder(workspace) if lock_is_held(workspace) else None
    execution_id = holder.get("execution_id") if holder else None
    if not execution_id:
        return Outcome(
            result={"execution_id": None, "plan_id": None, "requested": False},
            human=lambda out: out.print("Nothing to abort: no execution is running here."),
        )
    assert holder is not None  # noqa: S101 - execution_id came from it
    marker = abort_marker(workspace.state_dir, str(execution_id))
    record = {
        "reason": reason,
        "by": current_user(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Recorded before it takes effect, so the trail never shows the abort before its request.
    AuditTrail(workspace.audit_dir).append(
        "abort.requested",
        actor=current_user(),
        execution_id=str(execution_id),
        plan_id=holder.get("plan_id"),
        data={"reason": reason, "pid": holder.get("pid")},
    )
    write_atomic(marker, json.dumps(record).encode("utf-8"))
    result = {"execution_id": execution_id, "plan_id": holder.get("plan_id"), "requested": True}

    def human(out: Console) -> None:
        out.print(
            f"Asked execution {execution_id} (pid {holder.get('pid')}) to stop; it rolls back "
            "and exits 130."
        )

    return Outcome(result=result, human=human)
