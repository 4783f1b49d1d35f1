"""Sixteen ``agentos apply`` processes on one workspace at once.

The workspace lock serialises applies: 11 plans touching disjoint files all commit, of 5
plans that change the same file from the same pre-image exactly one commits and the others
are stale (exit 5, nothing written), the tree is what applying the winners one after another
gives, and the audit trail stays one linear chain in which no two executions' locked stages
interleave. A second round of the same 16 applies replays the winners and changes nothing.
(A lock that stays busy — exit 75 naming the holder — is tested in test_lock.py.)

The processes run the installed package's entry point (what ``python -m agentos`` runs) in
fresh interpreters that import it first and then wait at a barrier, a start file, so the 16
really race for the lock. Run time: about 10-25 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers import (
    AGENTOS,
    PERMISSIVE_POLICY,
    CliResult,
    apply_args,
    copy_tree,
    environment,
    materialise,
    needs_agentos,
    snapshot,
    trail,
    write_tree,
)

DISJOINT = 11
CONFLICTING = 5
SHARED = "shared/config.txt"
LOCK_TIMEOUT = "300"
GENESIS = "0" * 64
# Events only a lock holder appends (gate evaluations and replays happen outside the lock).
LOCKED_EVENTS = frozenset(
    {
        "lock.acquired",
        "apply.started",
        "drift.checked",
        "journal.prepared",
        "changes.written",
        "verify.finished",
        "apply.committed",
        "apply.failed",
        "rollback.finished",
    }
)

# Import everything an apply needs, say so, wait for the start file, then run the CLI.
LAUNCHER = """
import sys, time
from pathlib import Path
import agentos.cli.app, agentos.cli.apply_cmd, agentos.executor.transaction
import agentos.governance.gate, agentos.governance.policy, agentos.governance.policyfile
import agentos.planner.planfile, agentos.audit.trail, filelock
from agentos.cli.entry import main
ready, start = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not start.exists():
    time.sleep(0.001)
sys.exit(main(sys.argv[3:]))
"""

Cli = Callable[..., CliResult]


@dataclass
class Run:
    """One apply process's exit code and JSON result."""

    plan_id: str
    code: int
    doc: dict[str, Any]
    stderr: str

    @property
    def status(self) -> str | None:
        result = self.doc.get("result")
        return result["status"] if result else None


# -- the workspace and its plans --------------------------------------------------------------


def team_plan(i: int) -> list[dict[str, Any]]:
    """A plan touching only ``team<i>/``: modify, create in new folders, delete, rename."""
    team = f"team{i:02d}"
    changes: list[dict[str, Any]] = [
        {"op": "modify", "path": f"{team}/a.txt", "content": f"team {i} was here\n"},
        {"op": "create", "path": f"{team}/new/deep/c.txt", "content": f"created by {i}\n"},
        {"op": "delete", "path": f"{team}/old.txt"},
    ]
    if i % 2:
        changes.append({"op": "rename", "from": f"{team}/b.txt", "path": f"{team}/moved/b.txt"})
    if i % 3 == 0:
        changes.append(
            {"op": "modify", "path": f"{team}/tool.sh", "content": "#!/bin/sh\n", "mode": "755"}
        )
    return changes


def race_plan(k: int) -> list[dict[str, Any]]:
    """A plan changing the shared file (each to other bytes) and adding its own file."""
    return [
        {"op": "modify", "path": SHARED, "content": f"version = {k + 1}\nby = race{k}\n"},
        {"op": "create", "path": f"shared/from-race{k}.txt", "content": f"race {k}\n"},
    ]


def build(ws: Path, manifests: Path, cli: Cli) -> tuple[list[str], list[str]]:
    """The workspace and its 16 plans (all made against the same files); their ids."""
    files: dict[str, bytes | str | tuple[bytes | str, str]] = {
        SHARED: "version = 0\n",
        "shared/README.md": "shared\n",
    }
    for i in range(DISJOINT):
        team = f"team{i:02d}"
        files |= {
            f"{team}/a.txt": f"team {i} a\n",
            f"{team}/b.txt": f"team {i} b\n",
            f"{team}/old.txt": f"team {i} old\n",
            f"{team}/tool.sh": ("#!/bin/true\n", "100644"),
        }
    write_tree(ws, files)
    manifests.mkdir()
    plans = {f"team{i:02d}": team_plan(i) for i in range(DISJOINT)}
    plans |= {f"race{k}": race_plan(k) for k in range(CONFLICTING)}
    for plan_id, changes in plans.items():
        manifest = manifests / f"{plan_id}.yaml"
        manifest.write_text(yaml.safe_dump({"intent": plan_id, "changes": changes}))
        made = cli("plan", manifest, "-C", ws, "--plan-id", plan_id, "--policy", PERMISSIVE_POLICY)
        assert made.code == 0, made.err
    return list(plans)[:DISJOINT], list(plans)[DISJOINT:]


