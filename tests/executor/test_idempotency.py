"""Idempotency with Stripe's semantics, and the ways one ``apply`` call ends (SPEC §8).

Replays of committed plans, counted attempts after a failure, a plan id reused for other
content, expiry of records, rollbacks that make a plan applicable again, pruned backups,
``--dry-run``, and several plans in one call — through the in-process CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.executor.idempotency import IdempotencyRecord, write_record
from helpers import PERMISSIVE_POLICY, CliResult, read_tree, write_tree

Cli = Callable[..., CliResult]

TREE: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "src/a.txt": "one\n",
    "src/b.txt": "bee\n",
    "src/tool.sh": ("echo hi\n", "100755"),
}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(root, TREE)
    return root


@pytest.fixture(autouse=True)
def _no_faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from agentos.faults import reset_hits

    monkeypatch.delenv("AGENTOS_FAULTS", raising=False)
    monkeypatch.delenv("AGENTOS_FAULTS_TRACE", raising=False)
    reset_hits()
    yield
    reset_hits()


def make_policy(tmp_path: Path, **executor: Any) -> Path:
    """The permissive test policy with some ``executor`` keys changed (kept outside ws)."""
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    doc["executor"].update(executor)
    path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def plan(
    cli: Cli,
    ws: Path,
    plan_id: str,
    changes: list[dict[str, str]],
    *,
    policy: Path = PERMISSIVE_POLICY,
    output: Path | None = None,
) -> Path:
    """Plan a manifest of ``changes`` under ``plan_id``; return the plan file."""
    manifest = ws.parent / f"manifest-{plan_id}-{len(list(ws.parent.glob('manifest-*')))}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    extra = ("-o", output) if output is not None else ()
    res = cli(
        "plan", manifest, "-C", ws, "--plan-id", plan_id, "--policy", policy, "--json", *extra
    )
    assert res.code == 0, res.out + res.err
    return Path(res.json()["result"]["plan_file"])


def apply(cli: Cli, ws: Path, *refs: str | Path, policy: Path = PERMISSIVE_POLICY) -> CliResult:
    res = cli("apply", *refs, "-C", ws, "--policy", policy, "--json")
    assert "Traceback" not in res.err
    assert res.json()["exit_code"] == res.code
    return res


def rollback(
    cli: Cli, ws: Path, execution_id: str, *, policy: Path = PERMISSIVE_POLICY
) -> CliResult:
    res = cli("rollback", execution_id, "-C", ws, "--policy", policy, "--json")
    assert "Traceback" not in res.err
    assert res.json()["exit_code"] == res.code
    return res


def record(ws: Path, plan_id: str) -> dict[str, Any]:
    return dict(json.loads((ws / ".agentos" / "idempotency" / f"{plan_id}.json").read_text()))


def events(ws: Path) -> list[dict[str, Any]]:
    trail = ws / ".agentos" / "audit" / "audit.jsonl"
    return [json.loads(line) for line in trail.read_text().splitlines()]


MODIFY_A = [{"op": "modify", "path": "src/a.txt", "content": "two\n"}]
MODIFY_B = [{"op": "modify", "path": "src/b.txt", "content": "BEE\n"}]


def test_committed_plan_replays_without_writing(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", MODIFY_A)
    first = apply(cli, ws, "p1")
    assert (first.code, first.json()["result"]["status"]) == (0, "committed")
    after = read_tree(ws)
    seen = len(events(ws))
    # Even a hand edit afterwards stays behind the replay: the record answers, not the disk.
    (ws / "src" / "a.txt").write_text("edited by hand\n")
    edited = read_tree(ws)
    again = apply(cli, ws, "p1")
    result = again.json()["result"]
    assert (again.code, result["status"]) == (0, "already_applied")
    assert result["execution_id"] == first.json()["result"]["execution_id"]
    assert "nothing written" in result["message"]
    assert read_tree(ws) == edited
    assert after["src/a.txt"] == (b"two\n", "100644")
    new = [e["event"] for e in events(ws)[seen:]]
    assert "apply.replayed" in new
    assert not {"lock.acquired", "apply.started", "journal.prepared"} & set(new), new
    assert record(ws, "p1")["attempts"] == 1


def test_failed_attempt_then_retry_counts_attempts(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentos.faults import reset_hits

    before = read_tree(ws)
    plan(cli, ws, "p1", MODIFY_A)
    monkeypatch.setenv("AGENTOS_FAULTS", "fsops.replace.before=eio@1")
    failed = apply(cli, ws, "p1")
    result = failed.json()["result"]
    assert (failed.code, result["status"], result["attempt"]) == (1, "rolled_back", 1)
    assert failed.json()["error"]["type"] == "execution_failed"
    assert read_tree(ws) == before
    assert (record(ws, "p1")["status"], record(ws, "p1")["attempts"]) == ("rolled_back", 1)

    monkeypatch.delenv("AGENTOS_FAULTS")
    reset_hits()
    retry = apply(cli, ws, "p1")
    result = retry.json()["result"]
    assert (retry.code, result["status"], result["attempt"]) == (0, "committed", 2)
    assert result["execution_id"] == failed.json()["result"]["execution_id"]
    assert (record(ws, "p1")["status"], record(ws, "p1")["attempts"]) == ("committed", 2)
    assert read_tree(ws)["src/a.txt"] == (b"two\n", "100644")
    started = [e["data"]["attempt"] for e in events(ws) if e["event"] == "apply.started"]
    assert started == [1, 2]


def test_plan_id_reused_for_other_content_is_a_conflict(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", MODIFY_A)
    assert apply(cli, ws, "p1").code == 0
    after = read_tree(ws)
    other = plan(cli, ws, "p1", MODIFY_B, output=ws.parent / "other.json")
    res = apply(cli, ws, other)
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
    policy = make_policy(tmp_path, idempotency={"cached_result_ttl": 0})
    plan(cli, ws, "p1", MODIFY_A, policy=policy)
    first = apply(cli, ws, "p1", policy=policy)
    assert first.code == 0
    after = read_tree(ws)
    seen = len(events(ws))
    again = apply(cli, ws, "p1", policy=policy)
    result = again.json()["result"]
    assert (again.code, result["status"]) == (0, "already_applied")
    assert "post-image" in result["message"]
    assert read_tree(ws) == after
    new = [e["event"] for e in events(ws)[seen:]]
    assert "drift.checked" in new  # the expired record did not answer: the disk did
    assert "journal.prepared" not in new

    # With the record expired, the plan id names a new change if its pre-images match.
    other = plan(cli, ws, "p1", MODIFY_B, policy=policy, output=ws.parent / "other.json")
    reused = apply(cli, ws, other, policy=policy)
    assert (reused.code, reused.json()["result"]["status"]) == (0, "committed"), reused.out
    assert read_tree(ws)["src/b.txt"] == (b"BEE\n", "100644")
    assert record(ws, "p1")["checksum"] == reused.json()["result"]["checksum"]


def test_record_past_its_ttl_is_ignored(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", MODIFY_A)
    assert apply(cli, ws, "p1").code == 0
    old = record(ws, "p1")
    old.pop("seal")
    stamp = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    # Aged as the clock would age it: rewritten by agentos's own writer, so still sealed.
    write_record(
        ws / ".agentos", IdempotencyRecord(**{**old, "committed_at": stamp}), durable=False
    )
    after = read_tree(ws)
    again = apply(cli, ws, "p1")
    assert (again.code, again.json()["result"]["status"]) == (0, "already_applied")
    assert "post-image" in again.json()["result"]["message"]
    assert read_tree(ws) == after
    # Expired, and the files changed since: a stale plan, not a replay.
    (ws / "src" / "a.txt").write_text("edited\n")
    stale = apply(cli, ws, "p1")
    assert (stale.code, stale.json()["result"]["status"]) == (5, "stale")
    assert read_tree(ws)["src/a.txt"] == (b"edited\n", "100644")


def test_rollback_marks_the_record_reverted_and_a_new_attempt_commits(cli: Cli, ws: Path) -> None:
    before = read_tree(ws)
    plan(cli, ws, "p1", MODIFY_A)
    first = apply(cli, ws, "p1").json()["result"]
    after = read_tree(ws)
    undo = rollback(cli, ws, first["execution_id"])
    result = undo.json()["result"]
    assert (undo.code, result["status"], result["kind"]) == (0, "committed", "rollback")
    assert result["parent"] == first["execution_id"]
    assert read_tree(ws) == before
    assert record(ws, "p1")["status"] == "reverted"

    again = apply(cli, ws, "p1")
    result = again.json()["result"]
    assert (again.code, result["status"], result["attempt"]) == (0, "committed", 2)
    assert read_tree(ws) == after
    assert (record(ws, "p1")["status"], record(ws, "p1")["attempts"]) == ("committed", 2)


def test_rolling_back_a_rollback_redoes_the_change(cli: Cli, ws: Path) -> None:
    changes = [
        {"op": "create", "path": "new/deep/x.txt", "content": "x\n", "mode": "100755"},
        {"op": "delete", "path": "src/b.txt"},
        {"op": "rename", "from": "src/tool.sh", "path": "bin/tool.sh", "mode": "100644"},
    ]
    before = read_tree(ws)
    plan(cli, ws, "p1", changes)
    applied = apply(cli, ws, "p1").json()["result"]
    after = read_tree(ws)
    undo = rollback(cli, ws, applied["execution_id"]).json()["result"]
    assert read_tree(ws) == before
    assert not (ws / "new").exists()
    assert not (ws / "bin").exists()
    redo = rollback(cli, ws, undo["execution_id"])
    result = redo.json()["result"]
    assert (redo.code, result["status"], result["parent"]) == (0, "committed", undo["execution_id"])
    assert read_tree(ws) == after
    # Undoing the same rollback again is a replay of it: nothing is written.
    replay = rollback(cli, ws, undo["execution_id"])
    assert (replay.code, replay.json()["result"]["status"]) == (0, "already_applied")
    assert read_tree(ws) == after


def test_pruned_execution_cannot_be_rolled_back(cli: Cli, ws: Path, tmp_path: Path) -> None:
    policy = make_policy(tmp_path, backups={"keep": 1})
    plan(cli, ws, "p1", MODIFY_A, policy=policy)
    plan(cli, ws, "p2", MODIFY_B, policy=policy)
    first = apply(cli, ws, "p1", policy=policy).json()["result"]["execution_id"]
    second = apply(cli, ws, "p2", policy=policy).json()["result"]["execution_id"]
    state = ws / ".agentos"
    assert not (state / "backups" / first).exists()
    assert not (state / "journal" / "committed" / f"{first}.json").exists()
    assert (state / "journal" / "committed" / f"{second}.json").exists()
    after = read_tree(ws)
    res = rollback(cli, ws, first, policy=policy)
    assert res.code == 2
    error = res.json()["error"]
    assert error["type"] == "usage_error"
    assert "backups.keep" in error["message"]
    assert first in error["message"]
    assert read_tree(ws) == after
    # The newest one still has its backups.
    kept = rollback(cli, ws, second, policy=policy)
    assert kept.code == 0
    assert read_tree(ws)["src/b.txt"] == (b"bee\n", "100644")


def test_unknown_execution_is_a_usage_error(cli: Cli, ws: Path) -> None:
    res = rollback(cli, ws, "exec-00000000000000000000")
    assert res.code == 2
    assert "exec-00000000000000000000" in res.json()["error"]["message"]


def test_dry_run_writes_nothing(cli: Cli, ws: Path) -> None:
    before = read_tree(ws)
    plan(cli, ws, "p1", [*MODIFY_A, {"op": "create", "path": "new/x.txt", "content": "x\n"}])
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
    real = apply(cli, ws, "p1")
    assert (real.json()["result"]["status"], real.json()["result"]["attempt"]) == ("committed", 1)


def test_dry_run_of_a_stale_plan_is_stale(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", MODIFY_A)
    (ws / "src" / "a.txt").write_text("changed\n")
    res = cli("apply", "p1", "--dry-run", "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert (res.code, res.json()["result"]["status"]) == (5, "stale")
    assert res.json()["result"]["drifted"]


def test_several_plans_apply_in_order_and_stop_at_the_first_failure(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", MODIFY_A)
    plan(cli, ws, "p2", [{"op": "modify", "path": "src/a.txt", "content": "three\n"}])
    plan(cli, ws, "p3", MODIFY_B)
    res = apply(cli, ws, "p1", "p2", "p3")
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
    assert "p3" not in {e.get("plan_id") for e in events(ws) if e["event"].startswith("apply.")}


def test_several_plans_all_commit_in_order(cli: Cli, ws: Path) -> None:
    plan(cli, ws, "p1", MODIFY_A)
    plan(cli, ws, "p2", MODIFY_B)
    res = apply(cli, ws, "p2", "p1")
    rows = res.json()["result"]["executions"]
    assert res.code == 0
    assert [(r["plan_id"], r["status"]) for r in rows] == [("p2", "committed"), ("p1", "committed")]
    committed = [e["plan_id"] for e in events(ws) if e["event"] == "apply.committed"]
    assert committed == ["p2", "p1"]
