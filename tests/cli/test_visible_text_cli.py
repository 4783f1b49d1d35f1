"""Text from plans and files is shown, never obeyed by the terminal (``agentos.cli.visible``).

A plan's intent and content are written by whoever made the plan: an escape sequence in them
(``ESC[2K ESC[1G`` erases the line so far, ``ESC[2J`` clears the screen) or a bidirectional
override would hide text from the person reviewing it. The human output shows them as
``^[`` and ``<U+202E>``; ``--json`` keeps the text exact.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agentos.cli.visible import visible
from helpers import AGENTOS, agentos, environment, needs_agentos, set_policy, write_tree

INTENT = "fix\x1b[2K\x1b[1Ghidden\nauthor: someone trusted \u202eevil"
CONTENT = "a\x1b[2J\x1b[31mred\n\u202egnp.exe\n\x9b31mc1\x7f\n"
UNSAFE = ("\x1b", "\u202e", "\x9b", "\x7f")


def test_visible_shows_controls_and_bidi_formatting() -> None:
    assert visible("plain text, tabs\tand ünïcode") == "plain text, tabs\tand ünïcode"
    assert visible("\x1b[2J\x00\x07\x7f") == "^[[2J^@^G^?"
    assert visible("\x9b31m \x85") == "<U+009B>31m <U+0085>"
    assert visible("a\u202eb\u2066c\u200fd\u061c") == "a<U+202E>b<U+2066>c<U+200F>d<U+061C>"
    assert visible("one\ntwo\r") == "one^Jtwo^M"
    assert visible("one\ntwo\r", lines=True) == "one\ntwo^M"


def run(ws: Path, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """The installed script, its human output captured (not a terminal)."""
    return subprocess.run(
        [str(AGENTOS), *map(str, args)],
        cwd=ws,
        env=environment(AGENTOS_PAGER="cat"),
        capture_output=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    write_tree(ws, {"src/a.txt": "a\n"})
    set_policy(ws, [])
    manifest = tmp_path / "manifest.json"
    change = {"op": "create", "path": "src/b.txt", "content": CONTENT}
    manifest.write_text(json.dumps({"intent": INTENT, "changes": [change]}))
    done = agentos("plan", manifest, "--plan-id", "px", "-o", ws / "px.json", cwd=ws)
    assert done.code == 0, done.doc
    return ws / "px.json"


@needs_agentos
def test_show_diff_shows_escapes_in_intent_and_content(plan_file: Path) -> None:
    proc = run(plan_file.parent, "show", plan_file, "--diff")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    for char in UNSAFE:
        assert char not in out
    assert "  intent:   fix^[[2K^[[1Ghidden^Jauthor: someone trusted <U+202E>evil\n" in out
    assert "+a^[[2J^[[31mred\n" in out
    assert "+<U+202E>gnp.exe\n" in out
    assert "+<U+009B>31mc1^?\n" in out


@needs_agentos
def test_markdown_reports_show_escapes_too(plan_file: Path) -> None:
    proc = run(plan_file.parent, "show", plan_file, "--diff", "--markdown")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    for char in UNSAFE:
        assert char not in out
    assert "^\\[\\[2K" in out  # the intent, Markdown-escaped
    assert "+a^[[2J^[[31mred\n" in out  # the diff, in its fenced block


@needs_agentos
def test_json_keeps_the_text_exact(plan_file: Path) -> None:
    shown = agentos("show", plan_file, "--diff", cwd=plan_file.parent)
    assert shown.result["intent"] == INTENT
    assert "+a\x1b[2J\x1b[31mred\n" in shown.result["diff"]


def test_errors_warnings_and_notes_on_stderr_show_escapes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agentos.cli.render import print_error, print_info, print_warning

    print_error("bad \x1b[2Jpath")
    print_warning("odd \u202eline")
    print_info("note\x1b]0;title\x07")
    assert capsys.readouterr().err == (
        "agentos: error: bad ^[[2Jpath\n"
        "agentos: warning: odd <U+202E>line\n"
        "agentos: note^[]0;title^G\n"
    )
