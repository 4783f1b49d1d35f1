"""What agentos does on a terminal and only there: ``show --diff`` through a pager (as git
does), and a progress line per running health check while ``apply`` runs. Run in a
pseudo-terminal (``pty``); the same commands into a pipe, with ``--json`` or ``-q`` page
nothing and draw nothing."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from helpers import AGENTOS, agentos, environment, make_plan, needs_agentos, set_policy, write_tree

pytestmark = needs_agentos
CHANGE = [{"op": "modify", "path": "src/a.txt", "content": "b\n"}]
# A pager that keeps what it was given (and the LESS it was run with) in $PAGED_TO.
PAGER_SCRIPT = (
    "import os, sys\n"
    "data = sys.stdin.buffer.read()\n"
    "with open(os.environ['PAGED_TO'], 'wb') as out:\n"
    "    out.write(data + b'\\nLESS=' + os.environ.get('LESS', '').encode())\n"
)
SLOW_CHECK = "slowcheck"


def in_terminal(
    argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str], stderr_tty: bool = True
) -> tuple[int, str, str]:
    """Run ``agentos ARGV`` with stdout (and stderr, unless ``stderr_tty`` is false) on a
    pseudo-terminal 160 columns wide; (exit code, what the terminal got, stderr if piped)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        [str(AGENTOS), *map(str, argv)],
        cwd=cwd,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "160"},
        stdin=slave,
        stdout=slave,
        stderr=slave if stderr_tty else subprocess.PIPE,
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 60 s; so far: {seen!r}")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        seen += data
    err = ""
    if proc.stderr is not None:
        with proc.stderr:
            err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    os.close(master)
    return code, seen.decode(errors="replace"), err


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(root, {"src/a.txt": "a\n"})
    set_policy(root, [])
    make_plan(root, "p1", CHANGE)
    return root


@pytest.fixture
def pager(tmp_path: Path) -> tuple[str, Path]:
    """An ``AGENTOS_PAGER`` value, and the file it writes what it was given to."""
    script = tmp_path / "pager.py"
    script.write_text(PAGER_SCRIPT)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}", tmp_path / "paged.txt"


def test_show_diff_goes_through_the_pager_on_a_terminal(ws: Path, pager: tuple[str, Path]) -> None:
    command, paged = pager
    env = environment(AGENTOS_PAGER=command, PAGER="false", PAGED_TO=str(paged))
    env.pop("LESS", None)
    code, seen, _ = in_terminal(["show", "p1", "--diff"], cwd=ws, env=env)
    assert code == 0, seen
    text = paged.read_text()
    assert "+b" in text
    assert "Plan p1" in text
    assert text.endswith("LESS=FRX")  # as git sets it for less
    assert "+b" not in seen  # it went to the pager, not to the terminal


def test_no_pager_without_a_terminal_with_json_or_when_turned_off(
    ws: Path, pager: tuple[str, Path]
) -> None:
    command, paged = pager
    env = environment(AGENTOS_PAGER=command, PAGED_TO=str(paged))
    piped = subprocess.run(
        [str(AGENTOS), "show", "p1", "--diff"], cwd=ws, env=env, capture_output=True, check=False
    )
    assert piped.returncode == 0
    assert "+b" in piped.stdout.decode()
    code, seen, _ = in_terminal(["show", "p1", "--diff", "--json"], cwd=ws, env=env)
    assert code == 0
    assert '"diff": "diff --git' in seen
    for off in ("", "cat"):
        turned_off = environment(AGENTOS_PAGER=off, PAGER=command, PAGED_TO=str(paged))
        code, seen, _ = in_terminal(["show", "p1", "--diff"], cwd=ws, env=turned_off)
        assert code == 0
        assert "+b" in seen
    code, seen, _ = in_terminal(["show", "p1"], cwd=ws, env=env)  # paged only with --diff
    assert "Plan p1" in seen
    assert not paged.exists()


