"""A team of runners for the queue tests and the throughput bench: a bare remote, a planner's
clone, the PostgreSQL store's address, and ``agentos worker`` processes each in a clone of
its own. Plans are made and queued in this process (fast: the big runs queue hundreds);
workers are always real processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import AGENTOS, PERMISSIVE_POLICY, Run, agentos, environment, finished
from helpers import run_git as git_bytes

FILES = {f"f{n}.txt": f"file {n}\n" for n in range(6)}
FAST = ("--retry-delay", "0", "--poll", "0.05", "--lease", "5")
TRAILER = "Agentos-Plan"


def git(cwd: Path, *args: str) -> str:
    return git_bytes(cwd, *args).decode().strip()


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Team:
    """A bare remote, a planner's clone and the store's address."""

    remote: Path
    planner: Path
    url: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *args: str | Path, cwd: Path | None = None, **env: str) -> Run:
        return agentos(*args, cwd=cwd or self.planner, AGENTOS_STORE=self.url, **env)

    def here(self, *args: str | Path, cwd: Path | None = None) -> dict[str, Any]:
        """``agentos ... --json`` in this process (exit 0 expected): its result."""
        from helpers import run_here

        with _env(AGENTOS_STORE=self.url):
            code, out, err = run_here(*args, "-C", cwd or self.planner, "--json")
        assert code == 0, out + err
        return dict(json.loads(out)["result"])

    def clone(self, name: str) -> Path:
        """A clone of the remote named ``name`` (``name-2``... when that one exists)."""
        target = self.remote.parent / name
        n = 1
        while target.exists():
            n += 1
            target = self.remote.parent / f"{name}-{n}"
        git(self.remote.parent, "clone", "-q", str(self.remote), str(target))
        return target

    def plan(self, plan_id: str, changes: Mapping[str, str]) -> Path:
        """``agentos plan`` of a manifest modifying ``changes`` (a real process)."""
        manifest = self._manifest(plan_id, changes)
        run = self.run("plan", manifest, "--plan-id", plan_id, "--intent", f"apply {plan_id}")
        assert run.code == 0, run.doc
        return Path(run.result["plan_file"])

    def submit(self, plan: Path, *extra: str) -> dict[str, object]:
        run = self.run("queue", "submit", plan, *extra)
        assert run.code == 0, run.doc
        return run.result

    def queue_plans(self, plans: Mapping[str, Mapping[str, str]]) -> None:
        """Plan and submit each of ``plans`` (plan id -> changes), in this process."""
        for plan_id, changes in plans.items():
            made = self.here("plan", self._manifest(plan_id, changes), "--plan-id", plan_id)
            self.here("queue", "submit", made["plan_file"])

    def _manifest(self, plan_id: str, changes: Mapping[str, str]) -> Path:
        manifest = self.remote.parent / f"{plan_id}.manifest.json"
        rows = [{"op": "modify", "path": p, "content": c} for p, c in changes.items()]
        manifest.write_text(json.dumps({"changes": rows}))
        return manifest

    def landed(self, plan_id: str) -> list[str]:
        """The remote main's commits that carry ``plan_id``'s trailer."""
        out = git(self.remote, "log", "--format=%H", f"--grep=^{TRAILER}: {plan_id}$", "main")
        return out.split()

    def trailers(self) -> dict[str, list[str]]:
        """Every plan id found in a trailer on the remote main, with its commits."""
        out = git(
            self.remote,
            "log",
            f"--format=%H %(trailers:key={TRAILER},valueonly,separator=%x2C)",
            "main",
        )
        found: dict[str, list[str]] = defaultdict(list)
        for line in out.splitlines():
            commit, _, ids = line.partition(" ")
            for plan_id in filter(None, ids.split(",")):
                found[plan_id.strip()].append(commit)
        return dict(found)

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job of the queue by plan id (``queue list``)."""
        return {j["plan_id"]: j for j in self.here("queue", "list")["jobs"]}

    def start_worker(self, checkout: Path, *extra: str, **env: str) -> subprocess.Popen[bytes]:
        """``agentos worker --json`` in ``checkout`` as a process of its own."""
        proc = subprocess.Popen(
            [str(AGENTOS), "-C", str(checkout), "worker", *extra, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(AGENTOS_STORE=self.url, **env),
        )
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> int:
        """SIGKILL ``proc``; its exit status (``-9`` when it was still running)."""
        proc.kill()
        proc.communicate(timeout=30)
        return proc.returncode

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.workers.clear()


def wait_worker(proc: subprocess.Popen[bytes], timeout: float = 300) -> Run:
    """The finished worker's run (exit 0 expected)."""
    out, err = proc.communicate(timeout=timeout)
    run = finished(proc.returncode, out, err)
    assert run.code == 0, (run.doc, run.err)
    return run


def make_team(
    root: Path, url: str, files: Mapping[str, str] = FILES, policy_text: str | None = None
) -> Team:
    """A migrated store, a bare remote holding ``files`` and the permissive policy (or
    ``policy_text``) on ``main``, and a planner's clone."""
    from agentos.store.postgres import PostgresStore

    PostgresStore(url, source="setup").migrate()
    remote = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = root / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    for name, text in files.items():
        (seed / name).write_text(text)
    (seed / ".gitignore").write_text(".agentos/\n")
    policy = seed / "agent" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text(policy_text or PERMISSIVE_POLICY.read_text())
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "start")
    git(seed, "push", "-q", str(remote), "main")
    team = Team(remote=remote, planner=root / "planner", url=url)
    team.clone("planner")
    return team


@dataclass(frozen=True)
class Mix:
    """A batch of plans against one base: ``disjoint`` ones each change a file of their own;
    ``groups`` of plans change one shared file each (one of a group can land)."""

    disjoint: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]

    @property
    def ids(self) -> list[str]:
        return [*self.disjoint, *(p for g in self.groups for p in g)]


def mixed_batch(
    count: int, *, group: int = 2, share: float = 0.3
) -> tuple[dict[str, str], Mix, dict[str, dict[str, str]]]:
    """``count`` plans, about ``share`` of them in overlapping groups of ``group``: the
    files to seed the remote with, the mix, and each plan's changes."""
    overlapping = int(count * share) // group * group
    disjoint = count - overlapping
    files = {f"d{n:03}.txt": f"disjoint {n}\n" for n in range(disjoint)}
    files.update({f"s{n:03}.txt": f"shared {n}\n" for n in range(overlapping // group)})
    plans: dict[str, dict[str, str]] = {}
    for n in range(disjoint):
        plans[f"d-{n:03}"] = {f"d{n:03}.txt": f"changed by d-{n:03}\n"}
    groups = []
    for g in range(overlapping // group):
        members = tuple(f"s-{g:03}-{m}" for m in range(group))
        for plan_id in members:
            plans[plan_id] = {f"s{g:03}.txt": f"changed by {plan_id}\n"}
        groups.append(members)
    # Interleave, so that workers meet conflicts while other jobs are in flight.
    order = sorted(plans, key=lambda p: (int(p.split("-")[1]) * 7919) % 104729)
    mix = Mix(disjoint=tuple(p for p in plans if p.startswith("d-")), groups=tuple(groups))
    return files, mix, {p: plans[p] for p in order}


def timed(action: Any) -> tuple[Any, float]:
    started = time.monotonic()
    value = action()
    return value, time.monotonic() - started
