"""The undo hint after an ``apply``: the rollback that undoes it, recorded in git as the
apply was."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentos.pipeline.results import GitRecorded


def undo_hint(execution_id: str, git: GitRecorded | None) -> str | None:
    """``Undo it with: <undo_command>``, or None."""
    command = undo_command(execution_id, git)
    return None if command is None else f"Undo it with: {command}"


def undo_command(execution_id: str, git: GitRecorded | None) -> str | None:
    """How to undo an apply: the rollback, recorded in git as the apply was. After
    ``--index``, the apply's staged paths are unstaged first (``rollback --index`` refuses
    an index with staged changes); none after a git failure (its error says how)."""
    import shlex

    if git is None:
        return f"agentos rollback {execution_id}"
    if git.error is not None:
        return None
    if git.mode == "index" and git.staged:
        paths = " ".join(shlex.quote(p) for p in git.staged)
        return f"git restore --staged -- {paths} && agentos rollback {execution_id}"
    return f"agentos rollback {execution_id} --{git.mode}"
