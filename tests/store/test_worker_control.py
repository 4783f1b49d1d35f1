"""Stopping a worker, several slots in one worker, and a git step that fails after the
files were written — with a real PostgreSQL, real git and real ``agentos worker``
processes.

- SIGTERM while a job's health check runs: the execution rolls back, the job goes back to
  the queue untried (``released``), the worker exits 0 (``stopped: signal``); SIGINT while
  idle: exit 130. A second signal ends the process at once. A worker killed mid-job: the
  next worker in that checkout rolls the interrupted execution back before it starts.
- ``--concurrency K``: K slots, each in a checkout of its own (``.agentos/workers/slot-n``),
  drain the queue; every plan lands once; ``--max-jobs`` counts across slots.
- ``git commit`` failing after the apply: the files are rolled back and the job is tried
  again (it lands on the next attempt); when the rollback fails too the worker stops (exit
  8) naming the checkout and the way out, and the job is back in the queue.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import PERMISSIVE_POLICY, agentos, finished, needs_git, run_here
from queueteam import FAST, Team, git, make_team

pytestmark = needs_git


def _wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the worker ended first: {out.decode()} {err.decode()}")
        if time.monotonic() > end:
            pytest.fail(f"{path} never appeared")
        time.sleep(0.05)


def _trace_reached(trace: Path, point: str, proc: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 60
    while point not in (trace.read_text() if trace.exists() else ""):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{point} never reached"
        time.sleep(0.05)


def _slow_check_policy(mark: Path) -> str:
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    script = f"touch '{mark}'; sleep 60"
    doc["health_checks"] = [{"name": "slow", "command": ["sh", "-c", script], "timeout": 120}]
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def team(tmp_path: Path, pg_url: str) -> Team:
    return make_team(tmp_path, pg_url)


def test_sigterm_mid_job_rolls_back_and_gives_the_job_back(tmp_path: Path, pg_url: str) -> None:
    mark = tmp_path / "check-started"
    team = make_team(tmp_path, pg_url, policy_text=_slow_check_policy(mark))
    team.submit(team.plan("p-slow", {"f0.txt": "slow\n"}))
    checkout = team.clone("w1")
    proc = team.start_worker(checkout, "--drain", *FAST)
    _wait_for(mark, proc)
    # The health check runs: the file is written in the checkout, not yet committed.
    assert (checkout / "f0.txt").read_text() == "slow\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    run = finished(proc.returncode, out, err)
    assert run.code == 0, (run.doc, run.err)
    assert run.result["stopped"] == "signal"
    [job] = run.result["jobs"]
    assert job["status"] == "released" and job["error_kind"] == "worker_stopped"
    assert "SIGTERM" in job["error"] and job["commit"] is None
    assert run.result["counts"] == {"released": 1}
    assert "claims no more jobs" in run.err
    # Rolled back: the checkout is as the remote has it; nothing was pushed.
    assert (checkout / "f0.txt").read_text() == "file 0\n"
    assert git(checkout, "status", "--porcelain", "--untracked-files=no") == ""
    assert team.landed("p-slow") == []
    queued = team.jobs()["p-slow"]
    assert queued["status"] == "pending" and queued["attempts"] == 0


def test_sigint_while_idle_exits_130_and_a_second_signal_ends_it_at_once(
    team: Team, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    proc = team.start_worker(team.clone("idle"), *FAST, AGENTOS_FAULTS_TRACE=str(trace))
    _trace_reached(trace, "worker.claim.before", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    run = finished(proc.returncode, out, err)
    assert run.code == 130, (run.doc, run.err)
    assert run.result["stopped"] == "signal" and run.result["jobs"] == []


def test_a_second_signal_ends_the_worker_at_once(team: Team, tmp_path: Path) -> None:
    team.submit(team.plan("p-held", {"f1.txt": "held\n"}))
    faults = tmp_path / "faults"
    faults.mkdir()
    # The worker stops right after its claim (a pause no stop request ends).
    proc = team.start_worker(
        team.clone("w1"), "--drain", *FAST,
        AGENTOS_FAULTS="worker.claim.after=pause", AGENTOS_FAULTS_DIR=str(faults),
    )  # fmt: skip
    _wait_for(faults / "worker.claim.after.paused", proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None  # the first one waits for the job in flight
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM


def test_a_worker_killed_mid_job_is_rolled_back_by_the_next_one_there(
    tmp_path: Path, pg_url: str
) -> None:
    mark = tmp_path / "check-started"
    team = make_team(tmp_path, pg_url, policy_text=_slow_check_policy(mark))
    team.submit(team.plan("p-cut", {"f1.txt": "cut\n"}))
    checkout = team.clone("w1")
    # A long lease: the job stays claimed by the killed worker.
    proc = team.start_worker(checkout, "--drain", "--retry-delay", "0", "--lease", "600")
    _wait_for(mark, proc)
    assert team.kill(proc) == -signal.SIGKILL
    assert (checkout / "f1.txt").read_text() == "cut\n"  # written, never rolled back
    # The next worker in that checkout rolls the interrupted execution back before it
    # looks for uncommitted changes (the job is still leased to the dead worker).
    again = team.run("worker", "--once", *FAST, cwd=checkout)
    assert again.code == 0, again.doc
    assert again.result["jobs"] == [] and again.result["stopped"] == "idle"
    assert (checkout / "f1.txt").read_text() == "file 1\n"
    assert git(checkout, "status", "--porcelain", "--untracked-files=no") == ""


def test_concurrency_drains_with_slots_each_in_its_own_checkout(team: Team) -> None:
    plans = {f"c-{n}": {f"f{n}.txt": f"by c-{n}\n"} for n in range(6)}
    team.queue_plans(plans)
    checkout = team.clone("pool")
    run = team.run("worker", "--drain", "--concurrency", "3", *FAST, cwd=checkout)
    assert run.code == 0, run.doc
    assert run.result["stopped"] == "drained" and run.result["concurrency"] == 3
    slots = run.result["slots"]
    assert [s["slot"] for s in slots] == [0, 1, 2]
    assert {s["stopped"] for s in slots} == {"drained"}
    assert len({s["worker"] for s in slots}) == 3
    assert Path(slots[0]["checkout"]) == checkout.resolve()
    for n in (1, 2):
        assert Path(slots[n]["checkout"]) == checkout.resolve() / ".agentos/workers" / f"slot-{n}"
        # A clone whose origin is the shared remote, not the worker's checkout.
        assert git(Path(slots[n]["checkout"]), "remote", "get-url", "origin") == str(team.remote)
    assert run.result["counts"] == {"done": 6}
    for plan_id in plans:
        assert len(team.landed(plan_id)) == 1
    assert git(team.remote, "rev-list", "--merges", "main") == ""
    assert git(team.remote, "rev-list", "--count", "main") == "7"
    # The slots' checkouts are kept and used again; --max-jobs counts across the slots.
    team.queue_plans({f"m-{n}": {f"f{n}.txt": f"then m-{n}\n"} for n in range(5)})
    again = team.run(
        "worker", "--drain", "--concurrency", "2", "--max-jobs", "3", *FAST, cwd=checkout
    )
    assert again.code == 0, again.doc
    assert again.result["stopped"] == "max_jobs"
    assert len(again.result["jobs"]) == 3
    assert team.here("status")["queue"]["counts"]["pending"] == 2


def test_concurrency_with_once_is_refused(team: Team) -> None:
    run = team.run("worker", "--once", "--concurrency", "2", cwd=team.clone("w"))
    assert run.code == 2
    assert "--max-jobs" in run.doc["error"]["message"]


def _commit_fails(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    import agentos.gitrepo
    from agentos.gitrepo import GitFailed

    calls: list[int] = []
    real = agentos.gitrepo.commit

    def failing(*args: Any, **kwargs: Any) -> str:
        calls.append(1)
        if len(calls) <= times:
            raise GitFailed("git commit: simulated failure (disk full)")
        return real(*args, **kwargs)

    monkeypatch.setattr(agentos.gitrepo, "commit", failing)
    return calls


def _worker_here(team: Team, checkout: Path, *args: str) -> tuple[int, dict[str, Any]]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AGENTOS_STORE", team.url)
    try:
        code, out, _err = run_here("-C", checkout, "worker", *FAST, *args, "--json")
    finally:
        monkeypatch.undo()
    return code, json.loads(out)


def test_a_failed_git_commit_rolls_the_files_back_and_the_job_lands_later(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    team.submit(team.plan("p-git", {"f2.txt": "by p-git\n"}))
    checkout = team.clone("w1")
    calls = _commit_fails(monkeypatch, times=1)
    code, doc = _worker_here(team, checkout, "--once")
    assert code == 0, doc
    [job] = doc["result"]["jobs"]
    assert job["status"] == "pending" and job["error_kind"] == "git_failed"
    assert "simulated failure" in job["error"] and "rolled back here" in job["error"]
    # The checkout is clean again: the worker goes on with the next job.
    assert (checkout / "f2.txt").read_text() == "file 2\n"
    assert git(checkout, "status", "--porcelain", "--untracked-files=no") == ""
    code, doc = _worker_here(team, checkout, "--drain")
    assert code == 0, doc
    assert [j["status"] for j in doc["result"]["jobs"]] == ["done"]
    assert len(calls) == 2 and len(team.landed("p-git")) == 1


def test_when_the_rollback_fails_too_the_worker_stops_and_says_how_to_mend(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentos.pipeline.execution
    from agentos.errors import RecoveryFailedError

    team.submit(team.plan("p-left", {"f3.txt": "by p-left\n"}))
    checkout = team.clone("w1")
    _commit_fails(monkeypatch, times=1)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RecoveryFailedError("could not restore f3.txt: simulated")

    monkeypatch.setattr(agentos.pipeline.execution, "rollback", broken)
    code, doc = _worker_here(team, checkout, "--drain")
    assert code == 8, doc
    message = doc["error"]["message"]
    assert str(checkout.resolve()) in message and "p-left" in message
    assert "rollback" in message and "start the worker again" in message
    queued = team.jobs()["p-left"]
    assert queued["status"] == "pending" and queued["error_kind"] == "checkout_left"
    assert team.landed("p-left") == []


def test_sigterm_gives_back_the_job_of_every_slot(tmp_path: Path, pg_url: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    # Each slot's check marks its own start (its checkout's name), then waits.
    script = f'touch "{marks}/$(basename "$PWD")"; sleep 60'
    doc["health_checks"] = [{"name": "slow", "command": ["sh", "-c", script], "timeout": 120}]
    team = make_team(tmp_path, pg_url, policy_text=yaml.safe_dump(doc, sort_keys=False))
    team.queue_plans({"s-0": {"f0.txt": "s0\n"}, "s-1": {"f1.txt": "s1\n"}})
    checkout = team.clone("pool")
    proc = team.start_worker(checkout, "--drain", "--concurrency", "2", *FAST)
    end = time.monotonic() + 90
    while len(list(marks.iterdir())) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the two checks never both ran"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    run = finished(proc.returncode, out, err)
    assert run.code == 0, (run.doc, run.err)
    assert run.result["counts"] == {"released": 2}
    assert {s["stopped"] for s in run.result["slots"]} == {"signal"}
    for root in (checkout, checkout / ".agentos/workers/slot-1"):
        assert git(root, "status", "--porcelain", "--untracked-files=no") == ""
    jobs = team.jobs()
    assert [(jobs[p]["status"], jobs[p]["attempts"]) for p in ("s-0", "s-1")] == [
        ("pending", 0),
        ("pending", 0),
    ]


def test_max_jobs_on_an_empty_queue_does_not_retire_slots(team: Team) -> None:
    run = team.run(
        "worker", "--drain", "--max-jobs", "1", "--concurrency", "3", *FAST,
        cwd=team.clone("pool"),
    )  # fmt: skip
    assert run.code == 0, run.doc
    assert run.result["stopped"] == "drained"
    assert [s["stopped"] for s in run.result["slots"]] == ["drained"] * 3


def test_each_slot_applies_under_the_policy_of_its_own_checkout(team: Team) -> None:
    # Slots made while the policy allowed everything...
    checkout = team.clone("pool")
    made = team.run("worker", "--drain", "--concurrency", "2", *FAST, cwd=checkout)
    assert made.code == 0, made.doc
    team.queue_plans({"q-1": {"f1.txt": "q1\n"}, "q-2": {"f2.txt": "q2\n"}})
    # ... then the branch's policy forbids the files the queued plans write.
    editor = team.clone("editor")
    policy = editor / "agent/policies/default.yaml"
    doc = yaml.safe_load(policy.read_text())
    doc["writegate"]["forbidden_paths"] = ["f1.txt", "f2.txt"]
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    git(editor, "commit", "-qam", "forbid f1 and f2")
    git(editor, "push", "-q", "origin", "main")
    run = team.run("worker", "--drain", "--concurrency", "2", *FAST, cwd=checkout)
    assert run.code == 0, run.doc
    assert run.result["counts"] == {"failed": 2}, run.result["jobs"]
    assert {j["error_kind"] for j in run.result["jobs"]} == {"denied"}
    assert team.landed("q-1") == [] and team.landed("q-2") == []


def test_slots_of_a_detached_checkout_take_no_branch_either(team: Team) -> None:
    checkout = team.clone("pool")
    git(checkout, "checkout", "-q", "--detach")
    team.queue_plans({f"n-{n}": {f"f{n}.txt": f"n{n}\n"} for n in range(4)})
    run = team.run("worker", "--drain", "--concurrency", "2", *FAST, cwd=checkout)
    assert run.code == 0, run.doc
    assert run.result["counts"] == {"failed": 4}
    assert {j["error_kind"] for j in run.result["jobs"]} == {"no_branch"}
    assert git(team.remote, "rev-list", "--count", "main") == "1"


def test_slot_clones_reach_the_remote_as_the_worker_does(team: Team) -> None:
    checkout = team.clone("pool")
    # The worker's checkout pushes through another URL and signs as someone else.
    git(checkout, "remote", "set-url", "--push", "origin", str(team.remote))
    git(checkout, "config", "user.email", "runner@example.test")
    git(checkout, "config", "url.file://.insteadOf", "local:")
    made = team.run("worker", "--drain", "--concurrency", "2", *FAST, cwd=checkout)
    assert made.code == 0, made.doc
    slot = checkout / ".agentos/workers/slot-1"
    assert git(slot, "config", "--get", "remote.origin.pushurl") == str(team.remote)
    assert git(slot, "config", "--get", "user.email") == "runner@example.test"
    assert git(slot, "config", "--get", "url.file://.insteadof") == "local:"
    # A boolean written without a value is true, in the slot too; a setting removed from
    # the worker's checkout goes from the slot's.
    with (checkout / ".git/config").open("a") as config:
        config.write("[http]\n\tsslVerify\n")
    git(checkout, "config", "--unset", "url.file://.insteadOf")
    again = team.run("worker", "--drain", "--concurrency", "2", *FAST, cwd=checkout)
    assert again.code == 0, again.doc
    assert git(slot, "config", "--bool", "--get", "http.sslverify") == "true"
    assert "url." not in git(slot, "config", "--local", "--list")


def test_a_worker_killed_after_the_commit_point_mends_its_checkout_at_start(
    team: Team,
) -> None:
    manifest = team.remote.parent / "point.json"
    changes = [
        {"op": "modify", "path": "f4.txt", "content": "point\n"},
        {"op": "create", "path": "new/made.txt", "content": "made\n"},
    ]
    manifest.write_text(json.dumps({"changes": changes}))
    planned = team.run("plan", manifest, "--plan-id", "p-point")
    assert planned.code == 0, planned.doc
    team.submit(Path(planned.result["plan_file"]))
    checkout = team.clone("w1")
    # Killed between the execution's commit point and git's commit.
    crashed = team.start_worker(checkout, "--once", *FAST, AGENTOS_FAULTS="commit.after=crash")
    crashed.communicate(timeout=60)
    assert crashed.returncode == 137
    assert (checkout / "f4.txt").read_text() == "point\n"
    assert (checkout / "new/made.txt").read_text() == "made\n"
    # As if it was killed after staging them, too.
    git(checkout, "add", "f4.txt", "new/made.txt")
    # The next worker there rolls that execution back (the file it created included, the
    # index put back), says so, then takes the job once its lease expired, and lands it.
    run = team.run("worker", "--drain", *FAST, cwd=checkout)
    assert run.code == 0, (run.doc, run.err)
    [mended] = run.result["slots"][0]["mended"]
    assert mended.startswith("exec-") and "rolled back execution" in run.err
    assert [j["status"] for j in run.result["jobs"]] == ["done"]
    assert len(team.landed("p-point")) == 1
    assert git(team.remote, "show", "main:new/made.txt") == "made"
    assert git(checkout, "for-each-ref", "refs/agentos/applying/") == ""


def _crash_after_the_commit_point(team: Team, plan_id: str, path: str) -> tuple[Path, Path]:
    """A job of ``plan_id`` changing ``path`` whose worker was killed between the commit
    point and git's commit: the plan file and the worker's checkout."""
    plan = team.plan(plan_id, {path: f"by {plan_id}\n"})
    team.submit(plan)
    checkout = team.clone("w1")
    crashed = team.start_worker(
        checkout, "--once", "--lease", "600", AGENTOS_FAULTS="commit.after=crash"
    )
    crashed.communicate(timeout=60)
    assert crashed.returncode == 137
    return plan, checkout


def test_an_apply_a_person_made_again_since_is_not_mended_away(team: Team) -> None:
    plan, checkout = _crash_after_the_commit_point(team, "p-person", "f3.txt")
    # A person rolls the worker's execution back by hand, then applies the plan again
    # themselves (not committed) before any worker starts there.
    recovered = agentos("recover", cwd=checkout, AGENTOS_STORE=team.url)
    assert recovered.code == 0, recovered.doc
    undone = agentos("rollback", "--last", cwd=checkout, AGENTOS_STORE=team.url)
    assert undone.code == 0, undone.doc
    again = agentos("apply", plan, cwd=checkout, AGENTOS_STORE=team.url)
    assert again.code == 0, again.doc
    run = team.run("worker", "--drain", *FAST, cwd=checkout)
    assert run.code == 2, run.doc
    assert "f3.txt" in run.doc["error"]["message"]
    assert (checkout / "f3.txt").read_text() == "by p-person\n"


def test_a_version_a_person_committed_here_is_not_abandoned(team: Team) -> None:
    checkout = team.clone("w1")
    mine = team.plan("p-mine", {"f1.txt": "mine\n"})
    committed = agentos("apply", mine, "--commit", cwd=checkout, AGENTOS_STORE="files")
    assert committed.code == 0, committed.doc
    team.submit(team.plan("p-mine", {"f1.txt": "theirs\n"}))
    run = team.run("worker", "--drain", *FAST, cwd=checkout)
    assert run.code == 0, run.doc
    [job] = run.result["jobs"]
    assert job["status"] == "stale" and "other content" in job["error"], job
    assert team.landed("p-mine") == []


def test_a_persons_apply_in_the_worker_checkout_is_refused_not_undone(team: Team) -> None:
    checkout = team.clone("w1")
    plan = team.plan("by-hand", {"f3.txt": "by hand\n"})
    applied = agentos("apply", plan, cwd=checkout, AGENTOS_STORE="files")
    assert applied.code == 0, applied.doc
    run = team.run("worker", "--drain", *FAST, cwd=checkout)
    assert run.code == 2
    assert "f3.txt" in run.doc["error"]["message"]
    assert (checkout / "f3.txt").read_text() == "by hand\n"


def _paused_before_push(
    team: Team, checkout: Path, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], Callable[[], None]]:
    """A worker taking one job, paused with its commit made, before its push; and what
    lets it go on."""
    faults = tmp_path / "faults"
    faults.mkdir()
    proc = team.start_worker(
        checkout, "--once", *FAST,
        AGENTOS_FAULTS="worker.push.before=pause@1", AGENTOS_FAULTS_DIR=str(faults),
    )  # fmt: skip
    _wait_for(faults / "worker.push.before.paused", proc)

    def resume() -> None:
        (faults / "worker.push.before.resume").write_text("")

    return proc, resume


def test_a_corrected_plan_lands_where_the_first_was_committed_then_aborted(
    team: Team, tmp_path: Path
) -> None:
    first = team.submit(team.plan("p-again", {"f2.txt": "first\n"}))
    checkout = team.clone("w1")
    proc, resume = _paused_before_push(team, checkout, tmp_path)
    aborted = team.run("queue", "abort", str(first["job"]["id"]))  # type: ignore[index]
    assert aborted.code == 0, aborted.doc
    time.sleep(3)  # the heartbeat (every third of the 5 s lease) sees the abort
    resume()
    out, err = proc.communicate(timeout=60)
    ended = finished(proc.returncode, out, err)
    assert [j["status"] for j in ended.result["jobs"]] == ["aborted"], ended.doc
    team.submit(team.plan("p-again", {"f2.txt": "second\n"}))
    run = team.run("worker", "--drain", *FAST, cwd=checkout)
    assert run.code == 0, run.doc
    assert [j["status"] for j in run.result["jobs"]] == ["done"], run.result["jobs"]
    assert git(team.remote, "show", "main:f2.txt") == "second"


def test_a_corrected_plan_under_the_same_id_lands_where_the_first_went_stale(
    team: Team, tmp_path: Path
) -> None:
    team.submit(team.plan("p-fix", {"f5.txt": "first try\n"}))
    checkout = team.clone("w1")
    proc, resume = _paused_before_push(team, checkout, tmp_path)
    # Its commit is made here; meanwhile someone else changes f5.txt on the remote.
    other = team.clone("other")
    (other / "f5.txt").write_text("someone else\n")
    git(other, "commit", "-qam", "f5 by hand")
    git(other, "push", "-q", "origin", "main")
    resume()
    out, err = proc.communicate(timeout=60)
    first = finished(proc.returncode, out, err)
    assert [j["status"] for j in first.result["jobs"]] == ["stale"], first.doc
    # The plan is corrected on the new base, under the same id, and queued again.
    git(team.planner, "pull", "-q")
    team.submit(team.plan("p-fix", {"f5.txt": "second try\n"}))
    run = team.run("worker", "--drain", *FAST, cwd=checkout)
    assert run.code == 0, run.doc
    assert [j["status"] for j in run.result["jobs"]] == ["done"], run.result["jobs"]
    assert len(team.landed("p-fix")) == 1
    assert git(team.remote, "show", "main:f5.txt") == "second try"
