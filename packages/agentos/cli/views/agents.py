"""Rows and text of the agent front-end's commands: ``integrate``, ``doctor``, ``sweep``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentos.cli.render import Outcome
from agentos.cli.visible import visible

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.executor.agentwrites import AgentRecord
    from agentos.hooks.doctor import Diagnosis
    from agentos.hooks.install import Integrated
    from agentos.pipeline.results import Swept

_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def integrated_result(done: Integrated) -> dict[str, Any]:
    """``integrate``."""
    return {
        "agent": done.agent,
        "scope": done.scope,
        "file": str(done.file),
        "action": done.action,
        "changed": done.changed,
        "command": done.command,
        "url": done.url,
        "events": list(done.events),
        "backup": None if done.backup is None else str(done.backup),
    }


def render_integrated(out: Console, done: Integrated) -> None:
    """``integrate``: what changed in which file, where the old one is kept, what next."""
    messages = {
        "installed": f"installed agentos's hooks in {done.file}",
        "updated": f"updated agentos's hooks in {done.file}",
        "unchanged": f"already integrated; {done.file} unchanged",
        "removed": f"removed agentos's hooks from {done.file}",
        "absent": f"no agentos hooks in {done.file}; nothing changed",
    }
    out.print(f"{done.agent}: {messages[done.action]}", highlight=False)
    target = done.command or done.url
    if target is not None and done.events:
        out.print(f"  {', '.join(done.events)} -> {target}", highlight=False)
    if done.backup is not None:
        out.print(f"  previous file kept in {done.backup}", highlight=False)
    if done.changed and done.command is not None and done.agent == "codex":
        out.print(
            "  Codex runs a new or changed hook only once you trust it (/hooks in Codex), "
            "and project hooks only in a trusted project."
        )
    if done.url is not None:
        out.print(
            "  Start 'agentos serve' and, where Claude Code starts, export "
            'AGENTOS_SERVE_TOKEN="$(cat .agentos/serve/token)" (Claude Code sends an empty '
            "token without it); 'onFailure: block' blocks writes while the server is down "
            "(Claude Code 2.1.295 or later)."
        )
    if done.changed and (done.command is not None or done.url is not None):
        out.print("Next: agentos doctor, to prove that a forbidden write is refused.")


def diagnosis_result(found: Diagnosis) -> dict[str, Any]:
    """``doctor``."""
    return {
        "checks": [
            {
                "name": c.name,
                "status": c.status,
                "detail": c.detail,
                "agent": c.agent,
                "scope": c.scope,
            }
            for c in found.checks
        ],
        "integrations": [
            {"agent": i.agent, "scope": i.scope, "file": str(i.file), "commands": list(i.commands)}
            for i in found.integrations
        ],
        "failures": found.failures,
        "warnings": found.warnings,
    }


def render_diagnosis(out: Console, found: Diagnosis) -> None:
    """``doctor``: one line per check (status, name, why), then the counts."""
    from rich.text import Text

    width = max((len(c.name) for c in found.checks), default=0)
    for check in found.checks:
        line = Text(f"{check.status:<5}", style=_STYLES.get(check.status, ""))
        line.append(f" {check.name:<{width}}  {check.detail}")
        out.print(line)
    passed = len(found.checks) - found.failures - found.warnings
    summary = f"{passed} ok, {found.warnings} warning(s), {found.failures} failed"
    out.print(Text(summary, style="red" if found.failures else "green"))


def record_row(record: AgentRecord) -> dict[str, Any]:
    """An agent write recorded as an execution."""
    return {
        "execution_id": record.execution_id,
        "plan_id": record.plan_id,
        "status": record.status,
        "files": [f.model_dump(mode="json", by_alias=True) for f in record.files],
        "diverged": list(record.diverged),
    }


def sweep_outcome(swept: Swept, *, exit_code: int) -> Outcome:
    """``sweep``: the files changed outside agentos, and the agent writes settled first."""
    report = swept.report
    result = {
        **report.row(),
        "accepted": swept.accepted,
        "recorded": [record_row(r) for r in swept.records],
    }

    def human(out: Console) -> None:
        for record in swept.records:
            note = f" (diverged: {', '.join(record.diverged)})" if record.diverged else ""
            out.print(f"recorded agent write {record.execution_id}{note}")
        if report.baseline_taken:
            out.print(f"no baseline yet: took one of {report.files} files; nothing to compare")
        elif not report.changed:
            out.print(
                f"nothing changed outside agentos since {report.baseline_at} ({report.files} files)"
            )
        else:
            out.print(f"changed outside agentos since {report.baseline_at}:")
            for bypass in report.changed:
                out.print(f"  {bypass.change:<9} {visible(bypass.path)}")
        if swept.accepted and report.changed:
            out.print("accepted: the workspace as it is now is the new baseline")

    return Outcome(result=result, exit_code=exit_code, human=human)
