"""Fuzzing every input parser through the in-process CLI (SPEC §12, hostile input).

Acceptance: whatever bytes ``agentos plan`` is given — garbage, truncated or miscounted hunks,
patches for files that are not there, binary junk, mutated valid diffs, Codex patches,
manifests and edit lists — with ``--format auto`` or a forced format, it either plans (0) or
refuses with a one-line error: 2 (cannot parse), 5 (does not apply), or 3 only for the built-in
``path-safety`` rule. Never a traceback, never an internal error (70), never a changed
workspace file, and never a write outside the workspace.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import PERMISSIVE_POLICY, CliResult, read_tree, write_tree

FORMATS = ("auto", "diff", "codex", "manifest", "edits")
# A few hundred examples in all by default; HYPOTHESIS_PROFILE=thorough scales them up.
EXAMPLES = max(10, settings().max_examples * 3 // 5)
FUZZ = settings(max_examples=EXAMPLES)

BASE: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "a.txt": "hello\nworld\n",
    "src/m.py": "def a():\n    return 1\n\ndef b():\n    return 1\n",
    "run.sh": ("#!/bin/sh\necho hi\n", "100755"),
    "blob.bin": b"bin\x00\x01\x02data",
    "crlf.txt": b"one\r\ntwo\r\n",
    "docs/readme.md": "# Title\n\nSome text.\nMore text.\n",
}

GIT_DIFF = b"""diff --git a/a.txt b/a.txt
--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,3 @@
 hello
-world
+there
+again
diff --git a/src/m.py b/src/m.py
--- a/src/m.py
+++ b/src/m.py
@@ -1,3 +1,3 @@
 def a():
-    return 1
+    return 10
\x20
@@ -4,2 +4,2 @@ def a():
 def b():
-    return 1
+    return 20
diff --git a/new/file.txt b/new/file.txt
new file mode 100644
--- /dev/null
+++ b/new/file.txt
@@ -0,0 +1,2 @@
+first
+second
\\ No newline at end of file
diff --git a/docs/readme.md b/docs/readme.md
deleted file mode 100644
--- a/docs/readme.md
+++ /dev/null
@@ -1,4 +0,0 @@
-# Title
-
-Some text.
-More text.
diff --git a/run.sh b/bin/run.sh
old mode 100755
new mode 100644
similarity index 100%
rename from run.sh
rename to bin/run.sh
"""

PLAIN_DIFF = b"""--- a.txt
+++ a.txt
@@ -1,2 +1,2 @@
-hello
+HELLO
 world
"""

CRLF_DIFF = b"""--- a/crlf.txt
+++ b/crlf.txt
@@ -1,2 +1,2 @@
 one\r
