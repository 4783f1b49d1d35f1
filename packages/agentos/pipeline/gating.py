"""Plan, check, approve, show and explain: the pipeline up to the WriteGate's verdict.

Each use case decides once (``decide_plan``), records that decision as ``gate.evaluated``,
and returns a frozen result. ``plan`` stamps the gate's risk on the plan before it writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from agentos.errors import UsageError
from agentos.pipeline.context import Context
from agentos.pipeline.results import Approved, Checked, Explained, Planned, Shown
from agentos.planner.inputs import PlanInput

if TYPE_CHECKING:
    from agentos.governance.approvals import SshRunner
    from agentos.governance.gate import GateResult
    from agentos.model import ChangePlan, Decision, FileChange
    from agentos.planner.gitdiff import GitSelection
    from agentos.store.base import Store


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: the inputs, who proposes it and why, and where to write the plan."""

    inputs: tuple[PlanInput, ...]
    author: str | None = None  # default: the context's actor
    intent: str | None = None
    plan_id: str | None = None
    strip: int | None = None
    output: Path | None = None  # default: .agentos/plans/<plan_id>.json
    # When the plan file already holds this very plan (id, author, intent, changes), keep it
    # as it is: an approval of it stays valid (an agent retrying an approved write).
    keep_stored: bool = False
    # Plan the change git shows (``--git`` / ``--staged``) instead of ``inputs``.
    git: GitSelection | None = None


def read_plan_inputs(
    ctx: Context, names: Sequence[str], fmt: str, *, stdin: BinaryIO
) -> tuple[PlanInput, ...]:
    """Read input files (``-`` is ``stdin``) within the policy's ``max_input_bytes``."""
    from agentos.governance.settings import plan_limits
    from agentos.planner.inputs import read_inputs

    limit = plan_limits(ctx.policy.policy).max_input_bytes
    return read_inputs(names, fmt, max_input_bytes=limit, stdin=stdin)


def plan(ctx: Context, request: PlanRequest) -> Planned:
    """Plan, decide, stamp the gate's risk, write the plan file, record both.

    The plan file is written whatever the decision (SPEC §3), so a DENY can be reviewed.
    """
    planned = make_plan(ctx, request)
    record_decision(ctx, planned.decision, command="plan", actor=planned.plan.author)
    return planned


def make_plan(ctx: Context, request: PlanRequest) -> Planned:
    """``plan`` without recording the decision (the caller records the one it acts on)."""
    from agentos.faults import fault_point
    from agentos.governance.gate import decide_plan
    from agentos.governance.settings import plan_limits
    from agentos.governance.writegate import secret_marks
    from agentos.model import seal_plan
    from agentos.planner.plan import PlanSpec, plan_changes, withhold_contents
    from agentos.planner.planfile import write_plan
    from agentos.workspace import ensure_state_dir

    workspace, loaded = ctx.workspace, ctx.policy
    author = check_author(request.author if request.author is not None else ctx.actor)
    spec = PlanSpec(
        workspace=workspace,
        inputs=request.inputs,
        author=author,
        intent=request.intent,
        plan_id=request.plan_id,
        strip=request.strip,
        limits=plan_limits(loaded.policy),
        clock=ctx.clock,
    )
    if request.git is not None:
        from dataclasses import replace

        from agentos.pipeline.gitplans import git_source

        git = git_source(ctx, request.git)
        # Git's diff names files a/ and b/: strip one component, whatever --strip says.
        spec = replace(spec, inputs=git.inputs, strip=1, baseline=git.baseline, base=git.base)
    built = plan_changes(spec)
    target = request.output or workspace.plans_dir / f"{built.plan_id}.json"
    stored = _same_plan_stored(target, built) if request.keep_stored else None
    if stored is not None:
        return Planned(
            plan=stored, plan_file=target, decision=decide_plan(stored, workspace, loaded)
        )
    decision = decide_plan(built, workspace, loaded)
    secrets = secret_marks(built, decision)
    if secrets:
        # A detected secret never reaches the disk, not even in the plan file (a CI
        # artifact): that content is withheld, and the plan decided again as it is stored.
        built = withhold_contents(built, secrets, keep_id=request.plan_id is not None)
        target = request.output or workspace.plans_dir / f"{built.plan_id}.json"
        decision = decide_plan(built, workspace, loaded)
    built = seal_plan(built, risk=decision.risk)
    if request.output is not None:
        from agentos.pipeline.planoutput import check_output_changes, check_output_target

        check_output_target(ctx, request.output)
        check_output_changes(request.output, workspace.root, built)
    fault_point("plan.before_write")
    ensure_state_dir(workspace)
    write_plan(built, target)
    ctx.audit.append(
        "plan.created",
        actor=author,
        plan_id=built.plan_id,
        data={
            "checksum": built.changeset.checksum,
            "plan_file": str(target),
            "intent": built.intent,
            "risk": built.risk.level,
            "files": [_summary(c) for c in built.changeset.changes],
            "sources": [s.model_dump(mode="json") for s in built.sources],
            "stats": {
                "files": built.stats.files,
                "added_lines": built.stats.added_lines,
                "removed_lines": built.stats.removed_lines,
                "bytes": built.stats.bytes,
            },
        },
    )
    return Planned(plan=built, plan_file=target, decision=decision)


