"""``agentos hook AGENT`` and ``agentos sweep``: the agent front-end's commands.

``hook`` is answered before typer is even imported (``hookentry.run_hook``, called by the
console script): an agent pays for it on every tool call. It is registered here too, so that
it is listed and documented like every other command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.hookentry import run_hook
from agentos.cli.render import Outcome

EXIT_DENIED = 3


@command("hook")
def hook(
    opts: GlobalOptions,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="claude | codex | gemini")],
) -> Outcome:
    """Answer one agent hook event (JSON on stdin) in that agent's protocol; fail closed."""
    args = [agent] if opts.workspace_arg is None else [agent, "-C", str(opts.workspace_arg)]
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
