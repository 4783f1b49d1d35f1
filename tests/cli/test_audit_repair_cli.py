"""``agentos audit repair``: the way out of a broken or deleted trail, and the errors that name it.

Trails are broken by editing their files as a person or an attacker would: an event edited in
the middle or at the end, a trail cut short, the whole audit folder deleted beside recorded
executions. Each time ``audit verify`` fails, writes refuse naming the way out, ``audit
repair`` keeps the old bytes intact in an archive and starts a chain that verifies, records
the break in its first event, and lets ``apply`` work again.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.audit.trail import AuditTrail
from agentos.errors import AUDIT_REPAIR_HINT
from agentos.executor.lock import workspace_lock
from agentos.pipeline.context import os_user
from agentos.workspace import Workspace
from helpers import CliResult, cli_apply, cli_plan, write_tree

Cli = Callable[..., CliResult]

REPAIR_KEYS = {
    "repaired",
    "resumed",
    "problem",
    "line",
    "seq",
    "missing",
    "executions",
    "last_good",
    "old_head",
    "last_line_sha256",
    "trail",
    "archive",
    "archived",
    "head",
    "anchor",
}
HINT = (
    "run 'agentos audit verify' to see where, then 'agentos audit repair' to archive it and "
    "start a new chain"
)


@pytest.fixture
def ws(workspace: Path, cli: Cli) -> Path:
    """A workspace with one committed execution (and so a trail of a dozen events)."""
    root = workspace.resolve()
    write_tree(root, {"src/a.txt": "one\n"})
    cli_plan(cli, root, "p1", [{"op": "modify", "path": "src/a.txt", "content": "two\n"}])
    assert cli_apply(cli, root, "p1").code == 0
    return root


def audit_of(ws: Path) -> Path:
    return ws / ".agentos" / "audit"


def lines_of(ws: Path) -> list[bytes]:
    return (audit_of(ws) / "audit.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(ws: Path, lines: list[bytes]) -> None:
    (audit_of(ws) / "audit.jsonl").write_bytes(b"".join(lines))


def edit_line(ws: Path, index: int) -> None:
    """Change the actor of event ``index`` (0-based), leaving its hash member as it was."""
    lines = lines_of(ws)
    record = json.loads(lines[index])
    lines[index] = lines[index].replace(
        f'"actor":"{record["actor"]}"'.encode(), b'"actor":"mallory"'
    )
    write_lines(ws, lines)


def files_of(directory: Path) -> dict[str, bytes]:
    """The bytes of every file in ``directory`` but the (empty) trail lock."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file() and p.name != "lock"}


def repair(cli: Cli, ws: Path, *extra: str) -> CliResult:
    return cli("audit", "repair", "-C", ws, "--json", *extra)


def archives(ws: Path) -> list[Path]:
    return sorted(audit_of(ws).glob("broken-*"))


def events(ws: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(ws)]


def another_apply_commits(cli: Cli, ws: Path, plan_id: str = "p2") -> None:
    """A new plan, applied: it commits, and the trail verifies afterwards."""
    content = f"{plan_id}\n"
    cli_plan(cli, ws, plan_id, [{"op": "modify", "path": "src/a.txt", "content": content}])
    result = cli_apply(cli, ws, plan_id)
    assert result.code == 0, result.err
    assert (ws / "src" / "a.txt").read_text() == content
    assert cli("audit", "verify", "-C", ws).code == 0


def refused_with_the_hint(cli: Cli, ws: Path) -> str:
    """A write refused with exit 6 naming the way out; its message."""
    manifest = ws.parent / "blocked.json"
    manifest.write_text(json.dumps({"changes": [{"op": "create", "path": "x.txt", "content": ""}]}))
    result = cli("plan", manifest, "-C", ws, "--plan-id", "blocked", "--json")
    assert result.code == 6, result.out + result.err
    error = result.json()["error"]
    assert error["type"] == "audit_chain_broken"
    assert error["message"].endswith(f" — {HINT}")
    return str(error["message"])


def test_the_hint_is_the_documented_one() -> None:
    assert AUDIT_REPAIR_HINT == HINT


# -- nothing to repair ----------------------------------------------------------------------------