def _same_plan_stored(target: Path, built: ChangePlan) -> ChangePlan | None:
    """The plan already in ``target`` when it is ``built`` but for when it was made."""
    from agentos.errors import AgentosError
    from agentos.planner.planfile import load_plan

    if not target.is_file():
        return None
    try:
        stored = load_plan(target)
    except (AgentosError, OSError):
        return None
    same = (
        stored.plan_id == built.plan_id
        and stored.changeset.checksum == built.changeset.checksum
        and (stored.author, stored.intent, stored.base) == (built.author, built.intent, built.base)
    )
    return stored if same else None


def check(
    ctx: Context,
    plan: ChangePlan,
    *,
    approval_files: tuple[Path, ...] = (),
    explain: bool = False,
) -> Checked:
    """The WriteGate's decision with the approvals stored and presented (``approval_files``)."""
    gate = gate_plan(ctx, plan, command="check", approval_files=approval_files)
    rows = None
    if explain:
        from agentos.governance.explain import explain as explain_plan

        rows = tuple(explain_plan(plan, ctx.policy.policy, gate.decision))
    drifted: tuple[str, ...] = ()
    # Like a saved Terraform plan, a plan whose pinned pre-images moved on is stale: apply
    # would refuse it. A denied plan is not read further (it may name hostile paths).
    if gate.decision.decision != "DENY":
        from agentos.executor.drift import pending_drift

        drift = pending_drift(ctx.workspace.root, plan)
        drifted = () if drift.holds_post_images else tuple(drift.drifted)
    return Checked(
        plan=plan,
        gate=gate,
        policy_source=ctx.policy.source,
        explanation=rows,
        drifted=drifted,
    )


def approve(
    ctx: Context,
    plan: ChangePlan,
    *,
    approver: str,
    comment: str = "",
    ssh_key: Path | None = None,
    output: Path | None = None,
) -> Approved:
    """Record ``approver``'s approval bound to the plan's bytes and the policy; refuses DENY
    plans and approvals the policy would not count (nothing is written then).

    ``output``: write the approval to this file (added to the approvals of this plan it
    holds, ``governance.approvalfiles``) instead of the workspace's store, to be presented
    with ``--approval FILE`` where the plan is applied."""
    from agentos.governance.approvalfiles import (
        merge_approvals,
        output_approvals,
        write_approval_file,
    )
    from agentos.governance.approvals import save_approval
    from agentos.governance.gate import (
        check_approver,
        decide_plan,
        new_approval,
    )

    workspace, loaded = ctx.workspace, ctx.policy
    check_approver(approver)
    existing = output_approvals(output, plan.plan_id) if output is not None else []
    decision = decide_plan(plan, workspace, loaded)
    record_decision(ctx, decision, command="approve", actor=approver)
    approval = new_approval(
        plan,
        decision,
        workspace,
        loaded,
        approver=approver,
        comment=comment,
        key=ctx.approval_key,
        ssh_key=ssh_key,
        ssh_runner=ssh_runner(ctx),
    )
    if output is None:
        # A shared store first (SPEC §14): one out of reach stops here, nothing recorded.
        shared = shared_store(ctx)
        if shared is not None:
            shared.put_approval(approval)
        path = save_approval(workspace.approvals_dir, approval)
    else:
        path = output
        write_approval_file(output, merge_approvals(existing, approval))
    ctx.audit.append(
        "approval.recorded",
        actor=approver,
        plan_id=plan.plan_id,
        data={
            "checksum": approval.checksum,
            "approver": approver,
            "policy_digest": approval.policy_digest,
            "signed": approval.signature is not None,
            "signed_ssh": approval.ssh_signature is not None,
            "comment": comment,
            "approval_file": str(path),
        },
    )
    gate = approvals_counted(ctx, plan, decision, approval_files=(output,) if output else ())
    return Approved(
        plan=plan, approval=approval, approval_file=path, gate=gate, policy_source=loaded.source
    )


