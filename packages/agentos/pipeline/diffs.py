"""Diffs for review: a plan's own (``show PLAN --diff``) and what an execution changed (``show
EXECUTION_ID --diff``, as ``git show`` shows a commit).

A plan carries its new contents and pins the old ones by hash; when the workspace no longer
holds a pinned pre-image (the plan was applied, or is stale), the old side comes from the
plan's base commit for a plan made from git, else from the backups agentos kept when it
applied the plan, found by hash. An execution's diff is read from
its archived journal: the old side from its backups, the new side from its plan (else from the
workspace or any backup, whichever holds those exact bytes). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from agentos.errors import AgentosError
from agentos.pipeline.context import Context
from agentos.planner.preview import DiffLine, KeptImages, Side

if TYPE_CHECKING:
    from pathlib import Path

    from agentos.audit.folds import ExecutionView
    from agentos.executor.journal import Image, Journal
    from agentos.model import ChangePlan, FileChange
    from agentos.planner.tree import Baseline


def plan_diff(ctx: Context, plan: ChangePlan) -> tuple[DiffLine, ...]:
    """The plan's diff; old sides from the workspace, else from the backups of the plan's
    execution (or any backup of those exact bytes)."""
    from agentos.executor.executions import execution_id_for
    from agentos.planner.preview import plan_diff as diff_of
    from agentos.planner.tree import Baseline

    execution_id = execution_id_for(plan.plan_id, plan.changeset.checksum)
    kept = kept_images(ctx, _archived(ctx, execution_id))
    if plan.base.pre_images == "commit" and plan.base.commit is not None:
        kept = _from_base_commit(ctx, plan, plan.base.commit, kept)
    return tuple(diff_of(plan, Baseline(ctx.workspace.root), kept=kept))


def _from_base_commit(ctx: Context, plan: ChangePlan, commit: str, kept: KeptImages) -> KeptImages:
    """For a plan made from git: its pre-images are the blobs of ``commit``, so they are read
    from git (all of them in one pass, when the first is needed) wherever the workspace no
    longer holds them — a pull request's checkout holds the new side. A repository without
    that commit (a shallow clone) or without git falls back to ``kept``."""
    from agentos.digest import sha256_hex
    from agentos.gitrun import run_git
    from agentos.planner.gitbaseline import GitBaseline

    blobs = GitBaseline(ctx.workspace.root, commit, run_git)
    origin = f"the file in the plan's base commit {commit[:12]}"
    old_paths = [
        c.from_path if c.op == "rename" else c.path
        for c in plan.changeset.changes
        if c.op != "create"
    ]
    broken: list[bool] = []
    fetched: list[bool] = []

    def find(path: str, digest: str) -> Side | None:
        if not broken:
            try:
                if not fetched:  # every old side in one go, the first time one is asked
                    blobs.prefetch(old_paths)
                    fetched.append(True)
                state = blobs.get(path)
            except (AgentosError, OSError):
                broken.append(True)
            else:
                if state is not None and sha256_hex(state.content) == digest:
                    return Side(state.content, state.mode, origin=origin)
        return kept(path, digest)

    return find


def execution_diff(ctx: Context, view: ExecutionView) -> tuple[DiffLine, ...]:
    """What ``view``'s execution changed: from its archived journal (its latest committed
    attempt), else its plan's diff, else a note saying why there is none."""
    from agentos.planner.preview import plan_diff as diff_of
    from agentos.planner.tree import Baseline

    execution_id = str(view.execution_id)
    journal = _archived(ctx, execution_id)
    committed = any(run.status in ("committed", "reverted") for run in view.attempts_list)
    plan = _plan_of(ctx, str(view.plan_id), journal.checksum if journal else None)
    baseline = Baseline(ctx.workspace.root)
    if journal is not None:
        return tuple(_journal_diff(ctx, journal, plan, baseline))
    if not committed:
        return (DiffLine("note", f"(no diff: {execution_id} never committed: it changed nothing)"),)
    pruned = f"the journal and backups of {execution_id} were pruned (executor.backups.keep)"
    if plan is None:
        return (DiffLine("note", f"(no diff: {pruned}, and its plan is not kept)"),)
    lines = diff_of(plan, baseline, kept=kept_images(ctx, None))
    return (DiffLine("note", f"({pruned}; this is its plan's diff)"), *lines)


