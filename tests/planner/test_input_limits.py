"""Bounded inputs: no input makes ``agentos plan`` use unbounded memory (SPEC §12, hostile input).

``writegate.content.max_input_bytes`` bounds each input and all inputs of a plan together
(stdin is never read past it); ``max_file_bytes`` bounds every file a few bytes of input can
stand for (binary patches, ``replace_all``, YAML aliases, Codex patches), checked before the
file is built. The limits reach the planner as plain values (``PlanLimits``) that the CLI takes
from the policy. Last, ``agentos plan`` runs on real zip bombs in a child process whose peak
memory is measured.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from test_binary import MIB, binary_patch, bomb_patch

from agentos.errors import InputTooLargeError, PatchParseError
from agentos.model import ChangePlan
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.planner.tree import PlanLimits
from agentos.workspace import Workspace
from helpers import CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]

FILE_KEY = "writegate.content.max_file_bytes"
INPUT_KEY = "writegate.content.max_input_bytes"


def plan_of(root: Path, *inputs: tuple[str, bytes], limits: PlanLimits | None = None) -> ChangePlan:
    request = PlanSpec(
        workspace=Workspace(root),
        inputs=tuple(PlanInput(name, data) for name, data in inputs),
        author="t",
        limits=limits or PlanLimits(),
    )
    return plan_changes(request)


def refusal(root: Path, *inputs: tuple[str, bytes], limits: PlanLimits | None = None) -> str:
    """The message of the ``InputTooLargeError`` planning ``inputs`` ends in."""
    with pytest.raises(InputTooLargeError) as caught:
        plan_of(root, *inputs, limits=limits)
    assert caught.value.exit_code == 3
    assert caught.value.kind == "input_too_large"
    assert "\n" not in caught.value.message
    return caught.value.message


def manifest(*changes: str) -> bytes:
    return ("changes:\n" + "".join(f"- {change}\n" for change in changes)).encode()


# -- max_input_bytes, through plan_changes ----------------------------------------------------


def test_an_input_over_max_input_bytes_is_refused(workspace: Path) -> None:
    limits = PlanLimits(max_input_bytes=100)
    data = manifest("{op: create, path: a.txt, content: x}")
    exact = data + b"#" * (99 - len(data)) + b"\n"
    assert len(exact) == 100
    assert plan_of(workspace, ("m.yaml", exact), limits=limits).stats.files == 1
    assert refusal(workspace, ("m.yaml", exact + b"\n"), limits=limits) == (
        f"m.yaml: the input is 101 bytes, more than {INPUT_KEY} (100); nothing was planned"
    )


def test_the_inputs_of_one_plan_are_bounded_together(workspace: Path) -> None:
    limits = PlanLimits(max_input_bytes=100)
    first = manifest("{op: create, path: a.txt, content: x}")
    second = manifest("{op: create, path: b.txt, content: yyyy}")
    assert len(first) + len(second) == 101
    assert plan_of(workspace, ("1.yaml", first), limits=limits).stats.files == 1
    assert refusal(workspace, ("1.yaml", first), ("2.yaml", second), limits=limits) == (
        f"2.yaml: the inputs up to this one add up to {len(first) + len(second)} bytes, "
        f"more than {INPUT_KEY} (100); nothing was planned"
    )


# -- max_file_bytes: what a few bytes can stand for -------------------------------------------


def test_a_binary_bomb_is_refused_through_plan_changes(workspace: Path) -> None:
    assert refusal(workspace, ("big.diff", bomb_patch(500 * MIB))) == (
        f"big.diff: a.bin: the binary patch declares 524288000 bytes, more than {FILE_KEY} "
        "(1048576); nothing was planned"
    )
    assert read_tree(workspace) == {}


def test_replace_all_is_sized_before_it_is_built(workspace: Path) -> None:
    write_tree(workspace, {"big.txt": "a" * 100_000})
    # Shrinking, or growing within the limit, is planned as before.
    for new, size in (("", 0), ("bb", 200_000), ("c" * 10, 1_000_000)):
        edit = [{"path": "big.txt", "old_string": "a", "new_string": new, "replace_all": True}]
        plan = plan_of(workspace, ("e.json", json.dumps(edit).encode()))
        assert plan.stats.bytes == size
    edits = json.dumps(
        [{"path": "big.txt", "old_string": "a", "new_string": "b" * 100, "replace_all": True}]
    ).encode()
    tracemalloc.start()
    try:
        message = refusal(workspace, ("e.json", edits))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == (
        f"e.json: big.txt: edits[0] would make it 10000000 bytes, more than {FILE_KEY} "
        "(1048576); nothing was planned"
    )
    # Building the result would take 10 MB of text and 10 MB of bytes.
    assert peak < 2 * MIB, f"planning used {peak} bytes"


def test_one_replace_in_a_file_near_the_limit_is_sized_too(workspace: Path) -> None:
    write_tree(workspace, {"big.txt": "x" + "a" * 1_048_000})
    edit = [{"path": "big.txt", "old_string": "x", "new_string": "y" * 600}]
    assert refusal(workspace, ("e.json", json.dumps(edit).encode())) == (
        f"e.json: big.txt: edits[0] would make it 1048600 bytes, more than {FILE_KEY} "
        "(1048576); nothing was planned"
    )


def test_an_edit_creating_a_file_is_bounded(workspace: Path) -> None:
    limits = PlanLimits(max_file_bytes=1000)
    edit = [{"path": "new.txt", "old_string": "", "new_string": "é" * 600}]
    assert refusal(workspace, ("e.json", json.dumps(edit).encode()), limits=limits) == (
        f"e.json: new.txt: edits[0] would make it 1200 bytes, more than {FILE_KEY} (1000); "
        "nothing was planned"
    )


def test_manifest_contents_are_sized_before_they_are_built(workspace: Path) -> None:
    limits = PlanLimits(max_file_bytes=1000)
    within = base64.b64encode(bytes(1000)).decode()
    over = base64.b64encode(bytes(1001)).decode()
    ok = manifest(f"{{op: create, path: logo.png, content_base64: {within}}}")
    assert plan_of(workspace, ("m.yaml", ok), limits=limits).stats.bytes == 1000
    big = manifest(f"{{op: create, path: logo.png, content_base64: {over}}}")
    assert refusal(workspace, ("m.yaml", big), limits=limits) == (
        f"m.yaml: logo.png: the content of changes[0] is 1001 bytes, more than {FILE_KEY} "
        "(1000); nothing was planned"
    )
    text = manifest("{op: create, path: a.txt, content: " + "é" * 501 + "}")
    assert "the content of changes[0] is 1002 bytes" in refusal(
        workspace, ("m.yaml", text), limits=limits
    )


def test_yaml_aliases_cannot_multiply_a_manifest(workspace: Path) -> None:
    """One string, named by many entries, is bounded by what a plan can hold in all."""
    limits = PlanLimits(max_file_bytes=1000, max_files_touched=3)
    entries = [f"{{op: create, path: f{n}.txt, content: *big}}" for n in range(1, 4)]
    doc = manifest(f"{{op: create, path: f0.txt, content: &big {'x' * 900}}}", *entries)
    assert refusal(workspace, ("m.yaml", doc), limits=limits) == (
        "m.yaml: changes[3]: f3.txt: the plan's new contents would reach 3600 bytes, more than "
        f"executor.constraints.max_files_touched (3) files of {FILE_KEY} (1000) could hold; "
        "nothing was planned"
    )
    assert plan_of(workspace, ("m.yaml", doc)).stats.files == 4  # the default limits


def test_yaml_aliases_cannot_make_an_edit_list_search_for_hours(workspace: Path) -> None:
    """Aliases to two long strings, named by many edits: the expanded strings are bounded by
    max_input_bytes before any file is searched, and so is the number of edits."""
    write_tree(workspace, {"a.txt": "x" * 1000})
    limits = PlanLimits(max_input_bytes=20_000)
    swaps = [("p", "q") if n % 2 else ("q", "p") for n in range(2, 40)]
    body = "".join(f"- {{path: a.txt, old_string: *{a}, new_string: *{b}}}\n" for a, b in swaps)
    doc = (
        f"- {{path: a.txt, old_string: &p {'y' * 500}, new_string: &q {'z' * 500}}}\n" + body
    ).encode()
    message = refusal(workspace, ("e.yaml", doc), limits=limits)
    assert message.startswith("e.yaml: the edits' strings add up to 39000 characters")
    assert INPUT_KEY in message
    many = "".join("- {path: a.txt, old_string: x, new_string: y}\n" for _ in range(10_001))
    assert "10001 edits, more than the 10000" in refusal(workspace, ("n.yaml", many.encode()))


def test_a_nested_alias_in_a_bad_mode_is_not_expanded_into_the_message(workspace: Path) -> None:
    # Six levels of ten aliases: a million elements, a 5 MB repr (nine levels: 5 GB).
    levels = ["&l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"&l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 6)]
    doc = f"intent: [{', '.join(levels)}]\n".encode() + manifest(
        "{op: create, path: a.txt, content: x, mode: *l5}"
    )
    with pytest.raises(PatchParseError) as caught:
        plan_of(workspace, ("m.yaml", doc))
    assert caught.value.message == (
        "m.yaml: changes[0].mode: a list is not a file mode; use '100644' or '100755'"
    )


def test_numbers_too_long_to_convert_are_invalid_input_not_a_crash(workspace: Path) -> None:
    doc = manifest("{op: create, path: a.txt, content: x, mode: " + "7" * 5000 + "}")
    request = PlanSpec(Workspace(workspace), (PlanInput("m.yaml", doc, "manifest"),), "t")
    with pytest.raises(PatchParseError, match=r"^m\.yaml: invalid YAML/JSON: Exceeds the limit"):
        plan_changes(request)
    diff = b"--- a/x\n+++ b/x\n@@ -" + b"9" * 5000 + b" +1 @@\n-a\n+b\n"
    with pytest.raises(PatchParseError, match="a line number is too large"):
        plan_of(workspace, ("p.diff", diff))


def test_codex_patches_are_bounded(workspace: Path) -> None:
    limits = PlanLimits(max_file_bytes=100)
    add = "*** Begin Patch\n*** Add File: big.txt\n" + "+" + "x" * 150 + "\n*** End Patch\n"
    assert refusal(workspace, ("c.patch", add.encode()), limits=limits) == (
        f"c.patch: big.txt: the Add File at line 2 makes at least 151 bytes, more than "
        f"{FILE_KEY} (100); nothing was planned"
    )
    write_tree(workspace, {"a.txt": "y" * 89 + "\n"})
    update = (
        "*** Begin Patch\n*** Update File: a.txt\n@@\n " + "y" * 89 + "\n+" + "z" * 20 + "\n"
        "*** End Patch\n"
    )
    assert refusal(workspace, ("c.patch", update.encode()), limits=limits) == (
        f"c.patch: a.txt: the Update File at line 2 would make it at least 111 bytes, more "
        f"than {FILE_KEY} (100); nothing was planned"
    )


# -- through `agentos plan`: limits from the policy, files and stdin ---------------------------


def policy(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nwritegate:\n  content: {{{content}}}\n")
    return path


def error_of(result: CliResult) -> tuple[str, str]:
    """The error type and message of a ``--json`` run, checking stderr has one line."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    error = result.json()["error"]
    assert lines[0] == f"agentos: error: {error['message']}"
    return error["type"], error["message"]