def test_a_trail_that_verifies_is_left_alone(ws: Path, cli: Cli) -> None:
    before = files_of(audit_of(ws))
    head = json.loads((audit_of(ws) / "HEAD").read_text())
    result = repair(cli, ws)  # no --yes needed: there is nothing to confirm
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["command"] == "audit repair"
    assert set(doc["result"]) == REPAIR_KEYS
    assert doc["result"] == {
        "repaired": False,
        "resumed": False,
        "problem": None,
        "line": None,
        "seq": None,
        "missing": False,
        "executions": None,
        "last_good": None,
        "old_head": None,
        "last_line_sha256": None,
        "trail": None,
        "archive": None,
        "archived": [],
        "head": {"seq": head["seq"], "hash": head["hash"]},
        "anchor": f"{head['seq']}:{head['hash']}",
    }
    assert files_of(audit_of(ws)) == before
    assert archives(ws) == []
    human = cli("audit", "repair", "-C", ws)
    assert human.out.startswith("nothing to repair: the audit trail verifies")


def test_a_new_workspace_has_nothing_to_repair(workspace: Path, cli: Cli) -> None:
    assert cli("audit", "verify", "-C", workspace).code == 0
    result = repair(cli, workspace)
    assert result.code == 0
    assert result.json()["result"]["repaired"] is False
    assert result.json()["result"]["head"]["seq"] == 0
    assert not (workspace / ".agentos").exists()


# -- an edited event -------------------------------------------------------------------------------


def test_an_edited_middle_event_is_archived_and_a_new_chain_begins(ws: Path, cli: Cli) -> None:
    old = lines_of(ws)
    edit_line(ws, 2)
    broken = files_of(audit_of(ws))
    verify = cli("audit", "verify", "-C", ws, "--json")
    assert verify.code == 6
    problem = verify.json()["error"]["message"]
    assert ":3: event seq 3" in problem

    result = repair(cli, ws, "--yes")
    assert result.code == 0, result.err
    doc = result.json()["result"]
    assert set(doc) == REPAIR_KEYS
    (archive,) = archives(ws)
    assert doc["repaired"] is True
    assert doc["resumed"] is False
    assert doc["problem"] == problem
    assert (doc["line"], doc["seq"], doc["missing"], doc["executions"]) == (3, 3, False, 1)
    assert doc["last_good"] == {"seq": 2, "hash": json.loads(old[1])["hash"]}
    head_before = json.loads(broken["HEAD"])
    assert doc["old_head"] == {"seq": head_before["seq"], "hash": head_before["hash"]}
    assert doc["last_line_sha256"] == hashlib.sha256(old[-1]).hexdigest()
    assert doc["trail"] == {
        "bytes": len(broken["audit.jsonl"]),
        "sha256": hashlib.sha256(broken["audit.jsonl"]).hexdigest(),
    }
    assert doc["archive"] == str(archive)
    assert doc["archived"] == ["HEAD", "audit.jsonl"]
    # The old bytes, intact, in the archive; the lock file stays where processes wait on it.
    assert files_of(archive) == broken
    assert (audit_of(ws) / "lock").exists()

    # The new chain verifies, and its first event records the break and who repaired it.
    verified = cli("audit", "verify", "-C", ws, "--json")
    assert verified.code == 0
    assert verified.json()["result"]["events"] == 1
    (first,) = events(ws)
    assert doc["head"] == {"seq": 1, "hash": first["hash"]}
    assert doc["anchor"] == f"1:{first['hash']}"
    assert first["event"] == "audit.repaired"
    assert first["actor"] == os_user()
    assert set(first["data"]) == REPAIR_KEYS - {"repaired", "resumed", "head", "anchor"}
    assert first["data"] == {
        **{key: doc[key] for key in first["data"]},
        "archive": archive.relative_to(ws).as_posix(),
    }

    another_apply_commits(cli, ws)
    shown = cli("audit", "show", "-C", ws, "--json").json()["result"]["events"]
    assert shown[0]["event"] == "audit.repaired"
    assert shown[-1]["event"] == "apply.committed"


