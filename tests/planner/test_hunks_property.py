"""Property: the hunk applier agrees with ``git apply`` (the oracle) on random edits.

Files are drawn from a tiny alphabet of lines so context is ambiguous and offsets matter;
some lines end in CRLF and the last line may lack its newline on either side. The patch comes
from ``git diff --no-index`` or from difflib (formatted here, with git's ``\\ No newline``
markers and sometimes GNU's bare empty context lines), with 0 to 3 lines of context. The
target is then optionally perturbed (lines inserted or deleted at the top, bottom or middle,
regions duplicated, the final newline toggled) so hunks land at offsets or not at all.
``git apply`` and agentos must then both succeed with identical bytes, or both refuse.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from agentos.errors import AgentosError, UsageError
from agentos.planner.diff import parse_diff
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.textlines import split_lines
from agentos.workspace import Workspace
from helpers import GIT_ENV, needs_git, run_git

pytestmark = [needs_git, pytest.mark.git]

# Weighted by repetition: mostly a/b/c, sometimes blank, CRLF or a leading space.
LINES = (
    (b"a\n",) * 5
    + (b"b\n",) * 4
    + (b"c\n",) * 3
    + (b"\n",) * 2
    + (b"a\r\n", b"b\r\n", b" a\n", b"\r\n")
)
line = st.sampled_from(LINES)


@st.composite
def files(draw: st.DrawFn, max_lines: int = 40) -> bytes:
    size = draw(st.integers(0, max_lines))  # uniform, so long files with middle hunks are common
    lines = draw(st.lists(line, min_size=size, max_size=size))
    return _join(lines, newline_at_end=draw(st.booleans()) or not lines)


def _join(lines: Sequence[bytes], *, newline_at_end: bool) -> bytes:
    data = b"".join(lines)
    if not newline_at_end and data.endswith(b"\n"):
        data = data[:-1]
    return data


def _split_lf(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    tail = parts.pop()
    return [p + b"\n" for p in parts] + ([tail] if tail else [])


Edit = tuple[int, int, list[bytes]]
edits = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 3), st.lists(line, max_size=3)),
    min_size=1,
    max_size=4,
)


def _apply_edits(data: bytes, changes: Sequence[Edit], *, newline_at_end: bool) -> bytes:
    lines = _split_lf(data)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    for pos, delete, insert in changes:
        at = pos % (len(lines) + 1)
        lines[at : at + delete] = insert
    return _join(lines, newline_at_end=newline_at_end or not lines)


Perturbation = tuple[str, int, list[bytes]]
perturbations = st.lists(
    st.tuples(
        st.sampled_from(
            ["top"] * 3 + ["bottom"] * 2 + ["middle"] * 2 + ["delete", "duplicate", "toggle-eol"]
        ),
        st.integers(0, 1000),
        st.lists(line, min_size=1, max_size=4),
    ),
    max_size=3,
)


def _perturb(data: bytes, steps: Sequence[Perturbation]) -> bytes:
    lines = _split_lf(data)
    ends_in_newline = not lines or lines[-1].endswith(b"\n")
    if lines and not ends_in_newline:
        lines[-1] += b"\n"
    for kind, pos, extra in steps:
        at = pos % (len(lines) + 1)
        if kind == "top":
            lines[:0] = extra
        elif kind == "bottom":
            lines.extend(extra)
        elif kind == "middle":
            lines[at:at] = extra
        elif kind == "delete":
            del lines[at : at + len(extra)]
        elif kind == "duplicate":
            region = lines[at : at + len(extra) + 1]
            target = (pos // 7) % (len(lines) + 1)
            lines[target:target] = region
        else:
            ends_in_newline = not ends_in_newline
    return _join(lines, newline_at_end=ends_in_newline or not lines)


# -- producing patches ------------------------------------------------------------------------

NO_NEWLINE = b"\\ No newline at end of file\n"


def difflib_patch(old: bytes, new: bytes, context: int, *, bare_blank: bool) -> bytes:
    """A unified diff as GNU diff would write it, built from difflib's opcodes."""
    a, b = _split_lf(old), _split_lf(new)
    if a == b:
        return b""
    out = [b"--- a/f\n", b"+++ b/f\n"]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        out.append(b"@@ -%s +%s @@\n" % (_range(first[1], last[2]), _range(first[3], last[4])))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for text in a[i1:i2]:
                    out.extend(_body_line(b" ", text, bare_blank=bare_blank))
                continue
            for text in a[i1:i2]:
                out.extend(_body_line(b"-", text, bare_blank=False))
            for text in b[j1:j2]:
                out.extend(_body_line(b"+", text, bare_blank=False))
    return b"".join(out)


def _range(start: int, stop: int) -> bytes:
    length = stop - start
    if length == 1:
        return b"%d" % (start + 1)
    return b"%d,%d" % (start if length == 0 else start + 1, length)


def _body_line(sign: bytes, text: bytes, *, bare_blank: bool) -> list[bytes]:
    if bare_blank and text == b"\n":
        return [b"\n"]
    if text.endswith(b"\n"):
        return [sign + text]
    return [sign + text + b"\n", NO_NEWLINE]


def git_patch(root: Path, old: bytes, new: bytes, context: int) -> bytes:
    (root / "old").mkdir()
    (root / "new").mkdir()
    (root / "old" / "f").write_bytes(old)
    (root / "new" / "f").write_bytes(new)
    return run_git(
        root, "diff", "--no-index", "--no-prefix", f"-U{context}", "old/f", "new/f", check=False
    )


