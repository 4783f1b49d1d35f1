"""One plan id, one changeset, in the queue (SPEC §8): another checksum under a plan id whose
job is pending, running or done is refused at submit and at retry (exit 5, nothing queued),
also when two runners submit at once (the unique index of schema version 3); a job whose
plan id is on the branch with another checksum (an ``apply --commit`` outside the queue)
ends ``stale``, never applied.

Pinned: the keys of the error's ``details`` (``plan_id``, ``checksum``, ``job``: ``id``,
``status``, ``checksum``, ``commit``).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from agentos.errors import PlanIdConflictError
from helpers import Run, agentos, needs_git
from queueteam import FAST, Team, git, make_team

pytestmark = needs_git

DETAIL_KEYS = {"plan_id", "checksum", "job"}
JOB_DETAIL_KEYS = {"id", "status", "checksum", "commit"}


@pytest.fixture
def team(tmp_path: Path, pg_url: str) -> Team:
    return make_team(tmp_path, pg_url)


def two_plans(team: Team, plan_id: str) -> tuple[Path, Path]:
    """Two plans under one plan id with other changes (the first kept aside: planning the
    second writes the same plan file)."""
    first = team.plan(plan_id, {"f0.txt": f"first {plan_id}\n"})
    kept = team.remote.parent / f"{plan_id}.first.json"
    shutil.copyfile(first, kept)
    second = team.plan(plan_id, {"f0.txt": f"second {plan_id}\n"})
    return kept, second


def refused(run: Run, plan_id: str, job_id: int, status: str) -> dict[str, object]:
    """Check the exit-5 refusal naming the job holding ``plan_id``; its details."""
    assert run.code == 5, run.doc
    error = run.doc["error"]
    assert error["type"] == "plan_id_conflict"
    message = error["message"]
    assert f"plan {plan_id} is job {job_id} already ({status}" in message
    assert "another checksum" in message and "--plan-id" in message
    assert "\n" not in message
    details = dict(error["details"])
    assert set(details) == DETAIL_KEYS
    assert set(details["job"]) == JOB_DETAIL_KEYS
    assert details["plan_id"] == plan_id
    assert details["job"]["id"] == job_id and details["job"]["status"] == status
    assert details["checksum"] != details["job"]["checksum"]
    return details


@pytest.mark.parametrize("state", ["pending", "running", "done"])
def test_another_checksum_under_a_live_or_done_plan_id_is_refused(team: Team, state: str) -> None:
    from agentos.store import queue
    from agentos.store.postgres import PostgresStore

    first, second = two_plans(team, "p-same")
    job = team.submit(first)["job"]
    job_id = int(job["id"])  # type: ignore[index]
    store = PostgresStore(team.url, source="test")
    if state != "pending":
        claimed = queue.claim(store, "a-worker", lease=60)
        assert claimed is not None
        if state == "done":
            assert queue.finish(store, claimed[0], "done", commit="c0ffee" * 6 + "c0ff")
    run = team.run("queue", "submit", second)
    details = refused(run, "p-same", job_id, state)
    assert details["job"]["checksum"] == job["checksum"]  # type: ignore[index]
    message = run.doc["error"]["message"]
    assert message.endswith("nothing queued")
    if state == "done":
        assert "commit c0ffeec0ffee is on the remote" in message
        assert "queue abort" not in message
    else:
        assert f"'agentos queue abort {job_id}'" in message
        assert "wait until it ends stale, failed, dead or aborted" in message
    jobs = team.run("queue", "list").result["jobs"]
    assert [(j["id"], j["status"]) for j in jobs] == [(job_id, state)]
    # The first plan submitted again is still its own job.
    again = team.submit(first)
    assert again["created"] is False and again["job"]["id"] == job_id  # type: ignore[index]


@pytest.mark.parametrize("ended", ["stale", "aborted"])
def test_a_plan_id_whose_job_ended_may_take_a_corrected_plan_not_both(
    team: Team, ended: str
) -> None:
    from agentos.store import queue
    from agentos.store.postgres import PostgresStore

    first, second = two_plans(team, "p-fix")
    old = int(team.submit(first)["job"]["id"])  # type: ignore[index]
    if ended == "aborted":
        assert team.run("queue", "abort", str(old)).code == 0
    else:
        store = PostgresStore(team.url, source="test")
        claimed = queue.claim(store, "a-worker", lease=60)
        assert claimed is not None
        assert queue.finish(store, claimed[0], "stale", error="drifted", kind="stale")
    fixed = team.submit(second)
    assert fixed["created"] is True
    new = int(fixed["job"]["id"])  # type: ignore[index]
    # The ended job cannot come back while the corrected one holds the plan id.
    run = team.run("queue", "retry", str(old))
    refused(run, "p-fix", new, "pending")
    message = run.doc["error"]["message"]
    assert message.startswith(f"job {old} cannot be retried: ")
    assert message.endswith("nothing changed")
    statuses = {j["id"]: j["status"] for j in team.run("queue", "list").result["jobs"]}
    assert statuses == {old: ended, new: "pending"}
    # Once the corrected one is aborted, the old one may be retried.
    assert team.run("queue", "abort", str(new)).code == 0
    assert team.run("queue", "retry", str(old)).result["job"]["status"] == "pending"


def test_concurrent_submits_of_two_checksums_queue_exactly_one(team: Team) -> None:
    from agentos.store import queue
    from agentos.store.postgres import PostgresStore

    rounds = 6
    stores = [PostgresStore(team.url, source=f"runner-{n}") for n in range(2)]
    outcomes: dict[tuple[int, int], str] = {}

    def submit(n: int, side: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            _, created, _ = queue.submit(
                stores[side],
                plan_id=f"p-race-{n}",
                checksum=f"sha256:{side}{n:063}",
                plan=b"{}",
                approvals=[],
                branch=None,
                max_attempts=1,
                submitted_by=f"runner-{side}",
            )
            outcomes[n, side] = "created" if created else "existing"
        except PlanIdConflictError as exc:
            assert set(exc.details) == DETAIL_KEYS
            outcomes[n, side] = "refused"

    for n in range(rounds):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=submit, args=(n, s, barrier)) for s in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for n in range(rounds):
        assert sorted([outcomes[n, 0], outcomes[n, 1]]) == ["created", "refused"], outcomes
    jobs = team.run("queue", "list").result["jobs"]
    assert sorted(j["plan_id"] for j in jobs) == [f"p-race-{n}" for n in range(rounds)]


def test_a_plan_id_on_the_branch_with_another_checksum_ends_the_job_stale(team: Team) -> None:
    # A CI runner applied plan p-ci with the file store (outside the queue) and pushed it;
    # then a plan of other changes under the same id is queued.
    applied = team.plan("p-ci", {"f1.txt": "by ci\n"})
    ci = team.clone("ci")
    run = agentos("apply", applied, "--commit", cwd=ci, AGENTOS_STORE="files")
    assert run.code == 0, run.doc
    git(ci, "push", "-q", "origin", "main")
    [ci_commit] = team.landed("p-ci")
    queued = team.plan("p-ci", {"f2.txt": "by the queue\n"})
    job = team.submit(queued)["job"]
    worker = team.run("worker", *FAST, "--once", cwd=team.clone("w1"))
    assert worker.code == 0, worker.doc
    [outcome] = worker.result["jobs"]
    assert (outcome["status"], outcome["error_kind"]) == ("stale", "plan_id_conflict")
    assert f"commit {ci_commit[:12]}" in outcome["error"]
    assert "not applied" in outcome["error"]
    shown = team.run("queue", "show", str(job["id"])).result["job"]  # type: ignore[index]
    assert (shown["status"], shown["error_kind"], shown["commit"]) == (
        "stale",
        "plan_id_conflict",
        None,
    )
    assert team.landed("p-ci") == [ci_commit]
    assert git(team.remote, "show", "main:f2.txt") == "file 2"
    # The stale job no longer holds the plan id, but the branch does: still never applied.
    assert team.run("queue", "retry", str(job["id"])).code == 0  # type: ignore[index]
    again = team.run("worker", *FAST, "--once", cwd=team.clone("w1"))
    assert [o["error_kind"] for o in again.result["jobs"]] == ["plan_id_conflict"]
    assert team.landed("p-ci") == [ci_commit]
