"""Agent front-ends: ``integrate`` and ``doctor``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.hooks.doctor import Diagnosis
    from agentos.hooks.install import Integrated

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
    if done.command is not None and done.events:
        out.print(f"  {', '.join(done.events)} -> {done.command}", highlight=False)
    if done.backup is not None:
        out.print(f"  previous file kept in {done.backup}", highlight=False)
    if done.changed and done.command is not None and done.agent == "codex":
        out.print(
            "  Codex runs a new or changed hook only once you trust it (/hooks in Codex), "
            "and project hooks only in a trusted project."
        )
    if done.changed and done.command is not None:
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
