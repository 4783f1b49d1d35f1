"""What the WriteGate needs to know about the disk, read once so that the gate stays pure.

``gather_facts`` is the only part of the gate that touches the file system. It never follows a
symlink and never looks at a path whose string is unsafe (an absolute path or ``..`` would
send it outside the workspace).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agentos.digest import sha256_hex
from agentos.model import ChangePlan
from agentos.workspace import path_problems


@dataclass(frozen=True)
class WorkspaceFacts:
    """Disk facts about the paths a plan touches.

    ``symlinks``: paths (or leading parts of them) that are symlinks on disk.
    ``siblings``: for each parent directory of a path the plan creates, the names already in it.
    ``pre_images``: the current bytes of files the plan modifies, deletes or renames, when they
    still match the pinned hash (used to count changed lines without trusting the plan's stats).
    ``policy_path``: the policy file's path relative to the workspace, when it lies inside it.
    """

    symlinks: frozenset[str] = frozenset()
    siblings: dict[str, frozenset[str]] = field(default_factory=dict)
    pre_images: dict[str, bytes] = field(default_factory=dict)
    policy_path: str | None = None


def plan_paths(plan: ChangePlan) -> list[str]:
    """Every path the plan touches, rename sources included, in plan order."""
    paths: list[str] = []
    for change in plan.changeset.changes:
        if change.op == "rename":
            paths.append(change.from_path)
        paths.append(change.path)
    return paths


def created_paths(plan: ChangePlan) -> list[str]:
    """Paths that do not exist before the plan: creations and rename targets."""
    return [c.path for c in plan.changeset.changes if c.op in ("create", "rename")]


def gather_facts(
    plan: ChangePlan, root: Path, *, policy_file: Path | None = None
) -> WorkspaceFacts:
    """Read what the gate needs about ``plan``'s paths under ``root`` (never following links)."""
    # A dict: in plan order for the disk walk, and a constant-time membership test below.
    safe = dict.fromkeys(p for p in plan_paths(plan) if not path_problems(p))
    symlinks = _symlinks(root, safe)
    siblings: dict[str, frozenset[str]] = {}
    for path in created_paths(plan):
        if path_problems(path):
            continue
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            parent = "/".join(parts[: end - 1])
            if parent in siblings or parent in symlinks:
                continue
            try:
                siblings[parent] = frozenset(entry.name for entry in (root / parent).iterdir())
            except OSError:
                break
    pre_images: dict[str, bytes] = {}
    for change in plan.changeset.changes:
        if change.op == "create":
            continue
        source = change.from_path if change.op == "rename" else change.path
        if source in safe and not _under(source, symlinks):
            data = _read_regular(root / source)
            if data is not None and sha256_hex(data) == change.old_sha256:
                pre_images[source] = data
    return WorkspaceFacts(
        symlinks=frozenset(symlinks),
        siblings=siblings,
        pre_images=pre_images,
        policy_path=relative_inside(policy_file, root),
    )


def _symlinks(root: Path, paths: Iterable[str]) -> set[str]:
    found: set[str] = set()
    checked: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            if prefix in checked:
                if prefix in found:
                    break
                continue
            checked.add(prefix)
            try:
                mode = os.lstat(root / prefix).st_mode
            except OSError:
                break
            if stat.S_ISLNK(mode):
                found.add(prefix)
                break
            if not stat.S_ISDIR(mode):
                break
    return found


def _under(path: str, prefixes: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:end]) in prefixes for end in range(1, len(parts) + 1))


def _read_regular(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def relative_inside(path: Path | None, root: Path) -> str | None:
    """``path`` relative to ``root`` in POSIX form, or None when it lies outside (or is None)."""
    if path is None:
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None
