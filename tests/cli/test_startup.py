"""Start-up: a command loads its own module and the stages it runs, nothing more (SPEC §11)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from agentos.cli.app import COMMAND_MODULES
from agentos.cli.context import REGISTRY

PROBE = """
import json, sys
from agentos.cli.entry import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("agentos", "rich")))))
sys.exit(code)
"""


def test_every_command_word_names_the_module_that_registers_it() -> None:
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(f"agentos.cli.{module}")
    registered = {(e.group or e.name): e.fn.__module__.rsplit(".", 1)[1] for e in REGISTRY}
    assert registered == COMMAND_MODULES


def _loaded(args: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, check=False
    )
    return set(json.loads(proc.stdout.decode().splitlines()[-1]))


def test_a_command_loads_only_its_own_command_module(tmp_path: Path) -> None:
    loaded = _loaded(["status", "-C", str(tmp_path), "--json"], tmp_path)
    commands = {m for m in loaded if m.startswith("agentos.cli.") and m.endswith("_cmd")}
    assert commands == {"agentos.cli.status_cmd"}
    # Neither the policy author's tools nor the servers, hooks or MCP are loaded for status.
    assert not {m for m in loaded if m.startswith(("agentos.mcpserver", "agentos.serve"))}
    assert "agentos.hooks.protocols" not in loaded
    # Nor the policy model, the YAML parser, the secret patterns or the locks.
    for heavy in ("agentos.governance.policy", "yaml", "filelock", "pathspec"):
        assert heavy not in loaded
    assert "agentos.governance.secrets" not in loaded


def test_the_approval_key_variable_is_the_one_governance_reads() -> None:
    from agentos.governance.approvals import KEY_ENV
    from agentos.pipeline.context import APPROVAL_KEY_ENV

    assert APPROVAL_KEY_ENV == KEY_ENV


def test_help_lists_every_command(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentos", "--help"], cwd=tmp_path, capture_output=True, check=False
    )
    assert proc.returncode == 0
    for word in COMMAND_MODULES:
        assert word in proc.stdout.decode()


def test_an_unknown_command_still_gets_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentos", "plann"], cwd=tmp_path, capture_output=True, check=False
    )
    assert proc.returncode == 2
    assert "plann" in proc.stderr.decode()


def test_importing_the_results_module_does_not_load_the_use_cases() -> None:
    probe = (
        "import sys, agentos.pipeline.results;"
        "print(sorted(m for m in sys.modules if m.startswith('agentos.pipeline')))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True)
    assert "agentos.pipeline.execution" not in proc.stdout.decode()
    assert "agentos.pipeline.gating" not in proc.stdout.decode()
