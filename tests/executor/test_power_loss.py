"""Power loss at every step: what a crash that also drops unsynced data leaves, recovered.

``test_crash_points.py`` kills the process at every fault point; the page cache survives such
a kill. A power cut also loses every write, rename and unlink that was never made durable.
Here one run of each command is recorded operation by operation (``faults.recording_fs``), the
record is replayed over a model of the disk (``powerloss.py``: durable and current bytes per
file, durable entries plus unsynced entry changes per directory), and after every recorded
operation — each is a crash point — the states a power loss allows are built: every
combination of a prefix of each directory's unsynced changes and the durable, current or torn
bytes of each unsynced file when there are at most ``CHOICES`` of them, else the two extremes
(everything lost, everything kept) and ``CHOICES`` drawn with a fixed seed. Each distinct state
is written to a fresh directory and recovered in-process, and then:

- the workspace (bytes and exact permission bits of every file, the set of directories;
  ``.agentos/`` and ``.git/`` aside) is the old tree or the new one — the old one while the
  journal saying ``committed`` may not be on disk, the new one once it is;
- no temp file of the executor is left in the workspace and no journal is active;
- the audit trail verifies.

First, the record must explain the disk: the model replayed to the end equals the real tree,
``.agentos/`` included, so no write escaped the record.

The runs: a successful apply of the changeset of ``test_crash_points.py`` (creates in new
nested folders, edits, a deletion that empties folders, a rename with an edit, mode changes);
an apply that fails just before its commit point (an injected EIO) and rolls back; and
``agentos rollback`` of a committed execution. The same sweep over an apply with
``durability: none`` must find torn states: the simulation can fail. The distinct states are
recovered by two forked workers; the figures are printed with ``-s``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from powerloss import Choice, Event, Recording, State, materialise, read_state
from test_crash_points import MANIFEST, NEW_CONTENTS, OLD_FILES

from agentos import faults
from agentos.audit.trail import AuditTrail
from agentos.executor.fsops import Guard
from agentos.executor.recovery import recover
from agentos.governance.policyfile import load_policy
from agentos.workspace import Workspace
from helpers import PERMISSIVE_POLICY, run_here, write_tree

PLAN_ID = "power-loss"
# Combinations per crash point: all of them up to this many, else the two extremes and this
# many drawn at random. 8 gives about 2,100 distinct states in about 30 s on the 2-core
# reference machine (busy); 16 gives about 3,400 in about twice the time, and a one-off sweep
# with 96 recovered 11,000 distinct states, none torn.
CHOICES = 8
SEED = "agentos power loss 1"
WORKERS = 2  # forked workers recovering states (each state is independent)
MAX_REPORTED = 10  # failing draws described in full
TEMP_PREFIX = ".agentos-"
JOURNAL_DIR = ".agentos/journal"
# The figures. Crash points are exact: one per recorded operation, so a change of the protocol
# changes them (update them, and docs/reliability.md, with it). The distinct states vary by a
# few between runs, because the fsyncs issued from a thread pool are recorded in whichever
# order they finish, so they have floors: the sweep must not silently shrink.
CRASH_POINTS = {"apply": 137, "failed apply": 177, "rollback": 139}
MIN_STATES = {"apply": 480, "failed apply": 820, "rollback": 690}
FIGURES: dict[str, Figures] = {}
KEEP: set[Path] = set()  # scratch directories holding bad states, kept for inspection

Tree = tuple[dict[str, tuple[bytes, int]], frozenset[str]]


# -- running the CLI in this process -----------------------------------------------------------


def result_of(stdout: str) -> dict[str, object]:
    """The ``result`` of a ``--json`` envelope."""
    document = json.loads(stdout)
    result = document.get("result")
    assert isinstance(result, dict), stdout
    return result


def recorded(ws: Path, *argv: str | Path) -> tuple[Recording, int, str, str]:
    """Run one command with every disk-changing operation recorded: the record, the exit
    code, stdout and stderr."""
    recording = Recording(ws)
    with faults.recording_fs(recording):
        code, out, err = run_here(*argv)
    assert recording.outside == 0, "the command wrote outside the workspace (a new key?)"
    return recording, code, out, err


# -- the scenario ------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One recorded run, the trees it goes between, and where its commit point lies."""

    name: str
    recording: Recording
    old: Tree
    new: Tree
    # Event indexes: the rename that put a committed journal in place, and the fsync of the
    # journal directory that made it durable (None when the run never committed).
    commit: int | None = None
    commit_durable: int | None = None

    def expected(self, index: int) -> frozenset[str]:
        """The trees a power loss right after event ``index`` may recover to."""
        if self.commit is None or index < self.commit:
            return frozenset({"old"})
        if self.commit_durable is None or index < self.commit_durable:
            return frozenset({"old", "new"})
        return frozenset({"new"})


