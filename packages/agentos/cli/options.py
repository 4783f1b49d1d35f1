"""The global options every command takes (``-C``, ``--policy``, ``--json``, ``-q``), as the
parameters ``agentos.cli.context.typer_command`` adds to each command's signature."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

GLOBAL_PARAMETERS = [
    inspect.Parameter(
        "workspace_dir",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option(
                "-C",
                "--workspace",
                metavar="DIR",
                help="Workspace directory (default: the nearest folder up from here that "
                "holds .agentos/ or agent/policies/default.yaml, else the git top level).",
                show_default=False,
                file_okay=False,
            ),
        ],
    ),
    inspect.Parameter(
        "policy",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option(
                "--policy",
                metavar="FILE",
                help="Policy file (default: <workspace>/agent/policies/default.yaml, "
                "else the packaged default).",
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "json_output",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--json", help="Print one JSON document on stdout.")
        ],
    ),
    inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")],
    ),
]