def kept_images(ctx: Context, journal: Journal | None) -> KeptImages:
    """Find a pre-image agentos backed up, by hash: in ``journal``'s backups first (with the
    mode the journal noted), then in any execution's. A backup that is missing, altered or
    not a regular file is passed over."""
    from agentos.executor.journal import read_backup

    state_dir = ctx.workspace.state_dir
    modes: dict[tuple[str, str], int] = {}
    if journal is not None:
        for entry in journal.entries:
            if entry.before is not None:
                modes[(entry.path, entry.before.sha256)] = entry.before.mode

    def find(path: str, digest: str) -> Side | None:
        from agentos.model import mode_of

        first = [journal.execution_id] if journal is not None else []
        for folder in [*first, *_backup_folders(state_dir / "backups")]:
            try:
                data = read_backup(state_dir, folder, digest)
            except (OSError, AgentosError):
                continue
            mode = modes.get((path, digest)) if folder in first else None
            return Side(data, None if mode is None else mode_of(mode))
        return None

    return find


def _backup_folders(backups: Path) -> Iterator[str]:
    try:
        folders = sorted(p.name for p in backups.iterdir() if not p.is_symlink())
    except OSError:
        return
    yield from folders


def _archived(ctx: Context, execution_id: str) -> Journal | None:
    """The archived journal of a committed execution (None when there is none); a forged
    one is an integrity error, as for ``rollback``."""
    from agentos.executor.journal import archived_path, read_journal

    path = archived_path(ctx.workspace.state_dir, execution_id)
    try:
        return read_journal(ctx.workspace.state_dir, path)
    except FileNotFoundError:
        return None


def _plan_of(ctx: Context, plan_id: str, checksum: str | None) -> ChangePlan | None:
    """The plan stored under ``.agentos/plans/`` with this id (and checksum, when known)."""
    from agentos.planner.planfile import load_plan

    path = ctx.workspace.plans_dir / f"{plan_id}.json"
    if "/" in plan_id or not path.is_file():
        return None
    try:
        plan = load_plan(path)
    except AgentosError:
        return None
    return plan if checksum is None or plan.changeset.checksum == checksum else None


def _journal_diff(
    ctx: Context, journal: Journal, plan: ChangePlan | None, baseline: Baseline
) -> Iterator[DiffLine]:
    from agentos.model import mode_of
    from agentos.planner.preview import file_diff

    kept = kept_images(ctx, journal)
    entries = {entry.path: entry for entry in journal.entries}
    planned = {c.path: c for c in plan.changeset.changes} if plan is not None else {}
    for ref in journal.changes:
        source = ref.from_path if ref.op == "rename" and ref.from_path else ref.path
        notes = []
        before: Side | None = Side(b"")
        if ref.op != "create":
            image = entries[source].before if source in entries else None
            before = kept(source, image.sha256) if image is not None else None
            if before is None:
                notes.append(f"the backup of the pre-image of {source} is missing")
        after: Side | None = None
        if ref.op != "delete":
            image = entries[ref.path].after if ref.path in entries else None
            change = planned.get(ref.path)
            after = _new_side(image, change, baseline, kept, ref.path)
            if after is None:
                notes.append(f"the new content of {ref.path} is kept neither in its plan nor here")
            elif image is not None:
                after = Side(after.content, mode_of(image.mode))
        note = f"(no diff: {'; '.join(notes)})" if notes else ""
        yield from file_diff(ref.op, source, ref.path, before, after, note=note)


def _new_side(
    image: Image | None,
    change: FileChange | None,
    baseline: Baseline,
    kept: KeptImages,
    path: str,
) -> Side | None:
    """The bytes an execution wrote at ``path`` (hash ``image.sha256``): its plan's, else the
    workspace's while it holds them, else a backup's (a later rollback backed them up)."""
    from agentos.digest import sha256_hex

    if image is None:
        return None
    if change is not None and change.op != "delete" and change.sha256 == image.sha256:
        return Side(change.content.to_bytes())
    try:
        state = baseline.get(path)
    except AgentosError:
        state = None
    if state is not None and sha256_hex(state.content) == image.sha256:
        return Side(state.content)
    return kept(path, image.sha256)
