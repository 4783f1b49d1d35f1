"""The JSON document of each use case's result: what ``--json`` prints as ``result`` and what
the MCP server returns as a tool's structured content, so the two never drift apart.

Plain functions from result values to dicts of JSON types; the keys are pinned by tests and
documented in ``docs/cli.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.pipeline.results import SUCCESS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agentos.audit.folds import ExecutionView
    from agentos.executor.options import ApplyResult
    from agentos.governance.approvalcount import ApprovalStatus
    from agentos.governance.explain import PathExplanation
    from agentos.governance.gate import GateResult
    from agentos.model import ChangePlan, Decision, Finding
    from agentos.pipeline.context import Context
    from agentos.pipeline.queue import QueueSummary
    from agentos.pipeline.results import (
        Applied,
        Approved,
        Checked,
        GitRecorded,
        History,
        Shown,
        WorkspaceStatus,
    )
    from agentos.planner.preview import DiffLine


def finding_row(finding: Finding) -> dict[str, Any]:
    """One finding as every result shows it."""
    return {
        "rule": finding.rule,
        "path": finding.path,
        "severity": finding.severity,
        "message": finding.message,
        "pattern": finding.pattern,
        "line": finding.line,
    }


def approvals_row(status: ApprovalStatus) -> dict[str, Any]:
    """The approvals part of a result."""
    return {
        "required": status.required,
        "approvers": list(status.approvers),
        "stale": list(status.stale),
        "not_counted": [item.row() for item in status.not_counted],
        "satisfied": status.satisfied,
    }


def explain_rows(rows: tuple[PathExplanation, ...]) -> list[dict[str, Any]]:
    """``--explain`` / ``policy explain`` rows: each rule's verdict on each path."""
    return [
        {
            "path": row.path,
            "rules": [
                {"rule": v.rule, "verdict": v.verdict, "detail": v.detail} for v in row.verdicts
            ],
        }
        for row in rows
    ]


def gate_result(gate: GateResult, plan_file: Path, policy_source: str) -> dict[str, Any]:
    """``check`` (and the start of ``approve``'s result)."""
    decision = gate.decision
    return {
        "plan_id": decision.plan_id,
        "plan_file": str(plan_file),
        "checksum": decision.checksum,
        "decision": decision.decision,
        "verdict": gate.verdict,
        "risk": decision.risk.model_dump(mode="json"),
        "findings": [finding_row(f) for f in decision.findings],
        "approvals": approvals_row(gate.approvals),
        "policy": {"source": policy_source, "digest": decision.policy_digest},
    }


def check_result(checked: Checked, plan_file: Path) -> dict[str, Any]:
    """``check``: the gate, and each rule's verdict with ``--explain``."""
    result = gate_result(checked.gate, plan_file, checked.policy_source)
    result["stale"] = bool(checked.drifted)
    result["drifted"] = list(checked.drifted)
    if checked.explanation is not None:
        result["explain"] = explain_rows(checked.explanation)
    return result


def approve_result(approved: Approved, plan_file: Path) -> dict[str, Any]:
    """``approve``: the gate with the new approval counted, and the approval."""
    result = gate_result(approved.gate, plan_file, approved.policy_source)
    result["approval_file"] = str(approved.approval_file)
    result["approval"] = approved.approval.model_dump(mode="json")
    result["signed_ssh"] = approved.approval.ssh_signature is not None
    return result


def change_rows(plan: ChangePlan) -> list[dict[str, Any]]:
    """Each change: op, path, from, line counts."""
    counts = {f.path: (f.added, f.removed) for f in plan.stats.per_file}
    rows = []
    for change in plan.changeset.changes:
        added, removed = counts.get(change.path, (0, 0))
        rows.append(
            {
                "op": change.op,
                "path": change.path,
                "from": change.from_path if change.op == "rename" else None,
                "added": added,
                "removed": removed,
            }
        )
    return rows


def plan_result(plan: ChangePlan, plan_file: Path, decision: Decision) -> dict[str, Any]:
    """``plan`` (and the start of ``show``'s result)."""
    return {
        "plan_id": plan.plan_id,
        "plan_file": str(plan_file),
        "checksum": plan.changeset.checksum,
        "decision": decision.decision,
        "intent": plan.intent,
        "author": plan.author,
        "risk": plan.risk.model_dump(mode="json"),
        "stats": {
            "files": plan.stats.files,
            "added_lines": plan.stats.added_lines,
            "removed_lines": plan.stats.removed_lines,
            "bytes": plan.stats.bytes,
        },
        "changes": change_rows(plan),
        "sources": [s.model_dump(mode="json") for s in plan.sources],
        "findings": [finding_row(f) for f in decision.findings],
    }