def find_commit(recording: Recording) -> tuple[int | None, int | None]:
    """The event that renamed a journal in state ``committed`` into ``.agentos/journal/``,
    and the first fsync of that directory after it."""
    commit: int | None = None
    for event, model in recording.replay():
        if commit is None and event.kind == "rename":
            target = event.paths[1]
            if target.rpartition("/")[0] == JOURNAL_DIR and target.endswith(".json"):
                node = model.lookup(target)
                assert node is not None
                if json.loads(node.data)["state"] == "committed":
                    commit = event.index
        elif commit is not None and event.kind == "fsync_dir" and event.paths[0] == JOURNAL_DIR:
            return commit, event.index
    return commit, None


def scenario_of(name: str, recording: Recording, ws: Path) -> Scenario:
    """Check that the record explains the disk; then the scenario of this run."""
    disk = read_state(ws)
    missing = recording.check_against(disk)
    assert not missing, (
        f"{name}: the record does not explain the disk — a write escaped faults.fs_event "
        "(a defect of agentos's reporting, not of the model):\n" + "\n".join(missing)
    )
    commit, durable = find_commit(recording)
    return Scenario(
        name, recording, recording.initial.workspace(), disk.workspace(), commit, durable
    )


def new_workspace(root: Path) -> Path:
    """The old tree of ``test_crash_points.py`` with its changeset planned."""
    ws = root / "ws"
    write_tree(ws, OLD_FILES)
    manifest = root / "changes.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    code, out, err = run_here(
        "plan", manifest, "-C", ws, "--plan-id", PLAN_ID, "--policy", PERMISSIVE_POLICY
    )
    assert code == 0, out + err
    return ws.resolve()


def apply_argv(ws: Path, policy: Path = PERMISSIVE_POLICY) -> list[str | Path]:
    return ["apply", PLAN_ID, "-C", ws, "--policy", policy, "--json"]


# -- simulating the power losses ---------------------------------------------------------------


@dataclass
class Figures:
    """What one run's simulation did and found."""

    points: int = 0
    drawn: int = 0
    states: int = 0
    old: int = 0
    new: int = 0
    torn: int = 0
    state_temps: int = 0  # recovered states with a temp file of agentos's own in .agentos/
    bad: int = 0  # draws whose state did not recover to a tree its crash point allows
    failures: list[str] = field(default_factory=list)  # the first MAX_REPORTED, described
    seconds: float = 0.0


@dataclass(frozen=True)
class Draw:
    """One power loss: after which event, which choice, and the state it leaves."""

    event: int
    choice: Choice
    digest: str


def recovery_guard() -> Guard:
    """The path rules of the policy the runs use (recovery writes only under them)."""
    policy = load_policy(PERMISSIVE_POLICY).policy
    return Guard(tuple(policy.executor.allowed_paths), tuple(policy.writegate.forbidden_paths))


