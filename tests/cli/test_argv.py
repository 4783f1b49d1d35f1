"""The command line as people type it: global options before or after the command word, usage
hints that name a command that exists, help for a bare ``agentos`` (or group), and help that
names values the way a person would (``PLAN...``, ``SECONDS``), never by a Python type."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import (
    AGENTOS,
    PERMISSIVE_POLICY,
    agentos,
    environment,
    needs_agentos,
    run_here,
    write_manifest,
    write_tree,
)

CHANGE = [{"op": "modify", "path": "a.txt", "content": "A\n"}]


def script(*args: str | Path, cwd: Path, stdin: bytes = b"") -> tuple[int, str, str]:
    """The installed ``agentos`` with exactly these arguments: exit code, stdout, stderr."""
    proc = subprocess.run(
        [str(AGENTOS), *map(str, args)],
        cwd=cwd,
        env=environment(),
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(root, {"a.txt": "a\n"})
    return root


# -- where the global options go --------------------------------------------------------------


def test_arrange_moves_the_global_options_after_the_command_words() -> None:
    from agentos.cli.argv import arrange

    cases = {
        ("-C", "ws", "status"): ["status", "-C", "ws"],
        ("--json", "-q", "plan", "x.diff"): ["plan", "--json", "-q", "x.diff"],
        ("--workspace=ws", "--policy=p.yaml", "check", "p1"): [
            "check",
            "--workspace=ws",
            "--policy=p.yaml",
            "p1",
        ],
        ("-Cws", "history", "-n", "3"): ["history", "-Cws", "-n", "3"],
        # The value of -C is never a command word, even when it looks like one.
        ("-C", "plan", "status"): ["status", "-C", "plan"],
        # A group: after its subcommand word, even when the options come between.
        ("--json", "policy", "test", "cases"): ["policy", "test", "--json", "cases"],
        ("policy", "-C", "ws", "test"): ["policy", "test", "-C", "ws"],
        # Before "--", never after it.
        ("-C", "ws", "plan", "--", "-odd.diff"): ["plan", "-C", "ws", "--", "-odd.diff"],
        # Other options stay where they are; after the command nothing moves.
        ("-h", "plan"): ["-h", "plan"],
        ("plan", "x.diff", "-C", "ws"): ["plan", "x.diff", "-C", "ws"],
        # No command: --help and --version are answered, the global options dropped.
        ("-C", "ws", "--help"): ["--help"],
        ("-q", "--version"): ["--version"],
    }
    for argv, arranged in cases.items():
        assert arrange(list(argv)).args == arranged, argv


def test_the_command_name_skips_option_values() -> None:
    from agentos.cli.app import _command_name

    assert _command_name(["-C", "policy", "status"]) == "status"
    assert _command_name(["--policy", "p.yaml", "policy", "-C", "ws", "test"]) == "policy test"
    assert _command_name(["--workspace", "apply", "apply", "p1"]) == "apply"
    assert _command_name(["-q"]) == "agentos"


@needs_agentos
def test_global_options_before_the_command(ws: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    fresh = tmp_path / "fresh"
    elsewhere.mkdir()
    fresh.mkdir()
    # -C before the command: the workspace is the one named, not where agentos runs.
    run = agentos("-C", fresh, "init", cwd=elsewhere)
    assert run.code == 0
    assert run.doc["command"] == "init"
    assert (fresh / "agent" / "policies" / "default.yaml").is_file()
    assert not (elsewhere / "agent").exists()
    # --policy before the command is the policy in force.
    manifest = write_manifest(ws, "m", CHANGE)
    planned = agentos(
        "--workspace",
        ws,
        "--policy",
        PERMISSIVE_POLICY,
        "plan",
        manifest,
        "--plan-id",
        "p1",
        cwd=elsewhere,
    )
    assert planned.code == 0, planned.doc
    checked = agentos(f"--policy={PERMISSIVE_POLICY}", f"--workspace={ws}", "check", "p1", cwd=ws)
    assert checked.code == 0
    assert checked.result["policy"]["source"] == str(PERMISSIVE_POLICY)
    # --json before the command: one envelope (the helper's own --json comes last).
    code, out, err = script("--json", "-C", ws, "status", cwd=elsewhere)
    assert (code, json.loads(out)["command"], err) == (0, "status", "")
    # -q before the command: nothing printed.
    code, out, err = script("-q", "-C", ws, "--policy", PERMISSIVE_POLICY, "apply", "p1", cwd=ws)
    assert (code, out, err) == (0, "", "")
    assert (ws / "a.txt").read_text() == "A\n"
    # A group takes them before its subcommand word too.
    tested = agentos("-C", fresh, "policy", "test", cwd=elsewhere)
    assert (tested.code, tested.doc["command"]) == (0, "policy test")


@needs_agentos
def test_hook_takes_global_options_before_it(ws: Path) -> None:
    event = {
        "hook_event_name": "PreToolUse",
        "cwd": str(ws),
        "tool_name": "Write",
        "tool_input": {"file_path": str(ws / "b.txt"), "content": "b\n"},
    }
    data = json.dumps(event).encode()
    code, _out, err = script("-C", ws, "hook", "claude", cwd=ws.parent, stdin=data)
    assert (code, err) == (0, "")
    # Before or after the word hook, --policy is refused the same way (the call is blocked).
    code, _out, err = script("--policy", PERMISSIVE_POLICY, "hook", "claude", cwd=ws, stdin=data)
    assert code == 2
    assert "drop --policy" in err


@needs_agentos
def test_global_options_without_a_command(ws: Path) -> None:
    run = agentos("-C", ws, cwd=ws)  # the helper adds --json
    assert run.code == 2
    assert run.doc["command"] == "agentos"
    assert run.doc["error"]["type"] == "usage_error"
    assert "Missing command" in run.err
    assert "(see 'agentos --help')" in run.err
    code, out, _ = script("-C", ws, "--help", cwd=ws)
    assert code == 0
    assert "Commands:" in out
    code, out, _ = script("-q", "--version", cwd=ws)
    assert (code, out.split()[0]) == (0, "agentos")


# -- usage hints name a command that exists ---------------------------------------------------


@needs_agentos
@pytest.mark.parametrize(
    ("args", "hint", "suggestion"),
    [
        (("plann", "x"), "(see 'agentos --help')", "Did you mean 'plan'?"),
        (("stat",), "(see 'agentos --help')", "Did you mean 'status'?"),
        (("policy", "bogus"), "(see 'agentos policy --help')", "No such command 'bogus'"),
        (("policy", "tst"), "(see 'agentos policy --help')", "Did you mean 'test'?"),
        (("--bogus", "status"), "(see 'agentos --help')", "No such option: --bogus"),
        (("plan", "x.diff", "--bogus"), "(see 'agentos plan --help')", "No such option"),
        (("-C", ".", "audit", "nope"), "(see 'agentos audit --help')", "No such command"),
    ],
)
def test_usage_hints_name_a_command_that_exists(
    ws: Path, args: tuple[str, ...], hint: str, suggestion: str
) -> None:
    code, out, err = script(*args, cwd=ws)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("agentos: error: ")
    assert lines[0].endswith(hint)
    assert suggestion in lines[0]


@needs_agentos
def test_a_usage_error_envelope_names_the_command_that_exists(ws: Path) -> None:
    run = agentos("plann", "x", cwd=ws)
    assert (run.code, run.doc["command"], run.doc["error"]["type"]) == (2, "agentos", "usage_error")
    run = agentos("policy", "bogus", cwd=ws)
    assert (run.code, run.doc["command"]) == (2, "policy")


# -- no command: the help, exit 0 -------------------------------------------------------------


@needs_agentos
@pytest.mark.parametrize(
    ("args", "listed"),
    [((), ("plan", "apply", "rollback", "policy")), (("policy",), ("validate", "explain"))],
    ids=["agentos", "policy"],
)
def test_no_command_prints_the_help_and_exits_0(
    ws: Path, args: tuple[str, ...], listed: tuple[str, ...]
) -> None:
    code, out, err = script(*args, cwd=ws)
    assert (code, err) == (0, "")
    assert out.startswith("Usage: agentos")
    assert "Commands:" in out
    for word in listed:
        assert re.search(rf"^  {word} ", out, re.MULTILINE), word


def test_audit_alone_prints_its_help() -> None:
    code, out, err = run_here("audit")
    assert (code, err) == (0, "")
    assert "verify" in out
    assert "export" in out


# -- help names values as a person would ------------------------------------------------------

FORBIDDEN = re.compile(
    r"[<>{}]|list\[|RANGE|INTEGER|TEXT|FLOAT|BOOLEAN|PATH|\b(str|int|float|bool|path|dir)\b"
)


def _help_names(text: str) -> list[str]:
    """The usage line and the name column of every argument and option in ``text``."""
    names = [line for line in text.splitlines() if line.startswith("Usage:")]
    section = None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":")
        elif section in ("Arguments", "Options") and re.match(r"  \S", line):
            names.append(re.split(r"\s{2,}", line.strip())[0])
    return names


def test_every_help_names_values_without_type_names() -> None:
    from agentos.cli.app import GROUPS, build
    from agentos.cli.argv import GROUPS as ARRANGED_GROUPS
    from agentos.cli.context import REGISTRY

    assert set(GROUPS) == set(ARRANGED_GROUPS)
    build()  # loads every command module
    commands = [((e.group,) if e.group else ()) + (e.name,) for e in REGISTRY]
    commands += [(), *((g,) for g in GROUPS)]
    seen = 0
    for words in commands:
        code, out, err = run_here(*words, "--help")
        assert (code, err) == (0, ""), words
        names = _help_names(out)
        assert names, words
        for name in names:
            assert not FORBIDDEN.search(name), (words, name)
        assert not re.search(r"\bx[<>]=?\d|\d<=?x\b", out), words  # click's range notation
        seen += len(names)
    assert seen > len(commands) * 3
    _, out, _ = run_here("apply", "--help")
    assert "Usage: agentos apply [OPTIONS] PLAN..." in out
    assert "--lock-timeout SECONDS" in out
    _, out, _ = run_here("plan", "--help")
    assert "Usage: agentos plan [OPTIONS] [INPUT...]" in out
    assert "--git A..B|REV" in out
    assert "-C, --workspace DIR" in out
    _, out, _ = run_here("rollback", "--help")
    assert "Usage: agentos rollback [OPTIONS] [EXECUTION_ID]" in out


@needs_agentos
def test_missing_command_after_a_dot_directory_reads_plainly(ws: Path) -> None:
    code, _out, err = script("-C", ".", "--", "status", cwd=ws)
    assert code == 2
    assert "Missing command after -C . (see 'agentos --help')" in err
    assert ".." not in err


@needs_agentos
@pytest.mark.parametrize(
    "args",
    [("-C", "", "status"), ("status", "-C", ""), ("--workspace=", "status"), ("-C", " ", "status")],
)
def test_an_empty_workspace_option_is_a_usage_error(ws: Path, args: tuple[str, ...]) -> None:
    code, out, err = script(*args, "--json", cwd=ws)
    assert code == 2
    error = json.loads(out)["error"]
    assert error["type"] == "usage_error"
    assert "-C needs a directory" in error["message"]
    assert "Lock:" not in err


@needs_agentos
@pytest.mark.parametrize("args", [("-C", "", "hook", "claude"), ("hook", "claude", "--workspace=")])
def test_the_hook_refuses_an_empty_workspace_option(ws: Path, args: tuple[str, ...]) -> None:
    code, _out, err = script(*args, cwd=ws, stdin=b"{}")
    assert code == 2
    assert "needs a directory" in err
