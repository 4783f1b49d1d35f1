"""Plans from git: ``plan --git A..B``, ``--git REV`` and ``--staged``.

The change is git's own diff of the range, asked for with a fixed configuration (binary
patches, full blob ids, ``-M`` renames, modes; no external diff, textconv or colour) and read
by the diff planner like any patch. Its pre-images are pinned to the blobs of the range's
first commit (``GitBaseline``), not to the working tree, so the plan applies to a checkout of
that commit — the commit it records as its ``base``.

- ``A..B``: from commit A to commit B (an empty side is ``HEAD``, as in git);
  ``A...B``: from the merge base of A and B to B (what a pull request changes);
- ``REV``: from commit REV to the working tree (tracked files, as ``git diff REV``);
- ``--staged``: from ``HEAD`` to the index (as ``git diff --staged``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentos.errors import UsageError
from agentos.gitrun import Git, GitRunner
from agentos.planner.gitbaseline import GitBaseline, plan_git
from agentos.planner.inputs import PlanInput, input_too_large

GitMode = Literal["range", "worktree", "staged"]

# Settings for the diff commands: the output the diff planner parses whatever the user's or
# the repository's configuration says — C-quoted names, ``a/`` ``b/`` prefixes, renames; the
# working tree read as it is (no fsmonitor hook, no line-ending check that could fail).
DIFF_CONFIG: tuple[str, ...] = (
    "core.quotepath=true",
    "core.fsmonitor=false",
    "core.safecrlf=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "diff.renames=true",
    "diff.suppressBlankEmpty=false",
    "diff.submodule=short",
)

# Git's plumbing (``diff-tree``, ``diff-index``) prints what ``git diff`` prints, reads none
# of the porcelain's configuration and, unlike ``git diff``, never refreshes the index.
DIFF_OPTIONS: tuple[str, ...] = (
    "-p",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--binary",
    "--full-index",
    "-M",
    "-U3",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    # Paths relative to the workspace, which may be a folder inside the repository.
    "--relative",
    # A submodule's new commit is a change (agentos refuses it); its untracked files are not.
    "--ignore-submodules=dirty",
)


@dataclass(frozen=True)
class GitSelection:
    """What to plan from git, as asked: ``old`` and ``new`` revisions (``new`` for ranges
    only), and whether the range starts at their merge base (``A...B``)."""

    mode: GitMode
    old: str
    new: str | None = None
    merge_base: bool = False
    spec: str = ""

    @property
    def option(self) -> str:
        """The option that asked for it, as messages name it."""
        return "--staged" if self.mode == "staged" else f"--git {self.spec!r}"


def parse_selection(rev: str | None, *, staged: bool) -> GitSelection:
    """``--git REV|A..B|A...B`` or ``--staged`` as a ``GitSelection`` (``UsageError`` when
    both or neither is given, or the range is empty)."""
    if staged:
        if rev is not None:
            raise UsageError(
                "--git and --staged cannot be combined; --staged plans the index against HEAD"
            )
        return GitSelection(mode="staged", old="HEAD", spec="--staged")
    if rev is None or not rev.strip():
        raise UsageError("--git needs a revision (REV) or a range (A..B or A...B)")
    dots = "..." if "..." in rev else ".." if ".." in rev else None
    if dots is None:
        return GitSelection(mode="worktree", old=rev, spec=rev)
    old, _, new = rev.partition(dots)
    if not old and not new:
        raise UsageError(f"--git {rev!r}: name at least one side of the range (A..B)")
    return GitSelection(
        mode="range", old=old or "HEAD", new=new or "HEAD", merge_base=dots == "...", spec=rev
    )


@dataclass(frozen=True)
class GitChange:
    """A change read from git, ready to plan: the diff as an input, the commit its
    pre-images come from (a full id), and that commit's files as the baseline."""

    input: PlanInput
    base: str
    baseline: GitBaseline
    selection: GitSelection


def read_git_change(
    selection: GitSelection, *, root: Path, runner: GitRunner, max_input_bytes: int
) -> GitChange:
    """Resolve the revisions in the repository at ``root`` and read git's diff of
    ``selection`` (no more than ``max_input_bytes``); nothing is written."""
    git = plan_git(root, runner, selection.option)
    where = git.run("rev-parse", "--show-prefix")
    if where.returncode != 0:
        raise git.not_in_git("repository", where.reason())
    base = _commit(selection, selection.old, git)
    if selection.mode == "staged":
        args = ["diff-index", *DIFF_OPTIONS, "--cached", base]
        name = f"git diff --staged {base}"
    elif selection.mode == "worktree":
        args = ["diff-index", *DIFF_OPTIONS, base]
        name = f"git diff {base}"
    else:
        new = _commit(selection, selection.new or "HEAD", git)
        if selection.merge_base:
            base = _merge_base(selection, base, new, git)
        args = ["diff-tree", "-r", *DIFF_OPTIONS, base, new]
        name = f"git diff {base} {new}"
    out = git.run(*args, config=DIFF_CONFIG, limit=max_input_bytes)
    if out.overflow:
        raise input_too_large(name, max_input_bytes)
    if out.returncode != 0:
        raise UsageError(f"{selection.option}: {name} failed: {out.reason()}")
    if not out.stdout.strip():
        raise UsageError(f"{selection.option}: git shows no difference ({name}); nothing to plan")
    return GitChange(
        input=PlanInput(name=name, data=out.stdout, format="diff"),
        base=base,
        baseline=GitBaseline(root, base, runner, selection.option),
        selection=selection,
    )


def _commit(selection: GitSelection, rev: str, git: Git) -> str:
    """The full id of the commit ``rev`` names, or a ``UsageError`` naming ``rev``."""
    out = git.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    oid = out.stdout.decode("ascii", "replace").strip()
    if out.returncode == 0 and oid:
        return oid
    if selection.mode == "staged":
        raise UsageError(
            "--staged: HEAD names no commit yet (the repository has no commit); commit "
            "first, or plan from a patch file"
        )
    raise git.unknown_revision(rev)


def _merge_base(selection: GitSelection, old: str, new: str, git: Git) -> str:
    out = git.run("merge-base", old, new)
    oid = out.stdout.decode("ascii", "replace").strip()
    if out.returncode == 0 and oid:
        return oid
    raise UsageError(
        f"{selection.option}: the two sides have no common ancestor (no merge base); "
        "name the commit to start from with A..B"
    )