-two\r
+2\r
"""

BINARY_DIFF = b"""diff --git a/blob.bin b/blob.bin
index ba87d548be26685c9d5fb78651807ae81bc55dd9..fce0411e9fec235aaadeee3f64322569647ca151 100644
GIT binary patch
literal 19
acmYew%wu3=PDw0DR7lKAQOM0NN(BHn6b1eO

literal 10
RcmYew%wu3=N=Yn91ON{U0@nZl

diff --git a/new.bin b/new.bin
new file mode 100644
index 0000000000000000000000000000000000000000..e16438d31fa709966c53280d1fdd33e5fc883475
GIT binary patch
literal 8
Pcmc~xEoVr}%t-|R4HW|G

literal 0
HcmV?d00001

"""

CODEX = b"""*** Begin Patch
*** Add File: new/codex.txt
+made by codex
*** Update File: src/m.py
@@ def b():
-    return 1
+    return 2
*** Update File: a.txt
*** Move to: moved/a.txt
@@
 hello
-world
+moved
*** End of File
*** Delete File: docs/readme.md
*** End Patch
"""

MANIFEST_YAML = b"""intent: fuzz seed
changes:
  - {op: create, path: new/m.txt, content: "made\\n"}
  - {op: modify, path: a.txt, content: "replaced\\n", mode: "100755"}
  - {op: create, path: logo.bin, content_base64: "AAEC/w=="}
  - {op: delete, path: docs/readme.md}
  - {op: rename, from: run.sh, path: bin/run.sh}
"""

MANIFEST_JSON = json.dumps(
    {
        "changes": [
            {"op": "modify", "path": "src/m.py", "content": "pass\n"},
            {"op": "rename", "from": "crlf.txt", "path": "lf.txt", "content": "one\ntwo\n"},
        ]
    },
    indent=1,
).encode()

EDITS_JSON = json.dumps(
    [
        {"path": "a.txt", "old_string": "world", "new_string": "there"},
        {
            "path": "src/m.py",
            "old_string": "return 1",
            "new_string": "return 0",
            "replace_all": True,
        },
        {"path": "new.txt", "old_string": "", "new_string": "fresh\n"},
    ],
    indent=1,
).encode()

EDITS_YAML = b"""intent: edit seed
edits:
  - path: docs/readme.md
    old_string: "Some text."
    new_string: "Other text."
"""

SEEDS: dict[str, bytes] = {
    "git_diff": GIT_DIFF,
    "plain_diff": PLAIN_DIFF,
    "crlf_diff": CRLF_DIFF,
    "binary_diff": BINARY_DIFF,
    "codex": CODEX,
    "manifest_yaml": MANIFEST_YAML,
    "manifest_json": MANIFEST_JSON,
    "edits_json": EDITS_JSON,
    "edits_yaml": EDITS_YAML,
}
SEED_FORMATS = {
    "git_diff": "diff",
    "plain_diff": "diff",
    "crlf_diff": "diff",
    "binary_diff": "diff",
    "codex": "codex",
    "manifest_yaml": "manifest",
    "manifest_json": "manifest",
    "edits_json": "edits",
    "edits_yaml": "edits",
}

# Lines that look like parts of patches, including hostile ones aimed at the sentinel.
VOCABULARY = (
    "diff --git a/a.txt b/a.txt",
    "diff --git a/../outside/x b/../outside/x",
    "diff --git a/link/x b/link/x",
    '"diff --git "a/\\303\\251" "b/\\303\\251"',
    "--- a/a.txt",
    "+++ b/a.txt",
    "--- /dev/null",
    "+++ /dev/null",
    "+++ b/../outside/pwned",
    "--- a/src/m.py",
    "+++ b/src/m.py",
    "@@ -1,2 +1,2 @@",
    "@@ -1 +1 @@",
    "@@ -0,0 +1,3 @@",
    "@@ -4,2 +4,2 @@ def a():",
    "@@ -99999999999999999999,1 +1 @@",
    "@@ -1,-1 +1,1 @@",
    " hello",
    " world",
    "-world",
    "+there",
    "-    return 1",
    "+    return 2",
    "\\ No newline at end of file",
    "new file mode 100755",
    "new file mode 120000",
    "deleted file mode 100644",
    "old mode 100644",
    "new mode 100755",
    "similarity index 90%",
    "rename from a.txt",
    "rename to ../outside/renamed",
    "copy from a.txt",
    "copy to c.txt",
    "index 0000000..e69de29",
    "GIT binary patch",
    "literal 5",
    "delta 3",
    "zcmXp",
    "HcmV?d00001",
    "",
    "*** Begin Patch",
    "*** End Patch",
    "*** Add File: x.txt",
    "*** Add File: ../outside/pwned",
    "*** Add File: link/through",
    "*** Update File: a.txt",
    "*** Update File: missing.txt",
    "*** Delete File: a.txt",
    "*** Delete File: docs",
    "*** Move to: ../outside/moved",
    "*** Move to: b.txt",
    "*** End of File",
    "@@",
    "@@ def b():",
    "<<'EOF'",
    "EOF",
    "changes:",
    "  - {op: create, path: x, content: y}",
    "  - {op: create, path: ../outside/x, content: y}",
    "  - {op: modify, path: a.txt, content: y, mode: 0755}",
    "  - {op: delete, path: link/x}",
    "  - {op: rename, from: a.txt, path: /etc/x}",
    "edits:",
    "- {path: a.txt, old_string: hello, new_string: bye}",
    "- {path: a.txt, old_string: '', new_string: x}",
    '[{"path": "a.txt", "old_string": "o", "new_string": "0"}]',
    '{"changes": [{"op": "delete", "path": "a.txt"}]}',
    "intent: x",
    "&a [*a]",
    "- !!python/object:os.system [echo pwned]",
)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` after 1-4 random byte- or line-level mutations."""
    data = seed
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(
            st.sampled_from(
                (
                    "delete_bytes",
                    "duplicate_bytes",
                    "insert_bytes",
                    "truncate",
                    "delete_line",
                    "duplicate_line",
                    "swap_lines",
                    "replace_line",
                    "insert_line",
                    "change_digit",
                )
            )
        )
        if kind in ("delete_bytes", "duplicate_bytes", "insert_bytes", "truncate"):
            at = draw(st.integers(min_value=0, max_value=len(data)))
            size = draw(st.integers(min_value=1, max_value=16))
            if kind == "delete_bytes":
                data = data[:at] + data[at + size :]
            elif kind == "duplicate_bytes":
                data = data[:at] + data[at : at + size] + data[at:]
            elif kind == "insert_bytes":
                data = data[:at] + draw(st.binary(min_size=1, max_size=size)) + data[at:]
            else:
                data = data[:at]
        elif kind == "change_digit":
            digits = [m.start() for m in re.finditer(rb"[0-9]", data)]
            if digits:
                at = draw(st.sampled_from(digits))
                data = data[:at] + draw(st.sampled_from(b"0123456789-")).to_bytes() + data[at + 1 :]
        else:
            lines = data.split(b"\n")
            index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            if kind == "delete_line":
                del lines[index]
            elif kind == "duplicate_line":
                lines.insert(index, lines[index])
            elif kind == "swap_lines":
                other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
                lines[index], lines[other] = lines[other], lines[index]
            elif kind == "replace_line":
                lines[index] = draw(st.sampled_from(VOCABULARY)).encode()
            else:
                lines.insert(index, draw(st.sampled_from(VOCABULARY)).encode())
            data = b"\n".join(lines)
    return data


def patchlike_text() -> st.SearchStrategy[bytes]:
    """Inputs stitched together from patch-shaped lines, with optional CRLF endings."""
    return st.builds(
        lambda lines, ending: ending.join(lines).encode("utf-8"),
        st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=20),
        st.sampled_from(("\n", "\r\n")),
    )


