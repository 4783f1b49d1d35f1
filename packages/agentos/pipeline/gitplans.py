"""Plans made from git (``plan --git`` / ``--staged``), and what ``apply`` says about them.

``git_selection`` checks what a front-end was asked (git or inputs, never both);
``git_source`` reads git's diff and the base commit's files for ``gating.make_plan``;
``with_base_note`` adds to an apply's result that the workspace is not at the commit the plan
was made for (drift is checked per file, so such an apply may still go through).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.errors import UsageError

if TYPE_CHECKING:
    from agentos.executor.options import ApplyResult
    from agentos.gitrun import GitRunner
    from agentos.model import Base, ChangePlan
    from agentos.pipeline.context import Context
    from agentos.planner.gitdiff import GitSelection
    from agentos.planner.inputs import PlanInput
    from agentos.planner.tree import Baseline


def git_selection(
    rev: str | None,
    *,
    staged: bool,
    inputs: Sequence[str] = (),
    input_format: str = "auto",
    strip: int | None = None,
) -> GitSelection | None:
    """What ``--git REV|A..B`` / ``--staged`` ask for (None when neither is given); a
    ``UsageError`` when they come with INPUT arguments or options that only inputs take."""
    if rev is None and not staged:
        return None
    from agentos.planner.gitdiff import parse_selection

    selection = parse_selection(rev, staged=staged)
    option = "--staged" if staged else "--git"
    if inputs:
        raise UsageError(
            f"{option} plans the change git shows, so INPUT arguments cannot be given with it "
            f"(got {len(inputs)}); plan the inputs in a separate 'agentos plan'"
        )
    if input_format not in ("auto", "diff"):
        raise UsageError(f"--format {input_format} names an input format; {option} reads git")
    if strip is not None:
        raise UsageError(f"--strip applies to patch files; {option} reads git's own paths")
    return selection


@dataclass(frozen=True)
class GitSource:
    """What ``make_plan`` plans from git: the diff as its one input, the base commit's files
    as the baseline, and the ``Base`` the plan records."""

    inputs: tuple[PlanInput, ...]
    baseline: Baseline
    base: Base


def git_source(ctx: Context, selection: GitSelection, runner: GitRunner | None = None) -> GitSource:
    """Read git's diff for ``selection`` in the workspace's repository (within the policy's
    ``max_input_bytes``) and the base commit's files; nothing is written."""
    from agentos.gitrun import run_git
    from agentos.governance.settings import plan_limits
    from agentos.model import Base
    from agentos.planner.gitdiff import read_git_change

    limit = plan_limits(ctx.policy.policy).max_input_bytes
    root = ctx.workspace.root
    change = read_git_change(selection, root=root, runner=runner or run_git, max_input_bytes=limit)
    base = Base(git_head=repo_head(root), commit=change.base, pre_images="commit")
    return GitSource(inputs=(change.input,), baseline=change.baseline, base=base)


def repo_head(root: Path) -> str | None:
    """The commit the git checkout holding ``root`` (it or a folder above it) is at, read
    from ``.git`` without running git; None outside a repository."""
    from agentos.workspace import git_head

    for folder in (root, *root.parents):
        if (folder / ".git").exists():
            return git_head(folder)
    return None


def with_base_note(root: Path, plan: ChangePlan, result: ApplyResult) -> ApplyResult:
    """``result`` with a warning when ``plan`` was made for another commit than the one the
    workspace is at. Drift is checked per file, so such a plan applies wherever every file it
    touches holds its pre-image; the warning says so (or, for a stale plan, why its files may
    have moved on). Outside a git checkout the plan's base is only a record: no warning."""
    base = plan.base.commit
    if base is None or result.status not in ("committed", "dry_run", "stale"):
        return result
    head = repo_head(root)
    if head is None or head == base:
        return result
    where = f"the workspace is at commit {head}, not at the plan's base {base}"
    if result.status == "stale":
        note = (
            f"{where}: the files that changed may differ for that reason — apply it to a "
            "checkout of its base, or plan again from this commit"
        )
    else:
        done = "was applied" if result.status == "committed" else "would apply"
        note = (
            f"{where}; every file the plan touches holds its pinned pre-image, so it {done} "
            "(drift is checked per file)"
        )
    return replace(result, warnings=(*result.warnings, note))
