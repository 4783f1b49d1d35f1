"""``agentos mcp``: the pipeline as a stdio MCP server (``agentos.mcpserver``)."""

from __future__ import annotations

from typing import Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome


@command("mcp")
def mcp(
    opts: GlobalOptions,
    *,
    actor: Annotated[
        str,
        typer.Option(
            "--actor",
            metavar="NAME",
            help="Who the changes made through this server are attributed to (plans' author, "
            "audit events' actor).",
        ),
    ] = "mcp-client",
) -> Outcome:
    """Serve the pipeline as MCP tools on stdin/stdout until the client disconnects."""
    import importlib.util

    from agentos.errors import UsageError
    from agentos.pipeline.gating import check_author

    if opts.json:
        raise UsageError("agentos mcp speaks MCP on stdout; drop --json")
    if importlib.util.find_spec("mcp") is None:
        raise UsageError(
            "agentos mcp needs the MCP SDK, which is not installed; install it with "
            "pip install 'agentos[mcp]'"
        )
    from agentos.mcpserver.replies import ToolSession
    from agentos.mcpserver.server import run_server

    session = ToolSession(opts.workspace_dir, policy=opts.policy, actor=check_author(actor))
    return Outcome(result={}, exit_code=run_server(session))