def test_a_missing_pager_falls_back_to_printing(ws: Path) -> None:
    env = environment(AGENTOS_PAGER="/nonexistent/pager -R")
    code, seen, _ = in_terminal(["show", "p1", "--diff"], cwd=ws, env=env)
    assert code == 0, seen
    assert "+b" in seen
    assert "error" not in seen


def test_pager_is_taken_from_agentos_pager_then_pager_then_less() -> None:
    from agentos.cli.pager import pager_argv

    assert pager_argv({}) == ["less", "-FRX"]
    assert pager_argv({"PAGER": "more -d"}) == ["more", "-d"]
    assert pager_argv({"AGENTOS_PAGER": "most", "PAGER": "more"}) == ["most"]
    assert pager_argv({"AGENTOS_PAGER": "", "PAGER": "more"}) is None
    assert pager_argv({"PAGER": "cat"}) is None
    assert pager_argv({"PAGER": "'unbalanced"}) is None


def test_the_pager_runner_is_injected() -> None:
    from rich.console import Console

    from agentos.cli.pager import paged

    calls: list[tuple[list[str], bytes, str | None]] = []

    def fake(argv: Sequence[str], data: bytes, env: Mapping[str, str]) -> None:
        calls.append((list(argv), data, env.get("LESS")))

    def missing(argv: Sequence[str], data: bytes, env: Mapping[str, str]) -> None:
        raise FileNotFoundError(argv[0])

    def render(out: Console) -> None:
        out.print("the diff")

    for runner, terminal, printed in ((fake, True, ""), (missing, True, "the diff\n")):
        out = Console(file=io.StringIO(), width=80)
        paged(render, runner=runner, env={"LESS": "R"}, is_terminal=lambda t=terminal: t)(out)
        assert out.file.getvalue() == printed  # type: ignore[attr-defined]
    assert calls == [(["less", "-FRX"], b"the diff\n", "R")]  # the user's LESS is kept
    out = Console(file=io.StringIO(), width=80)
    paged(render, runner=fake, env={}, is_terminal=lambda: False)(out)
    assert out.file.getvalue() == "the diff\n"  # type: ignore[attr-defined]
    assert len(calls) == 1


def slow_policy(ws: Path) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(1.5)"]
    set_policy(ws, [{"name": SLOW_CHECK, "command": command}])


def test_health_checks_show_progress_on_a_terminal(ws: Path) -> None:
    slow_policy(ws)
    code, seen, _ = in_terminal(["apply", "p1"], cwd=ws, env=environment())
    assert code == 0, seen
    assert re.search(rf"health check {SLOW_CHECK}\s+\d+\.\ds", seen), seen
    assert "committed" in seen


@pytest.mark.parametrize("how", ["--json", "-q", "stderr piped"])
def test_no_progress_with_json_quiet_or_no_terminal(ws: Path, how: str) -> None:
    slow_policy(ws)
    argv = ["apply", "p1"] + ([how] if how.startswith("-") else [])
    code, seen, err = in_terminal(argv, cwd=ws, env=environment(), stderr_tty=how != "stderr piped")
    assert code == 0, seen + err
    assert "health check" not in seen + err
    assert (ws / "src" / "a.txt").read_text() == "b\n"


def test_the_progress_lines_name_each_running_check_and_its_time() -> None:
    from rich.console import Console

    from agentos.cli.progress import Display

    now = [10.0]
    display = Display(Console(file=io.StringIO()), clock=lambda: now[0])
    display.check("unit", "running", 1)
    now[0] = 12.5
    display.check("api", "running", 1)
    assert display.lines() == ["health check api  0.0s", "health check unit  2.5s"]
    display.check("unit", "running", 2)
    display.written(3, 10)
    now[0] = 13.0
    assert display.lines() == [
        "writing 3/10 files",
        "health check api  0.5s",
        "health check unit (attempt 2)  3.0s",
    ]
    display.check("unit", "passed", 2)
    display.check("api", "failed", 1)
    display.written(10, 10)
    assert display.lines() == []
    display.stop()


def test_apply_without_a_terminal_is_unchanged(ws: Path) -> None:
    run = agentos("apply", "p1", cwd=ws)
    assert run.code == 0
    assert run.err == ""