def test_an_edited_last_event_stops_writes_with_the_way_out(ws: Path, cli: Cli) -> None:
    edit_line(ws, len(lines_of(ws)) - 1)
    before = files_of(audit_of(ws))
    message = refused_with_the_hint(cli, ws)
    assert "does not match its hash; it was edited" in message
    assert files_of(audit_of(ws)) == before  # nothing was appended
    assert cli("audit", "verify", "-C", ws).code == 6

    assert repair(cli, ws, "--yes").code == 0
    assert files_of(archives(ws)[0]) == before
    another_apply_commits(cli, ws)


def test_a_repaired_trail_shows_in_the_human_output(ws: Path, cli: Cli) -> None:
    edit_line(ws, 1)
    result = cli("audit", "repair", "-C", ws, "--yes")
    assert result.code == 0, result.err
    (archive,) = archives(ws)
    head = events(ws)[0]["hash"]
    assert result.out.splitlines()[0].startswith("audit trail repaired: ")
    assert f"old trail kept in {archive} (HEAD, audit.jsonl)" in result.out
    assert f"new chain: 1:{head}" in result.out


# -- a trail cut short ---------------------------------------------------------------------------


def test_a_truncated_trail_is_archived_and_a_new_chain_begins(ws: Path, cli: Cli) -> None:
    old = lines_of(ws)
    kept = len(old) // 2
    write_lines(ws, [*old[:kept], old[kept][:20]])  # whole events, then a cut one
    broken = files_of(audit_of(ws))
    verify = cli("audit", "verify", "-C", ws, "--json")
    assert verify.code == 6
    assert "truncated" in verify.json()["error"]["message"]
    refused_with_the_hint(cli, ws)

    doc = repair(cli, ws, "-y").json()["result"]
    assert doc["repaired"] is True
    assert doc["line"] == kept + 1
    assert doc["last_good"] == {"seq": kept, "hash": json.loads(old[kept - 1])["hash"]}
    assert doc["old_head"]["seq"] == len(old)
    assert doc["last_line_sha256"] == hashlib.sha256(old[kept][:20]).hexdigest()
    assert files_of(archives(ws)[0]) == broken
    assert cli("audit", "verify", "-C", ws).code == 0
    another_apply_commits(cli, ws)


# -- a trail deleted ---------------------------------------------------------------------------


def test_a_deleted_trail_beside_executions_fails_verify_and_writes(ws: Path, cli: Cli) -> None:
    for path in sorted(audit_of(ws).iterdir()):
        path.unlink()
    audit_of(ws).rmdir()
    verify = cli("audit", "verify", "-C", ws, "--json")
    assert verify.code == 6
    error = verify.json()["error"]
    assert error["type"] == "audit_chain_broken"
    assert (
        "the audit trail is missing (no events, no HEAD) while 1 execution(s)" in (error["message"])
    )
    assert error["details"] == {"missing": True, "executions": 1}
    message = refused_with_the_hint(cli, ws)
    assert "the audit trail is missing" in message
    doctor = cli("doctor", "-C", ws, "--json").json()["result"]["checks"]
    (audit_check,) = [c for c in doctor if c["name"] == "audit trail"]
    assert audit_check["status"] == "fail"
    assert audit_check["detail"].endswith(HINT)

    doc = repair(cli, ws, "--yes").json()["result"]
    assert (doc["repaired"], doc["missing"], doc["executions"]) == (True, True, 1)
    assert (doc["archive"], doc["archived"], doc["trail"]) == (None, [], None)
    assert doc["problem"] == error["message"]
    (first,) = events(ws)
    assert first["event"] == "audit.repaired"
    assert first["data"]["missing"] is True
    assert cli("audit", "verify", "-C", ws).code == 0
    another_apply_commits(cli, ws)


def test_a_trail_emptied_beside_executions_fails_too(ws: Path, cli: Cli) -> None:
    (audit_of(ws) / "HEAD").unlink()
    write_lines(ws, [])
    assert cli("audit", "verify", "-C", ws).code == 6
    doc = repair(cli, ws, "--yes").json()["result"]
    assert doc["missing"] is True
    assert doc["archived"] == ["audit.jsonl"]
    assert (Path(doc["archive"]) / "audit.jsonl").read_bytes() == b""


@pytest.mark.parametrize("folder", ["executions", "journal/committed", "backups", "idempotency"])
def test_any_record_of_an_execution_counts(ws: Path, cli: Cli, folder: str) -> None:
    state = ws / ".agentos"
    for name in ("executions", "journal", "backups", "idempotency", "audit"):
        kept = state / name
        if kept.is_dir() and not folder.startswith(name):
            kept.rename(state.parent / f"aside-{name}")
    assert cli("audit", "verify", "-C", ws).code == 6


