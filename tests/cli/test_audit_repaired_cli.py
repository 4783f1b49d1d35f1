"""A repaired trail stays visibly repaired: ``audit verify`` warns about the repair its chain
starts with and checks the archive the repair named, ``status`` names the repair.

Without this, deleting the archive after a repair left a one-event trail that verified with no
warning at all, while every earlier execution had vanished from ``history``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.pipeline.context import os_user
from helpers import CliResult, cli_apply, cli_plan, write_tree

Cli = Callable[..., CliResult]

REPAIR_NOTE_KEYS = {"seq", "ts", "actor", "problem", "archive"}


@pytest.fixture
def ws(workspace: Path, cli: Cli) -> Path:
    """A workspace with one committed execution whose trail got a garbage line, repaired."""
    root = workspace.resolve()
    write_tree(root, {"src/a.txt": "one\n"})
    cli_plan(cli, root, "p1", [{"op": "modify", "path": "src/a.txt", "content": "two\n"}])
    assert cli_apply(cli, root, "p1").code == 0
    with (root / ".agentos" / "audit" / "audit.jsonl").open("ab") as trail:
        trail.write(b"garbage\n")
    repaired = cli("audit", "repair", "-C", root, "--yes", "--json")
    assert repaired.code == 0, repaired.err
    return root


def archive_of(ws: Path) -> Path:
    (archive,) = sorted((ws / ".agentos" / "audit").glob("broken-*"))
    return archive


def first_event(ws: Path) -> dict[str, Any]:
    line = (ws / ".agentos" / "audit" / "audit.jsonl").read_bytes().splitlines()[0]
    record: dict[str, Any] = json.loads(line)
    return record


def verify(cli: Cli, ws: Path) -> CliResult:
    return cli("audit", "verify", "-C", ws, "--json")


def test_verify_warns_about_the_repair_naming_when_who_and_the_archive(ws: Path, cli: Cli) -> None:
    event = first_event(ws)
    where = archive_of(ws).relative_to(ws).as_posix()
    result = verify(cli, ws)
    assert result.code == 0, result.err
    doc = result.json()["result"]
    assert doc["events"] == 1
    [note] = doc["repairs"]
    assert set(note) == REPAIR_NOTE_KEYS
    assert note == {
        "seq": 1,
        "ts": event["ts"],
        "actor": os_user(),
        "problem": event["data"]["problem"],
        "archive": where,
    }
    [warning] = doc["warnings"]
    assert warning.startswith(f"the audit trail was repaired at {event['ts']} by {os_user()}")
    assert "not a valid JSON event" in warning  # why
    assert f"kept in {where}" in warning

    human = cli("audit", "verify", "-C", ws)
    assert human.code == 0
    assert human.out.startswith("audit trail OK: 1 event(s)")
    assert f"repaired: event seq 1, at {event['ts']} by {os_user()}" in human.out
    assert f"agentos: warning: {warning}" in human.err


def test_a_deleted_archive_fails_verify_as_evidence_destroyed(ws: Path, cli: Cli) -> None:
    where = archive_of(ws).relative_to(ws).as_posix()
    shutil.rmtree(archive_of(ws))
    result = verify(cli, ws)
    assert result.code == 6, result.out
    error = result.json()["error"]
    assert error["type"] == "audit_chain_broken"
    assert error["message"].startswith(f"the archive {where} of the repair at ")
    assert error["message"].endswith("is missing; the broken trail it kept was deleted")
    assert error["details"] == {"seq": 1, "archive": where}
    assert cli("audit", "verify", "-C", ws).code == 6
    assert cli("audit", "anchor", "-C", ws).code == 6


def test_an_altered_archived_trail_fails_verify(ws: Path, cli: Cli) -> None:
    with (archive_of(ws) / "audit.jsonl").open("ab") as kept:
        kept.write(b"x")
    result = verify(cli, ws)
    assert result.code == 6
    message = result.json()["error"]["message"]
    assert "audit.jsonl does not match the hash recorded by the repair at" in message
    # Its bytes put back as they were: the archive checks again.
    with (archive_of(ws) / "audit.jsonl").open("rb+") as kept:
        kept.truncate(kept.seek(0, 2) - 1)
    assert verify(cli, ws).code == 0


def test_a_file_missing_from_the_archive_fails_verify(ws: Path, cli: Cli) -> None:
    (archive_of(ws) / "HEAD").unlink()
    result = verify(cli, ws)
    assert result.code == 6
    assert "lacks HEAD; the evidence it kept was deleted" in result.json()["error"]["message"]


def test_repair_records_a_lost_archive_and_verify_passes_again(ws: Path, cli: Cli) -> None:
    lost = archive_of(ws).relative_to(ws).as_posix()
    shutil.rmtree(archive_of(ws))
    problem = verify(cli, ws).json()["error"]["message"]
    assert cli("audit", "repair", "-C", ws, "--yes").code == 0
    assert first_event(ws)["data"]["problem"] == problem
    result = verify(cli, ws)
    assert result.code == 0, result.out
    [note] = result.json()["result"]["repairs"]
    assert note["archive"] == archive_of(ws).relative_to(ws).as_posix()
    assert f"the archive {lost} of the repair at " in result.json()["result"]["warnings"][0]


def test_status_names_the_repair(ws: Path, cli: Cli) -> None:
    event = first_event(ws)
    where = archive_of(ws).relative_to(ws).as_posix()
    doc = cli("status", "-C", ws, "--json").json()["result"]
    assert set(doc["audit_repaired"]) == REPAIR_NOTE_KEYS
    assert doc["audit_repaired"] == {
        "seq": 1,
        "ts": event["ts"],
        "actor": os_user(),
        "problem": event["data"]["problem"],
        "archive": where,
    }
    human = cli("status", "-C", ws)
    assert f"Audit trail: repaired at {event['ts']} by {os_user()} (earlier events " in human.out
    assert where in human.out
    # The rest of the status is as it was.
    assert human.out.splitlines()[:4] == [
        f"Workspace: {ws.resolve()}",
        "Lock: free",
        "Interrupted: none",
        "Circuit breakers: all closed",
    ]