def test_plan_refuses_a_binary_bomb(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "big.diff"
    bomb.write_bytes(bomb_patch(500 * MIB))
    result = cli("plan", bomb, "-C", workspace, "--json")
    assert result.code == 3
    assert error_of(result) == (
        "input_too_large",
        f"{bomb}: a.bin: the binary patch declares 524288000 bytes, more than {FILE_KEY} "
        "(1048576); nothing was planned",
    )
    assert not (workspace / ".agentos" / "plans").exists() or not any(
        (workspace / ".agentos" / "plans").iterdir()
    )


def test_plan_takes_its_limits_from_the_policy(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    patch = tmp_path / "p.diff"
    patch.write_bytes(binary_patch("src/a.bin", b"", bytes(200), "literal", bytes(200)))
    small = policy(tmp_path, "max_file_bytes: 100")
    result = cli("plan", patch, "-C", workspace, "--policy", small, "--json")
    assert result.code == 3
    assert error_of(result) == (
        "input_too_large",
        f"{patch}: src/a.bin: the binary patch declares 200 bytes, more than {FILE_KEY} (100); "
        "nothing was planned",
    )
    tight = policy(tmp_path, "max_input_bytes: 100")
    result = cli("plan", patch, "-C", workspace, "--policy", tight, "--json")
    assert result.code == 3
    size = patch.stat().st_size
    assert error_of(result) == (
        "input_too_large",
        f"{patch}: the input is {size} bytes, more than {INPUT_KEY} (100); nothing was planned",
    )


def test_plan_reads_stdin_no_further_than_the_limit(
    cli: Cli, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tight = policy(tmp_path, "max_input_bytes: 1000")
    endless = io.BytesIO(b"x" * (8 * MIB))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(endless, encoding="utf-8"))
    result = cli("plan", "-", "-C", workspace, "--policy", tight, "--json")
    assert result.code == 3
    assert error_of(result) == (
        "input_too_large",
        f"-: the input is more than {INPUT_KEY} (1000 bytes); nothing was planned",
    )
    assert endless.tell() == 1001
    small = manifest("{op: create, path: src/a.txt, content: x}")
    result = cli("plan", "-", "-C", workspace, "--policy", tight, "--json", stdin=small)
    assert result.code == 0, result.err


def test_plan_bounds_the_total_of_its_inputs(cli: Cli, workspace: Path, tmp_path: Path) -> None:
    tight = policy(tmp_path, "max_input_bytes: 1000")
    first, second = tmp_path / "1.yaml", tmp_path / "2.yaml"
    first.write_bytes(manifest("{op: create, path: src/a.txt, content: x}") + b"#" * 600 + b"\n")
    second.write_bytes(manifest("{op: create, path: src/b.txt, content: y}") + b"#" * 600 + b"\n")
    total = first.stat().st_size + second.stat().st_size
    result = cli("plan", first, second, "-C", workspace, "--policy", tight, "--json")
    assert result.code == 3
    assert error_of(result)[1] == (
        f"{second}: the inputs up to this one add up to {total} bytes, more than {INPUT_KEY} "
        "(1000); nothing was planned"
    )
    stdin = manifest("{op: create, path: src/c.txt, content: z}") + b"#" * 600 + b"\n"
    result = cli("plan", first, "-", "-C", workspace, "--policy", tight, "--json", stdin=stdin)
    assert result.code == 3
    assert error_of(result)[1] == (
        f"-: the inputs up to this one add up to more than {INPUT_KEY} (1000 bytes); "
        "nothing was planned"
    )


# -- --author ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("author", "problem"),
    [
        ("", "the name is empty"),
        ("   ", "the name is empty"),
        ("x" * 201, "names are at most 200 characters"),
        ("dana\nmallory", "names cannot hold control characters or line breaks"),
        ("dana\x1b[2J", "names cannot hold control characters or line breaks"),
    ],
)
def test_author_is_validated_like_approver_names(
    cli: Cli, workspace: Path, tmp_path: Path, author: str, problem: str
) -> None:
    patch = tmp_path / "m.yaml"
    patch.write_bytes(manifest("{op: create, path: src/a.txt, content: x}"))
    result = cli("plan", patch, "-C", workspace, "--author", author, "--json")
    assert result.code == 2
    assert error_of(result)[1] == (
        f"--author: {problem}; pass the name of the person the change is attributed to "
        "(default: the OS user)"
    )
    assert not (workspace / ".agentos" / "plans").exists()


def test_author_defaults_to_the_os_user_and_is_checked_too(
    cli: Cli, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch = tmp_path / "m.yaml"
    patch.write_bytes(manifest("{op: create, path: src/a.txt, content: x}"))
    result = cli("plan", patch, "-C", workspace, "--author", "Dana Scully " + "x" * 188, "--json")
    assert result.code == 0, result.err
    assert result.json()["result"]["author"] == "Dana Scully " + "x" * 188
    monkeypatch.setenv("LOGNAME", "dana")
    result = cli("plan", patch, "-C", workspace, "--json", "--intent", "again")
    assert result.json()["result"]["author"] == "dana"
    monkeypatch.setenv("LOGNAME", "dana\nmallory")
    result = cli("plan", patch, "-C", workspace, "--json", "--intent", "once more")
    assert result.code == 2
    assert error_of(result)[1].startswith("--author: names cannot hold control characters")


# -- measured: the peak memory of `agentos plan` on zip bombs --------------------------------

# A wrapper whose only child is agentos, so RUSAGE_CHILDREN is that child's own peak.
_MEASURE = """\
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, check=False)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.write(f"{peak} {proc.returncode}\\n")
sys.stdout.buffer.write(proc.stderr)
"""


def peak_rss_of_plan(*args: str | Path) -> tuple[int, int, str]:
    """Run ``agentos plan ARGS`` in a child process: its peak RSS in bytes, exit code, stderr."""
    command = [sys.executable, "-m", "agentos", "plan", *map(str, args)]
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], capture_output=True, check=True
    )
    head, _, err = proc.stdout.partition(b"\n")
    peak_kib, code = (int(part) for part in head.split())
    return peak_kib * 1024, code, err.decode()


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss counts KiB on Linux")
@pytest.mark.parametrize("size", [500 * MIB, 2048 * MIB], ids=["650KB-bomb", "2.7MB-bomb"])
def test_peak_memory_of_planning_a_binary_bomb(workspace: Path, tmp_path: Path, size: int) -> None:
    bomb = tmp_path / "bomb.diff"
    bomb.write_bytes(bomb_patch(size))
    peak, code, err = peak_rss_of_plan(bomb, "-C", workspace)
    assert code == 3, err
    assert err.strip() == (
        f"agentos: error: {bomb}: a.bin: the binary patch declares {size} bytes, more than "
        f"{FILE_KEY} (1048576); nothing was planned"
    )
    assert peak < 256 * MIB, f"agentos plan peaked at {peak / MIB:.0f} MiB"
