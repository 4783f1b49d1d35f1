"""The WriteGate's verdicts: findings, approvals and explanations (``check``, ``approve``,
``policy explain``, and the decision ``plan`` and ``show`` print)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.governance.approvals import ApprovalStatus
    from agentos.governance.explain import PathExplanation
    from agentos.governance.gate import GateResult
    from agentos.model import Decision, Finding
    from agentos.pipeline.results import Approved, Checked, Explained

# The exit code of each verdict (SPEC §3); APPROVED is NEED_APPROVAL with enough approvals.
VERDICT_EXIT = {"ALLOW": 0, "APPROVED": 0, "NEED_APPROVAL": 4, "DENY": 3}
SEVERITY_STYLES = {"DENY": "bold red", "NEED_APPROVAL": "yellow", "ALLOW": "green"}


def finding_row(finding: Finding) -> dict[str, Any]:
    """One finding as every ``--json`` result shows it."""
    return {
        "rule": finding.rule,
        "path": finding.path,
        "severity": finding.severity,
        "message": finding.message,
        "pattern": finding.pattern,
        "line": finding.line,
    }


def approvals_row(status: ApprovalStatus) -> dict[str, Any]:
    """The approvals part of a ``--json`` result."""
    return {
        "required": status.required,
        "approvers": list(status.approvers),
        "stale": list(status.stale),
        "satisfied": status.satisfied,
    }


def explain_rows(rows: tuple[PathExplanation, ...]) -> list[dict[str, Any]]:
    """``--explain`` / ``policy explain`` rows."""
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
    """The ``--json`` result of ``check`` (and the start of ``approve``'s)."""
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


def render_decision(out: Console, decision: Decision, verdict: str | None = None) -> None:
    """The decision line and one line per finding."""
    from rich.text import Text

    line = Text("Decision: ")
    line.append(verdict or decision.decision, style=SEVERITY_STYLES.get(decision.decision, ""))
    line.append(f"  (risk {decision.risk.level}, {len(decision.findings)} finding(s))")
    out.print(line)
    for finding in decision.findings:
        row = Text("  ")
        row.append(f"{finding.severity:<13}", style=SEVERITY_STYLES[finding.severity])
        row.append(f" {finding.rule:<22} ")
        row.append(finding.message)
        out.print(row)


def render_explanation(out: Console, rows: tuple[PathExplanation, ...]) -> None:
    """Each path, then each rule's verdict on it."""
    from rich.text import Text

    for row in rows:
        out.print(Text(row.path, style="bold"))
        for verdict in row.verdicts:
            line = Text(f"  {verdict.rule:<22} ")
            line.append(f"{verdict.verdict:<13}", style=SEVERITY_STYLES.get(verdict.verdict, ""))
            if verdict.detail:
                line.append(f" {verdict.detail}")
            out.print(line)


def render_checked(out: Console, checked: Checked) -> None:
    """``check``: the verdict, the approvals counted, what to do next."""
    gate = checked.gate
    render_decision(out, gate.decision, gate.verdict)
    status = gate.approvals
    if gate.decision.decision == "NEED_APPROVAL":
        names = ", ".join(status.approvers) or "none"
        out.print(f"Approvals: {len(status.approvers)} of {status.required} ({names})")
        if status.stale:
            out.print(
                f"  not counted (given under another policy): {', '.join(status.stale)}; "
                "approve again"
            )
        if not status.satisfied:
            out.print(f"Next: agentos approve {gate.decision.plan_id} --by <name>")
    if checked.explanation is not None:
        out.print()
        render_explanation(out, checked.explanation)


def render_approved(out: Console, approved: Approved, sign: Path | None) -> None:
    """``approve``: who approved what, and what comes next."""
    gate = approved.gate
    status = gate.approvals
    by = approved.approval.approver
    out.print(f"Approved {gate.decision.plan_id} by {by} ({gate.decision.checksum})")
    if sign is not None:
        out.print(f"  signed with the SSH key {sign}")
    if gate.decision.decision == "ALLOW":
        out.print("  (the plan needed no approval; the record is kept)")
    else:
        out.print(f"Approvals: {len(status.approvers)} of {status.required}")
    if gate.verdict in ("ALLOW", "APPROVED"):
        out.print(f"Next: agentos apply {gate.decision.plan_id}")


def explained_result(explained: Explained) -> dict[str, Any]:
    """``policy explain``."""
    decision = explained.decision
    return {
        "plan_id": explained.plan.plan_id,
        "decision": decision.decision,
        "findings": [finding_row(f) for f in decision.findings],
        "explain": explain_rows(explained.rows),
    }


def render_explained(out: Console, explained: Explained) -> None:
    """``policy explain``: each path's verdicts, then the decision."""
    render_explanation(out, explained.rows)
    out.print()
    render_decision(out, explained.decision)
