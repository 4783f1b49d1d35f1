"""The built-in ``path-safety`` rule (SPEC §6.1): paths no policy can allow.

Three sources of danger, all DENY:
- the string itself (absolute, ``..``, control characters, drive and UNC forms, ``.git/`` or
  ``.agentos/`` at any depth, over-long names) — ``workspace.path_problems``;
- the disk: a path whose leading part is a symlink would write outside what it names;
- the changeset: a path under a file the same plan writes, and names that collide once case
  is folded, Unicode is normalised, trailing dots and spaces are dropped (Windows) or the
  code points HFS+ ignores are removed (macOS): the same file there, two in git.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from agentos.governance.facts import WorkspaceFacts, created_paths, plan_paths
from agentos.model import ChangePlan, Finding
from agentos.workspace import HFS_IGNORABLE, path_problems

RULE = "path-safety"


def path_safety_findings(plan: ChangePlan, facts: WorkspaceFacts) -> Iterator[Finding]:
    """Every path-safety finding of ``plan``, in plan order."""
    paths = plan_paths(plan)
    for path in paths:
        problems = path_problems(path)
        if problems:
            yield _deny(path, f"path {path!r} {'; '.join(problems)}")
            continue
        link = _symlink_prefix(path, facts.symlinks)
        if link == path:
            yield _deny(path, f"{path} is a symlink on disk; agentos never writes through links")
        elif link is not None:
            yield _deny(
                path, f"{path} lies under {link}, which is a symlink on disk (it could escape)"
            )
    yield from _under_written_files(plan)
    written = [c.path for c in plan.changeset.changes if c.op != "delete"]
    yield from _collisions(plan, written, facts)


def _deny(path: str, message: str) -> Finding:
    return Finding(rule=RULE, path=path, severity="DENY", message=message)


def _symlink_prefix(path: str, symlinks: frozenset[str]) -> str | None:
    if not symlinks:
        return None
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if prefix in symlinks:
            return prefix
    return None


def _under_written_files(plan: ChangePlan) -> Iterator[Finding]:
    """A path below a file that the same changeset writes (or moves, perhaps a link) earlier."""
    written: set[str] = set()
    for change in plan.changeset.changes:
        parts = change.path.split("/")
        for end in range(1, len(parts)):
            prefix = "/".join(parts[:end])
            if prefix in written:
                yield _deny(
                    change.path,
                    f"{change.path} lies under {prefix}, which this same changeset writes as a "
                    "file; a file cannot be a directory",
                )
                break
        if change.op != "delete":
            written.add(change.path)


def fold(name: str) -> str:
    """The form two names (or paths) share when a file system treats them as one.

    Case and Unicode normalisation (macOS, Windows), the code points HFS+ ignores (macOS) and
    trailing dots and spaces (Windows): ``A.txt``, ``a.txt.`` and ``a\\u200c.txt`` are one file.
    """
    nfc = unicodedata.normalize("NFC", HFS_IGNORABLE.sub("", name))
    folded = unicodedata.normalize("NFC", nfc.casefold())
    # A name of only dots and spaces ("...") keeps its spelling rather than folding to "".
    return "/".join(part.rstrip(". ") or part for part in folded.split("/"))


def _collisions(plan: ChangePlan, written: list[str], facts: WorkspaceFacts) -> Iterator[Finding]:
    """Names that fold together among the files the plan leaves, or with a file on disk.

    Only what exists afterwards counts: a case-only rename (``README.MD`` -> ``README.md``)
    leaves one file, not two.
    """
    removed = {c.path for c in plan.changeset.changes if c.op == "delete"}
    removed |= {c.from_path for c in plan.changeset.changes if c.op == "rename"}
    folded = _Folds()
    seen: dict[str, str] = {}
    reported: set[str] = set()
    for path in written:
        if path_problems(path):
            continue
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            other = seen.setdefault(folded(prefix), prefix)
            if other != prefix:
                reported.add(path)
                yield _deny(path, _collision_message(path, prefix, other, "in this changeset"))
                break
    on_disk = _FoldedSiblings(facts.siblings, folded)
    for path in created_paths(plan):
        if path in reported or path_problems(path):
            continue
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            parent, name = "/".join(parts[: end - 1]), parts[end - 1]
            twins = on_disk.twins(parent, name)
            twins = [n for n in twins if (f"{parent}/{n}" if parent else n) not in removed]
            if twins:
                existing = f"{parent}/{twins[0]}" if parent else twins[0]
                yield _deny(
                    path, _collision_message(path, "/".join(parts[:end]), existing, "on disk")
                )
                break


class _Folds:
    """``fold``, remembered: a plan's paths share their directories, folded once each."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        known = self._known.get(name)
        if known is None:
            known = self._known[name] = fold(name)
        return known


class _FoldedSiblings:
    """The names already in each directory, grouped by their folded form: each directory is
    indexed once, the first time a created path asks about it, so creating N files beside N
    others folds 2N names rather than N x N."""

    def __init__(self, siblings: dict[str, frozenset[str]], folded: _Folds) -> None:
        self._siblings = siblings
        self._folded = folded
        self._index: dict[str, dict[str, list[str]]] = {}

    def twins(self, parent: str, name: str) -> list[str]:
        """The other names in ``parent`` that fold like ``name``, sorted; none when ``name``
        itself is there (the path exists: nothing new is created at this level)."""
        names = self._siblings.get(parent, frozenset())
        if name in names:
            return []
        index = self._index.get(parent)
        if index is None:
            index = {}
            for sibling in sorted(names):
                index.setdefault(fold(sibling), []).append(sibling)
            self._index[parent] = index
        return index.get(self._folded(name), [])


def _collision_message(path: str, mine: str, other: str, where: str) -> str:
    mine_nfc, other_nfc = (unicodedata.normalize("NFC", n) for n in (mine, other))
    if mine_nfc == other_nfc:
        kind = "Unicode normalisation (NFC/NFD)"
    elif mine_nfc.casefold() == other_nfc.casefold():
        kind = "case"
    else:
        kind = (
            "case, Unicode normalisation, trailing dots or spaces (Windows drops them) or "
            "invisible code points (macOS ignores them)"
        )
    shown = f"{mine!a}" if not mine.isascii() else mine
    other_shown = f"{other!a}" if not other.isascii() else other
    target = "" if mine == path else f" (in {path})"
    return (
        f"{shown}{target} and {other_shown} {where} differ only by {kind}; they are the same "
        "file on macOS and Windows — use one spelling"
    )
