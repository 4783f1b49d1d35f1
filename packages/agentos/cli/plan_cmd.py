"""``agentos plan``: build a ChangePlan from diffs, Codex patches, manifests or edit lists."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Literal

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command, current_user
from agentos.cli.render import Outcome
from agentos.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.governance.policy import Policy
    from agentos.model import ChangePlan
    from agentos.planner.plan import PlanInput
    from agentos.planner.tree import PlanLimits

FORMATS = ("auto", "diff", "codex", "manifest", "edits")
# Read in pieces, so a huge limit never allocates in advance what a small input does not need.
_READ_CHUNK = 1 << 24


def read_inputs(names: list[str], fmt: str, *, max_input_bytes: int) -> tuple[PlanInput, ...]:
    """Read every input (``-`` is stdin, read once) into ``PlanInput`` values.

    No input is read past ``max_input_bytes``, nor all of them together: one byte more than
    what is left says it is too large (``InputTooLargeError``), so a huge file or an endless
    stream is never read whole; a regular file is refused by its size without reading it.
    """
    from agentos.planner.plan import PlanInput, input_too_large

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    inputs = []
    stdin_used = False
    left = max_input_bytes
    for name in names:
        size: int | None = None
        if name == "-":
            if stdin_used:
                raise UsageError("'-' (stdin) can be given only once")
            stdin_used = True
            data = read_bounded(sys.stdin.buffer, left + 1)
        else:
            data, size = _read_file(name, left)
        if len(data) > left or (size is not None and size > left):
            used = max_input_bytes - left
            known = used + size if size is not None and size > left else None
            raise input_too_large(name, max_input_bytes, size=known, total=used > 0)
        left -= len(data)
        inputs.append(PlanInput(name=name, data=data, format=fmt))  # type: ignore[arg-type]
    return tuple(inputs)


def _read_file(name: str, left: int) -> tuple[bytes, int | None]:
    """At most ``left + 1`` bytes of the file ``name``, and its size when it is a regular file
    (nothing is read when that size is over ``left``)."""
    try:
        with Path(name).open("rb") as stream:
            info = os.fstat(stream.fileno())
            size = info.st_size if stat.S_ISREG(info.st_mode) else None
            if size is not None and size > left:
                return b"", size
            return read_bounded(stream, left + 1, expect=size or 0), size
    except FileNotFoundError:
        raise UsageError(f"input file {name!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"input {name!r} is a directory; pass a patch file") from None
    except OSError as exc:
        raise UsageError(f"cannot read input {name!r}: {exc.strerror}") from None


def read_bounded(stream: BinaryIO, most: int, *, expect: int = 0) -> bytes:
    """Up to ``most`` bytes of ``stream``: all of it when it is shorter. ``expect``, the size
    it is known to have, lets a file be read in one piece (no copy to join pieces)."""
    chunks: list[bytes] = []
    left = most
    piece = max(_READ_CHUNK, expect + 1)
    while left > 0:
        chunk = stream.read(min(left, piece))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def plan_limits(policy: Policy) -> PlanLimits:
    """The planner's limits, as plain values taken from the policy."""
    from agentos.planner.tree import PlanLimits

    content = policy.writegate.content
    return PlanLimits(
        max_file_bytes=content.max_file_bytes,
        max_input_bytes=content.max_input_bytes,
        max_files_touched=policy.executor.constraints.max_files_touched,
    )


def check_author(author: str) -> str:
    """``author`` when it is a usable name (the rules approvers' names follow), else a
    ``UsageError`` naming ``--author``."""
    from agentos.governance.approvals import approver_name_problem

    problem = approver_name_problem(author)
    if problem is None:
        return author
    if not author.strip():
        problem = "the name is empty"
    raise UsageError(
        f"--author: {problem}; pass the name of the person the change is attributed to "
        "(default: the OS user)"
    )