def test_without_any_execution_a_missing_trail_is_a_new_workspace(ws: Path, cli: Cli) -> None:
    state = ws / ".agentos"
    for name in ("executions", "journal", "backups", "idempotency", "audit"):
        (state / name).rename(state.parent / f"aside-{name}")
    assert (state / "plans").is_dir()  # plans are not executions
    assert cli("audit", "verify", "-C", ws).code == 0


def test_repair_without_yes_is_refused_off_a_terminal(ws: Path, cli: Cli) -> None:
    edit_line(ws, 2)
    before = files_of(audit_of(ws))
    for extra in ((), ("--json",)):
        result = cli("audit", "repair", "-C", ws, *extra)
        assert result.code == 2
        assert "only when confirmed: run it on a terminal, or pass --yes" in result.err
    assert files_of(audit_of(ws)) == before
    assert archives(ws) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code"), [("n\n", 2), ("\n", 2), ("y\n", 0)])
def test_on_a_terminal_repair_asks_first(
    ws: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    edit_line(ws, 2)
    before = files_of(audit_of(ws))
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    result = cli("audit", "repair", "-C", ws)
    assert result.code == code, result.err
    assert "the audit trail does not verify: " in result.err
    if code:
        assert "audit repair not confirmed; nothing was changed" in result.err
        assert files_of(audit_of(ws)) == before
    else:
        assert cli("audit", "verify", "-C", ws).code == 0


def test_repair_waits_for_the_workspace_lock(ws: Path, cli: Cli) -> None:
    edit_line(ws, 2)
    before = files_of(audit_of(ws))
    with workspace_lock(Workspace(ws), timeout=1, holder={"execution_id": "exec-busy"}):
        result = repair(cli, ws, "--yes", "--lock-timeout", "0.2")
    assert result.code == 75
    assert "exec-busy" in result.json()["error"]["message"]
    assert files_of(audit_of(ws)) == before


def test_every_file_is_archived_and_earlier_archives_stay(ws: Path, cli: Cli) -> None:
    assert cli("status", "-C", ws).code == 0  # writes the snapshot of the folds
    audit = audit_of(ws)
    assert (audit / "folds.sqlite").is_file()
    (audit / "ci.anchor").write_text("1:" + "0" * 64 + "\n")
    edit_line(ws, 2)
    first = repair(cli, ws, "--yes").json()["result"]
    assert first["archived"] == ["HEAD", "audit.jsonl", "ci.anchor", "folds.sqlite"]
    assert not (audit / "folds.sqlite").exists()
    assert (audit / "lock").exists()

    edit_line(ws, 0)  # break the new chain too
    second = repair(cli, ws, "--yes").json()["result"]
    assert second["archived"] == ["HEAD", "audit.jsonl"]
    assert len(archives(ws)) == 2  # the first archive stays where it was, untouched
    assert first["archive"] != second["archive"]
    assert sorted(p.name for p in Path(first["archive"]).iterdir()) == first["archived"]
    assert cli("status", "-C", ws).code == 0


def test_a_linked_archive_candidate_is_refused_before_anything_moves(
    ws: Path, cli: Cli, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("mine\n")
    (audit_of(ws) / "notes").symlink_to(outside)
    edit_line(ws, 2)
    before = files_of(audit_of(ws))
    result = repair(cli, ws, "--yes")
    assert result.code == 6
    assert result.json()["error"]["type"] == "state_integrity"
    assert files_of(audit_of(ws)) == before
    assert archives(ws) == []
    assert outside.read_text() == "mine\n"


def test_repair_goes_through_the_workspace_trail_api(ws: Path) -> None:
    # The trail a library user opens sees the repaired chain as agentos wrote it.
    edit_line(ws, 2)
    from agentos.pipeline.auditing import repair_audit
    from agentos.pipeline.context import open_context

    repaired = repair_audit(open_context(ws, actor="lib"), confirm=lambda found: None)
    assert repaired.event is not None
    assert repaired.event["actor"] == "lib"
    assert AuditTrail(audit_of(ws)).verify().events == 1