def recover_state(
    state: State, target: Path, scenario: Scenario, guard: Guard
) -> tuple[list[str], bool]:
    """Write ``state`` to ``target``, recover it in this process, check it.

    Returns ``["old"]``, ``["new"]`` or the problems found (then ``target`` is kept), and
    whether a temp file of agentos's own was left under ``.agentos/``.
    """
    materialise(state, target)
    problems = []
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            recover(Workspace(target), actor="tests", timeout=30, guard=guard)
    except Exception as exc:  # any exception is the finding, reported with the state
        problems.append(f"recovery raised {type(exc).__name__}: {exc}")
    tree = read_state(target).workspace()
    which = [name for name, want in (("old", scenario.old), ("new", scenario.new)) if tree == want]
    if not which:
        problems.append("the workspace is neither the old tree nor the new one")
        for name, want in (("old", scenario.old), ("new", scenario.new)):
            problems.append(f"  against {name}: " + "; ".join(tree_difference(tree, want)))
    temps = sorted(
        rel
        for rel in tree[0]
        if rel.rpartition("/")[2].startswith(TEMP_PREFIX) or rel.endswith(".tmp")
    )
    if temps:
        problems.append(f"temp files left in the workspace: {temps}")
    journals = sorted(p.name for p in (target / JOURNAL_DIR).glob("*.json"))
    if journals:
        problems.append(f"journals still active: {journals}")
    try:
        AuditTrail(target / ".agentos" / "audit").verify()
    except Exception as exc:  # AuditChainError, or anything else verify trips on
        problems.append(f"audit verify: {type(exc).__name__}: {exc}")
    own_temps = any(p.name.endswith(".tmp") for p in (target / ".agentos").rglob("*"))
    if not problems:
        shutil.rmtree(target)
    return problems or which[:1], own_temps


def tree_difference(actual: Tree, expected: Tree) -> list[str]:
    """What differs between two workspace trees."""
    files, dirs = actual
    want_files, want_dirs = expected
    lines = [f"missing {p}" for p in sorted(want_files.keys() - files.keys())]
    lines += [f"unexpected {p}" for p in sorted(files.keys() - want_files.keys())]
    for rel in sorted(files.keys() & want_files.keys()):
        (data, mode), (want, want_mode) = files[rel], want_files[rel]
        if data != want:
            lines.append(f"{rel}: {data!r} != {want!r}")
        if mode != want_mode:
            lines.append(f"{rel}: mode {mode:o} != {want_mode:o}")
    lines += [f"missing dir {d}" for d in sorted(want_dirs - dirs)]
    lines += [f"unexpected dir {d}" for d in sorted(dirs - want_dirs)]
    return lines


def recover_all(
    states: list[State], scenario: Scenario, scratch: Path
) -> list[tuple[list[str], bool]]:
    """``recover_state`` for every state, spread over forked workers where there are several
    cores (each state is independent; a worker writes its outcomes to a JSON file)."""
    guard = recovery_guard()
    workers = min(WORKERS, os.cpu_count() or 1) if hasattr(os, "fork") else 1
    if workers <= 1 or len(states) < 2 * workers:
        return [recover_state(s, scratch / f"s{i}", scenario, guard) for i, s in enumerate(states)]
    pids = []
    for worker in range(workers):
        pid = os.fork()
        if pid == 0:
            _worker(states, scenario, scratch, guard, worker=worker, workers=workers)
        pids.append(pid)
    for worker, pid in enumerate(pids):
        _, status = os.waitpid(pid, 0)
        error = scratch / f"worker-{worker}.err"
        assert os.waitstatus_to_exitcode(status) == 0, (
            error.read_text("utf-8") if error.exists() else f"worker {worker} died"
        )
    outcomes: list[tuple[list[str], bool]] = [([], False)] * len(states)
    for worker in range(workers):
        rows = json.loads((scratch / f"worker-{worker}.json").read_text("utf-8"))
        for index, outcome, own_temps in rows:
            outcomes[index] = (outcome, own_temps)
    return outcomes


