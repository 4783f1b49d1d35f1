"""``agentos integrate``: agentos's hooks merged into and removed from each agent's settings,
as pure functions over JSON and on disk (idempotent, other keys kept, backups, refusals)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentos.errors import UsageError
from agentos.hooks.install import integrate
from agentos.hooks.integrate import (
    AGENTS,
    SPECS,
    SettingsError,
    command_prefix,
    detect_indent,
    dump_settings,
    installed,
    is_agentos_handler,
    merge_hooks,
    parse_settings,
    remove_hooks,
)

STAMP = "20240102T030405Z"


def other_settings(agent: str) -> dict[str, Any]:
    """A settings document as a user might have it: other keys, other hooks on agentos's
    events and on others."""
    spec = SPECS[agent]
    return {
        "model": "some-model",
        "permissions": {"allow": ["Bash(ls)"]},
        "hooks": {
            spec.pre_write: [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}
            ],
            "SessionStart": [{"hooks": [{"type": "command", "command": "hello.sh"}]}],
            spec.turn_end: [{"hooks": [{"type": "command", "command": "notify.sh", "timeout": 5}]}],
        },
        "zzz_last": True,
    }


# -- the pure part -----------------------------------------------------------------------


@pytest.mark.parametrize("agent", AGENTS)
def test_merge_adds_one_handler_per_event_and_keeps_everything_else(agent: str) -> None:
    spec = SPECS[agent]
    original = other_settings(agent)
    merged = merge_hooks(original, spec, f"agentos hook {agent}")
    assert list(merged) == list(original)  # same keys, same order ("hooks" kept in place)
    for key in ("model", "permissions", "zzz_last"):
        assert merged[key] == original[key]
    table = merged["hooks"]
    assert table["SessionStart"] == original["hooks"]["SessionStart"]
    # Other hooks first and untouched, agentos's group appended.
    assert table[spec.pre_write][0] == original["hooks"][spec.pre_write][0]
    assert table[spec.turn_end][0] == original["hooks"][spec.turn_end][0]
    assert sorted(i.event for i in installed(merged, spec)) == sorted(spec.events)
    pre = table[spec.pre_write][-1]
    assert pre["matcher"] == spec.matcher
    assert pre["hooks"][0]["command"] == f"agentos hook {agent}"
    assert pre["hooks"][0]["timeout"] == spec.timeout
    assert "matcher" not in table[spec.turn_start][0]
    assert original == other_settings(agent)  # the input is not modified


@pytest.mark.parametrize("agent", AGENTS)
def test_merging_twice_is_merging_once_and_remove_restores_the_rest(agent: str) -> None:
    spec = SPECS[agent]
    once = merge_hooks(other_settings(agent), spec, f"agentos hook {agent}")
    assert merge_hooks(once, spec, f"agentos hook {agent}") == once
    assert remove_hooks(once, spec) == other_settings(agent)
    assert remove_hooks(merge_hooks({}, spec, f"agentos hook {agent}"), spec) == {}


def test_a_stale_agentos_handler_is_updated_in_place_and_duplicates_go() -> None:
    spec = SPECS["claude"]
    stale = {"type": "command", "command": "/old/venv/bin/agentos hook claude", "timeout": 3}
    settings = {
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]},
                {"matcher": spec.matcher, "hooks": [stale, {"type": "command", "command": "x"}]},
                {"matcher": "Write", "hooks": [dict(stale)]},
            ]
        }
    }
    merged = merge_hooks(settings, spec, "agentos hook claude")
    groups = merged["hooks"]["PreToolUse"]
    # Updated where it was; its neighbour kept; the group it alone filled dropped.
    assert groups == [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]},
        {
            "matcher": spec.matcher,
            "hooks": [
                {"type": "command", "command": "agentos hook claude", "timeout": 30},
                {"type": "command", "command": "x"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("command", "agent", "ours"),
    [
        ("agentos hook claude", "claude", True),
        ("/opt/venv/bin/agentos hook claude", "claude", True),
        ("'/path with space/agentos' hook claude", "claude", True),
        ("python3 -m agentos hook codex", "codex", True),
        ("AGENTOS_X=1 agentos hook gemini --verbose", "gemini", True),
        ("agentos hook codex", "claude", False),
        ("myagentos hook claude", "claude", False),
        ("agentos hooks claude", "claude", False),
        ("agentos hook 'claude", "claude", False),  # does not split: not agentos's
    ],
)
def test_agentos_handlers_are_recognised_by_their_command(
    command: str, agent: str, ours: bool
) -> None:
    assert is_agentos_handler({"type": "command", "command": command}, agent) is ours


def test_exec_form_and_other_handler_types() -> None:
    exec_form = {"type": "command", "command": "/bin/agentos", "args": ["hook", "claude"]}
    assert is_agentos_handler(exec_form, "claude")
    assert not is_agentos_handler({"type": "http", "command": "agentos hook claude"}, "claude")
    assert not is_agentos_handler("agentos hook claude", "claude")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hooks": []}, "'hooks' is a list, not an object"),
        ({"hooks": {"PreToolUse": {"matcher": "x"}}}, "'hooks.PreToolUse' is an object"),
    ],
)
def test_a_hooks_table_of_another_shape_is_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        merge_hooks(settings, SPECS["claude"], "agentos hook claude")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": ', "is not valid JSON"),
        (b"[1, 2]", "holds a list, not a JSON object"),
        (b"\xff\xfe", "is not UTF-8"),
    ],
)
def test_settings_that_are_not_a_json_object_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings(data)


def test_an_empty_file_is_an_empty_object() -> None:
    assert parse_settings(b"") == {}
    assert parse_settings(b"  \n") == {}


def test_indentation_follows_the_file() -> None:
    assert detect_indent('{\n    "a": 1\n}') == 4
    assert detect_indent('{\n\t"a": 1\n}') == "\t"
    assert detect_indent('{"a": 1}') == 2
    assert dump_settings({"a": [1]}, '{\n    "b": 2\n}') == b'{\n    "a": [\n        1\n    ]\n}\n'
    assert dump_settings({"a": 1}, None) == b'{\n  "a": 1\n}\n'


def test_the_command_prefix() -> None:
    script = Path("/opt/tools venv/bin/agentos")
    assert command_prefix(script, on_path=True, python="/usr/bin/python3") == "agentos"
    assert command_prefix(script, on_path=False, python="/p") == "'/opt/tools venv/bin/agentos'"
    assert command_prefix(None, on_path=False, python="/usr/bin/python3") == (
        "/usr/bin/python3 -m agentos"
    )


# -- on disk -------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def write_settings(path: Path, settings: dict[str, Any], indent: int = 4) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(settings, indent=indent) + "\n").encode()
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("agent", AGENTS)
def test_integrate_twice_then_remove(ws: Path, tmp_path: Path, agent: str) -> None:
    path = ws / SPECS[agent].settings
    original = write_settings(path, other_settings(agent))
    first = integrate(ws, tmp_path / "home", agent, prefix="agentos", stamp=STAMP)
    assert first.action == "installed"
    assert first.changed
    written = path.read_bytes()
    assert json.loads(written)["model"] == "some-model"
    assert written.startswith(b'{\n    "model"')  # the file's own 4-space indentation
    assert written.endswith(b"}\n")
    # The previous bytes are kept where git never looks.
    assert first.backup == ws / ".agentos" / "settings-backups" / agent / f"{path.name}.{STAMP}"
    assert first.backup.read_bytes() == original

    second = integrate(ws, tmp_path / "home", agent, prefix="agentos", stamp="later")
    assert second.action == "unchanged"
    assert second.backup is None
    assert path.read_bytes() == written

    removed = integrate(ws, tmp_path / "home", agent, remove=True, stamp="later")
    assert removed.action == "removed"
    assert json.loads(path.read_bytes()) == other_settings(agent)
    assert integrate(ws, tmp_path / "home", agent, remove=True, stamp="x").action == "absent"


def test_integrate_creates_the_file_and_its_folder(ws: Path, tmp_path: Path) -> None:
    done = integrate(ws, tmp_path / "home", "gemini", prefix="/opt/agentos", stamp=STAMP)
    assert done.action == "installed"
    assert done.backup is None
    settings = json.loads((ws / ".gemini" / "settings.json").read_text())
    handler = settings["hooks"]["BeforeTool"][0]["hooks"][0]
    assert handler == {
        "name": "agentos",
        "type": "command",
        "command": "/opt/agentos hook gemini",
        "timeout": 30000,
    }
    assert (ws / ".gemini" / "settings.json").stat().st_mode & 0o777 == 0o644
    assert not list(ws.rglob(".agentos-*.tmp"))


def test_the_file_mode_is_kept(ws: Path, tmp_path: Path) -> None:
    path = ws / ".claude" / "settings.json"
    write_settings(path, {})
    path.chmod(0o600)
    integrate(ws, tmp_path / "home", "claude", prefix="agentos", stamp=STAMP)
    assert path.stat().st_mode & 0o777 == 0o600


def test_invalid_json_is_refused_and_nothing_is_written(ws: Path, tmp_path: Path) -> None:
    path = ws / ".codex" / "hooks.json"
    path.parent.mkdir()
    path.write_bytes(b'{"hooks": {')
    with pytest.raises(UsageError, match=r"hooks\.json is not valid JSON .*nothing was written"):
        integrate(ws, tmp_path / "home", "codex", prefix="agentos", stamp=STAMP)
    assert path.read_bytes() == b'{"hooks": {'
    assert not (ws / ".agentos").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["hooks.json"]


def test_a_settings_object_of_another_shape_is_refused(ws: Path, tmp_path: Path) -> None:
    path = ws / ".claude" / "settings.json"
    original = write_settings(path, {"hooks": ["x"]})
    with pytest.raises(UsageError, match="'hooks' is a list, not an object"):
        integrate(ws, tmp_path / "home", "claude", prefix="agentos", stamp=STAMP)
    assert path.read_bytes() == original


def test_a_symlinked_project_folder_is_refused(ws: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ws / ".claude").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="symlink"):
        integrate(ws, tmp_path / "home", "claude", prefix="agentos", stamp=STAMP)
    assert list(elsewhere.iterdir()) == []


def test_user_scope_writes_under_home(ws: Path, tmp_path: Path, monkeypatch: Any) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    original = write_settings(home / ".claude" / "settings.json", other_settings("claude"), 2)
    done = integrate(ws, Path.home(), "claude", scope="user", prefix="agentos", stamp=STAMP)
    assert done.file == home / ".claude" / "settings.json"
    assert done.backup == home / ".claude" / f"settings.json.agentos-backup-{STAMP}"
    assert done.backup.read_bytes() == original
    assert [i.event for i in installed(json.loads(done.file.read_text()), SPECS["claude"])]
    assert not (ws / ".claude").exists()
    assert not (ws / ".agentos").exists()
    # A second backup in the same second gets a name of its own.
    integrate(ws, home, "claude", scope="user", remove=True, stamp=STAMP)
    assert (home / ".claude" / f"settings.json.agentos-backup-{STAMP}-2").read_bytes() != original


def test_a_symlinked_user_settings_file_keeps_its_link(ws: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    dotfiles = tmp_path / "dotfiles" / "claude.json"
    write_settings(dotfiles, {"model": "m"})
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").symlink_to(dotfiles)
    integrate(ws, home, "claude", scope="user", prefix="agentos", stamp=STAMP)
    assert (home / ".claude" / "settings.json").is_symlink()
    assert "agentos hook claude" in dotfiles.read_text()
    assert (home / ".claude" / "settings.json").readlink() == dotfiles


def test_unknown_agents_and_scopes_are_usage_errors(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown agent 'cursor'"):
        integrate(ws, tmp_path, "cursor", stamp=STAMP)
    with pytest.raises(UsageError, match="--scope 'global'"):
        integrate(ws, tmp_path, "claude", scope="global", stamp=STAMP)
