"""``agentos check PLAN [--explain]`` and ``agentos approve PLAN --by NAME``: the WriteGate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command, current_user
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.governance.approvals import ApprovalStatus
    from agentos.governance.explain import PathExplanation
    from agentos.governance.gate import GateResult
    from agentos.model import Decision, Finding

# The exit code of each verdict (SPEC §3); APPROVED is NEED_APPROVAL with enough approvals.
VERDICT_EXIT = {"ALLOW": 0, "APPROVED": 0, "NEED_APPROVAL": 4, "DENY": 3}
SEVERITY_STYLES = {"DENY": "bold red", "NEED_APPROVAL": "yellow", "ALLOW": "green"}


def finding_row(finding: Finding) -> dict[str, Any]:
    """One finding as every ``--json`` result shows it (keys pinned by tests)."""
    return {
        "rule": finding.rule,
        "path": finding.path,
        "severity": finding.severity,
        "message": finding.message,
        "pattern": finding.pattern,
        "line": finding.line,
    }


def render_decision(out: Console, decision: Decision, verdict: str | None = None) -> None:
    """The decision line and one line per finding, shared by ``plan`` and ``check``."""
    from rich.text import Text

    shown = verdict or decision.decision
    line = Text("Decision: ")
    line.append(shown, style=SEVERITY_STYLES.get(decision.decision, "green"))
    line.append(f"  (risk {decision.risk.level}, {len(decision.findings)} finding(s))")
    out.print(line)
    for finding in decision.findings:
        row = Text("  ")
        row.append(f"{finding.severity:<13}", style=SEVERITY_STYLES[finding.severity])
        row.append(f" {finding.rule:<22} ")
        row.append(finding.message)
        out.print(row)


def approvals_row(status: ApprovalStatus) -> dict[str, Any]:
    """The approvals part of a ``--json`` result."""
    return {
        "required": status.required,
        "approvers": list(status.approvers),
        "stale": list(status.stale),
        "satisfied": status.satisfied,
    }


def explain_rows(rows: list[PathExplanation]) -> list[dict[str, Any]]:
    """``--explain`` / ``policy explain`` rows for ``--json``."""
    return [
        {
            "path": row.path,
            "rules": [
                {"rule": v.rule, "verdict": v.verdict, "detail": v.detail} for v in row.verdicts
            ],
        }
        for row in rows
    ]


def render_explanation(out: Console, rows: list[PathExplanation]) -> None:
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


ApprovalFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--approval",
        help="An approval file made elsewhere (e.g. a CI artifact); may be repeated.",
        show_default=False,
    ),
]


@command(app, "check")
def check(
    opts: GlobalOptions,
    ref: Annotated[str, typer.Argument(metavar="PLAN", help="A plan file or plan id.")],
    *,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also show each rule's verdict on each path.")
    ] = False,
    approval: ApprovalFiles = None,
) -> Outcome:
    """The WriteGate's decision on a plan, with every finding; counts its approvals."""
    from agentos.cli.show_cmd import resolve_plan_file
    from agentos.governance.explain import explain as explain_plan
    from agentos.governance.gate import approval_key, run_gate
    from agentos.governance.policyfile import load_policy
    from agentos.planner.planfile import load_plan

    workspace = opts.workspace()
    plan_file = resolve_plan_file(workspace, ref)
    plan = load_plan(plan_file)
    loaded = load_policy(opts.policy, workspace)
    gate = run_gate(
        plan,
        workspace,
        loaded,
        approval_files=tuple(approval or ()),
        actor=current_user(),
        command="check",
        key=approval_key(),
    )
    rows = explain_plan(plan, loaded.policy, gate.decision) if explain else None
    result = gate_result(gate, str(plan_file), loaded.source)
    if rows is not None:
        result["explain"] = explain_rows(rows)
    return Outcome(
        result=result,
        exit_code=VERDICT_EXIT[gate.verdict],
        human=lambda out: _render_check(out, gate, rows),
    )


def gate_result(gate: GateResult, plan_file: str, policy_source: str) -> dict[str, Any]:
    """The pinned ``--json`` result of ``check``."""
    decision = gate.decision
    return {
        "plan_id": decision.plan_id,
        "plan_file": plan_file,
        "checksum": decision.checksum,
        "decision": decision.decision,
        "verdict": gate.verdict,
        "risk": decision.risk.model_dump(mode="json"),
        "findings": [finding_row(f) for f in decision.findings],
        "approvals": approvals_row(gate.approvals),
        "policy": {"source": policy_source, "digest": decision.policy_digest},
    }


def _render_check(out: Console, gate: GateResult, rows: list[PathExplanation] | None) -> None:
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
    if rows is not None:
        out.print()
        render_explanation(out, rows)


@command(app, "approve")
def approve(
    opts: GlobalOptions,
    ref: Annotated[str, typer.Argument(metavar="PLAN", help="A plan file or plan id.")],
    *,
    by: Annotated[str, typer.Option("--by", help="Who approves (must be allowed by the policy).")],
    comment: Annotated[str, typer.Option("--comment", help="Why it is approved.")] = "",
    sign: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            metavar="KEYFILE",
            help="Sign the approval with this SSH key (ssh-keygen -Y sign), as git signs "
            "commits; needed when the policy sets approvals.allowed_signers.",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Record an approval bound to this plan's exact bytes and the policy; refuses DENY plans."""
    from agentos.cli.show_cmd import resolve_plan_file
    from agentos.governance.gate import approval_key, approve_plan
    from agentos.governance.policyfile import load_policy
    from agentos.planner.planfile import load_plan

    workspace = opts.workspace()
    plan_file = resolve_plan_file(workspace, ref)
    plan = load_plan(plan_file)
    loaded = load_policy(opts.policy, workspace)
    recorded = approve_plan(
        plan,
        workspace,
        loaded,
        approver=by,
        comment=comment,
        key=approval_key(),
        ssh_key=sign,
    )
    result = gate_result(recorded.gate, str(plan_file), loaded.source)
    result["approval_file"] = str(recorded.path)
    result["approval"] = recorded.approval.model_dump(mode="json")
    result["signed_ssh"] = recorded.approval.ssh_signature is not None
    return Outcome(result=result, human=lambda out: _render_approved(out, recorded.gate, by, sign))


def _render_approved(out: Console, gate: GateResult, by: str, sign: Path | None) -> None:
    status = gate.approvals
    out.print(f"Approved {gate.decision.plan_id} by {by} ({gate.decision.checksum})")
    if sign is not None:
        out.print(f"  signed with the SSH key {sign}")
    if gate.decision.decision == "ALLOW":
        out.print("  (the plan needed no approval; the record is kept)")
    else:
        out.print(f"Approvals: {len(status.approvers)} of {status.required}")
    if gate.verdict in ("ALLOW", "APPROVED"):
        out.print(f"Next: agentos apply {gate.decision.plan_id}")