def _worker(
    states: list[State],
    scenario: Scenario,
    scratch: Path,
    guard: Guard,
    *,
    worker: int,
    workers: int,
) -> NoReturn:
    """A forked worker: recover its share of the states, write the outcomes, exit."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        rows = []
        for index in range(worker, len(states), workers):
            outcome, own_temps = recover_state(
                states[index], scratch / f"s{index}", scenario, guard
            )
            rows.append([index, outcome, own_temps])
        (scratch / f"worker-{worker}.json").write_text(json.dumps(rows), encoding="utf-8")
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            (scratch / f"worker-{worker}.err").write_text(traceback.format_exc(), "utf-8")
    finally:
        os._exit(code)


def describe_at(recording: Recording, index: int, choice: Choice) -> tuple[Event, list[str]]:
    """The event ``index`` and ``choice`` in words (the model is replayed up to there)."""
    for event, model in recording.replay():
        if event.index == index:
            return event, model.crash_space().describe(choice)
    raise AssertionError(f"no event {index}")


def state_at(recording: Recording, index: int, choice: Choice) -> State:
    """The state ``choice`` leaves after event ``index``."""
    for event, model in recording.replay():
        if event.index == index:
            return model.crash_space().state(choice)
    raise AssertionError(f"no event {index}")


def simulate(
    scenario: Scenario,
    scratch: Path,
    *,
    choices: int = CHOICES,
    points: set[int] | None = None,
) -> Figures:
    """Every crash point of the run (or those in ``points``): the states drawn there,
    each distinct one recovered once, and every draw checked against its point's trees."""
    started = time.monotonic()
    scratch.mkdir(parents=True)
    figures = Figures()
    draws: list[Draw] = []
    states: dict[str, State] = {}  # digest -> state, in the order first drawn
    for event, model in scenario.recording.replay():
        if points is not None and event.index not in points:
            continue
        figures.points += 1
        space = model.crash_space()
        rng = random.Random(f"{SEED}:{scenario.name}:{event.index}")  # noqa: S311 - a sample
        for choice in space.choices(choices, rng):
            state = space.state(choice)
            digest = state.digest
            states.setdefault(digest, state)
            draws.append(Draw(event.index, choice, digest))
    figures.drawn, figures.states = len(draws), len(states)
    results = dict(zip(states, recover_all(list(states.values()), scenario, scratch), strict=True))
    for outcome, own_temps in results.values():
        figures.state_temps += own_temps
        if outcome == ["old"]:
            figures.old += 1
        elif outcome == ["new"]:
            figures.new += 1
        else:
            figures.torn += 1
    where = {digest: scratch / f"s{index}" for index, digest in enumerate(states)}
    for draw in draws:
        outcome, _ = results[draw.digest]
        allowed = scenario.expected(draw.event)
        if outcome in (["old"], ["new"]):
            if outcome[0] in allowed:
                continue
            outcome = [f"recovered to the {outcome[0]} tree"]
        figures.bad += 1
        KEEP.add(scratch)
        if len(figures.failures) >= MAX_REPORTED:
            continue
        kept = scratch / f"failure-{len(figures.failures)}-before-recovery"
        materialise(state_at(scenario.recording, draw.event, draw.choice), kept)
        event, words = describe_at(scenario.recording, draw.event, draw.choice)
        lines = [
            f"{scenario.name}: power loss after {event} (expected the "
            f"{' or '.join(sorted(allowed))} tree)",
            *(f"  choice: {line}" for line in words),
            *(f"  found after recovery: {line}" for line in outcome),
            f"  the state before recovery is in {kept}, after recovery in {where[draw.digest]}"
            " (when it was not the old or new tree)",
        ]
        figures.failures.append("\n".join(lines))
    figures.seconds = time.monotonic() - started
    return figures


