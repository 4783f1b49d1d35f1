"""``agentos init``: set a workspace up for agentos (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command, current_user
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.bootstrap import InitReport


@command(app, "init")
def init(opts: GlobalOptions) -> Outcome:
    """Write agent/policies/default.yaml, create .agentos/, add it to .gitignore."""
    from agentos.audit.trail import AuditTrail
    from agentos.bootstrap import init_workspace
    from agentos.statekey import key_file

    workspace = opts.workspace()
    report = init_workspace(workspace)
    # The key that seals .agentos/ lives outside the workspace; made here if it is new.
    key = key_file(workspace.state_dir)
    if report.created:
        AuditTrail(workspace.audit_dir).append(
            "workspace.initialised",
            actor=current_user(),
            data={"created": report.created, "allowed_paths": report.allowed_paths},
        )
    result = {
        "workspace": str(workspace.root),
        "created": report.created,
        "unchanged": report.unchanged,
        "allowed_paths": report.allowed_paths,
        "key": str(key),
    }
    return Outcome(result=result, human=lambda out: _render(out, report, key))


def _render(out: Console, report: InitReport, key: Path) -> None:
    if not report.created:
        out.print("Already initialised; nothing changed.")
        out.print(f"workspace key: {key}", highlight=False)
        return
    for item in report.created:
        out.print(f"created   {item}")
    for item in report.unchanged:
        out.print(f"unchanged {item}")
    if report.allowed_paths:
        out.print(f"allowed_paths: {', '.join(report.allowed_paths)}")
    out.print(
        f"workspace key: {key} (outside the workspace; it seals .agentos/ — keep it private)",
        highlight=False,
    )
    out.print("Next: agentos plan <patch> to plan a change.")
