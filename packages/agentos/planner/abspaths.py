"""Absolute paths as agents send them, mapped into the workspace.

Claude Code's ``file_path`` is always absolute, the MCP filesystem server's ``path`` usually
is, and Codex may ``cd`` to an absolute directory. An absolute path inside the workspace root
becomes the relative path every other input uses; one outside it is a ``path-safety`` refusal.

The root is compared as it was given and as it resolves (``/tmp/ws`` and ``/private/tmp/ws``
name one directory on macOS), and a path whose leading directories are a link to the root is
recognised by resolving those leading directories only: nothing below the root is resolved, so
a symbolic link inside the workspace is never followed here (the planner refuses it later).
"""

from __future__ import annotations

from pathlib import Path

from agentos.errors import PathSafetyError
from agentos.workspace import normalise_path

# Leading directories tried when looking for a link to the root; deeper paths are compared as
# written only (each try resolves every component of one prefix).
_MOST_PREFIXES = 64


def workspace_path(raw: str, root: Path, *, source: str) -> str:
    """``raw`` as a normalised path relative to ``root``; ``PathSafetyError`` when it is
    absolute and outside the workspace, or fails the usual path-safety rules."""
    rest = _inside(raw, root, source=source) if raw.startswith("/") else raw
    return normalise_path(rest, source=source)


def workspace_dir(raw: str, root: Path, *, source: str) -> str:
    """A directory given like ``workspace_path`` gives files; the root itself is ``""``."""
    rest = _inside(raw, root, source=source) if raw.startswith("/") else raw
    if all(part in ("", ".") for part in rest.split("/")):
        return ""
    return normalise_path(rest, source=source)


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _inside(raw: str, root: Path, *, source: str) -> str:
    """The part of absolute ``raw`` below ``root``, or ``PathSafetyError``."""
    parts = _parts(raw)
    resolved = root.resolve()
    for base in (str(root), str(resolved)):
        prefix = _parts(base)
        if parts[: len(prefix)] == prefix:
            # What is left may still hold '..': normalise_path refuses it by name.
            return "/".join(parts[len(prefix) :])
    if ".." not in parts:
        # The shortest leading directories that are the root through a link.
        for end in range(1, min(len(parts), _MOST_PREFIXES) + 1):
            try:
                if Path("/" + "/".join(parts[:end])).resolve() == resolved:
                    return "/".join(parts[end:])
            except (OSError, RuntimeError, ValueError):
                break
    raise PathSafetyError(
        f"path-safety: {source}: {raw} is outside the workspace {root}; "
        "agentos only writes inside it",
        details={"path": raw, "workspace": str(root), "rule": "path-safety"},
    )
