"""The WriteGate's verdicts: findings, approvals and explanations (``check``, ``approve``,
``policy explain``, and the decision ``plan`` and ``show`` print)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.cli.visible import visible
from agentos.pipeline.documents import explain_rows, finding_row

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.governance.explain import PathExplanation
    from agentos.model import Decision
    from agentos.pipeline.results import Approved, Checked, Explained

# The exit code of each verdict (SPEC §3); APPROVED is NEED_APPROVAL with enough approvals.
VERDICT_EXIT = {"ALLOW": 0, "APPROVED": 0, "NEED_APPROVAL": 4, "DENY": 3}
# A plan whose pinned pre-images changed since it was made (SPEC §3: conflict).
STALE_EXIT = 5
SEVERITY_STYLES = {"DENY": "bold red", "NEED_APPROVAL": "yellow", "ALLOW": "green"}


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
        row.append(visible(finding.message))
        out.print(row)


def render_explanation(out: Console, rows: tuple[PathExplanation, ...]) -> None:
    """Each path, then each rule's verdict on it."""
    from rich.text import Text

    for row in rows:
        out.print(Text(visible(row.path), style="bold"))
        for verdict in row.verdicts:
            line = Text(f"  {verdict.rule:<22} ")
            line.append(f"{verdict.verdict:<13}", style=SEVERITY_STYLES.get(verdict.verdict, ""))
            if verdict.detail:
                line.append(f" {visible(verdict.detail)}")
            out.print(line)


def checked_exit(checked: Checked) -> int:
    """``check``'s exit code: the verdict's, except 5 for a stale plan the policy does not
    deny (apply would refuse it: it must be planned again first)."""
    verdict = checked.gate.verdict
    return STALE_EXIT if checked.drifted and verdict != "DENY" else VERDICT_EXIT[verdict]


def render_checked(out: Console, checked: Checked) -> None:
    """``check``: the verdict, the approvals counted, staleness, what to do next."""
    gate = checked.gate
    plan_id = gate.decision.plan_id
    render_decision(out, gate.decision, gate.verdict)
    status = gate.approvals
    if gate.decision.decision == "NEED_APPROVAL":
        names = ", ".join(status.approvers) or "none"
        out.print(f"Approvals: {len(status.approvers)} of {status.required} ({names})")
        for item in status.not_counted:
            out.print(f"  not counted: {item.line()}")
    if checked.drifted:
        out.print(
            "Stale: the workspace changed since the plan was made; apply would refuse it "
            "(exit 5) and write nothing:",
            style="bold red",
        )
        for drifted in checked.drifted:
            out.print(f"  drifted: {visible(drifted)}")
        out.print("Next: plan again against the current files")
    elif gate.decision.decision == "NEED_APPROVAL" and not status.satisfied:
        out.print(f"Next: agentos approve {plan_id} --by <name>")
    if checked.explanation is not None:
        out.print()
        render_explanation(out, checked.explanation)


def render_approved(
    out: Console, approved: Approved, sign: Path | None, *, to_file: bool = False
) -> None:
    """``approve``: who approved what, where it went (``-o FILE``), and what comes next."""
    gate = approved.gate
    status = gate.approvals
    by = approved.approval.approver
    plan_id = gate.decision.plan_id
    out.print(f"Approved {plan_id} by {by} ({gate.decision.checksum})")
    if sign is not None:
        out.print(f"  signed with the SSH key {sign}")
    if to_file:
        out.print(f"  written to {approved.approval_file} (not to this workspace's store)")
    if gate.decision.decision == "ALLOW":
        out.print("  (the plan needed no approval; the record is kept)")
    else:
        out.print(f"Approvals: {len(status.approvers)} of {status.required}")
    presented = f" --approval {approved.approval_file}" if to_file else ""
    if gate.verdict in ("ALLOW", "APPROVED") or to_file:
        out.print(f"Next: agentos apply {plan_id}{presented}")


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
