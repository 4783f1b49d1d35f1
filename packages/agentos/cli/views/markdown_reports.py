"""The ``--markdown`` reports of ``plan``, ``show``, ``check``, ``apply`` and ``rollback``:
the decision (or the apply's status), risk with its reasons, the findings, the files, and for
a plan its diff, collapsed and cut to fit a pull request comment (``views.markdown``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.cli.views.markdown import MAX_CHARS, code, diff_details, document, table, text
from agentos.cli.views.undo import undo_command
from agentos.pipeline.documents import change_rows, diff_text

if TYPE_CHECKING:
    from agentos.cli.render import Outcome
    from agentos.executor.options import ApplyResult
    from agentos.model import ChangePlan, Decision, Finding, Risk
    from agentos.pipeline.results import Applied, Checked, GitRecorded
    from agentos.planner.preview import DiffLine

# Paths named after a risk reason; the rest are counted.
REASON_PATHS = 5


def risk_lines(risk: Risk) -> list[str]:
    """``- **Risk:** LEVEL`` and a sub-item per reason, with the paths that raised it."""
    lines = [f"- **Risk:** {text(risk.level)}"]
    for reason in risk.reasons:
        named = ", ".join(text(p) for p in reason.paths[:REASON_PATHS])
        more = len(reason.paths) - REASON_PATHS
        paths = f" ({named}{f' and {more} more' if more > 0 else ''})" if named else ""
        lines.append(f"  - {text(reason.level)}: {text(reason.reason)}{paths}")
    return lines


def policy_line(source: str, digest: str, root: Path, *, override: bool = False) -> str:
    """``- **Policy:** FILE (`DIGEST`)``: the policy that decided, its file named relative to
    the workspace ``root`` when it lies inside it (as in the reports' other paths)."""
    path = Path(source)
    if path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    shown = source if path.is_absolute() or not source else path.as_posix()
    extra = " — given with --policy, in place of the workspace's own" if override else ""
    return f"- **Policy:** {text(shown)} ({code(digest)}){extra}"


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """The findings table (severity, rule, path, message), or a line saying there are none."""
    if not findings:
        return ["### Findings", "", "No findings."]
    rows = [
        [
            text(f.severity),
            text(f.rule),
            text(f"{f.path}:{f.line}" if f.path and f.line else f.path or "(whole plan)"),
            text(f.message),
        ]
        for f in findings
    ]
    head = f"### Findings ({len(findings)})"
    return [head, "", *table(["Severity", "Rule", "Path", "Message"], rows)]


def file_lines(
    plan: ChangePlan | None, changes: Sequence[tuple[str, str, str | None]], *, note: str = ""
) -> list[str]:
    """The files table: op, path (``from → to`` for a rename), lines added and removed (from
    ``plan`` when it is known); ``note`` follows the heading."""
    rows_of_plan = change_rows(plan) if plan is not None else []
    counts = {row["path"]: (row["added"], row["removed"]) for row in rows_of_plan}
    rows = []
    for op, path, from_path in changes:
        added, removed = counts.get(path, (None, None))
        rows.append(
            [
                text(op),
                text(f"{from_path} → {path}" if from_path else path),
                "" if added is None else f"+{added}",
                "" if removed is None else f"-{removed}",
            ]
        )
    heading = f"### Files ({len(rows)}){note}"
    return [heading, "", *table(["Op", "Path", "+", "-"], rows, right=(2, 3))]


def _plan_changes(plan: ChangePlan) -> list[tuple[str, str, str | None]]:
    return [(row["op"], row["path"], row["from"]) for row in change_rows(plan)]


def plan_report(
    command: str,
    plan: ChangePlan,
    decision: Decision,
    diff: Sequence[DiffLine] | None,
    *,
    policy_source: str,
    root: Path,
) -> str:
    """``plan`` / ``show PLAN``: the decision, the plan, the policy that decided, its risk,
    findings, files and diff — its lines that look like secrets withheld, with a note
    (``root``: the workspace, for the policy file's name)."""
    stats = plan.stats
    lines = [
        f"## agentos {command} {code(plan.plan_id)}: {text(decision.decision)}",
        "",
    ]
    if plan.intent:
        lines.append(f"- **Intent:** {text(plan.intent)}")
    lines += [
        f"- **Author:** {text(plan.author)}",
        f"- **Checksum:** {code(plan.changeset.checksum)}",
        f"- **Size:** {stats.files} file(s), +{stats.added_lines} -{stats.removed_lines}",
        policy_line(policy_source, decision.policy_digest, root),
        *risk_lines(decision.risk),
        "",
        *finding_lines(decision.findings),
        "",
        *file_lines(plan, _plan_changes(plan)),
    ]
    if diff:
        from agentos.cli.views.diffmask import mask_secrets, withheld_note

        masked = mask_secrets(diff)
        if masked.withheld:
            lines += ["", withheld_note(masked.withheld)]
        budget = MAX_CHARS - len(document(lines)) - 400
        full = f"agentos show {plan.plan_id} --diff"
        lines += ["", *diff_details(diff_text(masked.lines), budget, full=full)]
    return document(lines)


def check_report(checked: Checked, root: Path) -> str:
    """``check``: the verdict, approvals counted (and those that do not count, with why),
    staleness, risk, findings and files (``root``: the workspace, which the policy file is
    named relative to when it lies inside it)."""
    gate, plan = checked.gate, checked.plan
    decision, status = gate.decision, gate.approvals
    verdict = "stale" if checked.drifted and gate.verdict != "DENY" else gate.verdict
    lines = [
        f"## agentos check {code(plan.plan_id)}: {text(verdict)}",
        "",
        f"- **Decision:** {text(decision.decision)} (verdict {text(gate.verdict)})",
        f"- **Checksum:** {code(decision.checksum)}",
        policy_line(checked.policy_source, decision.policy_digest, root),
        *risk_lines(decision.risk),
    ]
    if decision.decision == "NEED_APPROVAL":
        names = ", ".join(text(a) for a in status.approvers) or "none"
        lines.append(f"- **Approvals:** {len(status.approvers)} of {status.required} ({names})")
        lines += [f"  - not counted: {text(item.line())}" for item in status.not_counted]
    if checked.drifted and gate.verdict != "DENY":
        lines.append("- **Stale:** the workspace changed since the plan was made; plan again")
        lines += [f"  - drifted: {text(d)}" for d in checked.drifted]
    lines += ["", *finding_lines(decision.findings), "", *file_lines(plan, _plan_changes(plan))]
    return document(lines)


def _git_line(git: GitRecorded) -> str:
    """What git recorded of a transaction (``--commit`` / ``--index``)."""
    if git.error is not None:
        return f"- **Git:** not recorded: {text(git.error)}"
    if git.commit is not None:
        earlier = " (made by an earlier run)" if git.found else ""
        return f"- **Git commit:** {code(git.commit)}{earlier}"
    if git.mode == "index" and git.staged:
        return f"- **Git:** staged {len(git.staged)} path(s), not committed (--index)"
    return "- **Git:** nothing to record: git already holds the plan's files"


def _execution_lines(
    result: ApplyResult, plan: ChangePlan | None, git: GitRecorded | None, root: Path
) -> list[str]:
    attempt = f" (attempt {result.attempt})" if result.attempt else ""
    lines = [
        f"## agentos {result.kind} {code(result.plan_id)}: {text(result.status)}",
        "",
        f"- **Execution:** {code(result.execution_id)}{attempt}",
    ]
    if result.parent:
        lines.append(f"- **Undoes:** {code(result.parent)}")
    if result.decision is not None:
        lines.append(f"- **Decision:** {text(result.decision.decision)}")
    if result.policy.get("digest"):
        source, digest = str(result.policy.get("source", "")), str(result.policy["digest"])
        lines.append(
            policy_line(source, digest, root, override=bool(result.policy.get("override")))
        )
    if result.decision is not None:
        lines += risk_lines(result.decision.risk)
    lines.append(f"- **Result:** {text(result.message)}")
    if git is not None and result.status in ("committed", "already_applied"):
        lines.append(_git_line(git))
    undo = undo_command(result.execution_id, git) if result.kind == "apply" else None
    if result.status == "committed" and undo is not None:
        lines.append(f"- **Undo:** {code(undo)}")
    lines += [f"  - drifted: {text(d)}" for d in result.drifted]
    lines += [f"  - warning: {text(w)}" for w in result.warnings]
    if result.decision is not None and result.decision.findings:
        lines += ["", *finding_lines(result.decision.findings)]
    changes = [(f.op, f.path, f.from_path) for f in result.files]
    if changes:
        written = result.status in ("committed", "already_applied")
        note = "" if written else f": workspace unchanged ({text(result.status)})"
        lines += ["", *file_lines(plan, changes, note=note)]
    checks = [("check", c) for c in result.checks]
    checks += [("after rollback", c) for c in result.post_rollback]
    if checks:
        rows = [
            [
                text(f"{c.name} ({label})" if label != "check" else c.name),
                text(c.status),
                str(c.attempts),
                f"{c.duration:.2f}s",
                text(c.message),
            ]
            for label, c in checks
        ]
        heading = ["Check", "Status", "Attempts", "Time", "Message"]
        lines += ["", "### Health checks", "", *table(heading, rows, right=(2, 3))]
    return lines


def applied_report(applied: Applied, plans: Mapping[str, ChangePlan], root: Path) -> str:
    """``apply`` / ``rollback``: each transaction's status, the policy it ran under, what git
    recorded, files and checks (lines added and removed from ``plans``, by plan id, where
    known; ``root``: the workspace, for the policy file's name)."""
    lines: list[str] = []
    for index, result in enumerate(applied.results):
        if lines:
            lines.append("")
        plan = plans.get(result.plan_id)
        lines += _execution_lines(result, plan, applied.git_of(index), root)
    return document(lines)


def markdown_applied(applied: Applied, plans: Mapping[str, ChangePlan], root: Path) -> Outcome:
    """``apply`` / ``rollback --markdown``: their outcome, printed as ``applied_report``."""
    from agentos.cli.views.executions import applied_outcome
    from agentos.cli.views.markdown import as_markdown

    return as_markdown(applied_outcome(applied), lambda: applied_report(applied, plans, root))
