"""Two runners, one database: two clones of one repository, each with its own ``.agentos/``
and workspace key, share approvals, idempotency records, execution records and circuit
breakers through the PostgreSQL store — and every integrity check still holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.governance.approvals import KEY_ENV, sign
from agentos.model import Approval
from agentos.store import source_name
from agentos.store.postgres import PostgresStore
from helpers import PERMISSIVE_POLICY, CliResult, run_git, trail, write_tree

Cli = Callable[..., CliResult]
# A deletion makes the plan MEDIUM risk: the policy below needs one approval for it.
DELETE = [{"op": "delete", "path": "src/old.txt"}]
TREE = {"src/a.txt": "one\n", "src/old.txt": "old\n", "config/.keep": ""}
CHECK = {
    "name": "ready",
    "file": {"path": "config/ready"},
    "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 3600},
}


def policy(*, checks: bool = False, **approvals: Any) -> str:
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    doc["writegate"]["require_approval_for_risk"] = ["MEDIUM", "HIGH", "CRITICAL"]
    doc["approvals"] = {"min_approvals": 1, **approvals}
    if checks:
        doc["health_checks"] = [CHECK]
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def store_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database, selected with AGENTOS_STORE."""
    PostgresStore(pg_url, source="setup").migrate()
    monkeypatch.setenv("AGENTOS_STORE", pg_url)
    monkeypatch.delenv(KEY_ENV, raising=False)
    return pg_url


def clones(root: Path, policy_text: str) -> tuple[Path, Path]:
    """Two clones of one repository (its policy committed), each its own workspace."""
    origin = root / "origin"
    write_tree(origin, {**TREE, "agent/policies/default.yaml": policy_text})
    run_git(origin, "init", "-q", "-b", "main")
    run_git(origin, "add", "-A")
    run_git(origin, "commit", "-q", "-m", "start")
    pair = []
    for name in ("one", "two"):
        run_git(root, "clone", "-q", str(origin), name)
        pair.append((root / name).resolve())
    return pair[0], pair[1]


def plan(cli: Cli, ws: Path, plan_id: str, changes: list[dict[str, str]]) -> Path:
    manifest = ws.parent / f"manifest-{plan_id}-{len(list(ws.parent.glob('manifest-*')))}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    res = cli("plan", manifest, "-C", ws, "--plan-id", plan_id, "--json")
    assert res.code in (0, 4), res.out + res.err
    # The plan travels with the change (a CI artifact): the same file for both runners.
    shared = ws.parent / f"{plan_id}-{len(list(ws.parent.glob('*.plan.json')))}.plan.json"
    shared.write_bytes(Path(res.json()["result"]["plan_file"]).read_bytes())
    return shared


def run(cli: Cli, *args: str | Path) -> CliResult:
    res = cli(*args, "--json")
    assert "Traceback" not in res.err
    return res


