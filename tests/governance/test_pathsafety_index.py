"""Path-safety's collision check, which folds each directory's names once (one index per
directory), against the simple check that folds every sibling for every created path.

Random trees on disk of names that collide in every way ``fold`` knows (case, NFC/NFD, trailing
dots and spaces, code points HFS+ ignores), and random plans creating, deleting and renaming
among them: the findings are the same, in the same order.
"""

from __future__ import annotations

import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agentos.governance.facts import WorkspaceFacts, created_paths, gather_facts
from agentos.governance.pathsafety import _collision_message, fold, path_safety_findings
from agentos.governance.policytest import PolicyCase, case_plan
from agentos.model import ChangePlan, Finding
from agentos.workspace import path_problems

# Names that fold together in groups, and a few that fold alone.
NAMES = [
    "a",
    "A",
    "a.",
    "a ",
    "b.txt",
    "B.TXT",
    "b.txt.",
    unicodedata.normalize("NFC", "\u00e9"),
    unicodedata.normalize("NFD", "\u00e9"),
    "\u00c9",
    "c",
    "c\u200d",
    "ss",
    "\u00df",
    "SS",
    "d",
    "x.py",
]
MARK = "they are the same file on macOS and Windows"


def reference_collisions(plan: ChangePlan, facts: WorkspaceFacts) -> Iterator[Finding]:
    """The simple check: every sibling of every created path's parts, folded each time."""
    removed = {c.path for c in plan.changeset.changes if c.op == "delete"}
    removed |= {c.from_path for c in plan.changeset.changes if c.op == "rename"}
    written = [c.path for c in plan.changeset.changes if c.op != "delete"]
    seen: dict[str, str] = {}
    reported: set[str] = set()
    for path in written:
        if path_problems(path):
            continue
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            other = seen.setdefault(fold(prefix), prefix)
            if other != prefix:
                reported.add(path)
                message = _collision_message(path, prefix, other, "in this changeset")
                yield Finding(rule="path-safety", path=path, severity="DENY", message=message)
                break
    for path in created_paths(plan):
        if path in reported or path_problems(path):
            continue
        parts = path.split("/")
        for end in range(1, len(parts) + 1):
            parent, name = "/".join(parts[: end - 1]), parts[end - 1]
            names = facts.siblings.get(parent, frozenset())
            if name in names:
                continue
            twins = [n for n in sorted(names) if fold(n) == fold(name)]
            twins = [n for n in twins if (f"{parent}/{n}" if parent else n) not in removed]
            if twins:
                existing = f"{parent}/{twins[0]}" if parent else twins[0]
                mine = "/".join(parts[:end])
                message = _collision_message(path, mine, existing, "on disk")
                yield Finding(rule="path-safety", path=path, severity="DENY", message=message)
                break


relative_paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)


@st.composite
def trees_and_plans(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str]]]:
    """Files on disk (a path whose parent is a file is left out) and a plan over them."""
    files: list[str] = []
    for path in draw(st.lists(relative_paths, max_size=25, unique=True)):
        parts = path.split("/")
        prefixes = {"/".join(parts[:end]) for end in range(1, len(parts))}
        if prefixes.isdisjoint(files) and not any(f.startswith(path + "/") for f in files):
            files.append(path)
    changes: dict[str, dict[str, str]] = {}
    for path in draw(st.lists(relative_paths, min_size=1, max_size=25, unique=True)):
        if path not in files:
            changes[path] = {"op": "create", "path": path, "content": "x\n"}
    gone = set()
    for path in draw(st.lists(st.sampled_from(files), unique=True)) if files else []:
        if path in changes or path in gone:
            continue
        gone.add(path)
        if draw(st.booleans()):
            changes[path] = {"op": "delete", "path": path}
        else:
            targets = [p for p in changes if changes[p]["op"] == "create"]
            if targets:
                target = draw(st.sampled_from(targets))
                changes[target] = {"op": "rename", "from": path, "path": target, "content": "y\n"}
    return files, [changes[p] for p in sorted(changes)]


@settings(max_examples=300, deadline=None)
@given(trees_and_plans())
def test_collisions_agree_with_the_simple_check(
    case: tuple[list[str], list[dict[str, str]]],
) -> None:
    files, changes = case
    if not changes:
        return
    plan = case_plan(PolicyCase.model_validate({"name": "c", "changes": changes, "expect": "DENY"}))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for path in files:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text("old\n")
        facts = gather_facts(plan, root)
    found = [f for f in path_safety_findings(plan, facts) if MARK in f.message]
    assert found == list(reference_collisions(plan, facts))


def test_many_creations_beside_many_files_find_the_one_twin(tmp_path: Path) -> None:
    """A directory of many files, a plan of many new ones: exactly the one twin is named."""
    for i in range(500):
        (tmp_path / f"old{i:04d}.txt").write_text("old\n")
    changes = [{"op": "create", "path": f"new{i:04d}.txt", "content": "x\n"} for i in range(500)]
    changes.append({"op": "create", "path": "OLD0250.TXT", "content": "x\n"})
    changes.sort(key=lambda c: c["path"])
    plan = case_plan(PolicyCase.model_validate({"name": "c", "changes": changes, "expect": "DENY"}))
    facts = gather_facts(plan, tmp_path)
    found = [f for f in path_safety_findings(plan, facts) if MARK in f.message]
    assert [(f.path, "old0250.txt" in f.message) for f in found] == [("OLD0250.TXT", True)]
    assert found == list(reference_collisions(plan, facts))