# -- the two appliers ---------------------------------------------------------------------


def agentos_apply(root: Path, patch: bytes) -> tuple[bytes | None, int]:
    """The file ``f`` after planning ``patch`` in ``root`` (None and the exit code if refused)."""
    request = PlanSpec(workspace=Workspace(root), inputs=(PlanInput("p.diff", patch),), author="t")
    try:
        plan = plan_changes(request)
    except UsageError:
        return (root / "f").read_bytes(), 0  # the result equals the file: nothing to plan
    except AgentosError as exc:
        return None, exc.exit_code
    (change,) = plan.changeset.changes
    assert change.op == "modify"
    assert change.path == "f"
    return change.content.to_bytes(), 0


def git_apply(root: Path, patch: bytes) -> tuple[bytes | None, str]:
    """The file ``f`` after ``git apply -v`` in ``root`` and git's messages (None if refused)."""
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "apply", "-v", "--whitespace=nowarn", "-"],
        cwd=root,
        env={**os.environ, **GIT_ENV, "GIT_CEILING_DIRECTORIES": str(root.parent)},
        input=patch,
        capture_output=True,
        check=False,
    )
    messages = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        return None, messages
    return (root / "f").read_bytes(), messages


_SUCCEEDED_AT = re.compile(r"Hunk #(\d+) succeeded at (\d+)")


def git_quirk(patch: bytes, target: bytes, messages: str) -> bool:
    """True when git applied a hunk where its pre-image does not match byte for byte.

    ``git apply`` compares a pre-image by ``memcmp`` over the pre-image's own length, so a last
    context line marked ``\\ No newline at end of file`` also matches a line that continues
    with whitespace and a newline anywhere in the file; git then replaces that whole line and
    silently drops its newline (``a\\na`` + "add a line before the last 'a'" gives
    ``a\\naa``). agentos does not copy that corruption. This replays git's reported positions
    (``git apply -v``) and says whether any hunk relied on it, checking it was only that.
    """
    hunks = parse_diff(patch, source="p.diff")[0].hunks
    positions = [h.new_start - 1 if h.new_start else 0 for h in hunks]
    for match in _SUCCEEDED_AT.finditer(messages):
        positions[int(match.group(1)) - 1] = int(match.group(2)) - 1
    image = split_lines(target)
    quirk = False
    for hunk, at in zip(hunks, positions, strict=True):
        pre = list(hunk.old_lines)
        found = image[at : at + len(pre)]
        if found != pre:
            last = pre[-1]
            assert found[:-1] == pre[:-1], "git matched a pre-image that differs mid-hunk"
            assert not last.endswith(b"\n"), "git matched a newline-terminated line inexactly"
            assert found[-1].startswith(last), "git matched an unrelated line"
            assert not found[-1][len(last) :].strip(), "git matched more than whitespace"
            quirk = True
        image[at : at + len(pre)] = hunk.new_lines
    return quirk


def check_agreement(old: bytes, new: bytes, target: bytes, source: str, context: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        if source == "git":
            (tmp / "gen").mkdir()
            patch = git_patch(tmp / "gen", old, new, context)
        else:
            patch = difflib_patch(old, new, context, bare_blank=source == "difflib-bare")
        if not patch:
            return
        work = tmp / "work"
        work.mkdir()
        (work / "f").write_bytes(target)
        ours, code = agentos_apply(work, patch)
        theirs, messages = git_apply(work, patch)
        note = f"patch:\n{patch!r}\ntarget: {target!r}\ngit: {messages}"
        if theirs is None:
            event("both refuse" if ours is None else "only git refuses")
            assert ours is None, f"agentos applied what git refused\n{note}"
            assert code == 5, f"refused with exit {code}, expected 5\n{note}"
            return
        if git_quirk(patch, target, messages):
            event("git quirk: a no-newline context line matched a line with a newline")
            return
        event("both apply" if ours is not None else "only git applies")
        if "offset" in messages:
            event("applied at an offset")
        assert ours is not None, f"agentos refused (exit {code}) what git applied\n{note}"
        assert ours == theirs, f"results differ: ours {ours!r} git {theirs!r}\n{note}"


SOURCES = ("git", "difflib", "difflib-bare")


# 300 by default (a few seconds); the "thorough" profile (HYPOTHESIS_PROFILE=thorough) raises it.
@settings(max_examples=max(300, settings().max_examples))
@given(
    old=files(),
    changes=edits,
    new_eol=st.booleans(),
    steps=perturbations,
    source=st.sampled_from(SOURCES),
    context=st.sampled_from((0, 1, 2, 2, 3, 3, 3)),
)
# Ambiguous context: the edited "a b a" appears twice, and a line pushed on top moves both.
@example(
    old=b"a\nb\na\nb\na\n",
    changes=[(2, 1, [b"c\n"])],
    new_eol=True,
    steps=[("top", 0, [b"b\n"])],
    source="git",
    context=1,
)
# Git's memcmp quirk: "a" without a newline matches the first "a\n" (see git_quirk).
@example(
    old=b"a",
    changes=[(0, 0, [b"a\n"])],
    new_eol=False,
    steps=[("top", 0, [b"a\n"])],
    source="git",
    context=1,
)
def test_agrees_with_git_apply(
    *,
    old: bytes,
    changes: list[Edit],
    new_eol: bool,
    steps: list[Perturbation],
    source: str,
    context: int,
) -> None:
    new = _apply_edits(old, changes, newline_at_end=new_eol)
    target = _perturb(old, steps)
    check_agreement(old, new, target, source, context)