def show_result(shown: Shown, plan_file: Path) -> dict[str, Any]:
    """``show PLAN``: the plan, when it was made, its base, and the diff when asked."""
    plan = shown.plan
    result = plan_result(plan, plan_file, shown.decision)
    result["created_at"] = plan.created_at
    result["base"] = plan.base.model_dump(mode="json")
    result["diff"] = diff_text(shown.diff) or None
    return result


def diff_text(lines: Sequence[DiffLine] | None) -> str:
    """A plan's diff as text ("" when it changes nothing)."""
    return "\n".join(line.text for line in lines) + "\n" if lines else ""


def execution_row(result: ApplyResult, git: GitRecorded | None = None) -> dict[str, Any]:
    """One transaction of ``apply`` / ``rollback`` (``git``: what git recorded of it, with
    ``--commit`` / ``--index``)."""
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
        "holder": result.holder,
        "git": None if git is None else git.row(),
    }


def applied_result(applied: Applied) -> dict[str, Any]:
    """``apply`` / ``rollback``: the last transaction (it decides the outcome), and all."""
    rows = [execution_row(r, applied.git_of(i)) for i, r in enumerate(applied.results)]
    return {**rows[-1], "executions": rows}


def applied_error(applied: Applied) -> dict[str, Any] | None:
    """The error of an apply whose last transaction did not succeed, or whose files git
    could not record (else None)."""
    last = applied.last
    failed = applied.git_error
    if failed is not None and failed.error is not None:
        details = {"execution_id": last.execution_id, "git": failed.row()}
        return {"type": "git_failed", "message": failed.error, "details": details}
    if last.status in SUCCESS:
        return None
    error = last.error or {"type": last.status, "message": last.message, "details": {}}
    return {**error, "message": last.message}


def status_result(status: WorkspaceStatus) -> dict[str, Any]:
    """``status``: the lock, interrupted executions, breakers, executions, the last sweep,
    the audit trail's repair."""
    return {
        "lock": {"held": status.lock_held, "holder": status.holder},
        "interrupted": [
            {"execution_id": j.execution_id, "plan_id": j.plan_id, "state": j.state, "kind": j.kind}
            for j in status.interrupted
        ],
        "breakers": [
            {"check": name, "state": b.state, "failures": b.failures, "since": b.since()}
            for name, b in status.breakers
        ],
        "executions": [view.row() for view in status.executions],
        "sweep": None if status.sweep is None else status.sweep.row(),
        "audit_repaired": None if status.repaired is None else status.repaired.row(),
    }


def status_document(
    ctx: Context, status: WorkspaceStatus
) -> tuple[dict[str, Any], QueueSummary | None, list[str]]:
    """``status`` as every front-end gives it: the workspace that answered, ``status_result``,
    and the shared queue (None with the file store, or when the store is out of reach: then
    a warning says so, and the workspace's own state is given all the same)."""
    from agentos.errors import StoreSchemaError, StoreUnavailableError
    from agentos.pipeline.queue import summary

    warnings: list[str] = []
    try:
        queue = summary(ctx)
    except (StoreUnavailableError, StoreSchemaError) as exc:
        queue, warnings = None, [f"queue not shown: {exc.message}"]
    result = {"workspace": str(ctx.workspace.root), **status_result(status)}
    result["queue"] = None if queue is None else queue.row()
    return result, queue, warnings


def history_result(history: History) -> dict[str, Any]:
    """``history``: executions newest first, and how many there are in all."""
    return {"executions": [v.row() for v in history.executions], "total": history.total}


def timeline_result(view: ExecutionView, diff: Sequence[DiffLine] | None = None) -> dict[str, Any]:
    """``show EXECUTION_ID``: the execution (at its latest attempt), its events, each with
    the attempt it belongs to, and what it changed when asked."""
    from agentos.audit.folds import timeline_attempts

    attempts = timeline_attempts(view.events)
    timeline = [
        {"seq": e["seq"], "ts": e["ts"], "event": e["event"], "actor": e["actor"], "attempt": n}
        for e, n in zip(view.events, attempts, strict=True)
    ]
    return {**view.row(), "timeline": timeline, "diff": diff_text(diff) or None}
