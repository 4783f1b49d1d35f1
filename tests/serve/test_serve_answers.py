"""``agentos serve`` answers every event as ``agentos hook`` does: the same bytes for a
decision, the agent's own JSON block (with the same reason) where the command hook exits 2,
and the command hook's exit code in ``X-Agentos-Exit-Code``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agentos.hooks.protocols import Answer
from agentos.hooks.run import answer
from helpers import environment, write_tree
from serving import Response, Served, fixture_event, fixture_names, start_server

APP = b'def greet():\n    return "hello"\n'


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, key_dir: Path) -> Iterator[tuple[Served, Path]]:
    """One server for the module, over a workspace that ``reset`` puts back to the template
    before each event (so every event meets the same state, through either front-end)."""
    base = tmp_path_factory.mktemp("answers")
    template = base / "template"
    write_tree(template, {"src/app.py": APP})
    (template / ".agentos").mkdir()
    ws = (base / "ws").resolve()
    ws.mkdir()
    reset(ws, template)
    served = start_server(ws, log_dir=base / "logs", env={"AGENTOS_KEY_DIR": str(key_dir)})
    try:
        yield served, template
    finally:
        served.kill()


def reset(ws: Path, template: Path) -> None:
    """Make ``ws`` hold exactly ``template`` again (keeping the server's token file)."""
    for child in ws.iterdir():
        if child.name == ".agentos":
            for inner in child.iterdir():
                if inner.name != "serve":
                    shutil.rmtree(inner) if inner.is_dir() else inner.unlink()
        elif child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(template, ws, dirs_exist_ok=True)


def both(pair: tuple[Served, Path], agent: str, data: bytes) -> tuple[Response, Answer]:
    """The server's reply and the command hook's answer to ``data``, each from the
    template's state."""
    served, template = pair
    reset(served.workspace, template)
    reply = served.post(agent, data)
    reset(served.workspace, template)
    return reply, answer(agent, data, workspace=served.workspace)  # type: ignore[arg-type]


def assert_same(reply: Response, command: Answer, agent: str) -> None:
    """The reply stands for the command hook's answer exactly."""
    assert reply.status == 200
    assert reply.exit_code == command.exit_code
    if command.exit_code == 0:
        assert reply.body == command.stdout.encode()
        return
    doc = json.loads(reply.body)
    reason = command.stderr.rstrip("\n")
    if agent == "gemini":
        assert doc == {"decision": "deny", "reason": reason}
    elif "hookSpecificOutput" in doc:
        assert doc["hookSpecificOutput"]["permissionDecision"] == "deny"
        assert doc["hookSpecificOutput"]["permissionDecisionReason"] == reason
    else:
        assert doc == {"decision": "block", "reason": reason}


@pytest.mark.parametrize(("agent", "name"), fixture_names())
def test_every_fixture_event_gets_the_command_hooks_answer(
    pair: tuple[Served, Path], agent: str, name: str
) -> None:
    data = fixture_event(agent, name, pair[0].workspace)
    reply, command = both(pair, agent, data)
    assert_same(reply, command, agent)


def test_the_fixtures_cover_every_kind_of_answer(pair: tuple[Served, Path]) -> None:
    # The comparison above means something only if the answers differ: allow, no decision,
    # a JSON decision of each agent.
    bodies = set()
    for agent, name in fixture_names():
        reply, _command = both(pair, agent, fixture_event(agent, name, pair[0].workspace))
        bodies.add(reply.body[:40])
    assert b"" in bodies
    assert any(b.startswith(b'{"hookSpecificOutput"') for b in bodies)
    assert any(b.startswith(b'{"decision": "allow"') for b in bodies)


@pytest.mark.parametrize(
    ("agent", "name", "expected"),
    [
        ("claude", "pre_write", "hookSpecificOutput"),
        ("claude", "post_write", "block"),
        ("claude", "user_prompt_submit", "block"),
        ("codex", "pre_apply_patch", "hookSpecificOutput"),
        ("codex", "post_apply_patch", "block"),
        ("gemini", "before_write_file", "deny"),
        ("gemini", "after_write_file", "deny"),
        ("gemini", "before_agent", "deny"),
    ],
)
def test_a_failure_that_exits_2_becomes_the_agents_json_block(
    pair: tuple[Served, Path], agent: str, name: str, expected: str
) -> None:
    served, template = pair
    broken = template.parent / f"broken-{agent}-{name}"
    shutil.copytree(template, broken)
    policy = broken / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(yaml.safe_dump({"writegate": {"no_such_key": 1}}))
    try:
        data = fixture_event(agent, name, served.workspace)
        reply, command = both((served, broken), agent, data)
    finally:
        shutil.rmtree(broken)
    assert command.exit_code == 2
    assert "no_such_key" in command.stderr
    assert_same(reply, command, agent)
    doc = json.loads(reply.body)
    assert expected in (doc.get("decision"), next(iter(doc)))


def test_an_unreadable_event_is_blocked_in_every_protocol(pair: tuple[Served, Path]) -> None:
    for agent in ("claude", "codex", "gemini"):
        reply, command = both(pair, agent, b'{"hook_event_name": "PreToolUse"')
        assert command.exit_code == 2
        assert_same(reply, command, agent)


def test_the_answers_are_the_installed_commands_bytes(pair: tuple[Served, Path]) -> None:
    # Against the real `agentos hook claude -C WS` process, stdout and exit code.
    served, template = pair
    for data in (fixture_event("claude", "pre_edit", served.workspace), b"garbage"):
        reset(served.workspace, template)
        reply = served.post("claude", data)
        reset(served.workspace, template)
        proc = subprocess.run(
            [sys.executable, "-m", "agentos", "hook", "claude", "-C", str(served.workspace)],
            input=data,
            capture_output=True,
            env=environment(),
            check=False,
            timeout=120,
        )
        assert reply.exit_code == proc.returncode
        if proc.returncode == 0:
            assert reply.body == proc.stdout
        else:
            assert json.loads(reply.body)["reason"] == proc.stderr.decode().rstrip("\n")


def test_an_event_from_outside_the_workspace_is_judged_against_it(
    pair: tuple[Served, Path], tmp_path: Path
) -> None:
    # The server's workspace is fixed (-C): an event whose cwd is elsewhere is answered for
    # it, as 'agentos hook -C WORKSPACE' answers it — a write outside it is denied.
    elsewhere = tmp_path / "elsewhere"
    write_tree(elsewhere, {"src/app.py": APP})
    data = fixture_event("claude", "pre_write", elsewhere)
    reply, command = both(pair, "claude", data)
    assert_same(reply, command, "claude")
    decision = json.loads(reply.body)["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny"
    assert not (elsewhere / "src" / "new.py").exists()


def test_the_policy_is_read_again_when_it_changes(
    pair: tuple[Served, Path], tmp_path: Path
) -> None:
    served, template = pair
    strict = tmp_path / "strict"
    shutil.copytree(template, strict)
    policy = strict / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(yaml.safe_dump({"writegate": {"forbidden_paths": ["src/new.py"]}}))
    data = fixture_event("claude", "pre_write", served.workspace)
    allowed, _ = both(pair, "claude", data)
    assert b'"allow"' in allowed.body
    denied, command = both((served, strict), "claude", data)
    assert_same(denied, command, "claude")
    assert b'"deny"' in denied.body
    again, _ = both(pair, "claude", data)
    assert again.body == allowed.body
