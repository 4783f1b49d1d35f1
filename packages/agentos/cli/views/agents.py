"""Rows and text of the agent front-end's commands (``sweep``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.executor.agentwrites import AgentRecord
    from agentos.pipeline.results import Swept


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
                out.print(f"  {bypass.change:<9} {bypass.path}")
        if swept.accepted and report.changed:
            out.print("accepted: the workspace as it is now is the new baseline")

    return Outcome(result=result, exit_code=exit_code, human=human)
