"""Where ``agentos plan -o FILE`` may write its plan: never over a file the plan is not.

A plan file written with ``-o`` must not replace anything else: not one of the plan's inputs,
not a file the plan changes (its own pre-image), not agentos's state under ``.agentos/``
(only ``.agentos/plans/`` holds plans), not the policy, nothing under ``.git/``, and no
existing file but an earlier plan file (a CI job re-running with the same ``-o``). Paths are
compared resolved: ``-o`` is relative to the working directory, the plan's paths to the
workspace root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.errors import UsageError

if TYPE_CHECKING:
    from agentos.model import ChangePlan
    from agentos.pipeline.context import Context

# How much of an existing file is read to tell a plan file: agentos writes a plan's
# ``format`` key first (``{"format": "agentos.plan/1", ...``).
_HEAD = 512
_PLAN_HEAD = re.compile(rb'\A\s*\{\s*"format"\s*:\s*"agentos\.plan/')


def check_output(output: Path, inputs: list[Path]) -> None:
    """A ``UsageError`` naming ``--output`` when the plan could not be written there, or would
    overwrite one of its own ``inputs`` (checked before anything is planned)."""
    if output.is_dir():
        raise UsageError(f"--output {str(output)!r} is a directory; name a file in it")
    folder = output.parent
    if not folder.is_dir():
        raise UsageError(
            f"--output {str(output)!r}: the folder {str(folder)!r} does not exist; create it "
            "or name a file in an existing folder"
        )
    for source in inputs:
        if str(source) != "-" and source.exists() and output.exists() and source.samefile(output):
            raise UsageError(
                f"--output {str(output)!r} is the input {str(source)!r}: the plan would "
                "overwrite it; name another file"
            )


def check_output_target(ctx: Context, output: Path) -> None:
    """A ``UsageError`` when ``output`` is agentos's state (but ``.agentos/plans/``), the
    policy, under ``.git/``, or an existing file that is not a plan file (checked before
    anything is planned)."""
    target = _resolved(output)
    workspace = ctx.workspace
    root = _resolved(workspace.root)
    state = _resolved(workspace.state_dir)
    if _inside(target, state) and not _inside(target, _resolved(workspace.plans_dir)):
        _refuse(output, "is agentos's own state under .agentos/ (only .agentos/plans/ holds plans)")
    policies = [workspace.policy_path]
    if ctx.policy_path is not None:
        policies.append(ctx.policy_path)
    if any(target == _resolved(policy) for policy in policies):
        _refuse(output, "is the policy file")
    if _inside(target, root) and ".git" in target.relative_to(root).parts:
        _refuse(output, "is inside git's own folder (.git/)")
    if target.exists() and not is_plan_file(target):
        _refuse(output, "exists and is not a plan file")


def check_output_changes(output: Path, root: Path, plan: ChangePlan) -> None:
    """A ``UsageError`` when ``output`` is a file ``plan`` changes (checked once the plan is
    made, before it is written)."""
    target = _resolved(output)
    for path in _changed_paths(plan):
        if target == _resolved(root / path):
            _refuse(output, f"is {path!r}, a file this plan changes")


def is_plan_file(path: Path) -> bool:
    """Whether ``path`` looks like a plan file agentos wrote: a regular file whose JSON
    starts with the plan's ``format`` key (``agentos.plan/``); only its head is read."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD)
    except OSError:
        return False
    return _PLAN_HEAD.match(head.removeprefix(b"\xef\xbb\xbf")) is not None


def _changed_paths(plan: ChangePlan) -> Iterable[str]:
    for change in plan.changeset.changes:
        yield change.path
        if change.op == "rename":
            yield change.from_path


def _refuse(output: Path, why: str) -> None:
    raise UsageError(
        f"--output {str(output)!r} {why}: the plan file would overwrite it; name another "
        "file (default: .agentos/plans/<plan_id>.json)"
    )


def _resolved(path: Path) -> Path:
    """``path`` absolute, its links resolved (as far as they exist)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return path.absolute()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
