"""Idempotency with Stripe's semantics, and the ways one ``apply`` call ends (SPEC §8).

Replays of committed plans, counted attempts after a failure, a plan id reused for other
content, expiry of records, rollbacks that make a plan applicable again, ``--dry-run``, and
several plans in one call — through the in-process CLI. (What a rollback inverts, and when it
cannot — unknown or pruned executions — is in test_inverse.py.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentos.executor.idempotency import IdempotencyRecord, write_record
from helpers import (
    MODIFY_A,
    MODIFY_B,
    PERMISSIVE_POLICY,
    Cli,
    cli_apply,
    cli_plan,
    cli_rollback,
    policy_with_executor,
    read_tree,
    trail,
)

pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture
def ws(script_ws: Path) -> Path:
    """This module's workspace: ``SCRIPT_TREE`` (see tests/executor/conftest.py)."""
    return script_ws


def record(ws: Path, plan_id: str) -> dict[str, Any]:
    return dict(json.loads((ws / ".agentos" / "idempotency" / f"{plan_id}.json").read_text()))


def test_committed_plan_replays_without_writing(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "p1", MODIFY_A)
    first = cli_apply(cli, ws, "p1")
    assert (first.code, first.json()["result"]["status"]) == (0, "committed")
    after = read_tree(ws)
    seen = len(trail(ws))
    # Even a hand edit afterwards stays behind the replay: the record answers, not the disk.
    (ws / "src" / "a.txt").write_text("edited by hand\n")
    edited = read_tree(ws)
    again = cli_apply(cli, ws, "p1")
    result = again.json()["result"]
    assert (again.code, result["status"]) == (0, "already_applied")
    assert result["execution_id"] == first.json()["result"]["execution_id"]
    assert "nothing written" in result["message"]
    assert read_tree(ws) == edited
    assert after["src/a.txt"] == (b"two\n", "100644")
    new = [e["event"] for e in trail(ws)[seen:]]
    assert "apply.replayed" in new
    assert not {"lock.acquired", "apply.started", "journal.prepared"} & set(new), new
    assert record(ws, "p1")["attempts"] == 1


