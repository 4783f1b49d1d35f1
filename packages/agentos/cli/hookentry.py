"""``agentos hook AGENT [-C DIR]`` as the console script runs it: without typer or rich.

An agent runs the hook on every tool call, so the console script hands it here before the CLI
framework is imported. The answer's bytes and exit code are the agent's protocol
(``agentos.hooks``); a command line this cannot read is answered as a block too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, TextIO


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
        try:
            data = (stdin or sys.stdin.buffer).read()
            reply = answer(agent, data, workspace=workspace)
        except BaseException as exc:  # even here: a hook that fails must block
            reply = fail_closed(
                "claude", f"agentos hook failed ({exc!r}); the tool call was blocked"
            )
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
        if arg in ("-C", "--workspace") or arg.startswith("--workspace="):
            value = arg.split("=", 1)[1] if "=" in arg else rest.pop(0) if rest else ""
            if not value.strip():  # an empty one would be the current directory
                return agent, workspace, f"{arg.split('=', 1)[0]} needs a directory"
            workspace = Path(value)
        elif arg in ("--json", "-q", "--quiet"):
            continue  # the answer is the agent's protocol, whatever these ask
        elif arg == "--policy" or arg.startswith("--policy="):
            return agent, workspace, "the hook runs under the workspace's own policy; drop --policy"
        elif arg.startswith("-") or agent:
            return agent, workspace, f"unexpected argument {arg!r}"
        else:
            agent = arg
    if not agent:
        return agent, workspace, "name the agent: claude, codex or gemini"
    return agent, workspace, None