def report(name: str, figures: Figures) -> None:
    FIGURES[name] = figures
    print(
        f"\npower loss, {name}: {figures.points} crash points, {figures.drawn} states drawn, "
        f"{figures.states} distinct states recovered ({figures.old} to the old tree, "
        f"{figures.new} to the new one, {figures.torn} torn) in {figures.seconds:.1f}s"
    )
    assert not figures.bad, f"{figures.bad} bad state(s), the first:\n" + "\n\n".join(
        figures.failures
    )


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Where the thousands of states are written: tmpfs when there is one (the states are
    built by the model, so the real disk's durability is not under test)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="agentos-power-loss-", dir=shm))
    yield root
    if not any(kept.is_relative_to(root) for kept in KEEP):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_faults_armed() -> None:
    assert faults.ENV_VAR not in os.environ, "run these tests without AGENTOS_FAULTS set"


# -- the model on its own ----------------------------------------------------------------------


def all_states(recording: Recording, after: int) -> list[State]:
    """Every state a power loss right after event ``after`` may leave (a small record)."""
    for event, model in recording.replay():
        if event.index == after:
            space = model.crash_space()
            assert space.size <= 10_000
            every = space.choices(space.size, random.Random(0))  # noqa: S311 - unused: all drawn
            return [space.state(c) for c in every]
    raise AssertionError(f"no event {after}")


def test_the_model_keeps_only_what_was_made_durable(tmp_path: Path) -> None:
    """An atomic replace without fsyncs may leave an empty or torn file once a later fsync of
    the directory made the rename durable (the classic zero-length file); an fsynced one is
    whole in every state."""
    from agentos import statefs

    root = tmp_path / "disk"
    root.mkdir()
    (root / "f.txt").write_bytes(b"old\n")
    recording = Recording(root)
    with faults.recording_fs(recording):
        statefs.write_atomic(root / "f.txt", b"new contents\n", durable=False)
        statefs.write_atomic(root / "sub" / "g.txt", b"durable\n")
    assert recording.check_against(read_state(root)) == []
    kinds = [e.kind for e in recording.events]
    assert kinds[:3] == ["create", "rename", "mkdir"], kinds
    # Right after the rename: the old file, or the new name with any version of the bytes.
    found = {s.files["f.txt"][0] for s in all_states(recording, 1)}
    assert found == {b"old\n", b"", b"new co", b"new contents\n"}
    # After the directory's fsync (made by ensure_dir), the old bytes are gone for good.
    last = all_states(recording, len(recording.events) - 1)
    assert {s.files["f.txt"][0] for s in last} == {b"", b"new co", b"new contents\n"}
    assert {s.files["sub/g.txt"] for s in last} == {(b"durable\n", 0o644)}


def test_the_model_lets_a_rename_between_directories_persist_on_either_side(
    tmp_path: Path,
) -> None:
    """The two directories persist independently: the file may end under both names or none
    (weaker than ext4 promises, deliberately)."""
    from agentos import statefs

    root = tmp_path / "disk"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
    (root / "a" / "x").write_bytes(b"x\n")
    recording = Recording(root)
    with faults.recording_fs(recording):
        statefs.rename(root / "a" / "x", root / "b" / "x")
    found = {("a/x" in s.files, "b/x" in s.files) for s in all_states(recording, 0)}
    assert found == {(True, False), (False, True), (True, True), (False, False)}


def test_a_directory_whose_entry_is_lost_takes_its_subtree(tmp_path: Path) -> None:
    """A folder whose own entry was never made durable is gone after a power loss, with
    whatever was durably written inside it."""
    from agentos import statefs

    root = tmp_path / "disk"
    root.mkdir()
    recording = Recording(root)
    with faults.recording_fs(recording):
        statefs.ensure_dir(root / "d")  # mkdir d, fsync of the root: d is durable
        # Made and reported the way fsops makes a folder: durable only once its parent (d) is
        # fsynced, which never happens here.
        (root / "d" / "e").mkdir()
        faults.fs_event("mkdir", root / "d" / "e", 0o755)
        statefs.write_atomic(root / "d" / "e" / "f", b"f\n")  # fsyncs f and d/e, not d
    last = all_states(recording, len(recording.events) - 1)
    layouts = {(frozenset(s.dirs), frozenset(s.files)) for s in last}
    assert layouts == {
        (frozenset({"d"}), frozenset()),
        (frozenset({"d", "d/e"}), frozenset({"d/e/f"})),
    }


def test_the_self_check_names_an_unreported_write(tmp_path: Path) -> None:
    """A write that escapes the record is caught and named (this is how a missing
    ``fs_event`` in agentos would show)."""
    from agentos import statefs

    root = tmp_path / "disk"
    root.mkdir()
    recording = Recording(root)
    with faults.recording_fs(recording):
        statefs.write_atomic(root / "a", b"a\n")
        (root / "b").write_bytes(b"behind the recorder's back\n")
        (root / "a").chmod(0o600)
    assert recording.check_against(read_state(root)) == [
        "file b is on disk but was never reported (create or rename)",
        "file a: mode 600 on disk, 644 in the model (a chmod was never reported)",
    ]


# -- the runs ----------------------------------------------------------------------------------


def test_the_runs_use_full_durability() -> None:
    assert load_policy(PERMISSIVE_POLICY).policy.executor.durability == "full"


def test_power_loss_during_an_apply(scratch: Path) -> None:
    ws = new_workspace(scratch / "run")
    recording, code, out, err = recorded(ws, *apply_argv(ws))
    assert code == 0, out + err
    assert result_of(out)["status"] == "committed"
    scenario = scenario_of("apply", recording, ws)
    files, _ = scenario.new
    assert {p: (data, bool(mode & 0o100)) for p, (data, mode) in files.items()} == NEW_CONTENTS
    assert scenario.commit is not None and scenario.commit_durable is not None
    figures = simulate(scenario, scratch / "states")
    report("apply", figures)
    assert figures.old > 0 and figures.new > 0


def test_power_loss_during_an_apply_that_fails_and_rolls_back(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = new_workspace(scratch / "run")
    faults.reset_hits()
    monkeypatch.setenv(faults.ENV_VAR, "commit.before=eio")
    try:
        recording, code, out, err = recorded(ws, *apply_argv(ws))
    finally:
        monkeypatch.delenv(faults.ENV_VAR)
        faults.reset_hits()
    assert code == 1, out + err
    assert result_of(out)["status"] == "rolled_back"
    scenario = scenario_of("failed apply", recording, ws)
    assert scenario.new == scenario.old
    assert scenario.commit is None
    assert any(
        e.kind == "rename" and not e.paths[1].startswith(".agentos") for e in recording.events
    )
    figures = simulate(scenario, scratch / "states")
    report("failed apply", figures)
    assert figures.new == 0


def test_power_loss_during_a_rollback(scratch: Path) -> None:
    ws = new_workspace(scratch / "run")
    original = read_state(ws).workspace()
    code, out, err = run_here(*apply_argv(ws))
    assert code == 0, out + err
    execution_id = result_of(out)["execution_id"]
    assert isinstance(execution_id, str)
    argv: list[str | Path] = [
        "rollback",
        execution_id,
        "-C",
        ws,
        "--json",
        "--policy",
        PERMISSIVE_POLICY,
    ]
    recording, code, out, err = recorded(ws, *argv)
    assert code == 0, out + err
    scenario = scenario_of("rollback", recording, ws)
    assert scenario.new == original
    assert scenario.commit is not None and scenario.commit_durable is not None
    figures = simulate(scenario, scratch / "states")
    report("rollback", figures)
    assert figures.old > 0 and figures.new > 0


def test_without_fsyncs_the_simulation_finds_torn_states(scratch: Path) -> None:
    """The simulation has teeth: with ``durability: none`` a power loss must be able to tear
    the workspace, and the sweep must say so."""
    policy = scratch / "no-fsync.yaml"
    text = PERMISSIVE_POLICY.read_text(encoding="utf-8")
    assert "\nexecutor:\n" in text
    policy.write_text(text.replace("\nexecutor:\n", "\nexecutor:\n  durability: none\n"))
    assert load_policy(policy).policy.executor.durability == "none"
    ws = new_workspace(scratch / "run")
    recording, code, out, err = recorded(ws, *apply_argv(ws, policy))
    assert code == 0, out + err
    scenario = scenario_of("no fsync", recording, ws)
    # The crash points right after each workspace file was renamed into place.
    renames = {
        e.index
        for e in recording.events
        if e.kind == "rename" and not e.paths[1].startswith(".agentos")
    }
    figures = simulate(scenario, scratch / "states", choices=4, points=renames)
    assert figures.bad and figures.failures, "no torn state found although nothing was fsynced"
    KEEP.discard(scratch / "states")  # expected: nothing to inspect
    print(f"\nwithout fsyncs, after {figures.states} states:\n{figures.failures[0]}")


def test_power_loss_figures() -> None:
    """The figures for docs/reliability.md (printed with ``-s``)."""
    runs = ("apply", "failed apply", "rollback")
    if any(name not in FIGURES for name in runs):
        pytest.skip("the runs did not all run in this session")
    total = {
        key: sum(getattr(FIGURES[n], key) for n in runs)
        for key in ("points", "drawn", "states", "old", "new", "torn", "state_temps")
    }
    seconds = sum(FIGURES[n].seconds for n in runs)
    print(
        f"\npower loss, all runs: {total['points']} crash points, {total['drawn']} states drawn, "
        f"{total['states']} distinct states recovered ({total['old']} old, {total['new']} new, "
        f"{total['torn']} torn) in {seconds:.1f}s; {total['state_temps']} left a temp file of "
        "agentos's own under .agentos/"
    )
    assert total["torn"] == 0
    for name in runs:
        assert FIGURES[name].points == CRASH_POINTS[name], (name, FIGURES[name].points)
        assert FIGURES[name].states >= MIN_STATES[name], (name, FIGURES[name].states)
