"""``agentos init``: set a workspace up for agentos (idempotent)."""

from __future__ import annotations

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome


@command("init")
def init(opts: GlobalOptions) -> Outcome:
    """Write agent/policies/default.yaml, create .agentos/, add it to .gitignore."""
    from agentos.cli.views.records import init_result, render_init
    from agentos.pipeline.queries import init as init_workspace

    done = init_workspace(opts.context())
    return Outcome(result=init_result(done), human=lambda out: render_init(out, done))
