"""``agentos doctor``: the workspace checks, and each integrated agent's hooks proven with a
canary run through small fake ``agentos`` scripts that answer in each agent's protocol (and,
once ``agentos hook`` exists, through the real one)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentos.hooks.doctor import Diagnosis, diagnose
from agentos.hooks.install import integrate
from agentos.hooks.integrate import SPECS
from agentos.pipeline import open_context
from agentos.pipeline.doctor import CheckResult
from helpers import REPO_ROOT, environment, needs_agentos, write_tree

DENY = {
    "claude": (
        json.dumps(
            {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": "path-safety: .git is never written",
                }
            }
        ),
        "",
        0,
    ),
    "codex": ("", "path-safety: .git is never written", 2),
    "gemini": (json.dumps({"decision": "deny", "reason": "path-safety"}), "", 0),
}
ALLOW = {
    "claude": (
        json.dumps(
            {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}}
        ),
        "",
        0,
    ),
    "codex": ("", "", 0),
    "gemini": (json.dumps({"decision": "allow"}), "", 0),
}
ASK = json.dumps(
    {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "ask",
            "permissionDecisionReason": "confirm",
        }
    }
)
SYSTEM_PATH = "/usr/bin:/bin"


class Setup:
    """A workspace, a home, and a bin folder holding a fake ``agentos`` hook."""

    def __init__(self, tmp_path: Path) -> None:
        self.ws = tmp_path / "ws"
        self.home = tmp_path / "home"
        self.bin = tmp_path / "bin"
        for folder in (self.ws, self.home, self.bin):
            folder.mkdir()
        self.script = self.bin / "agentos"

    def hook(self, stdout: str = "", stderr: str = "", code: int = 0, sleep: float = 0) -> None:
        """The fake agentos: keeps the event and where it ran, then answers."""
        lines = [
            "#!/bin/sh",
            f"cat > {shlex.quote(str(self.bin / 'event.json'))}",
            f"pwd > {shlex.quote(str(self.bin / 'cwd.txt'))}",
            f'echo "$@" > {shlex.quote(str(self.bin / "args.txt"))}',
        ]
        if sleep:
            lines.append(f"sleep {sleep}")
        lines += [
            f"printf '%s' {shlex.quote(stdout)}",
            f"printf '%s' {shlex.quote(stderr)} >&2",
            f"exit {code}",
        ]
        self.script.write_text("\n".join(lines) + "\n")
        self.script.chmod(0o755)

    def integrate(self, agent: str, *, prefix: str | None = None, scope: str = "project") -> Path:
        done = integrate(
            self.ws,
            self.home,
            agent,
            scope=scope,
            prefix=prefix or shlex.quote(str(self.script)),
            stamp="T",
        )
        return done.file

    def edit(self, path: Path, change: Any) -> None:
        settings = json.loads(path.read_text())
        change(settings)
        path.write_text(json.dumps(settings, indent=2))

    def diagnose(self, *, budget: float = 10.0, path: str | None = None) -> Diagnosis:
        env = {"PATH": path if path is not None else f"{self.bin}:{SYSTEM_PATH}"}
        return diagnose(open_context(self.ws), home=self.home, hook_budget_s=budget, environ=env)

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads((self.bin / "event.json").read_text()))


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def checks(found: Diagnosis, agent: str) -> dict[str, CheckResult]:
    return {c.name.split(": ", 1)[1]: c for c in found.checks if c.agent == agent}


def statuses(found: Diagnosis) -> dict[str, str]:
    return {c.name: c.status for c in found.checks}


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_a_correct_integration_passes(setup: Setup, agent: str) -> None:
    stdout, stderr, code = DENY[agent]
    setup.hook(stdout, stderr, code)
    path = setup.integrate(agent)
    found = setup.diagnose()
    assert found.failures == 0, found.checks
    assert found.warnings == 0, found.checks
    mine = checks(found, agent)
    assert set(mine) == {
        "settings",
        "command",
        "pre-write matcher",
        "timeout",
        "post-write hook",
        "turn hooks",
        "canary",
    }
    assert mine["canary"].detail.startswith("blocks")
    assert [(i.agent, i.scope, i.file) for i in found.integrations] == [(agent, "project", path)]
    # The hook ran as the agent runs it: in the workspace, with the canary event on stdin.
    event = setup.event
    assert event["hook_event_name"] == SPECS[agent].pre_write
    assert event["tool_name"] in SPECS[agent].write_tools
    assert Path((setup.bin / "cwd.txt").read_text().strip()) == setup.ws.resolve()
    assert (setup.bin / "args.txt").read_text().split() == ["hook", agent]
    assert not (setup.ws / ".git").exists()


def test_the_user_scope_is_checked_too(setup: Setup) -> None:
    setup.hook(*DENY["claude"])
    setup.integrate("claude", scope="user")
    found = setup.diagnose()
    assert found.failures == 0
    assert [(i.agent, i.scope) for i in found.integrations] == [("claude", "user")]


def test_no_integration_is_a_warning(setup: Setup) -> None:
    found = setup.diagnose()
    assert found.failures == 0
    assert statuses(found)["agent hooks"] == "warn"
    assert [c.name for c in found.checks][:5] == [
        "policy",
        "state directory",
        "recovery",
        "lock",
        "audit trail",
    ]


def test_a_command_not_on_path_fails(setup: Setup) -> None:
    setup.integrate("claude", prefix="agentos")
    found = setup.diagnose(path=f"{setup.bin / 'none'}:{SYSTEM_PATH}")
    mine = checks(found, "claude")
    assert mine["command"].status == "fail"
    assert "command not on PATH: 'agentos'" in mine["command"].detail
    assert mine["canary"].status == "fail"
    assert mine["canary"].detail.startswith("not run")


def test_a_missing_absolute_command_fails(setup: Setup) -> None:
    setup.integrate("gemini", prefix=str(setup.bin / "gone" / "agentos"))
    mine = checks(setup.diagnose(), "gemini")
    assert mine["command"].status == "fail"
    assert "not found or not executable" in mine["command"].detail


def test_a_matcher_that_misses_edit_fails(setup: Setup) -> None:
    setup.hook(*DENY["claude"])
    path = setup.integrate("claude")

    def narrow(settings: dict[str, Any]) -> None:
        settings["hooks"]["PreToolUse"][0]["matcher"] = "Write|MultiEdit"

    setup.edit(path, narrow)
    mine = checks(setup.diagnose(), "claude")
    assert mine["pre-write matcher"].status == "fail"
    assert "matcher 'Write|MultiEdit' misses Edit" in mine["pre-write matcher"].detail
    assert mine["canary"].status == "ok"


@pytest.mark.parametrize(
    ("agent", "answer", "detail"),
    [
        ("claude", ALLOW["claude"], "answers 'allow'"),
        ("claude", (ASK, "", 0), "answers 'ask'"),
        ("claude", ("not json at all", "", 0), "not JSON"),
        ("claude", ("", "crashed", 1), "exits 1"),
        ("codex", (ASK, "", 0), "answers 'ask', which Codex treats as allow"),
        ("codex", ALLOW["codex"], "answers nothing"),
        ("codex", ('{"hookSpecificOutput": ', "", 0), "not JSON"),
        ("codex", ("", "", 2), "exits 2 without a reason"),
        ("codex", ("", "boom", 1), "exits 1"),
        ("gemini", ALLOW["gemini"], "answers 'allow'"),
        ("gemini", ("garbage", "", 0), "not JSON"),
        ("gemini", ("", "warning", 1), "not JSON (exit 1)"),
    ],
)
def test_a_hook_that_does_not_block_fails(
    setup: Setup, agent: str, answer: tuple[str, str, int], detail: str
) -> None:
    setup.hook(*answer)
    setup.integrate(agent)
    found = setup.diagnose()
    canary = checks(found, agent)["canary"]
    assert canary.status == "fail"
    assert detail in canary.detail
    assert found.failures == 1


def test_a_usage_error_is_not_a_deny(setup: Setup) -> None:
    setup.hook("", "agentos: error: No such command 'hook'. (see 'agentos --help')\n", 2)
    setup.integrate("claude")
    canary = checks(setup.diagnose(), "claude")["canary"]
    assert canary.status == "fail"
    assert "usage error" in canary.detail


def test_a_timeout_shorter_than_agentos_needs_fails(setup: Setup) -> None:
    setup.hook(*DENY["gemini"])
    path = setup.integrate("gemini")

    def shorten(settings: dict[str, Any]) -> None:
        settings["hooks"]["BeforeTool"][0]["hooks"][0]["timeout"] = 5000

    setup.edit(path, shorten)
    mine = checks(setup.diagnose(), "gemini")
    assert mine["timeout"].status == "fail"
    assert "timeout 5000ms is not longer than agentos's worst case to answer (10s)" in (
        mine["timeout"].detail
    )
    assert mine["canary"].status == "ok"


def test_an_unset_timeout_is_the_agents_default(setup: Setup) -> None:
    setup.hook(*DENY["codex"])
    path = setup.integrate("codex")

    def unset(settings: dict[str, Any]) -> None:
        del settings["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"]

    setup.edit(path, unset)
    mine = checks(setup.diagnose(), "codex")
    assert mine["timeout"].status == "ok"
    assert mine["timeout"].detail.startswith("600s")


def test_a_hung_hook_fails_within_its_timeout(setup: Setup) -> None:
    setup.hook(*DENY["claude"], sleep=30)
    path = setup.integrate("claude")

    def tiny(settings: dict[str, Any]) -> None:
        settings["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"] = 0.5

    setup.edit(path, tiny)
    started = time.monotonic()
    found = setup.diagnose(budget=0.1)
    assert time.monotonic() - started < 10
    mine = checks(found, "claude")
    assert mine["timeout"].status == "ok"
    assert mine["canary"].status == "fail"
    assert "no answer within 0.5s" in mine["canary"].detail


def test_missing_post_write_and_turn_hooks_only_warn(setup: Setup) -> None:
    setup.hook(*DENY["claude"])
    path = setup.integrate("claude")

    def strip(settings: dict[str, Any]) -> None:
        for event in ("PostToolUse", "Stop", "UserPromptSubmit"):
            del settings["hooks"][event]

    setup.edit(path, strip)
    found = setup.diagnose()
    mine = checks(found, "claude")
    assert found.failures == 0
    assert mine["post-write hook"].status == "warn"
    assert "'agentos rollback' cannot undo them" in mine["post-write hook"].detail
    assert mine["turn hooks"].status == "warn"
    assert "UserPromptSubmit / Stop" in mine["turn hooks"].detail


def test_a_missing_pre_write_hook_fails(setup: Setup) -> None:
    setup.hook(*DENY["codex"])
    path = setup.integrate("codex")
    setup.edit(path, lambda settings: settings["hooks"].pop("PreToolUse"))
    mine = checks(setup.diagnose(), "codex")
    assert mine["pre-write hook"].status == "fail"
    assert "canary" not in mine


def test_hooks_disabled_in_the_file_fail(setup: Setup) -> None:
    setup.hook(*DENY["claude"])
    path = setup.integrate("claude")
    setup.edit(path, lambda settings: settings.update(disableAllHooks=True))
    mine = checks(setup.diagnose(), "claude")
    assert mine["settings"].status == "fail"
    assert "disableAllHooks" in mine["settings"].detail


def test_an_unreadable_settings_file_fails(setup: Setup) -> None:
    (setup.home / ".gemini").mkdir()
    (setup.home / ".gemini" / "settings.json").write_text("{oops")
    found = setup.diagnose()
    assert statuses(found)["gemini (user): settings"] == "fail"


@needs_agentos
@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_the_real_agentos_hook_blocks_the_canary(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, agent: str
) -> None:
    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT / "packages"))
    setup.integrate(agent, prefix="agentos")
    env = {**os.environ, "PATH": f"{venv_bin}:{SYSTEM_PATH}"}
    found = diagnose(open_context(setup.ws), home=setup.home, hook_budget_s=10.0, environ=env)
    assert found.failures == 0, found.checks


# -- the workspace checks ------------------------------------------------------------------


def test_an_invalid_policy_fails(setup: Setup) -> None:
    write_tree(setup.ws, {"agent/policies/default.yaml": "version: 1\nwritegate: [\n"})
    found = setup.diagnose()
    assert statuses(found)["policy"] == "fail"
    assert "default.yaml" in found.checks[0].detail


def test_a_symlinked_state_directory_fails(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (setup.ws / ".agentos").symlink_to(tmp_path / "elsewhere")
    assert statuses(setup.diagnose())["state directory"] == "fail"


def test_a_stale_lock_record_warns(setup: Setup) -> None:
    holder = {"pid": 2**22 + 12345, "host": os.uname().nodename, "since": "x"}
    write_tree(setup.ws, {".agentos/lock.holder.json": json.dumps(holder)})
    found = setup.diagnose()
    assert statuses(found)["lock"] == "warn"
    assert found.failures == 0


def test_an_edited_audit_trail_fails(setup: Setup) -> None:
    ctx = open_context(setup.ws)
    ctx.audit.append("test.event", actor="t", data={"n": 1})
    ctx.audit.append("test.event", actor="t", data={"n": 2})
    trail = setup.ws / ".agentos" / "audit" / "audit.jsonl"
    trail.write_text(trail.read_text().replace('"n":1', '"n":3'))
    assert statuses(setup.diagnose())["audit trail"] == "fail"
    assert statuses(setup.diagnose())["recovery"] == "ok"


@needs_agentos
def test_an_interrupted_execution_fails(setup: Setup) -> None:
    write_tree(setup.ws, {"src/a.txt": "a\n"})
    manifest = setup.ws.parent / "m.json"
    change = {"op": "modify", "path": "src/a.txt", "content": "b\n"}
    manifest.write_text(json.dumps({"changes": [change]}))
    policy = REPO_ROOT / "tests" / "data" / "permissive-policy.yaml"
    env = environment(
        AGENTOS_FAULTS="fsops.replace.after=crash", PYTHONPATH=str(REPO_ROOT / "packages")
    )
    agentos = Path(sys.executable).with_name("agentos")
    for args, code in (
        (["plan", str(manifest), "--plan-id", "p1"], 0),
        (["apply", "p1"], 137),
    ):
        proc = subprocess.run(
            [str(agentos), *args, "-C", str(setup.ws), "--policy", str(policy)],
            env=env,
            capture_output=True,
            check=False,
        )
        assert proc.returncode == code, proc.stderr
    found = setup.diagnose()
    recovery = next(c for c in found.checks if c.name == "recovery")
    assert recovery.status == "fail"
    assert "run 'agentos recover'" in recovery.detail
