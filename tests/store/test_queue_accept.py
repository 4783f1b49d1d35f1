"""The queue's acceptance runs (docs/scale.md), with a real PostgreSQL, real git (one bare
remote) and real ``agentos worker`` processes, each in a clone of its own:

- a batch of disjoint and overlapping plans drained by 4 workers (40 plans here; the 200 of
  the acceptance run behind ``-m scale``): every plan without a conflict lands exactly once
  (one commit, found by its trailer), one plan of each overlapping group lands and the others
  end stale (or dead) with their reason, the remote history is linear, and the database's
  audit copy verifies;
- workers killed with SIGKILL before a claim, after one, during an apply and after a push
  that was not recorded, and at random moments: the lease expires, another worker finishes
  or recognises the job, and nothing is applied twice;
- PostgreSQL restarted in the middle of a run: workers wait for it with backoff (saying so)
  and the run ends with the same guarantees;
- the same plan submitted twice, and from two runners, is one job applied once.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import needs_git, wait_for
from pg import Cluster
from queueteam import FAST, Mix, Team, git, make_team, mixed_batch, wait_worker

pytestmark = needs_git

KILLED = -signal.SIGKILL


@pytest.fixture
def team(tmp_path: Path, pg_url: str) -> Iterator[Team]:
    """A team on the six files of the small tests; its workers are stopped at the end."""
    made = make_team(tmp_path, pg_url)
    yield made
    made.stop_workers()


@pytest.fixture
def teams(tmp_path: Path, pg_url: str) -> Iterator[Callable[[dict[str, str]], Team]]:
    """Make the team of a batch (on the batch's files); its workers are stopped at the end."""
    made: list[Team] = []

    def make(files: dict[str, str]) -> Team:
        made.append(make_team(tmp_path, pg_url, files))
        return made[-1]

    yield make
    for team in made:
        team.stop_workers()


def check_guarantees(team: Team, mix: Mix) -> dict[str, dict[str, Any]]:
    """What every run must end with; the jobs by plan id."""
    jobs = team.jobs()
    assert set(jobs) == set(mix.ids)
    trailers = team.trailers()
    twice = {p: c for p, c in trailers.items() if len(c) != 1}
    assert twice == {}, f"applied more than once: {twice}"
    # Every commit after the seed is one plan's, and no merge: one line of history.
    assert int(git(team.remote, "rev-list", "--count", "main")) == 1 + len(trailers)
    assert git(team.remote, "rev-list", "--merges", "main") == ""
    unfinished = {p: j["status"] for p, j in jobs.items() if j["status"] in ("pending", "running")}
    assert unfinished == {}
    done = {p for p, j in jobs.items() if j["status"] == "done"}
    assert done == set(trailers), "a done job without its commit, or a commit without its job"
    for plan_id in done:
        assert trailers[plan_id] == [jobs[plan_id]["commit"]]
    late = {p: (jobs[p]["status"], jobs[p]["last_error"]) for p in mix.disjoint if p not in done}
    assert late == {}, f"plans without a conflict that did not land: {late}"
    for group in mix.groups:
        landed = [p for p in group if p in done]
        assert len(landed) == 1, [(p, jobs[p]["status"], jobs[p]["last_error"]) for p in group]
        for loser in set(group) - set(landed):
            job = jobs[loser]
            assert job["status"] in ("stale", "dead"), job
            assert job["last_error"] and job["error_kind"], job
            if job["status"] == "stale":
                assert job["error_kind"] == "stale"
    verified = team.run("audit", "verify", "--store")
    assert verified.code == 0, verified.doc
    return jobs


def expire_leases(team: Team) -> None:
    import psycopg

    with psycopg.connect(team.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second'"
            " WHERE status = 'running'"
        )


def drain(team: Team, workers: int, *extra: str) -> tuple[list[dict[str, Any]], float]:
    """Run ``workers`` worker processes with ``--drain`` until the queue is empty: their
    results and the seconds it took."""
    checkouts = [team.clone(f"w{n}") for n in range(workers)]
    started = time.monotonic()
    procs = [team.start_worker(c, "--drain", *FAST, *extra) for c in checkouts]
    runs = [wait_worker(p).result for p in procs]
    return runs, time.monotonic() - started


def batch_run(make: Callable[[dict[str, str]], Team], plans: int, workers: int) -> None:
    files, mix, changes = mixed_batch(plans)
    team = make(files)
    team.queue_plans(changes)
    runs, seconds = drain(team, workers)
    jobs = check_guarantees(team, mix)
    outcomes = [o for run in runs for o in run["jobs"]]
    assert {o["status"] for o in outcomes} <= {"done", "stale", "pending", "dead", "lost"}
    assert len({o["job"] for o in outcomes}) == len(jobs)
    done = sum(1 for j in jobs.values() if j["status"] == "done")
    print(f"\n{plans} plans, {workers} workers: {done} landed in {seconds:.1f}s")


def test_forty_plans_drained_by_four_workers_land_once(
    teams: Callable[[dict[str, str]], Team],
) -> None:
    batch_run(teams, 40, 4)


@pytest.mark.scale
def test_two_hundred_plans_drained_by_four_workers_land_once(
    teams: Callable[[dict[str, str]], Team],
) -> None:
    batch_run(teams, 200, 4)


# Where a worker is stopped dead (SIGKILL), in the order the jobs meet them.
KILL_POINTS = (
    "worker.claim.before",  # nothing claimed yet
    "worker.claim.after",  # claimed, lease held, nothing done
    "fsops.replace.before",  # during the apply: the checkout half written
    "worker.push.after",  # pushed, not recorded: the next claimant must recognise it
    "worker.record.before",  # pushed and seen landed, not recorded either
)


def test_workers_killed_at_each_moment_apply_nothing_twice(
    tmp_path: Path, teams: Callable[[dict[str, str]], Team]
) -> None:
    files, mix, changes = mixed_batch(8, share=0)
    team = teams(files)
    team.queue_plans(changes)
    faults = tmp_path / "faults"
    faults.mkdir()
    for point in KILL_POINTS:
        proc = team.start_worker(
            team.clone(f"killed-{point}"),
            "--drain",
            *FAST,
            "--lease",
            "600",
            AGENTOS_FAULTS=f"{point}=pause@1",
            AGENTOS_FAULTS_DIR=str(faults),
        )
        wait_for(faults / f"{point}.paused", proc)
        assert team.kill(proc) == KILLED
    queue = team.run("status").result["queue"]
    assert queue["counts"]["running"] == len(KILL_POINTS) - 1, queue  # all but the first
    # Their leases run out (moved forward here: the long lease keeps each dead worker's job
    # from the next one; a real expiry is the random test's and test_queue's).
    expire_leases(team)
    assert len(team.run("status").result["queue"]["stuck"]) == len(KILL_POINTS) - 1
    # The last two pushed their commit and died before recording it.
    pushed = set(team.trailers())
    assert len(pushed) == 2
    runs, _ = drain(team, 2)
    outcomes = [o for run in runs for o in run["jobs"]]
    # Their jobs are recognised on the remote (found), not applied again.
    assert {o["plan_id"] for o in outcomes if o["found"]} == pushed
    jobs = check_guarantees(team, mix)
    retaken = [j for j in jobs.values() if j["attempts"] > 1]
    assert len(retaken) == len(KILL_POINTS) - 1


def test_workers_killed_at_random_moments_apply_nothing_twice(
    teams: Callable[[dict[str, str]], Team],
) -> None:
    files, mix, changes = mixed_batch(30)
    team = teams(files)
    team.queue_plans(changes)
    # Other moments each run; a failure prints its seed (AGENTOS_TEST_SEED=... replays the
    # choices, not the timing).
    seed = os.environ.get("AGENTOS_TEST_SEED") or os.urandom(4).hex()
    print(f"AGENTOS_TEST_SEED={seed}")
    rng = random.Random(seed)  # noqa: S311 - picks moments, nothing secret
    args = ("--drain", *FAST, "--lease", "1.5")
    live = [team.start_worker(team.clone(f"w{n}"), *args) for n in range(3)]
    kills = 0
    deadline = time.monotonic() + 120
    while kills < 6 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 1.5))
        running = [p for p in live if p.poll() is None]
        if not running:
            break
        victim = rng.choice(running)
        team.kill(victim)
        kills += 1
        # As a CI job would: a fresh clone takes the dead worker's place.
        live.append(team.start_worker(team.clone(f"w{len(live)}"), *args))
    for proc in live:
        if proc.returncode is None:
            wait_worker(proc)
    assert kills > 0
    check_guarantees(team, mix)


