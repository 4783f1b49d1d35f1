"""``agentos integrate`` and ``agentos doctor``: install agentos's hooks into an agent's
settings, and prove that they really block a forbidden write."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

# Beyond the policy's agents.lock_timeout, what a hook may take to plan and gate a write; an
# agent's hook timeout must be longer than both, or the agent gives up on agentos and lets
# the write through.
PLANNING_MARGIN_SECONDS = 5.0
# ``doctor`` exits 1 when a check fails (like 'policy test' when a case fails).
EXIT_CHECK_FAILED = 1


@command("integrate")
def integrate(
    opts: GlobalOptions,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="claude | codex | gemini")],
    *,
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            metavar="project|user",
            help="project: <workspace>/.claude/settings.json, .codex/hooks.json or "
            ".gemini/settings.json; user: the same under $HOME.",
        ),
    ] = "project",
    remove: Annotated[
        bool, typer.Option("--remove", help="Take agentos's hooks out; keep everything else.")
    ] = False,
    command_prefix: Annotated[
        str | None,
        typer.Option(
            "--command",
            metavar="CMD",
            help="How the agent runs agentos ('hook AGENT' is appended); default: agentos "
            "when it is the agentos on PATH, else this agentos's absolute path.",
            show_default=False,
        ),
    ] = None,
    http: Annotated[
        bool,
        typer.Option(
            "--http",
            help="Claude Code only: http handlers posting to 'agentos serve' instead of "
            "command hooks (the token from $AGENTOS_SERVE_TOKEN).",
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="With --http: the server's address (default http://127.0.0.1:7345).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Install agentos's hooks into an agent's settings file (idempotent; --remove undoes)."""
    from agentos.cli.views.agents import integrated_result, render_integrated
    from agentos.clock import system_clock
    from agentos.errors import UsageError
    from agentos.hooks.httphooks import DEFAULT_URL
    from agentos.hooks.install import check_choice
    from agentos.hooks.install import integrate as install_hooks
    from agentos.workspace import Workspace

    check_choice(agent, scope)
    if command_prefix is not None and not command_prefix.strip():
        raise UsageError("--command is empty; give how to run agentos (e.g. /usr/bin/agentos)")
    if url is not None and not http:
        raise UsageError("--url goes with --http (the address of 'agentos serve')")
    if http and command_prefix is not None:
        raise UsageError("--command is for command hooks; with --http give --url instead")
    # User scope never touches the workspace: -C is only read for project scope.
    root = Workspace.open(opts.workspace_dir).root if scope == "project" else Path.cwd()
    done = install_hooks(
        root,
        Path.home(),
        agent,
        scope=scope,
        remove=remove,
        prefix=command_prefix,
        url=(url or DEFAULT_URL) if http else None,
        stamp=system_clock().strftime("%Y%m%dT%H%M%SZ"),
    )
    return Outcome(result=integrated_result(done), human=lambda out: render_integrated(out, done))


@command("doctor")
def doctor(opts: GlobalOptions) -> Outcome:
    """Check the workspace and every integrated agent; a canary write must be refused.

    Exits 0 when no check fails (warnings allowed), 1 when one does."""
    from agentos.cli.views.agents import diagnosis_result, render_diagnosis
    from agentos.hooks.doctor import diagnose

    ctx = opts.context()
    budget = ctx.policy.policy.agents.lock_timeout + PLANNING_MARGIN_SECONDS
    found = diagnose(ctx, home=Path.home(), hook_budget_s=budget)
    return Outcome(
        result=diagnosis_result(found),
        exit_code=EXIT_CHECK_FAILED if found.failures else 0,
        human=lambda out: render_diagnosis(out, found),
    )