def test_failed_attempt_then_retry_counts_attempts(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos.faults import reset_hits

    before = read_tree(ws)
    cli_plan(cli, ws, "p1", MODIFY_A)
    monkeypatch.setenv("AGENTOS_FAULTS", "fsops.replace.before=eio@1")
    failed = cli_apply(cli, ws, "p1")
    result = failed.json()["result"]
    assert (failed.code, result["status"], result["attempt"]) == (1, "rolled_back", 1)
    assert failed.json()["error"]["type"] == "execution_failed"
    assert read_tree(ws) == before
    assert (record(ws, "p1")["status"], record(ws, "p1")["attempts"]) == ("rolled_back", 1)

    monkeypatch.delenv("AGENTOS_FAULTS")
    reset_hits()
    retry = cli_apply(cli, ws, "p1")
    result = retry.json()["result"]
    assert (retry.code, result["status"], result["attempt"]) == (0, "committed", 2)
    assert result["execution_id"] == failed.json()["result"]["execution_id"]
    assert (record(ws, "p1")["status"], record(ws, "p1")["attempts"]) == ("committed", 2)
    assert read_tree(ws)["src/a.txt"] == (b"two\n", "100644")
    started = [e["data"]["attempt"] for e in trail(ws) if e["event"] == "apply.started"]
    assert started == [1, 2]


def test_plan_id_reused_for_other_content_is_a_conflict(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "p1", MODIFY_A)
    assert cli_apply(cli, ws, "p1").code == 0
    after = read_tree(ws)
    other = cli_plan(cli, ws, "p1", MODIFY_B, output=ws.parent / "other.json")
    res = cli_apply(cli, ws, other)
    assert res.code == 5
    doc = res.json()
    assert doc["ok"] is False
    assert doc["error"]["type"] == "conflict"
    assert "'p1'" in doc["error"]["message"]
    assert doc["error"]["details"]["plan_id"] == "p1"
    assert "p1" in res.err
    assert read_tree(ws) == after
    assert record(ws, "p1")["status"] == "committed"


def test_expired_record_recognises_post_images(cli: Cli, ws: Path, tmp_path: Path) -> None:
    policy = policy_with_executor(tmp_path, idempotency={"cached_result_ttl": 0})
    cli_plan(cli, ws, "p1", MODIFY_A, policy=policy)
    first = cli_apply(cli, ws, "p1", policy=policy)
    assert first.code == 0
    after = read_tree(ws)
    seen = len(trail(ws))
    again = cli_apply(cli, ws, "p1", policy=policy)
    result = again.json()["result"]
    assert (again.code, result["status"]) == (0, "already_applied")
    assert "post-image" in result["message"]
    assert read_tree(ws) == after
    new = [e["event"] for e in trail(ws)[seen:]]
    assert "drift.checked" in new  # the expired record did not answer: the disk did
    assert "journal.prepared" not in new

    # With the record expired, the plan id names a new change if its pre-images match.
    other = cli_plan(cli, ws, "p1", MODIFY_B, policy=policy, output=ws.parent / "other.json")
    reused = cli_apply(cli, ws, other, policy=policy)
    assert (reused.code, reused.json()["result"]["status"]) == (0, "committed"), reused.out
    assert read_tree(ws)["src/b.txt"] == (b"BEE\n", "100644")
    assert record(ws, "p1")["checksum"] == reused.json()["result"]["checksum"]


@pytest.mark.file_store(
    "ages the record in .agentos/idempotency/ by hand; a shared store's record stays fresh"
)
def test_record_past_its_ttl_is_ignored(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "p1", MODIFY_A)
    assert cli_apply(cli, ws, "p1").code == 0
    old = record(ws, "p1")
    old.pop("seal")
    stamp = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    # Aged as the clock would age it: rewritten by agentos's own writer, so still sealed.
    write_record(
        ws / ".agentos", IdempotencyRecord(**{**old, "committed_at": stamp}), durable=False
    )
    after = read_tree(ws)
    again = cli_apply(cli, ws, "p1")
    assert (again.code, again.json()["result"]["status"]) == (0, "already_applied")
    assert "post-image" in again.json()["result"]["message"]
    assert read_tree(ws) == after
    # Expired, and the files changed since: a stale plan, not a replay.
    (ws / "src" / "a.txt").write_text("edited\n")
    stale = cli_apply(cli, ws, "p1")
    assert (stale.code, stale.json()["result"]["status"]) == (5, "stale")
    assert read_tree(ws)["src/a.txt"] == (b"edited\n", "100644")


def test_rollback_marks_the_record_reverted_and_a_new_attempt_commits(cli: Cli, ws: Path) -> None:
    before = read_tree(ws)
    cli_plan(cli, ws, "p1", MODIFY_A)
    first = cli_apply(cli, ws, "p1").json()["result"]
    after = read_tree(ws)
    undo = cli_rollback(cli, ws, first["execution_id"])
    result = undo.json()["result"]
    assert (undo.code, result["status"], result["kind"]) == (0, "committed", "rollback")
    assert result["parent"] == first["execution_id"]
    assert read_tree(ws) == before
    assert record(ws, "p1")["status"] == "reverted"

    again = cli_apply(cli, ws, "p1")
    result = again.json()["result"]
    assert (again.code, result["status"], result["attempt"]) == (0, "committed", 2)
    assert read_tree(ws) == after
    assert (record(ws, "p1")["status"], record(ws, "p1")["attempts"]) == ("committed", 2)


def test_dry_run_writes_nothing(cli: Cli, ws: Path) -> None:
    before = read_tree(ws)
    cli_plan(cli, ws, "p1", [*MODIFY_A, {"op": "create", "path": "new/x.txt", "content": "x\n"}])
    res = cli("apply", "p1", "--dry-run", "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    result = res.json()["result"]
    assert (res.code, result["status"]) == (0, "dry_run")
    assert "nothing written" in result["message"]
    assert read_tree(ws) == before
    assert not (ws / "new").exists()
    state = ws / ".agentos"
    assert not (state / "idempotency" / "p1.json").exists()
    assert not list(state.glob("journal/**/*.json"))
    assert not list(state.glob("backups/*"))
    real = cli_apply(cli, ws, "p1")
    assert (real.json()["result"]["status"], real.json()["result"]["attempt"]) == ("committed", 1)


def test_dry_run_of_a_stale_plan_is_stale(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "p1", MODIFY_A)
    (ws / "src" / "a.txt").write_text("changed\n")
    res = cli("apply", "p1", "--dry-run", "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert (res.code, res.json()["result"]["status"]) == (5, "stale")
    assert res.json()["result"]["drifted"]


def test_several_plans_apply_in_order_and_stop_at_the_first_failure(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "p1", MODIFY_A)
    cli_plan(cli, ws, "p2", [{"op": "modify", "path": "src/a.txt", "content": "three\n"}])
    cli_plan(cli, ws, "p3", MODIFY_B)
    res = cli_apply(cli, ws, "p1", "p2", "p3")
    doc = res.json()
    assert (res.code, doc["ok"]) == (5, False)
    rows = doc["result"]["executions"]
    assert [(r["plan_id"], r["status"]) for r in rows] == [("p1", "committed"), ("p2", "stale")]
    assert doc["result"]["plan_id"] == "p2"
    assert doc["result"]["status"] == "stale"
    assert rows[1]["drifted"]
    assert doc["error"]["type"] == "stale"
    tree = read_tree(ws)
    assert tree["src/a.txt"] == (b"two\n", "100644")
    assert tree["src/b.txt"] == (b"bee\n", "100644")  # p3 was not attempted
    assert not (ws / ".agentos" / "idempotency" / "p3.json").exists()
    assert "p3" not in {e.get("plan_id") for e in trail(ws) if e["event"].startswith("apply.")}


def test_several_plans_all_commit_in_order(cli: Cli, ws: Path) -> None:
    cli_plan(cli, ws, "p1", MODIFY_A)
    cli_plan(cli, ws, "p2", MODIFY_B)
    res = cli_apply(cli, ws, "p2", "p1")
    rows = res.json()["result"]["executions"]
    assert res.code == 0
    assert [(r["plan_id"], r["status"]) for r in rows] == [("p2", "committed"), ("p1", "committed")]
    committed = [e["plan_id"] for e in trail(ws) if e["event"] == "apply.committed"]
    assert committed == ["p2", "p1"]
