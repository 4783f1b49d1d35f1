"""``audit repair`` killed at each of its steps, and the parts it is built from.

A repair killed anywhere (``AGENTOS_FAULTS=<point>=crash``, an ``os._exit`` like a SIGKILL)
leaves either the old broken trail in place — still failing ``verify``, still refused by
every write — or the new chain complete; running ``audit repair`` again always ends with a
chain that verifies and whose first event records the original break, and the old bytes
intact in an archive.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agentos.audit.evidence import recorded_executions
from agentos.audit.repair import check_trail, repair
from agentos.audit.trail import AuditTrail
from agentos.faults import CRASH_EXIT_CODE
from agentos.statelinks import keep_as
from helpers import CliResult, agentos_subprocess, cli_apply, cli_plan, write_tree

Cli = Callable[..., CliResult]


@pytest.fixture
def ws(workspace: Path, cli: Cli) -> Path:
    """A workspace with one committed execution and the last event of its trail edited (so
    that writes refuse it too: they check the end of the trail, ``verify`` all of it)."""
    root = workspace.resolve()
    write_tree(root, {"src/a.txt": "one\n"})
    cli_plan(cli, root, "p1", [{"op": "modify", "path": "src/a.txt", "content": "two\n"}])
    assert cli_apply(cli, root, "p1").code == 0
    trail = root / ".agentos" / "audit" / "audit.jsonl"
    lines = trail.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"actor":"', b'"actor":"x', 1)
    trail.write_bytes(b"".join(lines))
    return root


def audit_of(ws: Path) -> Path:
    return ws / ".agentos" / "audit"


def trail_files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in ("audit.jsonl", "HEAD")}


def verify(cli: Cli, ws: Path) -> CliResult:
    return cli("audit", "verify", "-C", ws, "--json")


# Where the repair is killed, and what must then be in place: the old trail, the old trail
# with HEAD naming the staged chain, or the new chain.
CRASHES = {
    "audit.repair.archive=crash@1": "old",
    "audit.repair.archive=crash@2": "old",
    "audit.repair.staged=crash": "old",
    "audit.repair.head=crash": "staged",
    "audit.repair.committed=crash": "new",
}


@pytest.mark.parametrize("faults", list(CRASHES))
def test_a_repair_killed_at_any_step_leaves_old_or_new_and_can_be_run_again(
    ws: Path, cli: Cli, faults: str
) -> None:
    broken = trail_files(audit_of(ws))
    problem = verify(cli, ws).json()["error"]["message"]

    code, _ = agentos_subprocess(ws, "audit", "repair", "--yes", faults=faults)
    assert code == CRASH_EXIT_CODE

    left = CRASHES[faults]
    after = verify(cli, ws)
    if left == "new":
        assert after.code == 0, after.err
    else:
        assert after.code == 6
        assert (audit_of(ws) / "audit.jsonl").read_bytes() == broken["audit.jsonl"]
        if left == "old":
            assert (audit_of(ws) / "HEAD").read_bytes() == broken["HEAD"]
            assert after.json()["error"]["message"] == problem
        manifest = ws.parent / "m.json"
        manifest.write_text(
            json.dumps({"changes": [{"op": "create", "path": "b.txt", "content": ""}]})
        )
        refused = cli("plan", manifest, "-C", ws, "--json")
        assert refused.code == 6
        assert "'agentos audit repair'" in refused.json()["error"]["message"]

    again = cli("audit", "repair", "-C", ws, "--yes", "--json")
    assert again.code == 0, again.err
    result = again.json()["result"]
    assert result["repaired"] is (left != "new")
    assert result["resumed"] is (left == "staged")
    assert verify(cli, ws).code == 0
    first = json.loads((audit_of(ws) / "audit.jsonl").read_bytes().splitlines()[0])
    assert first["event"] == "audit.repaired"
    assert first["data"]["problem"] == problem
    kept = [trail_files(a) for a in audit_of(ws).glob("broken-*") if (a / "audit.jsonl").exists()]
    assert broken in kept

    cli_plan(cli, ws, "p2", [{"op": "modify", "path": "src/a.txt", "content": "three\n"}])
    assert cli_apply(cli, ws, "p2").code == 0
    assert verify(cli, ws).code == 0


def test_a_staged_chain_that_head_does_not_name_is_a_leftover(ws: Path) -> None:
    # Killed before HEAD named it: the staged file changes nothing, and is replaced.
    trail = AuditTrail(audit_of(ws))
    (audit_of(ws) / "audit.jsonl.new").write_bytes(b"leftover\n")
    assert trail.staged_chain() is None
    repaired = repair(trail, actor="tester")
    assert repaired.event is not None
    assert not repaired.resumed
    assert not (audit_of(ws) / "audit.jsonl.new").exists()
    assert trail.verify().events == 1


def test_check_trail_describes_the_break_and_changes_nothing(ws: Path) -> None:
    trail = AuditTrail(audit_of(ws))
    before = trail_files(audit_of(ws))
    found = check_trail(trail)
    assert not isinstance(found, tuple)
    assert getattr(found, "line", None) == len(before["audit.jsonl"].splitlines())
    assert trail_files(audit_of(ws)) == before


# -- what the parts do -----------------------------------------------------------------------------


def test_recorded_executions_counts_each_execution_once(tmp_path: Path) -> None:
    state = tmp_path / ".agentos"
    assert recorded_executions(state) == 0
    for folder, name in [
        ("executions", "exec-a.json"),
        ("journal/committed", "exec-a.json"),
        ("journal", "exec-b.json"),
        ("journal/agent", "exec-c.json"),
    ]:
        (state / folder).mkdir(parents=True, exist_ok=True)
        (state / folder / name).write_text("{}")
    (state / "backups" / "exec-b").mkdir(parents=True)
    (state / "backups" / "stray-file").write_text("")
    (state / "idempotency").mkdir()
    (state / "idempotency" / "p1.json").write_text(json.dumps({"execution_id": "exec-a"}))
    (state / "idempotency" / "p2.json").write_text("not json")
    # exec-a, exec-b, exec-c, and the unreadable record of plan p2
    assert recorded_executions(state) == 4


def test_keep_as_links_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "a"
    source.write_bytes(b"trail\n")
    keep_as(source, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"trail\n"
    assert source.samefile(tmp_path / "b")


def test_keep_as_copies_where_links_are_not_supported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "links not supported")

    source = tmp_path / "a"
    source.write_bytes(b"trail\n")
    source.chmod(0o640)
    monkeypatch.setattr(os, "link", no_links)
    keep_as(source, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"trail\n"
    assert not source.samefile(tmp_path / "b")
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o640
    with pytest.raises(FileExistsError):
        keep_as(source, tmp_path / "b")
