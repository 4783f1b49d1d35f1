"""The overlay's net changeset: renames found, no-ops dropped, conflicts refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos.digest import sha256_hex
from agentos.errors import ConflictError
from agentos.planner.tree import Baseline, FileState, Overlay
from helpers import write_tree


def _overlay(root: Path, files: dict[str, str]) -> Overlay:
    write_tree(root, dict(files))
    return Overlay(Baseline(root))


def _ops(overlay: Overlay) -> list[tuple[str, str]]:
    changes, _ = overlay.changes()
    return [(c.op, c.path) for c in changes]


def test_move_becomes_a_rename_pinned_to_the_source(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"a.txt": "one\n"})
    state = overlay.get("a.txt")
    assert state is not None
    overlay.delete("a.txt")
    overlay.write("b/c.txt", state, origin="a.txt", added=0, removed=0, what="t")
    changes, _ = overlay.changes()
    assert len(changes) == 1
    rename = changes[0]
    assert rename.op == "rename"
    assert (rename.from_path, rename.path) == ("a.txt", "b/c.txt")
    assert rename.old_sha256 == sha256_hex(b"one\n")


def test_move_onto_an_existing_file_is_modify_plus_delete(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"a": "new\n", "b": "old\n"})
    state = overlay.get("a")
    assert state is not None
    overlay.delete("a")
    overlay.write("b", state, origin="a", added=0, removed=0, what="t")
    assert _ops(overlay) == [("delete", "a"), ("modify", "b")]


def test_swap_is_two_modifies(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"a": "A\n", "b": "B\n"})
    a, b = overlay.get("a"), overlay.get("b")
    assert a is not None and b is not None
    overlay.write("a", b, origin="b", added=0, removed=0, what="t")
    overlay.write("b", a, origin="a", added=0, removed=0, what="t")
    assert _ops(overlay) == [("modify", "a"), ("modify", "b")]


def test_create_then_delete_and_edit_then_revert_are_no_ops(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"keep": "same\n"})
    overlay.write("tmp", FileState(b"x", "100644"), origin=None, added=1, removed=0, what="t")
    overlay.delete("tmp")
    original = overlay.get("keep")
    assert original is not None
    overlay.write(
        "keep", FileState(b"changed\n", "100644"), origin="keep", added=1, removed=1, what="t"
    )
    overlay.write("keep", original, origin="keep", added=1, removed=1, what="t")
    assert _ops(overlay) == []


def test_mode_only_change_is_a_modify(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"run.sh": "echo\n"})
    overlay.write(
        "run.sh", FileState(b"echo\n", "100755"), origin="run.sh", added=0, removed=0, what="t"
    )
    changes, _ = overlay.changes()
    assert changes[0].op == "modify"
    assert changes[0].mode == "100755"


def test_delete_and_recreate_is_a_modify(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"a": "old\n"})
    overlay.delete("a")
    overlay.write("a", FileState(b"new\n", "100644"), origin=None, added=1, removed=0, what="t")
    assert _ops(overlay) == [("modify", "a")]


def test_file_cannot_replace_directory_or_live_under_a_file(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"dir/x": "1\n", "file": "2\n"})
    with pytest.raises(ConflictError, match="is a directory"):
        overlay.write("dir", FileState(b"", "100644"), origin=None, added=0, removed=0, what="t")
    with pytest.raises(ConflictError, match="is a file"):
        overlay.write(
            "file/inner", FileState(b"", "100644"), origin=None, added=0, removed=0, what="t"
        )
    overlay.write("new/deep/f", FileState(b"", "100644"), origin=None, added=0, removed=0, what="t")
    with pytest.raises(ConflictError, match="is a directory"):
        overlay.write(
            "new/deep", FileState(b"", "100644"), origin=None, added=0, removed=0, what="t"
        )


def test_changes_are_sorted_and_counted(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"z": "1\n2\n", "m": "x\n"})
    overlay.write("a", FileState(b"1\n2\n3\n", "100644"), origin=None, added=3, removed=0, what="t")
    overlay.delete("z")
    overlay.write("m", FileState(b"y\n", "100644"), origin="m", added=1, removed=1, what="t")
    changes, counts = overlay.changes()
    assert [c.path for c in changes] == ["a", "m", "z"]
    assert counts == {"a": (3, 0), "m": (1, 1), "z": (0, 2)}
