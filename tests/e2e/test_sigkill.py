"""SIGKILL at 20 moments of a real 1,000-file ``agentos apply``: recovery leaves old or new.

Black box: the installed ``agentos`` runs in a subprocess on a fresh copy of one pristine
workspace, the test kills it with SIGKILL (no handler, no cleanup) at a moment spread over
the duration of an uninterrupted apply, and then only the CLI is used: ``agentos recover``,
``agentos audit verify``, and a second ``agentos apply`` of the same plan. Whatever the
moment, the workspace must hold exactly the old tree or exactly the new one (bytes, file
permission bits and the set of directories), never a mix, and no temp file may be left.

Which stage each kill hit is read from what the killed process left behind (no journal, a
hot journal, a committed one) and printed, so a run shows the kills spread over the stages
(``pytest -s``). Run time: 1.5-3 minutes (twenty kill/recover/re-apply rounds of 1,000 fsynced
files; most of it is the second, uninterrupted apply of each round).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import (
    AGENTOS,
    PERMISSIVE_POLICY,
    Snapshot,
    copy_tree,
    environment,
    materialise,
    needs_agentos,
    snapshot,
    temp_files,
)

KILLS = 20
PLAN_ID = "big-change"

pytestmark = needs_agentos


def describe_difference(actual: Snapshot, old: Snapshot, new: Snapshot) -> str:
    """A short account of how ``actual`` differs from both trees (for assertion messages)."""
    lines = []
    for name, other in (("old", old), ("new", new)):
        differing = sorted(p for p in actual.keys() | other.keys() if actual.get(p) != other.get(p))
        lines.append(f"{len(differing)} path(s) differ from the {name} tree: {differing[:5]}")
    return "; ".join(lines)


def agentos(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed script to completion."""
    return subprocess.run(
        [str(AGENTOS), *map(str, args)],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def apply_argv(ws: Path) -> list[str]:
    return [str(AGENTOS), "apply", PLAN_ID, "-C", str(ws), "--policy", str(PERMISSIVE_POLICY)]


def text(index: int, what: str) -> str:
    return "".join(f"{what} {index} line {n}\n" for n in range(1 + index % 9))


def build_workspace(root: Path) -> list[dict[str, Any]]:
    """1,000-change workload: the files on disk, and the manifest's change list.

    600 modifies (some flip the executable bit, one keeps its bytes and changes only its
    mode), 170 deletes (two directories lose every file, one with a nested folder), 20
    renames (some into new folders, some with new content), 210 creates in new folders
    (nested, some executable). 40 files are left alone.
    """
    changes: list[dict[str, Any]] = []

    def put(rel: str, data: str, mode: int) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
        path.chmod(mode)

    kept = [f"pkg{i % 20:02d}/sub{i % 3}/f{i:04d}.txt" for i in range(790)]
    for i, rel in enumerate(kept):
        put(rel, text(i, "old"), 0o755 if i % 13 == 0 else 0o644)
    doomed = [f"gone/a/g{i:02d}.txt" for i in range(10)] + [
        f"gone/a/b/g{i:02d}.txt" for i in range(10, 20)
    ]
    for i, rel in enumerate(doomed):
        put(rel, text(i, "doomed"), 0o644)
    for i in range(40):
        put(f"untouched/u{i:02d}.txt", text(i, "untouched"), 0o644)

    for i in range(600):
        change: dict[str, Any] = {"op": "modify", "path": kept[i], "content": text(i, "new")}
        if i % 50 == 1:
            change["mode"] = "100644" if i % 13 == 0 else "100755"
        changes.append(change)
    changes[13]["content"] = text(13, "old")  # 13 % 13 == 0: only the mode changes
    changes[13]["mode"] = "100644"
    for rel in kept[600:750] + doomed:
        changes.append({"op": "delete", "path": rel})
    for n, i in enumerate(range(750, 770)):
        rename: dict[str, Any] = {
            "op": "rename",
            "from": kept[i],
            "path": f"moved/m{n % 4}/r{i}.txt",
        }
        if n % 2:
            rename["content"] = text(i, "renamed")
        changes.append(rename)
    for i in range(210):
        create: dict[str, Any] = {
            "op": "create",
            "path": f"new{i % 7}/deep{i % 3}/leaf/c{i:03d}.txt",
            "content": text(i, "created"),
        }
        if i % 17 == 0:
            create["mode"] = "100755"
        changes.append(create)
    assert len(changes) == 1000
    return changes


@dataclass
class KillOutcome:
    """What one SIGKILL hit, and what recovery did about it."""

    moment: float
    exit_code: int
    stage: str  # before | during | after (the write phase)
    detail: str
    recovered: list[str]


def stage_of(ws: Path, exit_code: int, old: Snapshot, new: Snapshot) -> tuple[str, str]:
    """Where the killed process was, judged from the journal and the tree it left."""
    journal_dir = ws / ".agentos" / "journal"
    states = [json.loads(p.read_bytes())["state"] for p in journal_dir.glob("*.json")]
    archived = list((journal_dir / "committed").glob("*.json"))
    if exit_code == 0:
        return "after", "the apply finished before the kill"
    if "committed" in states or archived:
        return "after", "killed after the commit point"
    if "prepared" in states:
        tree = snapshot(ws, skip_temps=True)
        temps = len(temp_files(ws))
        if tree == old:
            return "during", f"hot journal, no file replaced yet ({temps} temp file(s))"
        if tree == new:
            return "during", "hot journal, every file written, not committed"
        return "during", f"hot journal, files half written ({temps} temp file(s))"
    assert snapshot(ws) == old, "no journal, yet the workspace was changed"
    return "before", "no journal yet"


def kill_at(ws: Path, moment: float) -> int:
    """Start ``agentos apply`` on ``ws``, SIGKILL it ``moment`` seconds later; its exit code."""
    started = time.monotonic()
    proc = subprocess.Popen(
        apply_argv(ws), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(max(0.0, started + moment - time.monotonic()))
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_when_hot(ws: Path) -> tuple[float, int]:
    """SIGKILL ``agentos apply`` as soon as its journal appears; when, and its exit code."""
    started = time.monotonic()
    journal_dir = ws / ".agentos" / "journal"
    proc = subprocess.Popen(
        apply_argv(ws), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while proc.poll() is None and not list(journal_dir.glob("*.json")):
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        return time.monotonic() - started, proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def timed_apply(ws: Path) -> tuple[float, str]:
    """Apply to completion; how long it took, and the status it reported."""
    os.sync()  # so the apply's fsyncs do not pay for the writes that came before it
    started = time.monotonic()
    proc = subprocess.run(
        [*apply_argv(ws), "--json"], env=environment(), capture_output=True, check=False
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr.decode()
    return elapsed, json.loads(proc.stdout)["result"]["status"]


def recover_and_reapply(
    ws: Path, moment: float, code: int, old: Snapshot, new: Snapshot
) -> tuple[KillOutcome, float | None]:
    """After a kill: recover, check the tree and the trail, apply again, check again.

    Returns what the kill hit, and how long the second apply took when it wrote the changes.
    """
    assert code in (0, -signal.SIGKILL), f"the apply killed at {moment:.3f}s exited {code}"
    stage, detail = stage_of(ws, code, old, new)
    where = f"kill at {moment:.3f}s ({stage}: {detail})"

    recover = agentos("recover", "-C", ws, "--json", "--policy", PERMISSIVE_POLICY)
    assert recover.returncode == 0, f"{where}: {recover.stderr}"
    actions = [row["action"] for row in json.loads(recover.stdout)["result"]["recovered"]]
    tree = snapshot(ws)
    expected = new if stage == "after" else old
    assert tree == expected, f"{where}: {describe_difference(tree, old, new)}"
    assert temp_files(ws) == [], where
    assert list((ws / ".agentos" / "journal").glob("*.json")) == [], where
    if stage == "during":
        assert actions == ["rolled_back"], where
    verify = agentos("audit", "verify", "-C", ws, "--json")
    assert verify.returncode == 0, f"{where}: {verify.stderr}"

    # The same plan again: it completes, once.
    elapsed, status = timed_apply(ws)
    assert status == ("already_applied" if stage == "after" else "committed"), where
    tree = snapshot(ws)
    assert tree == new, f"{where}: {describe_difference(tree, old, new)}"
    assert temp_files(ws) == [], where
    outcome = KillOutcome(moment, code, stage, detail, actions)
    return outcome, elapsed if status == "committed" else None


@pytest.mark.file_store(
    "replays one workspace in many copies (a crash at each moment); with a shared store "
    "the copies would share one plan's records"
)
def test_sigkill_at_any_moment_leaves_the_old_or_the_new_tree(tmp_path: Path) -> None:
    template = tmp_path / "template"
    changes = build_workspace(template)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"intent": "a large refactor", "changes": changes}))
    planned = agentos(
        "plan", manifest, "-C", template, "--plan-id", PLAN_ID, "--policy", PERMISSIVE_POLICY
    )
    assert planned.returncode == 0, planned.stderr
    old = snapshot(template)

    # The oracle for the new tree: the plan materialised by the test's own stand-in.
    from agentos.planner.planfile import load_plan

    plan = load_plan(template / ".agentos" / "plans" / f"{PLAN_ID}.json")
    assert len(plan.changeset.changes) == 1000
    oracle = tmp_path / "oracle"
    copy_tree(template, oracle)
    materialise(plan, oracle)
    new = snapshot(oracle)
    assert new != old

    # An uninterrupted apply: the new tree, and how long an apply takes.
    calibration = tmp_path / "calibration"
    copy_tree(template, calibration)
    duration, status = timed_apply(calibration)
    assert status == "committed"
    assert snapshot(calibration) == new, describe_difference(snapshot(calibration), old, new)
    shutil.rmtree(calibration)
    durations = [duration]

    outcomes: list[KillOutcome] = []
    for k in range(KILLS):
        # Spread over the latest uninterrupted apply's duration (the load on the machine varies);
        # the last one at its very end, just after the commit point.
        moment = durations[-1] * (k + 1) / KILLS
        ws = tmp_path / f"kill{k:02d}"
        copy_tree(template, ws)
        os.sync()
        code = kill_at(ws, moment)
        outcome, elapsed = recover_and_reapply(ws, moment, code, old, new)
        outcomes.append(outcome)
        if elapsed is not None:
            durations.append(elapsed)
        shutil.rmtree(ws)

    stages = Counter(o.stage for o in outcomes)
    details = Counter(o.detail.split(" (")[0] for o in outcomes)
    print(f"\nuninterrupted applies: {', '.join(f'{d:.2f}s' for d in durations)}")
    for o in outcomes:
        print(f"  kill at {o.moment:.3f}s: exit {o.exit_code}, {o.stage}: {o.detail} {o.recovered}")
    print(f"kills before/during/after the write phase: {dict(stages)}; {dict(details)}")

    # A machine whose load swings wildly could leave every kill outside the transaction; then
    # kill once more the moment the journal appears, so recovery of a hot journal is tested.
    if not stages["during"]:
        ws = tmp_path / "kill-hot"
        copy_tree(template, ws)
        moment, code = kill_when_hot(ws)
        outcome, _ = recover_and_reapply(ws, moment, code, old, new)
        print(f"  top-up kill when the journal appeared: {outcome}")
        assert outcome.stage == "during", outcome