def race(ws: Path, barrier: Path, plan_ids: list[str]) -> dict[str, Run]:
    """Start one apply per plan; release them together; wait for all."""
    barrier.mkdir()
    start = barrier / "start"
    procs = {}
    for plan_id in plan_ids:
        argv = [sys.executable, "-c", LAUNCHER, str(barrier / f"{plan_id}.ready"), str(start)]
        procs[plan_id] = subprocess.Popen(
            [*argv, *apply_args(ws, plan_id, "--lock-timeout", LOCK_TIMEOUT)],
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    runs = {}
    try:
        deadline = time.monotonic() + 120
        while not all((barrier / f"{p}.ready").exists() for p in plan_ids):
            assert time.monotonic() < deadline, "the apply processes did not start"
            assert all(proc.poll() is None for proc in procs.values()), "a process died early"
            time.sleep(0.01)
        start.touch()
        for plan_id, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            doc = json.loads(out) if out else {}
            log = ((doc.get("error") or {}).get("details") or {}).get("log")
            if log:  # an internal error: keep its traceback for the assertion message
                err += Path(log).read_text()
            runs[plan_id] = Run(plan_id, proc.returncode, doc, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return runs


def assert_linear_chain(ws: Path) -> list[dict[str, Any]]:
    """``audit verify`` passes, and the trail is seq 1..N, each linked to the one before."""
    verify = subprocess.run(
        [str(AGENTOS), "audit", "verify", "-C", str(ws), "--json"],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    events = trail(ws)
    assert json.loads(verify.stdout)["result"]["events"] == len(events)
    prev = GENESIS
    for seq, event in enumerate(events, start=1):
        assert (event["seq"], event["prev"]) == (seq, prev), event
        prev = event["hash"]
    head = json.loads((ws / ".agentos" / "audit" / "HEAD").read_bytes())
    assert head.pop("seal").startswith("hmac-sha256:")
    assert head == {"seq": len(events), "hash": prev}
    return events


def assert_serialised(events: list[dict[str, Any]]) -> None:
    """Between one execution's ``lock.acquired`` and its last locked event, no other
    execution appended a locked event: the lock really excluded the others."""
    locked = [e for e in events if e["event"] in LOCKED_EVENTS]
    holder: str | None = None
    for event in locked:
        if event["event"] == "lock.acquired":
            holder = event["execution_id"]
            continue
        assert event["execution_id"] == holder, (
            f"{event['event']} of {event['execution_id']} while {holder} held the lock"
        )


@needs_agentos
def test_sixteen_applies_at_once(tmp_path: Path, cli: Cli) -> None:
    ws = tmp_path / "ws"
    disjoint, conflicting = build(ws, tmp_path / "manifests", cli)
    everyone = disjoint + conflicting
    assert len(everyone) == 16
    original = tmp_path / "original"
    copy_tree(ws, original)

    runs = race(ws, tmp_path / "round1", everyone)
    for plan_id in disjoint:
        run = runs[plan_id]
        assert (run.code, run.status) == (0, "committed"), run
    # The barrier made them race: most had to wait for the lock, naming who held it.
    waited = [r for r in runs.values() if "waiting for the workspace lock held by" in r.stderr]
    assert len(waited) >= 8, {p: r.stderr for p, r in runs.items()}
    winners = [p for p in conflicting if runs[p].code == 0]
    assert len(winners) == 1, {p: (runs[p].code, runs[p].stderr) for p in conflicting}
    winner = winners[0]
    print(f"\nround 1: {len(waited)} of 16 waited for the lock; {winner} won the race")
    assert runs[winner].status == "committed"
    for plan_id in conflicting:
        if plan_id == winner:
            continue
        run = runs[plan_id]
        assert (run.code, run.status) == (5, "stale"), run
        assert [d.split(":")[0] for d in run.doc["result"]["drifted"]] == [SHARED], run

    # The tree is the winners applied one after another, in the order they committed.
    events = assert_linear_chain(ws)
    assert_serialised(events)
    order = [e["plan_id"] for e in events if e["event"] == "apply.committed"]
    assert sorted(order) == sorted([*disjoint, winner])
    assert Counter(e["event"] for e in events)["lock.acquired"] == 16
    from agentos.planner.planfile import load_plan

    expected = tmp_path / "expected"
    copy_tree(original, expected)
    for plan_id in order:
        materialise(load_plan(ws / ".agentos" / "plans" / f"{plan_id}.json"), expected)
    after_round_one = snapshot(ws)
    assert after_round_one == snapshot(expected)
    assert list((ws / ".agentos" / "journal").glob("*.json")) == []
    assert not list(ws.rglob(".agentos-*.tmp"))

    # Round two: the same 16 again. Winners replay, losers are still stale, nothing changes.
    runs = race(ws, tmp_path / "round2", everyone)
    for plan_id in [*disjoint, winner]:
        run = runs[plan_id]
        assert (run.code, run.status) == (0, "already_applied"), run
    for plan_id in conflicting:
        if plan_id != winner:
            assert (runs[plan_id].code, runs[plan_id].status) == (5, "stale"), runs[plan_id]
    assert snapshot(ws) == after_round_one
    events_two = assert_linear_chain(ws)
    assert events_two[: len(events)] == events
    assert_serialised(events_two)
    new_events = Counter(e["event"] for e in events_two[len(events) :])
    assert new_events["apply.committed"] == 0
    assert new_events["apply.replayed"] == DISJOINT + 1