@st.composite
def miscounted_diff(draw: st.DrawFn) -> bytes:
    """A diff of ``a.txt`` whose hunk header counts and starts are wrong (or right)."""
    numbers = [draw(st.integers(min_value=0, max_value=6)) for _ in range(4)]
    body = draw(
        st.lists(
            st.sampled_from((" hello", " world", "-hello", "-world", "+new", "+", " ", "-")),
            max_size=6,
        )
    )
    old_start, old_count, new_start, new_count = numbers
    header = f"@@ -{old_start},{old_count} +{new_start},{new_count} @@"
    text = "\n".join(["--- a/a.txt", "+++ b/a.txt", header, *body]) + "\n"
    return text.encode()


WORKSPACES = st.sampled_from(("full", "empty", "partial"))


def build_workspace(root: Path, variant: str) -> None:
    """The baseline tree (all of it, none of it, or every other file) plus a symlink out."""
    if variant == "full":
        write_tree(root, BASE)
    elif variant == "partial":
        write_tree(root, {k: v for i, (k, v) in enumerate(sorted(BASE.items())) if i % 2})
    # A link to the sentinel: writing through it would land outside the workspace.
    (root / "link").symlink_to(root.parent / "outside", target_is_directory=True)


def directories(root: Path) -> set[str]:
    """Every directory under ``root`` outside ``.agentos/``."""
    found: set[str] = set()
    for dirpath, dirnames, _files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts[:1] == (".agentos",):
            continue
        dirnames[:] = [d for d in dirnames if not (rel == Path() and d == ".agentos")]
        found.update((rel / d).as_posix() for d in dirnames)
    return found


