"""WorkspaceWriter refuses the names macOS and Windows open as a forbidden file or as .git.

Below the WriteGate the writer judges a path with the same ``path_problems`` and
``PathPatterns`` (SPEC §6.1, §12): a caller that skipped the gate must not reach ``.env``
through ``.env ``, ``.env.``, ``.e\\u200cnv`` or ``.env::$DATA``, nor ``.git`` or
``.agentos`` through the code points HFS+ ignores, NTFS streams or 8.3 short names — and
``allowed_paths`` must not widen by the same folding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.errors import WriteRefusedError
from agentos.executor.fsops import Guard, WorkspaceWriter
from pathaliases import aliased

FORBIDDEN = Guard(allowed=("**",), forbidden=(".env", "**/*.key", "secrets/**"))


def operations(w: WorkspaceWriter, rel: str) -> dict[str, Callable[[], object]]:
    """Every operation of the writer that takes a file path, bound to ``rel``."""
    return {
        "check": lambda: w.check(rel),
        "read": lambda: w.read(rel),
        "exists": lambda: w.exists(rel),
        "write_temp": lambda: w.write_temp(rel, b"payload\n", 0o644),
        "fsync_temps": lambda: w.fsync_temps([rel]),
        "replace": lambda: w.replace(rel),
        "unlink": lambda: w.unlink(rel),
        "remove_temp": lambda: w.remove_temp(rel, "w"),
    }


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("rel", "pattern"),
    [
        (".env ", ".env"),
        (".env. .", ".env"),
        (".e\u200cnv", ".env"),
        ("sub/.ENV\ufeff", ".env"),
        (".env::$DATA", ".env"),
        ("a/b.key.", "**/*.key"),
        ("a/b.KEY ", "**/*.key"),
        ("a/b.ke\u200dy", "**/*.key"),
        ("secrets./x", "secrets/**"),
        ("Secret\u206as/x", "secrets/**"),
    ],
)
def test_forbidden_names_are_refused_in_every_spelling(
    tmp_path: Path, rel: str, pattern: str
) -> None:
    (tmp_path / ".env").write_bytes(b"TOKEN=1\n")
    w = WorkspaceWriter(tmp_path, FORBIDDEN, tag="t1")
    for name, operation in operations(w, rel).items():
        with pytest.raises(WriteRefusedError, match="forbidden path") as info:
            operation()
        assert info.value.details["reason"] == f"it matches forbidden path {pattern!r}", name
    assert tree(tmp_path) == [".env"]
    assert (tmp_path / ".env").read_bytes() == b"TOKEN=1\n"


@pytest.mark.parametrize(
    ("rel", "problem"),
    [
        (".g\u200cit/config", "is inside a .git directory"),
        (".git\ufeff/HEAD", "is inside a .git directory"),
        ("sub/.GI\u206fT/hooks/pre-commit", "is inside a .git directory"),
        (".git::$INDEX_ALLOCATION/config", "is inside a .git directory"),
        ("git~1::$INDEX_ALLOCATION/config", "is inside a .git directory"),
        (".agent\u200dos/journal/x.json", "is inside agentos's own .agentos directory"),
        ("AGENTO~1/lock", "is inside agentos's own .agentos directory"),
    ],
)
def test_aliases_of_git_and_agentos_are_refused_even_for_rmdir(
    tmp_path: Path, rel: str, problem: str
) -> None:
    w = WorkspaceWriter(tmp_path, Guard(allowed=("**",), forbidden=()), tag="t1")
    for name, operation in operations(w, rel).items():
        with pytest.raises(WriteRefusedError, match="refused to write") as info:
            operation()
        assert problem in info.value.details["reason"], name
    with pytest.raises(WriteRefusedError, match=problem):
        w.rmdir(rel)
    assert tree(tmp_path) == []


@pytest.mark.parametrize("rel", ["src./a.py", "src /a.py", "s\u200crc/a.py", "SRC/a.py"])
def test_allowed_paths_are_not_widened_by_folding(tmp_path: Path, rel: str) -> None:
    w = WorkspaceWriter(tmp_path, Guard(allowed=("src/**",), forbidden=()), tag="t1")
    w.check("src/a.py")
    with pytest.raises(WriteRefusedError, match="allowed_paths"):
        w.write_temp(rel, b"x\n", 0o644)
    assert tree(tmp_path) == []


@given(
    st.sampled_from([".env", ".git", ".agentos"]).flatmap(aliased),
    st.sampled_from(["", "sub/", "a/b/"]),
    st.sampled_from(["", "/x"]),
)
def test_no_alias_of_env_git_or_agentos_is_ever_writable(
    spelled: str, prefix: str, suffix: str
) -> None:
    # check() never touches the disk, so the root need not exist.
    w = WorkspaceWriter(Path("/nonexistent"), FORBIDDEN, tag="t1")
    with pytest.raises(WriteRefusedError):
        w.check(prefix + spelled + suffix)
