"""The global options every command takes (``-C``, ``--policy``, ``--json``, ``-q``), as the
parameters ``agentos.cli.context.typer_command`` adds to each command's signature."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer


def _named_directory(value: str | None) -> str | None:
    """``-C DIR`` as given (a string: as a ``Path``, an empty one would be the current
    directory): an empty one, or a file, is a usage error."""
    if value is None:
        return None
    if not value.strip():
        raise typer.BadParameter("-C needs a directory, not an empty string (here: -C .)")
    if Path(value).is_file():
        raise typer.BadParameter(f"dir {value!r} is a file.")
    return value


GLOBAL_PARAMETERS = [
    inspect.Parameter(
        "workspace_dir",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "-C",
                "--workspace",
                metavar="DIR",
                help="Workspace directory (default: the nearest folder up from here that "
                "holds .agentos/ or agent/policies/default.yaml, else the git top level).",
                show_default=False,
                callback=_named_directory,
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