def rows(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    with PostgresStore(url, source="t").session() as conn:
        return conn.execute(query, params).fetchall()


def execute(url: str, query: str, *params: object) -> None:
    with PostgresStore(url, source="t").session() as conn:
        conn.execute(query, params)


def test_an_approval_made_on_one_runner_counts_on_the_other(
    cli: Cli, tmp_path: Path, store_url: str
) -> None:
    one, two = clones(tmp_path, policy())
    plan_file = plan(cli, one, "del", DELETE)
    assert run(cli, "check", plan_file, "-C", two).code == 4
    approved = run(cli, "approve", plan_file, "-C", one, "--by", "bob")
    assert approved.code == 0, approved.err
    # Kept in the database, sealed by the runner that recorded it, and in its own files.
    stored = rows(store_url, "SELECT source, approver FROM approvals WHERE plan_id = 'del'")
    assert stored == [(source_name(one), "bob")]
    assert list((one / ".agentos" / "approvals" / "del").glob("*.json"))
    assert not (two / ".agentos" / "approvals").exists()
    # The other runner counts it (judged as an approval made elsewhere) and applies the plan.
    checked = run(cli, "check", plan_file, "-C", two)
    assert checked.code == 0, checked.out + checked.err
    gate = checked.json()["result"]
    assert gate["verdict"] == "APPROVED"
    assert gate["approvals"]["approvers"] == ["bob"]
    assert gate["approvals"]["not_counted"] == []
    applied = run(cli, "apply", plan_file, "-C", two)
    assert applied.code == 0, applied.out + applied.err
    assert applied.json()["result"]["status"] == "committed"
    assert not (two / "src" / "old.txt").exists()
    # The runner that approved counts its own approval once (its file and its row are one),
    # and the other runner's commit stops it from applying the same plan again.
    mine = run(cli, "check", plan_file, "-C", one)
    assert mine.json()["result"]["approvals"]["approvers"] == ["bob"]
    assert mine.json()["result"]["approvals"]["not_counted"] == []
    again = run(cli, "apply", plan_file, "-C", one)
    assert again.code == 0, again.err
    assert again.json()["result"]["status"] == "already_applied"
    assert (one / "src" / "old.txt").exists()
    # The committed execution's record is shared too.
    executions = rows(store_url, "SELECT plan_id, kind, source FROM executions")
    assert executions == [("del", "apply", source_name(two))]


def test_a_shared_approval_is_bound_to_the_plans_bytes_and_policy(
    cli: Cli, tmp_path: Path, store_url: str
) -> None:
    one, two = clones(tmp_path, policy())
    plan_file = plan(cli, one, "del", DELETE)
    assert run(cli, "approve", plan_file, "-C", one, "--by", "bob").code == 0
    # The plan planned again with other bytes: the approval of the first version is named,
    # not counted.
    edited = plan(cli, one, "del", [*DELETE, {"op": "modify", "path": "src/a.txt", "content": "x"}])
    other = run(cli, "check", edited, "-C", two)
    assert other.code == 4
    (why,) = other.json()["result"]["approvals"]["not_counted"]
    assert why["approval"] == f"store:{source_name(one)}"
    assert "other bytes" in why["reasons"][0]
    # Another policy on the second runner: the approval is stale there, not counted.
    (two / "agent" / "policies" / "default.yaml").write_text(policy(allowed_approvers=["bob"]))
    stale = run(cli, "check", plan_file, "-C", two)
    assert stale.code == 4
    assert stale.json()["result"]["approvals"]["stale"] == ["bob"]


def test_a_forged_row_is_refused(cli: Cli, tmp_path: Path, store_url: str) -> None:
    one, two = clones(tmp_path, policy())
    plan_file = plan(cli, one, "del", DELETE)
    assert run(cli, "approve", plan_file, "-C", two, "--by", "bob").code == 0
    # A row that claims to be the second runner's own, edited in the database: its seal
    # (that runner's key) no longer verifies, so that runner refuses it, as a forged file.
    execute(
        store_url,
        "UPDATE approvals SET body = jsonb_set(body, '{comment}', '\"forged\"')",
    )
    (two / ".agentos" / "approvals" / "del").rename(tmp_path / "moved-away")
    forged = run(cli, "apply", plan_file, "-C", two)
    assert forged.code == 6
    error = forged.json()["error"]
    assert error["type"] == "invalid_approval"
    assert "not sealed by it: forged or altered" in error["message"]
    assert (two / "src" / "old.txt").exists()
    # Control: the row as it was recorded counts on that runner.
    execute(store_url, "UPDATE approvals SET body = jsonb_set(body, '{comment}', '\"\"')")
    assert run(cli, "check", plan_file, "-C", two).code == 0
    # A row that is no approval at all is named, on every runner.
    execute(store_url, 'UPDATE approvals SET body = \'{"plan_id": "del"}\'::jsonb')
    for ws in (one, two):
        res = run(cli, "check", plan_file, "-C", ws)
        assert res.code == 6
        assert res.json()["error"]["message"].startswith(f"store:{source_name(two)}: not a valid")


def test_a_row_whose_signature_does_not_verify_is_refused_everywhere(
    cli: Cli, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = clones(tmp_path, policy(require_signature=True))
    plan_file = plan(cli, one, "del", DELETE)
    monkeypatch.setenv(KEY_ENV, "the-ci-token")
    assert run(cli, "approve", plan_file, "-C", one, "--by", "bob").code == 0
    assert run(cli, "check", plan_file, "-C", two).code == 0
    # Someone with write access to the table swaps the approver: the HMAC no longer verifies.
    execute(store_url, "UPDATE approvals SET body = jsonb_set(body, '{approver}', '\"eve\"')")
    # The runner that recorded it finds its seal broken; the other, the signature.
    for ws, said in ((one, "its seal does not verify"), (two, "signature does not verify")):
        res = run(cli, "check", plan_file, "-C", ws)
        assert res.code == 6, res.out
        assert said in res.json()["error"]["message"]
    # A row added by hand without a signature is refused by the policy that requires one.
    execute(store_url, "DELETE FROM approvals")
    body = Approval.model_validate(json.loads(plan_approval_json(cli, plan_file, one)))
    execute(
        store_url,
        "INSERT INTO approvals (plan_id, checksum, approver, approved_at, body, source)"
        " VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
        body.plan_id,
        body.checksum,
        "mallory",
        body.approved_at,
        json.dumps(
            body.model_copy(update={"approver": "mallory", "signature": None}).model_dump(
                mode="json"
            )
        ),
        "elsewhere:/ws",
    )
    res = run(cli, "check", plan_file, "-C", two)
    assert res.code == 6
    assert "not signed" in res.json()["error"]["message"]
    # Control: the same row signed with the key counts.
    good = body.model_copy(update={"approver": "mallory", "signature": None, "seal": None})
    good = good.model_copy(update={"signature": sign(good, b"the-ci-token")})
    execute(store_url, "UPDATE approvals SET body = %s::jsonb", json.dumps(good.model_dump()))
    assert run(cli, "check", plan_file, "-C", two).code == 0


def plan_approval_json(cli: Cli, plan_file: Path, ws: Path) -> str:
    """An approval of ``plan_file`` written to a file (``approve -o``), as JSON text."""
    out = ws.parent / "approval.json"
    assert run(cli, "approve", plan_file, "-C", ws, "--by", "carol", "-o", out).code == 0
    return out.read_text()


def test_a_breaker_opened_on_one_runner_is_open_on_the_other(
    cli: Cli, tmp_path: Path, store_url: str
) -> None:
    one, two = clones(tmp_path, policy(checks=True))
    change = [{"op": "modify", "path": "src/a.txt", "content": "two\n"}]
    plan_file = plan(cli, one, "mod", change)
    # The check fails on the first runner: its breaker opens (threshold 1).
    failed = run(cli, "apply", plan_file, "-C", one)
    assert failed.code != 0
    assert rows(store_url, "SELECT name, state FROM breakers") == [("ready", "open")]
    # On the second runner the check would pass, but the breaker is open: it is not called.
    (two / "config" / "ready").write_text("yes\n")
    blocked = run(cli, "apply", plan_file, "-C", two)
    assert blocked.code == failed.code, blocked.out
    assert "circuit open since" in json.dumps(blocked.json())
    assert (two / "src" / "a.txt").read_text() == "one\n"
    status = run(cli, "status", "-C", two)
    assert ["ready", "open"] in [
        [b["check"], b["state"]] for b in status.json()["result"]["breakers"]
    ]
    # Control: closed in the database again, the second runner calls the check and applies.
    execute(store_url, "UPDATE breakers SET state = 'closed', failures = 0, opened_at = NULL")
    done = run(cli, "apply", plan_file, "-C", two)
    assert done.code == 0, done.out
    assert rows(store_url, "SELECT state FROM breakers") == [("closed",)]
    assert [e["event"] for e in trail(two)].count("apply.committed") == 1
