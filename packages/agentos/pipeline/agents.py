"""Agents' own writes through the pipeline: gate before, record after, sweep at the end.

An agent's tool writes the file itself; agentos sees the call before (``pre_write``: plan,
gate, and — when the write may happen — back up the pre-images and keep the journal pending)
and after (``post_write``: record what the tool wrote as an execution of kind ``agent``, which
``rollback`` undoes). ``turn_start`` and ``turn_end`` bracket a turn: the baseline of the
workspace is taken at the start, and at the end every pending write is settled and the files
changed outside agentos are found (``sweep``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentos.clock import rfc3339
from agentos.digest import canonical_json, sha256_hex
from agentos.errors import StateIntegrityError
from agentos.pipeline.context import Context
from agentos.pipeline.gating import PlanRequest, gate_plan, make_plan
from agentos.pipeline.results import AgentGate, AgentRecorded, Swept, TurnEnded
from agentos.planner.inputs import PlanInput

if TYPE_CHECKING:
    from agentos.executor.agentwrites import AgentRecord
    from agentos.governance.gate import GateResult
    from agentos.model import Decision
    from agentos.sweep import Bypass, SweepReport


@dataclass(frozen=True)
class ToolCall:
    """One tool call of an agent, as its hook event names it."""

    agent: str  # the author the plan is attributed to: claude-code, codex, gemini-cli
    tool: str
    tool_input: Mapping[str, Any]
    tool_use_id: str | None = None
    session_id: str | None = None

    @property
    def key(self) -> str:
        """What ties the post-write event to the pre-write one: the tool-use id, else the
        call itself (the same input in the same session)."""
        if self.tool_use_id:
            return f"{self.agent}\n{self.tool_use_id}"
        payload = canonical_json({"tool": self.tool, "input": dict(self.tool_input)})
        return f"{self.agent}\n{self.session_id or ''}\n{sha256_hex(payload)}"

    def plan_input(self) -> PlanInput:
        """The call as a planner input (the planner reads agents' tool calls)."""
        data = json.dumps({"tool_name": self.tool, "tool_input": dict(self.tool_input)})
        return PlanInput(name=f"{self.tool} tool input", data=data.encode("utf-8"))


def pre_write(ctx: Context, call: ToolCall, *, stage_for_approval: bool) -> AgentGate:
    """Plan and gate the write ``call`` is about to make; when it may happen (ALLOW, or
    NEED_APPROVAL with ``stage_for_approval``: the agent asks its user), stage it."""
    from agentos.executor.agentwrites import stage_agent_write
    from agentos.executor.records import Recorder
    from agentos.governance.settings import executor_settings, policy_guard

    rules = ctx.policy.policy.agents
    blocked = _changed_now(ctx) if rules.bypass == "block" else ()
    if blocked:
        return AgentGate(
            verdict="DENY",
            reason=f"{bypass_summary(blocked)}; agentos blocks agent writes until someone "
            "reviews them and runs 'agentos sweep --accept'",
            blocked_by=blocked,
        )
    with _locked(ctx, command=f"hook {call.agent}"):
        _no_recovery_pending(ctx)
        request = PlanRequest(
            inputs=(call.plan_input(),), author=call.agent, intent=call.tool, keep_stored=True
        )
        planned = make_plan(ctx, request)
        plan = planned.plan
        gate = gate_plan(ctx, plan, command=f"hook {call.agent}", decision=planned.decision)
        verdict = gate.verdict
        reason = gate_reason(gate, plan.plan_id)
        if verdict in ("ALLOW", "APPROVED") or (verdict == "NEED_APPROVAL" and stage_for_approval):
            settings = executor_settings(ctx.policy.policy)
            journal = stage_agent_write(
                ctx.workspace,
                plan,
                key=call.key,
                guard=policy_guard(ctx.policy.policy),
                durable=settings.durable,
                started_at=rfc3339(ctx.clock()),
                recorder=Recorder(ctx.workspace, call.agent, ctx.clock),
            )
            ctx.audit.append(
                "agent.staged",
                actor=call.agent,
                execution_id=journal.execution_id,
                plan_id=plan.plan_id,
                data={"kind": "agent", "tool": call.tool, "verdict": verdict},
            )
    return AgentGate(verdict=verdict, reason=reason, plan=plan, gate=gate)


def post_write(ctx: Context, call: ToolCall) -> AgentRecorded:
    """Record what the tool wrote for ``call`` (nothing when it was not staged)."""
    from agentos.executor.agentwrites import pending_for

    with _locked(ctx, command=f"hook {call.agent}"):
        execution_id = pending_for(ctx.workspace.state_dir, call.key)
        record = None
        if execution_id is not None:
            record = _finish(ctx, execution_id, actor=call.agent, discard=True, confirmed=True)
    return AgentRecorded(record)


def turn_start(ctx: Context, *, actor: str) -> Swept:
    """A turn begins: settle writes left pending, record what changed outside agentos since
    the last baseline (between turns: a person's edits, a background job), and take a new
    baseline — unless the policy blocks on such changes and there are some."""
    with _locked(ctx, command="hook turn start"):
        records = _settle(ctx, actor=actor, discard=True)
    # Blocking on changes keeps the baseline (and so the block) until someone accepts them.
    blocking = ctx.policy.policy.agents.bypass == "block"
    report = _sweep(ctx, actor=actor, rebase=True, unless_changed=blocking)
    accepted = not (blocking and report.changed)
    return Swept(report=report, records=records, accepted=accepted)


def turn_end(ctx: Context, *, actor: str) -> TurnEnded:
    """A turn ends: settle every pending write, then sweep for changes made outside."""
    with _locked(ctx, command="hook turn end"):
        records = _settle(ctx, actor=actor, discard=True)
    report = _sweep(ctx, actor=actor)
    block = bool(report.changed) and ctx.policy.policy.agents.bypass == "block"
    return TurnEnded(report=report, records=records, block=block)


def sweep(ctx: Context, *, accept: bool = False) -> Swept:
    """Report every file changed outside agentos since the baseline; ``accept`` makes the
    workspace as it is now the new baseline. Pending agent writes whose files were written
    are recorded first (those not written yet are left pending: the agent may be at it)."""
    with _locked(ctx, command="sweep"):
        records = _settle(ctx, actor=ctx.actor, discard=False)
    report = _sweep(ctx, actor=ctx.actor, rebase=accept)
    if accept:
        ctx.audit.append(
            "sweep.accepted",
            actor=ctx.actor,
            data={"changed": [b.row() for b in report.changed]},
        )
    return Swept(report=report, records=records, accepted=accept)


def gate_reason(gate: GateResult, plan_id: str) -> str:
    """One line for the agent: the findings that decided, and what a person can do."""
    decision, verdict = gate.decision, gate.verdict
    if verdict == "DENY":
        return f"agentos denied this write: {_findings(decision, 'DENY')}"
    if verdict == "NEED_APPROVAL":
        return (
            f"agentos: this write needs {gate.approvals.required} approval(s) "
            f"({_findings(decision, 'NEED_APPROVAL')}); a person can run "
            f"'agentos approve {plan_id} --by <name>', then the same write is allowed"
        )
    if verdict == "APPROVED":
        by = ", ".join(gate.approvals.approvers)
        return f"agentos allowed this write (plan {plan_id}, approved by {by})"
    return f"agentos allowed this write (plan {plan_id}, risk {decision.risk.level})"


def _findings(decision: Decision, severity: str) -> str:
    """``[rule] path: message; ...`` of the findings of ``severity`` (five at most)."""
    found = [f for f in decision.findings if f.severity == severity]
    listed = "; ".join(
        f"[{f.rule}] {f.path}: {f.message}" if f.path else f"[{f.rule}] {f.message}"
        for f in found[:5]
    )
    return listed + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")


def bypass_summary(changed: tuple[Bypass, ...]) -> str:
    """``3 files changed outside agentos: src/a.py (modified), ...``."""
    shown = ", ".join(f"{b.path} ({b.change})" for b in changed[:10])
    more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
    noun = "file" if len(changed) == 1 else "files"
    return f"{len(changed)} {noun} changed outside agentos: {shown}{more}"


# -- the steps ------------------------------------------------------------------------------


def _locked(ctx: Context, *, command: str) -> Any:
    from agentos.executor.lock import workspace_lock
    from agentos.workspace import ensure_state_dir

    ensure_state_dir(ctx.workspace)
    return workspace_lock(
        ctx.workspace,
        timeout=ctx.policy.policy.agents.lock_timeout,
        holder={"command": command, "actor": ctx.actor},
        on_wait=ctx.on_wait,
        clock=ctx.clock,
    )


def _no_recovery_pending(ctx: Context) -> None:
    from agentos.executor.journal import recovery_pending

    if recovery_pending(ctx.workspace.state_dir):
        raise StateIntegrityError(
            f"{ctx.workspace.state_dir / 'journal'}: an interrupted execution is waiting to be "
            "rolled back; run 'agentos recover' before agents write again",
        )


def _finish(
    ctx: Context, execution_id: str, *, actor: str, discard: bool, confirmed: bool
) -> AgentRecord | None:
    from agentos.executor.agentwrites import finish_agent_write
    from agentos.executor.records import Recorder
    from agentos.sweep import note_written

    record = finish_agent_write(
        ctx.workspace,
        execution_id,
        recorder=Recorder(ctx.workspace, actor, ctx.clock),
        keep=ctx.policy.policy.executor.backups.keep,
        discard_unwritten=discard,
        confirmed=confirmed,
    )
    if record is not None and record.before:
        note_written(ctx.workspace, dict(record.before))
    return record


def _settle(ctx: Context, *, actor: str, discard: bool) -> tuple[AgentRecord, ...]:
    from agentos.executor.journal import pending_dir

    folder = pending_dir(ctx.workspace.state_dir)
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    records = []
    for execution_id in names:
        # No post-write event came for these: only files holding exactly what was allowed
        # are taken for the tool's work.
        record = _finish(ctx, execution_id, actor=actor, discard=discard, confirmed=False)
        if record is not None and record.status in ("committed", "diverged"):
            records.append(record)
    return tuple(records)


def _sweep(
    ctx: Context, *, actor: str, rebase: bool = False, unless_changed: bool = False
) -> SweepReport:
    """Compare the workspace with the baseline (one is taken when there is none) and record
    what changed outside agentos; with ``rebase``, the same scan becomes the new baseline —
    with ``unless_changed`` too, only when nothing changed (a block stays until accepted)."""
    from agentos import sweep as sweeping
    from agentos.clock import rfc3339

    state_dir = ctx.workspace.state_dir
    now = rfc3339(ctx.clock())
    with sweeping.locked(state_dir):
        baseline = sweeping.read_baseline(state_dir)
        started = _fs_now()  # before the scan: a file written during it is read again
        stamps = sweeping.scan(ctx.workspace, baseline)
        if baseline is None:
            report = sweeping.SweepReport(now, (), len(stamps), now, True)
        else:
            changed = sweeping.compare(baseline, stamps)
            report = sweeping.SweepReport(now, changed, len(stamps), baseline.taken_at)
        rebase = rebase and not (unless_changed and report.changed)
        if baseline is None or rebase:
            sweeping.write_baseline(state_dir, sweeping.Baseline(now, started, stamps))
        # After a rebase nothing is outstanding: that is what ``status`` shows.
        outstanding = sweeping.SweepReport(now, (), len(stamps), now, True) if rebase else report
        sweeping.save_last(state_dir, outstanding)
    if report.changed:
        ctx.audit.append(
            "sweep.found",
            actor=actor,
            data={"changed": [b.row() for b in report.changed], "baseline_at": report.baseline_at},
        )
    return report


def _changed_now(ctx: Context) -> tuple[Bypass, ...]:
    """What differs from the baseline now (not what the last sweep saw: its findings file
    could have been removed since)."""
    from agentos import sweep as sweeping

    state_dir = ctx.workspace.state_dir
    with sweeping.locked(state_dir):
        baseline = sweeping.read_baseline(state_dir)
        if baseline is None:
            return ()
        return sweeping.compare(baseline, sweeping.scan(ctx.workspace, baseline))


def _fs_now() -> int:
    """The file system's time now, which modification times are compared with (the context's
    clock stamps records; this one only decides which files must be read again)."""
    return time.time_ns()