def test_postgresql_restarted_mid_run_workers_wait_and_finish(
    teams: Callable[[dict[str, str]], Team], pg_cluster: Cluster
) -> None:
    files, mix, changes = mixed_batch(30)
    team = teams(files)
    team.queue_plans(changes)
    procs = [
        team.start_worker(team.clone(f"w{n}"), "--drain", *FAST, "--retry-max-delay", "2")
        for n in range(2)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(team.trailers()) < 5:
        time.sleep(0.1)
    assert len(team.trailers()) >= 5
    pg_cluster.restart(down_for=2.0)
    runs = [wait_worker(p) for p in procs]
    check_guarantees(team, mix)
    said = "".join(run.err for run in runs)
    assert "cannot reach the PostgreSQL store" in said
    assert "the worker tries again in" in said
    assert all(run.result["stopped"] == "drained" for run in runs)


def test_a_worker_waiting_for_work_outlives_a_postgresql_restart(
    team: Team, pg_cluster: Cluster
) -> None:
    # An idle worker (no --drain: it waits for a job) polls while the server is down.
    proc = team.start_worker(team.clone("w"), "--max-jobs", "1", *FAST)
    time.sleep(0.5)
    pg_cluster.restart(down_for=2.0)
    team.submit(team.plan("p-after", {"f1.txt": "after the restart\n"}))
    run = wait_worker(proc, timeout=120)
    assert [(o["plan_id"], o["status"]) for o in run.result["jobs"]] == [("p-after", "done")]
    assert len(team.landed("p-after")) == 1
    lines = [line for line in run.err.splitlines() if "cannot reach the PostgreSQL store" in line]
    assert len(lines) >= 2, run.err
    assert lines[0].startswith("agentos: warning: ") and "(try 1)" in lines[0]
    # With --retry-delay 0 too, the worker waits at least 0.25s between tries, longer each
    # time (the exponential strategy, with jitter).
    assert "the worker tries again in" in lines[0]


def test_one_plan_submitted_twice_and_from_two_runners_is_applied_once(team: Team) -> None:
    change = {"f0.txt": "the same change\n"}
    plan = team.plan("p-same", change)
    first = team.submit(plan)
    again = team.submit(plan)
    # Another runner, with a clone of its own, plans the same change under the same id.
    other = team.clone("runner-b")
    manifest = tmp = team.remote.parent / "b.manifest.json"
    tmp.write_text(
        '{"changes": [{"op": "modify", "path": "f0.txt", "content": "the same change\\n"}]}'
    )
    made = team.run("plan", manifest, "--plan-id", "p-same", "--intent", "apply p-same", cwd=other)
    assert made.code == 0, made.doc
    from_b = team.run("queue", "submit", made.result["plan_file"], cwd=other)
    assert from_b.code == 0, from_b.doc
    created = [first["created"], again["created"], from_b.result["created"]]
    assert created == [True, False, False]
    ids = {first["job"]["id"], again["job"]["id"], from_b.result["job"]["id"]}  # type: ignore[index]
    assert len(ids) == 1
    drain(team, 2)
    assert len(team.landed("p-same")) == 1
    # Submitted once more after it landed: still that job, done; no worker applies it again.
    late = team.submit(plan)
    assert late["created"] is False and late["job"]["status"] == "done"  # type: ignore[index]
    runs, _ = drain(team, 1)
    assert runs[0]["jobs"] == []
    assert len(team.landed("p-same")) == 1
    assert git(team.remote, "rev-list", "--count", "main") == "2"