@command(app, "plan")
def plan(
    opts: GlobalOptions,
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Patch, Codex patch, manifest or edit files; '-' reads stdin.",
            show_default=False,
        ),
    ],
    *,
    input_format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="auto | diff | codex | manifest | edits (default: auto)."
        ),
    ] = "auto",
    intent: Annotated[
        str | None, typer.Option("--intent", help="Why this change is made (kept in the plan).")
    ] = None,
    plan_id: Annotated[
        str | None,
        typer.Option("--plan-id", help="Set the plan id (e.g. a CI build or PR number)."),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option(
            "--author",
            help="Who proposes the change (default: the OS user); in CI, the person it is "
            "attributed to, so they cannot approve it themselves.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Plan file to write (default: .agentos/plans/<plan_id>.json)."
        ),
    ] = None,
    strip: Annotated[
        int | None,
        typer.Option(
            "--strip",
            "-p",
            min=0,
            help="Leading path components to strip from diff file names, like git apply -p "
            "(default: 1, or 0 for plain diffs whose names have no slash).",
        ),
    ] = None,
) -> Outcome:
    """Build a ChangePlan from one or more inputs; never writes workspace files."""
    from agentos.cli.gate_cmd import VERDICT_EXIT, finding_row, render_decision
    from agentos.governance.policyfile import load_policy
    from agentos.planner.plan import PlanRequest
    from agentos.planner.plan import plan as make_plan

    workspace = opts.workspace()
    checked_author = check_author(author if author is not None else current_user())
    policy = load_policy(opts.policy, workspace)
    limits = plan_limits(policy.policy)
    request = PlanRequest(
        workspace=workspace,
        inputs=read_inputs(inputs, input_format, max_input_bytes=limits.max_input_bytes),
        author=checked_author,
        intent=intent,
        plan_id=plan_id,
        strip=strip,
        limits=limits,
    )
    made = make_plan(request, policy, output=output)
    result = plan_result(made.plan, made.plan_file)
    result["decision"] = made.decision.decision
    result["findings"] = [finding_row(f) for f in made.decision.findings]

    def human(out: Console) -> None:
        _render(out, made.plan, made.plan_file)
        render_decision(out, made.decision)

    return Outcome(result=result, exit_code=VERDICT_EXIT[made.decision.decision], human=human)


def plan_result(plan: ChangePlan, plan_file: Path) -> dict[str, Any]:
    """The pinned ``--json`` result of ``agentos plan``."""
    return {
        "plan_id": plan.plan_id,
        "plan_file": str(plan_file),
        "checksum": plan.changeset.checksum,
        "decision": None,
        "intent": plan.intent,
        "author": plan.author,
        "risk": plan.risk.model_dump(mode="json"),
        "stats": {
            "files": plan.stats.files,
            "added_lines": plan.stats.added_lines,
            "removed_lines": plan.stats.removed_lines,
            "bytes": plan.stats.bytes,
        },
        "changes": [change_row(plan, i) for i in range(len(plan.changeset.changes))],
        "sources": [s.model_dump(mode="json") for s in plan.sources],
    }


def change_row(plan: ChangePlan, index: int) -> dict[str, Any]:
    """One change as the JSON results list it: op, path, from, counts."""
    change = plan.changeset.changes[index]
    counts = {f.path: (f.added, f.removed) for f in plan.stats.per_file}
    added, removed = counts.get(change.path, (0, 0))
    row: dict[str, Any] = {"op": change.op, "path": change.path}
    row["from"] = change.from_path if change.op == "rename" else None
    row["added"] = added
    row["removed"] = removed
    return row


OpStyle = Literal["green", "yellow", "red", "cyan"]
OP_STYLES: dict[str, OpStyle] = {
    "create": "green",
    "modify": "yellow",
    "delete": "red",
    "rename": "cyan",
}


def render_changes_table(out: Console, plan: ChangePlan) -> None:
    """The files / ops / +- table shared by ``plan`` and ``show``."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("op")
    table.add_column("path", overflow="fold")
    table.add_column("+", justify="right", style="green")
    table.add_column("-", justify="right", style="red")
    for index, change in enumerate(plan.changeset.changes):
        row = change_row(plan, index)
        name = f"{row['from']} -> {change.path}" if row["from"] else change.path
        table.add_row(
            Text(change.op, style=OP_STYLES[change.op]),
            Text(name),
            str(row["added"]) if row["added"] else "",
            str(row["removed"]) if row["removed"] else "",
        )
    out.print(table)


def _render(out: Console, plan: ChangePlan, plan_file: Path) -> None:
    stats = plan.stats
    out.print(
        f"Planned {plan.plan_id}: {stats.files} file(s), +{stats.added_lines} "
        f"-{stats.removed_lines}, risk {plan.risk.level}"
    )
    render_changes_table(out, plan)
    for reason in plan.risk.reasons:
        out.print(f"  risk {reason.level}: {reason.reason}")
    out.print(f"Plan file: {plan_file}")
    out.print(f"Checksum:  {plan.changeset.checksum}")
    out.print(f"Review it: agentos show {plan_file} --diff")