def run_plan(
    cli: Callable[..., CliResult], data: bytes, fmt: str, variant: str = "full"
) -> CliResult:
    """Plan ``data`` in a fresh workspace and check every fuzzing property."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ws = base / "ws"
        outside = base / "outside"
        ws.mkdir()
        outside.mkdir()
        build_workspace(ws, variant)
        source = base / "input.patch"
        source.write_bytes(data)
        files, dirs = read_tree(ws), directories(ws)

        result = cli(
            "plan", source, "-C", ws, "--format", fmt, "--json", "--policy", PERMISSIVE_POLICY
        )

        assert "Traceback" not in result.err and "Traceback" not in result.out
        assert result.code != 70, result.err
        doc = result.json()  # stdout is exactly one JSON document, whatever happened
        denied = (doc.get("error") or {}).get("type") in ("path_safety", "input_too_large")
        allowed = result.code in (0, 2, 5) or (
            result.code == 3 and ("path-safety" in result.err or denied)
        )
        assert allowed, (result.code, result.err)
        assert doc["exit_code"] == result.code
        assert doc["ok"] is (result.code == 0)
        if result.code == 0:
            assert all(line.startswith("agentos: warning: ") for line in result.err.splitlines())
            assert doc["result"]["plan_id"]
        else:
            assert result.err.startswith("agentos: error: ")
            assert result.err.endswith("\n")
            assert result.err.count("\n") == 1, result.err
            assert doc["error"]["message"]
        # Planning never writes a workspace file, and nothing lands outside the workspace.
        assert read_tree(ws) == files
        assert directories(ws) == dirs
        assert list(outside.iterdir()) == []
        assert sorted(p.name for p in base.iterdir()) == ["input.patch", "outside", "ws"]
        assert not (ws / ".agentos" / "logs").exists()
        return result


# ---------------------------------------------------------------------------------------------
# The seeds are valid: mutations start from inputs that plan
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seeds_plan_cleanly(cli: Callable[..., CliResult], name: str) -> None:
    for fmt in ("auto", SEED_FORMATS[name]):
        result = run_plan(cli, SEEDS[name], fmt)
        assert result.code == 0, result.err
        sources = result.json()["result"]["sources"]
        assert [s["format"] for s in sources] == [SEED_FORMATS[name]]


# Git refuses these ("No such file or directory"): a ``diff --git`` header states new and
# deleted files explicitly, and a binary patch's pre-image must exist unless it is created.
MISSING_FILE_PATCHES = {
    "git_header_hunk": b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+hi\n",
    "git_header_mode_only": b"diff --git a/x b/x\nold mode 100644\nnew mode 100755\n",
    "codex_update": b"*** Begin Patch\n*** Update File: x\n@@\n+hi\n*** End Patch\n",
    "codex_delete": b"*** Begin Patch\n*** Delete File: x\n*** End Patch\n",
    "edit": b'[{"path": "x", "old_string": "a", "new_string": "b"}]',
    "manifest_modify": b"changes: [{op: modify, path: x, content: y}]",
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seeds_for_missing_files_do_not_apply(cli: Callable[..., CliResult], name: str) -> None:
    result = run_plan(cli, SEEDS[name], "auto", variant="empty")
    assert result.code == 5, result.err


@pytest.mark.parametrize("name", sorted(MISSING_FILE_PATCHES))
def test_patches_for_a_missing_file_do_not_apply(cli: Callable[..., CliResult], name: str) -> None:
    result = run_plan(cli, MISSING_FILE_PATCHES[name], "auto", variant="empty")
    assert result.code == 5, result.err
    assert "x" in result.err


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"*** Begin Patch\n*** Add File: ../outside/pwned\n+x\n*** End Patch\n", 3),
        (b"*** Begin Patch\n*** Add File: link/through\n+x\n*** End Patch\n", 3),
        (b"changes:\n  - {op: create, path: ../outside/x, content: y}\n", 3),
        (b"--- /dev/null\n+++ b/../outside/pwned\n@@ -0,0 +1 @@\n+x\n", 3),
        (b"- !!python/object/apply:os.system [touch ../outside/pwned]\n", 2),
        (b"\x00\x01\x02\xff" * 64, 2),
    ],
)
def test_hostile_inputs_are_refused(cli: Callable[..., CliResult], data: bytes, code: int) -> None:
    assert run_plan(cli, data, "auto").code == code


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=600), fmt=st.sampled_from(FORMATS))
def test_garbage_bytes(cli: Callable[..., CliResult], data: bytes, fmt: str) -> None:
    run_plan(cli, data, fmt)


@FUZZ
@given(data=patchlike_text(), fmt=st.sampled_from(FORMATS), variant=WORKSPACES)
def test_patch_shaped_junk(
    cli: Callable[..., CliResult], data: bytes, fmt: str, variant: str
) -> None:
    run_plan(cli, data, fmt, variant)


@FUZZ
@given(data=miscounted_diff(), fmt=st.sampled_from(("auto", "diff")))
def test_wrong_hunk_counts(cli: Callable[..., CliResult], data: bytes, fmt: str) -> None:
    run_plan(cli, data, fmt)


@FUZZ
@given(
    data=st.sampled_from(sorted(SEEDS)).flatmap(lambda name: mutated(SEEDS[name])),
    fmt=st.sampled_from(FORMATS),
    variant=WORKSPACES,
)
def test_mutated_valid_inputs(
    cli: Callable[..., CliResult], data: bytes, fmt: str, variant: str
) -> None:
    run_plan(cli, data, fmt, variant)


@FUZZ
@given(
    name=st.sampled_from(sorted(SEEDS)),
    cut=st.floats(min_value=0, max_value=1, exclude_max=True),
    fmt=st.sampled_from(FORMATS),
)
def test_truncated_inputs(cli: Callable[..., CliResult], name: str, cut: float, fmt: str) -> None:
    seed = SEEDS[name]
    run_plan(cli, seed[: int(cut * len(seed))], fmt)
