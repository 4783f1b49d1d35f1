"""``agentos hook AGENT`` and ``agentos sweep``: the agent front-end's commands.

``hook`` is answered before typer is even imported (``run_hook``, called by the console
script): an agent pays for it on every tool call. It is registered here too, so that it is
listed and documented like every other command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

EXIT_USAGE = 2
EXIT_DENIED = 3


def run_hook(
    args: list[str],
    *,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``agentos hook AGENT [-C DIR]``: answer the event on ``stdin``; the exit code the agent
    reads. A command line it cannot read is answered as a block too (exit 2 + stderr)."""
    from agentos.hooks.protocols import AGENTS, fail_closed
    from agentos.hooks.run import answer

    out = stdout or sys.stdout
    err = stderr or sys.stderr
    agent, workspace, problem = _hook_args(args)
    if problem is not None or agent not in AGENTS:
        reason = problem or f"unknown agent {agent!r}; use one of {', '.join(AGENTS)}"
        reply = fail_closed("claude", f"agentos hook: {reason}; the tool call was blocked")
    else:
        data = (stdin or sys.stdin.buffer).read()
        reply = answer(agent, data, workspace=workspace)
    out.write(reply.stdout)
    out.flush()
    err.write(reply.stderr)
    err.flush()
    return reply.exit_code


def _hook_args(args: list[str]) -> tuple[str, Path | None, str | None]:
    """``(agent, workspace, problem)`` of ``hook``'s arguments (after the word ``hook``)."""
    agent = ""
    workspace = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-C", "--workspace"):
            if not rest:
                return agent, workspace, f"{arg} needs a directory"
            workspace = Path(rest.pop(0))
        elif arg.startswith("--workspace="):
            workspace = Path(arg.split("=", 1)[1])
        elif arg.startswith("-") or agent:
            return agent, workspace, f"unexpected argument {arg!r}"
        else:
            agent = arg
    if not agent:
        return agent, workspace, "name the agent: claude, codex or gemini"
    return agent, workspace, None


@command("hook")
def hook(
    opts: GlobalOptions,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="claude | codex | gemini")],
) -> Outcome:
    """Answer one agent hook event (JSON on stdin) in that agent's protocol; fail closed."""
    args = [agent, "-C", str(opts.workspace_dir)] if opts.workspace_dir != Path() else [agent]
    return Outcome(result={}, exit_code=run_hook(args))


@command("sweep")
def sweep(
    opts: GlobalOptions,
    *,
    accept: Annotated[
        bool,
        typer.Option(
            "--accept",
            help="After reporting, take the workspace as it is as the new baseline "
            "(the changes were reviewed).",
        ),
    ] = False,
) -> Outcome:
    """Report files changed without going through agentos since the last baseline."""
    from agentos.cli.views.agents import sweep_outcome
    from agentos.pipeline.agents import sweep as sweep_workspace

    ctx = opts.context()
    swept = sweep_workspace(ctx, accept=accept)
    blocking = ctx.policy.policy.agents.bypass == "block"
    code = EXIT_DENIED if swept.report.changed and blocking and not accept else 0
    return sweep_outcome(swept, exit_code=code)
