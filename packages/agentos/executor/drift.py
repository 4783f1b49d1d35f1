"""The drift check before writing and the verification after (SPEC §8.3, §9).

Drift: every pre-image the plan pinned must still be on disk byte for byte, and every path it
creates must still be absent; otherwise nothing is written and each drifted file is named.
Verification: every written path holds its post-image hash and exact mode, deleted paths are
gone — checked against the journal, which records both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentos.errors import WriteRefusedError
from agentos.executor.fsops import FileState, Guard, WorkspaceWriter
from agentos.executor.journal import Journal
from agentos.model import MODE_EXECUTABLE, ChangePlan, FileChange


@dataclass
class DriftReport:
    """What the disk holds for the plan's paths, and what no longer matches."""

    current: dict[str, FileState | None] = field(default_factory=dict)
    drifted: list[str] = field(default_factory=list)
    holds_post_images: bool = False


# The plan's verb for each operation, as drift messages say it ("the plan modifies it").
VERBS = {"create": "creates", "modify": "modifies", "delete": "deletes", "rename": "moves"}


class _Unreadable(Exception):
    """The path holds something agentos does not read (already reported as drifted)."""


def _read(writer: WorkspaceWriter, path: str, report: DriftReport) -> FileState | None:
    """The file at ``path``; ``_Unreadable`` once a refusal was reported for it."""
    try:
        state = writer.read(path)
    except WriteRefusedError as exc:
        report.current[path] = None
        report.drifted.append(f"{path}: {exc.details.get('reason', exc.message)}")
        raise _Unreadable from None
    except IsADirectoryError:
        report.current[path] = None
        report.drifted.append(f"{path}: it is a directory now")
        raise _Unreadable from None
    report.current[path] = state
    return state


def is_post_image(change: FileChange, state: FileState | None) -> bool:
    """True when ``state`` is what ``change`` leaves at ``change.path``."""
    if change.op == "delete":
        return state is None
    return (
        state is not None
        and state.sha256 == change.sha256
        and bool(state.mode & 0o100) == (change.mode == MODE_EXECUTABLE)
    )


def _pins(change: FileChange) -> list[tuple[str, str | None, str]]:
    """What the plan expects before it runs: (path, pinned pre-image or None for absent,
    what the plan does there, as drift messages say it)."""
    if change.op == "rename":
        return [
            (change.from_path, change.old_sha256, "moves it"),
            (change.path, None, "moves a file there"),
        ]
    if change.op == "create":
        return [(change.path, None, "creates it")]
    return [(change.path, change.old_sha256, f"{VERBS[change.op]} it")]


def check_drift(plan: ChangePlan, writer: WorkspaceWriter) -> DriftReport:
    """Compare the disk with the plan's pre-images (and, for replays, its post-images)."""
    report = DriftReport()
    post = True
    for change in plan.changeset.changes:
        for path, pinned, does in _pins(change):
            try:
                state = _read(writer, path, report)
            except _Unreadable:
                post = False
                continue
            if path == change.path:
                post = post and is_post_image(change, state)
            else:  # a rename's source is gone once the plan ran
                post = post and state is None
            if pinned is None:
                if state is not None:
                    report.drifted.append(f"{path}: it exists now (the plan {does})")
            elif state is None:
                report.drifted.append(f"{path}: it is gone (the plan {does})")
            elif state.sha256 != pinned:
                report.drifted.append(f"{path}: it changed since the plan was made")
    report.holds_post_images = post
    return report


def pending_drift(root: Path, plan: ChangePlan) -> DriftReport:
    """``check_drift`` outside any transaction (``agentos check``): read-only, no lock, so a
    stale plan is named before anyone tries to apply it (apply checks again, under the lock)."""
    from agentos.executor.journal import new_tag

    reader = WorkspaceWriter(root, Guard(("**",), ()), tag=new_tag(), durable=False)
    return check_drift(plan, reader)


def not_post_images(plan: ChangePlan, writer: WorkspaceWriter) -> list[str]:
    """The plan's paths that do not hold what it leaves there (read-only; for replays)."""
    changed = []
    for change in plan.changeset.changes:
        try:
            if change.op == "rename" and writer.read(change.from_path) is not None:
                changed.append(change.from_path)
            if not is_post_image(change, writer.read(change.path)):
                changed.append(change.path)
        except (WriteRefusedError, OSError):
            changed.append(change.path)
    return changed


def verify_against_journal(journal: Journal, writer: WorkspaceWriter) -> list[str]:
    """Every way the disk differs from what the journal says the execution leaves: exact
    bytes and exact permission bits, absent paths absent (empty when it verifies). Run after
    the writes, and again after the health checks."""
    problems = []
    for entry in journal.entries:
        try:
            state = writer.read(entry.path)
        except (WriteRefusedError, OSError) as exc:
            reason = exc.details.get("reason") if isinstance(exc, WriteRefusedError) else None
            problems.append(f"{entry.path} {reason or 'is not a regular file'}")
            continue
        if entry.after is None:
            if state is not None:
                problems.append(f"{entry.path} still exists")
        elif state is None:
            problems.append(f"{entry.path} is missing")
        elif state.sha256 != entry.after.sha256:
            problems.append(f"{entry.path} does not hold the planned content")
        elif state.mode != entry.after.mode:
            problems.append(
                f"{entry.path} has mode {oct(state.mode)[2:]}, not {oct(entry.after.mode)[2:]}"
            )
    return problems
