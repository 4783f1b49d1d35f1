"""Reads bounded by the policy (``agentos.pipeline.reads``): what ``agentos mcp``'s read tools
hand an agent, and what they never do."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agentos.errors import InputTooLargeError, ReadRefusedError, UsageError
from agentos.pipeline import open_context, reads
from agentos.pipeline.context import Context
from helpers import trail, write_tree

FILES = {
    "src/app.py": "def main():\n    return 1\n",
    "src/deep/util.py": "X = 1\n",
    "docs/notes.md": "one\ntwo\nthree\n",
    ".env": "TOKEN=secret\n",
    "keys/server.pem": "-----BEGIN-----\n",
    "src/.env.local": "TOKEN=local\n",
}


def ctx_for(root: Path, **writegate: object) -> Context:
    if writegate:
        policy = root / "agent" / "policies" / "default.yaml"
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_text(yaml.safe_dump({"writegate": writegate}))
    return open_context(root, actor="mcp-client")


@pytest.fixture
def ctx(workspace: Path) -> Context:
    write_tree(workspace, FILES)
    return ctx_for(workspace)


def test_a_text_file_is_read_whole_or_in_parts(ctx: Context) -> None:
    assert reads.read_text(ctx, "docs/notes.md").text == "one\ntwo\nthree\n"
    assert reads.read_text(ctx, "docs/notes.md", head=2).text == "one\ntwo\n"
    assert reads.read_text(ctx, "docs/notes.md", tail=1).text == "three\n"
    assert reads.read_text(ctx, "docs/notes.md", tail=0).text == ""
    absolute = str(ctx.workspace.root / "docs" / "notes.md")
    read = reads.read_text(ctx, absolute)
    assert (read.path, read.size) == ("docs/notes.md", 14)
    with pytest.raises(UsageError, match="head or tail, not both"):
        reads.read_text(ctx, "docs/notes.md", head=1, tail=1)


@pytest.mark.parametrize("path", [".env", "keys/server.pem", "src/.env.local", "SRC/../.env"])
def test_forbidden_paths_are_never_read_and_the_attempt_is_recorded(
    ctx: Context, path: str
) -> None:
    with pytest.raises(ReadRefusedError) as refused:
        reads.read_text(ctx, path)
    assert "TOKEN" not in refused.value.message
    assert refused.value.exit_code == 3
    assert [e["data"]["path"] for e in trail(ctx.workspace.root) if e["event"] == "read.refused"]


@pytest.mark.parametrize("path", [".ENV", ".env.", ".e\u200cnv"])
def test_other_spellings_of_a_forbidden_name_are_refused(ctx: Context, path: str) -> None:
    with pytest.raises((ReadRefusedError, UsageError)):
        reads.read_text(ctx, path)


@pytest.mark.parametrize(
    "path", ["../outside.txt", "/etc/passwd", ".git/config", ".agentos/audit/audit.jsonl", ""]
)
def test_paths_outside_the_workspace_or_into_its_machinery_are_refused(
    ctx: Context, path: str
) -> None:
    (ctx.workspace.root / ".git").mkdir()
    (ctx.workspace.root / ".git" / "config").write_text("[core]\n")
    with pytest.raises(ReadRefusedError):
        reads.read_text(ctx, path)


def test_symbolic_links_are_never_followed(ctx: Context, tmp_path: Path) -> None:
    root = ctx.workspace.root
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    (root / "src" / "to_env").symlink_to(root / ".env")
    (root / "linked").symlink_to(outside)
    for path in ("src/to_env", "linked/secret.txt"):
        with pytest.raises(ReadRefusedError, match="symbolic link"):
            reads.read_text(ctx, path)
    with pytest.raises(ReadRefusedError, match="symbolic link"):
        reads.list_directory(ctx, "linked")
    listing = reads.list_directory(ctx, ".")
    assert ("linked", "symlink") in {(e.name, e.kind) for e in listing.entries}
    found = reads.search_files(ctx, ".", "secret.txt")
    assert found.matches == ()


def test_binary_and_oversized_files_are_refused(workspace: Path) -> None:
    write_tree(workspace, {"src/blob.bin": b"\xff\xfe\x00\x01", "src/big.txt": "x" * 4096})
    ctx = ctx_for(workspace, content={"max_file_bytes": 1024})
    with pytest.raises(ReadRefusedError, match="not UTF-8 text"):
        reads.read_text(ctx, "src/blob.bin")
    with pytest.raises(InputTooLargeError, match="head or tail"):
        reads.read_text(ctx, "src/big.txt")
    with pytest.raises(UsageError, match="is a directory"):
        reads.read_text(ctx, "src")
    with pytest.raises(UsageError, match="no such file"):
        reads.read_text(ctx, "src/missing.txt")


def test_listings_leave_out_what_the_policy_forbids(ctx: Context) -> None:
    (ctx.workspace.root / ".agentos").mkdir(exist_ok=True)
    listing = reads.list_directory(ctx, ".")
    names = [e.name for e in listing.entries]
    assert names == ["docs", "keys", "src"]
    assert listing.hidden == 2  # .env and .agentos
    assert [e.name for e in reads.list_directory(ctx, "keys").entries] == []
    assert reads.list_directory(ctx, "keys").hidden == 1
    with pytest.raises(UsageError, match="not a directory"):
        reads.list_directory(ctx, "docs/notes.md")


def test_search_matches_globs_as_policies_write_them(ctx: Context) -> None:
    assert reads.search_files(ctx, ".", "*.py").matches == ("src/app.py", "src/deep/util.py")
    assert reads.search_files(ctx, "src", "deep/*.py").matches == ("deep/util.py",)
    assert reads.search_files(ctx, ".", "*.py", exclude=("deep/",)).matches == ("src/app.py",)
    assert reads.search_files(ctx, ".", ".env*").matches == ()
    assert reads.search_files(ctx, ".", "*.pem").matches == ()
    with pytest.raises(UsageError, match="pattern is empty"):
        reads.search_files(ctx, ".", " ")


def test_a_search_stops_at_its_limit(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(ctx.workspace.root, {f"many/f{i:02}.txt": "x\n" for i in range(12)})
    monkeypatch.setattr(reads, "MAX_MATCHES", 5)
    found = reads.search_files(ctx, "many", "*.txt")
    assert found.truncated and len(found.matches) == 5


NAMES = st.sampled_from(["a.txt", ".env", "x.pem", "id_rsa", "notes.md", ".ssh", "sub"])


@given(st.lists(st.lists(NAMES, min_size=1, max_size=3).map("/".join), min_size=1, max_size=6))
def test_a_read_returns_the_bytes_on_disk_or_is_refused_by_the_policy(paths: list[str]) -> None:
    from agentos.governance.policy import Policy
    from agentos.patterns import PathPatterns

    forbidden = PathPatterns(Policy().writegate.forbidden_paths, fold_case=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        written: dict[str, str] = {}
        for path in paths:
            target = root / path
            if any(p.exists() and not p.is_dir() for p in target.parents) or target.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path + "\n")
            written[path] = path + "\n"
        ctx = open_context(root, actor="t")
        for path, content in written.items():
            if forbidden.matches(path):
                with pytest.raises(ReadRefusedError):
                    reads.read_text(ctx, path)
            else:
                assert reads.read_text(ctx, path).text == content
        listed = reads.search_files(ctx, ".", "*").matches
        assert [m for m in listed if forbidden.matches(m)] == []
