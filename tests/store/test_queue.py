"""The changeset queue and its workers, with a real PostgreSQL, real git (a bare remote, each
worker in a clone of its own) and real ``agentos`` processes: a plan is queued once, lands
once (found by its trailers), conflicting plans end stale with their reason, an expired
lease is reclaimed, a job whose commit is already on the remote is not applied again, and
retryable failures end in the dead letter after ``max_attempts`` with the last error.

Pinned: the keys of a job (``queue show``), of ``queue submit``, of ``worker`` and of
``status``'s ``queue``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import AGENTOS, Run, agentos, environment, finished, needs_git
from queueteam import FAST, Team, git, make_team

pytestmark = needs_git

JOB_KEYS = {
    "id", "plan_id", "checksum", "branch", "status", "attempts", "max_attempts", "not_before",
    "lease", "last_error", "error_kind", "abort", "commit", "approvals", "submitted_by",
    "created_at", "updated_at", "finished_at",
}  # fmt: skip
OUTCOME_KEYS = {"job", "plan_id", "attempt", "status", "commit", "found", "error", "error_kind"}
QUEUE_KEYS = {"counts", "backlog", "running", "stuck", "dead"}
WORKER_KEYS = {"worker", "stopped", "jobs", "counts", "concurrency", "slots"}
SLOT_KEYS = {"slot", "checkout", "worker", "stopped", "mended"}


@pytest.fixture
def team(tmp_path: Path, pg_url: str) -> Team:
    return make_team(tmp_path, pg_url)


def worker(team: Team, checkout: Path, *extra: str) -> Run:
    run = team.run("worker", *FAST, *extra, cwd=checkout)
    assert run.code == 0, run.doc
    assert set(run.result) == WORKER_KEYS
    assert all(set(slot) == SLOT_KEYS for slot in run.result["slots"])
    assert all(set(row) == OUTCOME_KEYS for row in run.result["jobs"])
    return run


def test_a_plan_submitted_twice_is_one_job(team: Team) -> None:
    plan = team.plan("p-one", {"f0.txt": "changed\n"})
    first = team.submit(plan)
    assert set(first) == {"job", "created", "approvals_added"}
    assert set(first["job"]) == JOB_KEYS  # type: ignore[arg-type]
    again = team.submit(plan)
    assert first["created"] is True and again["created"] is False
    assert again["job"]["id"] == first["job"]["id"]  # type: ignore[index]
    listed = team.run("queue", "list").result["jobs"]
    assert [(j["plan_id"], j["status"]) for j in listed] == [("p-one", "pending")]
    # status shows the queue: one job waiting.
    queue = team.run("status").result["queue"]
    assert set(queue) == QUEUE_KEYS
    assert queue["backlog"] == 1 and queue["counts"]["pending"] == 1
    # Without the PostgreSQL store there is no queue: one clear line, exit 2.
    files = agentos("queue", "submit", plan, cwd=team.planner, AGENTOS_STORE="files")
    assert files.code == 2
    assert "needs the PostgreSQL store" in files.doc["error"]["message"]


def test_one_worker_drains_disjoint_plans_each_lands_once(team: Team) -> None:
    ids = [f"p-{n}" for n in range(4)]
    for n, plan_id in enumerate(ids):
        team.submit(team.plan(plan_id, {f"f{n}.txt": f"by {plan_id}\n"}))
    run = worker(team, team.clone("w1"), "--drain")
    assert run.result["stopped"] == "drained"
    assert run.result["counts"] == {"done": 4}
    for plan_id in ids:
        assert len(team.landed(plan_id)) == 1
    jobs = team.run("queue", "list").result["jobs"]
    assert {j["status"] for j in jobs} == {"done"}
    heads = git(team.remote, "rev-list", "--count", "main")
    assert heads == "5"  # start + 4, one line of history
    # Draining again finds nothing to do.
    assert worker(team, team.remote.parent / "w1", "--drain").result["jobs"] == []


def test_two_workers_on_overlapping_plans_apply_each_at_most_once(team: Team) -> None:
    # Pairs that change the same file from the same pre-image: one of each pair lands, the
    # other ends stale with its reason; f4 and f5 are disjoint and both land.
    pairs = [("a1", "a2", "f0.txt"), ("b1", "b2", "f1.txt"), ("c1", "c2", "f2.txt")]
    for first, second, path in pairs:
        team.submit(team.plan(first, {path: f"{first}\n"}))
        team.submit(team.plan(second, {path: f"{second}\n"}))
    team.submit(team.plan("d", {"f4.txt": "d\n"}))
    team.submit(team.plan("e", {"f5.txt": "e\n"}))
    checkouts = [team.clone("w1"), team.clone("w2")]
    env = environment(AGENTOS_STORE=team.url)
    procs = [
        subprocess.Popen(
            [str(AGENTOS), "-C", str(c), "worker", "--drain", *FAST, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for c in checkouts
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert finished(proc.returncode, out, err).code == 0
    jobs = {j["plan_id"]: j for j in team.run("queue", "list").result["jobs"]}
    for first, second, _ in pairs:
        statuses = sorted([jobs[first]["status"], jobs[second]["status"]])
        assert statuses == ["done", "stale"], (jobs[first], jobs[second])
        loser = jobs[first] if jobs[first]["status"] == "stale" else jobs[second]
        assert loser["last_error"] and loser["error_kind"] == "stale"
        assert len(team.landed(first)) + len(team.landed(second)) == 1
    for plan_id in ("d", "e"):
        assert jobs[plan_id]["status"] == "done"
        assert len(team.landed(plan_id)) == 1
    # Linear history: no merge commit on the remote.
    assert git(team.remote, "rev-list", "--merges", "main") == ""


def test_an_expired_lease_is_reclaimed(team: Team) -> None:
    import time

    from agentos.store import queue
    from agentos.store.postgres import PostgresStore

    team.submit(team.plan("p-lease", {"f0.txt": "leased\n"}))
    store = PostgresStore(team.url, source="test")
    claimed = queue.claim(store, "gone-worker", lease=0.3)  # and never a heartbeat
    assert claimed is not None and claimed[0].attempts == 1
    time.sleep(0.5)
    queue_view = team.run("status").result["queue"]
    assert [j["owner"] for j in queue_view["stuck"]] == ["gone-worker"]
    run = worker(team, team.clone("w1"), "--once")
    [outcome] = run.result["jobs"]
    assert (outcome["status"], outcome["attempt"], outcome["found"]) == ("done", 2, False)
    assert len(team.landed("p-lease")) == 1
    # The first claimant, back from the dead, changes nothing.
    assert queue.finish(store, claimed[0], "failed", error="late") is False
    assert team.run("queue", "show", str(outcome["job"])).result["job"]["status"] == "done"


def test_a_job_already_on_the_remote_is_recorded_not_applied_again(team: Team) -> None:
    from agentos.store import queue
    from agentos.store.postgres import PostgresStore

    plan = team.plan("p-pushed", {"f3.txt": "pushed\n"})
    job = team.submit(plan)["job"]
    # A worker applied and pushed it, then died before recording it.
    other = team.clone("other")
    applied = team.run("apply", plan, "--commit", cwd=other)
    assert applied.code == 0, applied.doc
    git(other, "push", "-q", "origin", "main")
    assert queue.claim(PostgresStore(team.url, source="t"), "died", lease=0.2) is not None
    import time

    time.sleep(0.3)
    run = worker(team, team.clone("w1"), "--drain")
    [outcome] = run.result["jobs"]
    assert (outcome["status"], outcome["found"]) == ("done", True)
    assert len(team.landed("p-pushed")) == 1
    shown = team.run("queue", "show", str(job["id"])).result["job"]  # type: ignore[index]
    assert shown["commit"] == team.landed("p-pushed")[0]


def test_retryable_failures_end_in_the_dead_letter_then_retry_lands(team: Team) -> None:
    hook = team.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    team.submit(team.plan("p-frozen", {"f0.txt": "x\n"}), "--max-attempts", "2")
    checkout = team.clone("w1")
    run = worker(team, checkout, "--drain")
    assert [o["status"] for o in run.result["jobs"]] == ["pending", "dead"]
    [dead] = team.run("queue", "dead").result["jobs"]
    assert (dead["status"], dead["attempts"]) == ("dead", 2)
    assert dead["error_kind"] == "push_failed"
    assert "main is frozen" in dead["last_error"] or "pre-receive" in dead["last_error"]
    assert team.run("status").result["queue"]["dead"][0]["id"] == dead["id"]
    assert team.landed("p-frozen") == []
    # Unfrozen and retried by hand: the same worker lands its kept commit, once.
    hook.unlink()
    again = team.run("queue", "retry", str(dead["id"])).result["job"]
    assert (again["status"], again["attempts"]) == ("pending", 0)
    run = worker(team, checkout, "--drain")
    assert [o["status"] for o in run.result["jobs"]] == ["done"]
    assert len(team.landed("p-frozen")) == 1
    # A done job is not retried.
    refused = team.run("queue", "retry", str(dead["id"]))
    assert (
        refused.code == 2
        and "only a stale, failed, dead or aborted" in refused.doc["error"]["message"]
    )


def test_abort_ends_a_pending_job_and_all_of_them(team: Team) -> None:
    one = team.submit(team.plan("p-x", {"f0.txt": "x\n"}))["job"]
    team.submit(team.plan("p-y", {"f1.txt": "y\n"}))
    hit = team.run("queue", "abort", str(one["id"]), "--reason", "wrong").result["jobs"]  # type: ignore[index]
    assert [(j["status"], j["abort"]["reason"]) for j in hit] == [("aborted", "wrong")]
    rest = team.run("queue", "abort", "--all").result["jobs"]
    assert [j["plan_id"] for j in rest] == ["p-y"]
    assert worker(team, team.clone("w1"), "--drain").result["jobs"] == []
    assert team.landed("p-x") == team.landed("p-y") == []
