"""Results are values; this is the one renderer (human text or the ``--json`` envelope).

With ``--json`` stdout carries exactly one JSON document. Human output goes to stdout, errors
and warnings to stderr, colour only where the stream is a terminal and ``NO_COLOR`` is unset.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

ENVELOPE_VERSION = "1"

HumanRenderer = Callable[["Console"], None]


@dataclass
class Outcome:
    """What a command produced: its JSON result, exit code, and how to show it to a person."""

    result: dict[str, Any]
    exit_code: int = 0
    human: HumanRenderer | None = None
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None  # for a result that is also a failure (apply's)
    # The command printed its one JSON document itself, as it started (``serve`` announces
    # where it listens while it runs): nothing is printed again when it returns.
    streamed: bool = False


def envelope(
    command: str,
    *,
    exit_code: int,
    result: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """The versioned JSON envelope every command prints with ``--json`` (SPEC §3)."""
    return {
        "agentos": ENVELOPE_VERSION,
        "command": command,
        "ok": exit_code == 0,
        "exit_code": exit_code,
        "result": result if result is not None else {},
        "error": error,
    }


def print_json(document: dict[str, Any]) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def console(*, stderr: bool = False) -> Console:
    """A rich console that never interprets markup in data, shows the control characters
    of what it prints (``visible``) and follows NO_COLOR / isatty."""
    from rich.console import Console

    from agentos.cli.visible import visible_text_hook

    out = Console(stderr=stderr, highlight=False, markup=False, soft_wrap=True, emoji=False)
    out.push_render_hook(visible_text_hook())
    return out


def print_error(message: str) -> None:
    """The one-line error message on stderr."""
    sys.stderr.write(f"agentos: error: {_shown(message)}\n")
    sys.stderr.flush()


def print_info(message: str) -> None:
    """A one-line progress note on stderr (``agentos: ...``), never on stdout."""
    sys.stderr.write(f"agentos: {_shown(message)}\n")
    sys.stderr.flush()


def print_warning(message: str) -> None:
    """A one-line warning on stderr (also in ``--json`` mode: stdout stays pure JSON)."""
    sys.stderr.write(f"agentos: warning: {_shown(message)}\n")
    sys.stderr.flush()


def _shown(message: str) -> str:
    """A message for stderr, its control characters shown (``visible``)."""
    from agentos.cli.visible import visible

    return visible(message, lines=True)