def show(ctx: Context, plan: ChangePlan, *, diff: bool = False) -> Shown:
    """A plan with the decision it would get now (recorded) and, with ``diff``, its diff."""
    from agentos.governance.gate import decide_plan

    decision = decide_plan(plan, ctx.workspace, ctx.policy)
    record_decision(ctx, decision, command="show")
    lines = None
    if diff:
        from agentos.pipeline.diffs import plan_diff

        lines = plan_diff(ctx, plan)
    return Shown(plan=plan, decision=decision, diff=lines)


def explain(ctx: Context, plan: ChangePlan) -> Explained:
    """Each rule's verdict on each path of ``plan`` under the current policy (recorded)."""
    from agentos.governance.explain import explain as explain_plan
    from agentos.governance.gate import decide_plan

    decision = decide_plan(plan, ctx.workspace, ctx.policy)
    record_decision(ctx, decision, command="policy explain")
    rows = tuple(explain_plan(plan, ctx.policy.policy, decision))
    return Explained(plan=plan, decision=decision, rows=rows)


def gate_plan(
    ctx: Context,
    plan: ChangePlan,
    *,
    command: str,
    approval_files: tuple[Path, ...] = (),
    decision: Decision | None = None,
) -> GateResult:
    """Decide (unless ``decision`` was already made), count the approvals, and record the
    decision as ``gate.evaluated`` for ``command`` — also when counting fails."""
    from agentos.governance.gate import decide_plan

    if decision is None:
        decision = decide_plan(plan, ctx.workspace, ctx.policy)
    try:
        return approvals_counted(ctx, plan, decision, approval_files=approval_files)
    finally:
        record_decision(ctx, decision, command=command)


def approvals_counted(
    ctx: Context, plan: ChangePlan, decision: Decision, *, approval_files: tuple[Path, ...] = ()
) -> GateResult:
    """``decision`` with the approvals ``plan`` has now (nothing recorded: a look-up): the
    workspace's, a shared store's (every runner's) and ``approval_files``."""
    from agentos.governance.gate import SharedApproval, count_approvals

    store = shared_store(ctx)
    shared: tuple[SharedApproval, ...] = ()
    if store is not None:
        shared = tuple(
            SharedApproval(r.source, r.approval, r.own)
            for r in store.recorded_approvals(plan.plan_id)
        )
    return count_approvals(
        plan,
        decision,
        ctx.workspace,
        ctx.policy,
        approval_files=approval_files,
        key=ctx.approval_key,
        ssh_runner=ssh_runner(ctx),
        shared=shared,
    )


def shared_store(ctx: Context) -> Store | None:
    """The context's store when it is shared by many runners (None: the workspace's files)."""
    store = ctx.store
    return None if store.kind == "files" else store


def ssh_runner(ctx: Context) -> SshRunner:
    """The context's ssh-keygen runner, or the real one."""
    from agentos.governance.approvals import run_ssh_keygen

    return ctx.ssh_runner or run_ssh_keygen


def record_decision(
    ctx: Context, decision: Decision, *, command: str, actor: str | None = None
) -> None:
    """Append ``gate.evaluated``: the decision and its findings (never file contents)."""
    from agentos.governance.gate import decision_summary
    from agentos.workspace import ensure_state_dir

    ensure_state_dir(ctx.workspace)
    ctx.audit.append(
        "gate.evaluated",
        actor=actor if actor is not None else ctx.actor,
        plan_id=decision.plan_id,
        data=decision_summary(decision, command=command, policy=ctx.policy.source),
    )


def check_author(author: str) -> str:
    """``author`` when it is a usable name (the rules approvers' names follow), else a
    ``UsageError`` naming ``--author``."""
    from agentos.governance.approvals import approver_name_problem

    problem = approver_name_problem(author)
    if problem is None:
        return author
    if not author.strip():
        problem = "the name is empty"
    raise UsageError(
        f"--author: {problem}; pass the name of the person the change is attributed to "
        "(default: the OS user)"
    )


def _summary(change: FileChange) -> dict[str, str]:
    item = {"op": change.op, "path": change.path}
    if change.op == "rename":
        item["from"] = change.from_path
    if change.op != "delete":
        item["sha256"] = change.sha256
    if change.op != "create":
        item["old_sha256"] = change.old_sha256
    return item
