"""``agentos serve``: answer agent hook events over loopback HTTP until stopped.

The server (``agentos.serve``) translates; this command picks the workspace, makes or reads
the token, says where it listens (stderr; with ``--json`` one envelope line on stdout, at
once, so a script can read it while the server runs), and stops on SIGTERM or SIGINT after
the requests in flight (exit 0; a second signal stops at once, exit 130).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.context import EXIT_ABORTED, GlobalOptions, command
from agentos.cli.render import Outcome, envelope, print_info, print_warning
from agentos.hooks.protocols import AGENTS
from agentos.serve import DEFAULT_PORT, hook_path

if TYPE_CHECKING:
    from agentos.governance.policyfile import PolicyCache
    from agentos.serve.server import HookServer
    from agentos.serve.token import Token

DEFAULT_MAX_BYTES = 8 << 20
DEFAULT_READ_TIMEOUT = 10.0


@command("serve")
def serve(
    opts: GlobalOptions,
    *,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            metavar="N",
            min=0,
            max=65535,
            help=f"Loopback port (127.0.0.1 only); 0 picks a free one. Default {DEFAULT_PORT}.",
        ),
    ] = DEFAULT_PORT,
    socket_path: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            metavar="SOCKET",
            help="Listen on this unix socket (made 0600) instead of a port.",
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        int,
        typer.Option(
            "--max-bytes", metavar="N", min=1024, help="Largest event body read (413 beyond)."
        ),
    ] = DEFAULT_MAX_BYTES,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            metavar="SECONDS",
            min=0.1,
            help="Seconds a client may take to send a request (408 beyond) or stay idle.",
        ),
    ] = DEFAULT_READ_TIMEOUT,
    new_token: Annotated[
        bool,
        typer.Option("--new-token", help="Replace the token (clients need the new one)."),
    ] = False,
) -> Outcome:
    """Answer agent hook events over loopback HTTP (POST /hook/AGENT) with a bearer token."""
    from agentos.errors import UsageError
    from agentos.governance.policyfile import PolicyCache
    from agentos.hooks.run import answer
    from agentos.serve.server import HookServer, ServeConfig
    from agentos.serve.token import ensure_token
    from agentos.workspace import Workspace

    if opts.policy is not None:
        raise UsageError(
            "agentos serve answers under the workspace's own policy, as 'agentos hook' does; "
            "drop --policy"
        )
    workspace = Workspace.open(opts.workspace_dir)
    token = ensure_token(workspace, new=new_token)
    cache = PolicyCache(None, workspace)
    root = workspace.root

    def answerer(agent: str, body: bytes) -> Any:
        # Every event is in this one workspace, so one cache serves them all.
        return answer(
            agent,  # type: ignore[arg-type]
            body,
            workspace=root,
            policies=lambda _workspace: cache.current(),
        )

    notice = None if opts.quiet else print_info
    config = ServeConfig(
        workspace=workspace,
        token=token.value,
        port=port,
        socket_path=socket_path.absolute() if socket_path is not None else None,
        max_bytes=max_bytes,
        read_timeout=read_timeout,
    )
    server = HookServer(config, answerer, notice=notice)
    server.bind()
    _check_policy(cache, quiet=opts.quiet)
    started = _started(server, token)

    def announce() -> None:
        if not opts.quiet:
            print_info(
                f"serving hook events for {root} on {server.url} (POST "
                f"/hook/claude|codex|gemini, GET /health); bearer token in {token.path}; "
                "SIGTERM or Ctrl-C stops"
            )
        if opts.json:
            line = envelope(opts.command, exit_code=0, result=started, error=None)
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    forced = _serve_until_signalled(server, announce)
    if not opts.quiet:
        print_info("stopped" if not forced else "stopped at once (second signal)")
    return Outcome(result=started, exit_code=EXIT_ABORTED if forced else 0, streamed=True)


def _started(server: HookServer, token: Token) -> dict[str, Any]:
    """The result keys ``--json`` announces (pinned by tests/cli/test_serve_cli.py)."""
    url = server.url
    tcp = server.port is not None
    return {
        "url": url,
        "port": server.port,
        "socket": None if tcp else str(server.config.socket_path),
        "endpoints": {agent: f"{url if tcp else ''}{hook_path(agent)}" for agent in AGENTS},
        "health": f"{url}/health" if tcp else "/health",
        "token_file": str(token.path),
        "token_created": token.created,
        "workspace": str(server.config.workspace.root),
        "max_bytes": server.config.max_bytes,
        "pid": os.getpid(),
    }


def _check_policy(cache: PolicyCache, *, quiet: bool) -> None:
    """Warn at once when the policy does not load: every event would be blocked."""
    try:
        cache.current()
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        if not quiet:
            print_warning(
                f"the policy does not load ({message}); every event is answered with a "
                "block until it is fixed"
            )


def _serve_until_signalled(server: HookServer, announce: Callable[[], None]) -> bool:
    """Serve until SIGTERM or SIGINT; True when a second signal cut the drain short. The
    handlers are in place before ``announce`` says where it listens: whoever reads that
    may signal at once."""
    received = 0

    def on_signal(signum: int, frame: object) -> None:
        nonlocal received
        received += 1
        server.stop(force=received > 1)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        announce()
        server.serve()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return received > 1
