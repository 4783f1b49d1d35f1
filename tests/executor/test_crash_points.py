"""Crash at every step (SPEC §12): the acceptance test of the executor's crash safety.

One changeset does everything a plan can do (creates in new nested folders, edits, a deletion
that empties folders, a rename with an edit, mode changes both ways). One traced apply
(``AGENTOS_FAULTS_TRACE``) enumerates every fault point it reaches; the apply is then killed at
each of them in turn (``AGENTOS_FAULTS=name=crash@k``, ``os._exit(137)``), ``agentos recover``
runs, and the workspace must be byte- and mode-identical to the old tree (crash before the
commit point) or the new tree (after it), with the same directories and no temp file; the audit
trail must verify; applying the plan again must finish with the new tree. Then recovery itself
is killed at each of its points, and a second recovery must still restore the right tree.

The states are shared between two forked workers. A run that is to be killed is a fork of its
worker calling the CLI entry point with the fault armed (the imports are paid once); recovery
and the checks run the CLI inside the worker, another process than the one that died.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from agentos import faults
from agentos.cli.entry import main
from helpers import PERMISSIVE_POLICY, run_here, write_tree

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the sweep forks"),
    pytest.mark.file_store(
        "replays one workspace in many copies (a crash at each step); with a shared store the "
        "copies would share one plan's records"
    ),
]

T = TypeVar("T")
Row = dict[str, Any]

PLAN_ID = "crash-all"
CRASH = faults.CRASH_EXIT_CODE
CHILD_BROKE = 99  # the forked child raised instead of returning an exit code (a test bug)
WORKERS = 2
STATE = ".agentos"
TEMP_PREFIX = ".agentos-"
# Floors for the figures: the sweep must not silently shrink.
MIN_APPLY_STATES = 120
MIN_RECOVERY_STATES = 500
# How many apply states between the first workspace write and the commit point are sampled
# evenly (besides the first of each kind of change) for the crash-during-recovery sweep.
RECOVERY_SPREAD = 6
COUNTS: dict[str, int] = {}

OLD_FILES: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "README.md": "readme\n",
    ".hidden": "dot file, untouched\n",
    "docs/keep.txt": "untouched\n",
    "src/main.py": "print('v1')\n",
    "src/tool.sh": "#!/bin/sh\necho tool\n",
    "src/pkg/mv.txt": "move me\nand edit me\n",
    "bin/run.sh": ("#!/bin/sh\necho run v1\n", "100755"),
    "bin/plain.sh": ("#!/bin/sh\necho plain\n", "100755"),
    "legacy/sub/only.txt": "the only file of legacy/\n",
}
MANIFEST = """\
changes:
  - {op: create, path: src/new/deep/a.txt, content: "alpha\\n"}
  - {op: create, path: src/new/deep/run.sh, content: "#!/bin/sh\\necho deep\\n", mode: "100755"}
  - {op: create, path: src/new/c.txt, content: "gamma\\n"}
  - {op: create, path: top.txt, content: "top\\n"}
  - {op: modify, path: src/main.py, content: "print('v2')\\n"}
  - {op: modify, path: src/tool.sh, content: "#!/bin/sh\\necho tool\\n", mode: "100755"}
  - {op: modify, path: bin/run.sh, content: "#!/bin/sh\\necho run v2\\n", mode: "100644"}
  - {op: modify, path: bin/plain.sh, content: "#!/bin/sh\\necho plain\\n", mode: "100644"}
  - {op: delete, path: legacy/sub/only.txt}
  - {op: rename, from: src/pkg/mv.txt, path: src/moved.txt, content: "moved\\nand edited\\n"}
"""
# What the new tree must hold, written independently of the executor: contents, executable or
# not; and the directories.
NEW_CONTENTS: dict[str, tuple[bytes, bool]] = {
    "README.md": (b"readme\n", False),
    ".hidden": (b"dot file, untouched\n", False),
    "docs/keep.txt": (b"untouched\n", False),
    "src/main.py": (b"print('v2')\n", False),
    "src/tool.sh": (b"#!/bin/sh\necho tool\n", True),
    "src/moved.txt": (b"moved\nand edited\n", False),
    "src/new/deep/a.txt": (b"alpha\n", False),
    "src/new/deep/run.sh": (b"#!/bin/sh\necho deep\n", True),
    "src/new/c.txt": (b"gamma\n", False),
    "top.txt": (b"top\n", False),
    "bin/run.sh": (b"#!/bin/sh\necho run v2\n", False),
    "bin/plain.sh": (b"#!/bin/sh\necho plain\n", False),
}
OLD_DIRS = {"bin", "docs", "legacy", "legacy/sub", "src", "src/pkg"}
NEW_DIRS = {"bin", "docs", "src", "src/new", "src/new/deep"}
# Every kind of step SPEC §12 names must be among the points the apply reaches.
POINT_FAMILIES = (
    "fsops.write.",
    "fsops.fsync.",
    "fsops.replace.",
    "fsops.unlink.",
    "fsops.mkdir.",
    "fsops.rmdir.",
    "backup.write.",
    "backup.fsync.",
    "journal.write.",
    "journal.archive.",
    "commit.",
    "idempotency.write.",
    "execution.write.",
    "audit.append.",
    "audit.head.",
)


# -- trees -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """The workspace outside ``.agentos/``: each file's bytes and permission bits, each dir."""

    files: dict[str, tuple[bytes, int]]
    dirs: frozenset[str]


def snapshot(root: Path) -> Tree:
    """Read the workspace (a symlink or other non-file shows up with mode -1)."""
    files: dict[str, tuple[bytes, int]] = {}
    dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if not rel.parts:
            dirnames[:] = [d for d in dirnames if d != STATE]
        dirs.update((rel / d).as_posix() for d in dirnames)
        for name in filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            key = (rel / name).as_posix()
            if stat.S_ISREG(info.st_mode):
                files[key] = (path.read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                files[key] = (b"", -1)
    return Tree(files, frozenset(dirs))


def difference(actual: Tree, expected: Tree) -> str | None:
    """None when equal; otherwise what differs, path by path."""
    problems = [f"missing {p}" for p in sorted(expected.files.keys() - actual.files.keys())]
    problems += [f"unexpected {p}" for p in sorted(actual.files.keys() - expected.files.keys())]
    for path in sorted(actual.files.keys() & expected.files.keys()):
        (data, mode), (want_data, want_mode) = actual.files[path], expected.files[path]
        if data != want_data:
            problems.append(f"{path}: bytes {data!r} != {want_data!r}")
        if mode != want_mode:
            problems.append(f"{path}: mode {mode:o} != {want_mode:o}")
    problems += [f"missing dir {d}" for d in sorted(expected.dirs - actual.dirs)]
    problems += [f"unexpected dir {d}" for d in sorted(actual.dirs - expected.dirs)]
    return "; ".join(problems) or None


def leftovers(tree: Tree) -> list[str]:
    """Temp files of the executor (or any ``*.tmp``) in the workspace outside ``.agentos/``."""
    return sorted(
        p for p in tree.files if Path(p).name.startswith(TEMP_PREFIX) or p.endswith(".tmp")
    )


def active_journals(ws: Path) -> list[str]:
    """Journals recovery would still act on (hot, or committed and not archived)."""
    return sorted(p.name for p in (ws / STATE / "journal").glob("*.json"))


# -- running the CLI -------------------------------------------------------------------------


def run_forked(
    *argv: str | Path, fault: str | None = None, trace: Path | None = None, out: Path | None = None
) -> int:
    """Run the CLI in a forked child (faults armed there only) and return its exit code.

    The child's stdout goes to ``out`` (stderr beside it, ``.err``) or /dev/null, and it ends
    with ``os._exit``: pytest's streams, atexit handlers and buffers are never touched.
    """
    args = [str(a) for a in argv]
    pid = os.fork()
    if pid == 0:
        _child(args, fault, trace, out)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _child(args: list[str], fault: str | None, trace: Path | None, out: Path | None) -> NoReturn:
    code = CHILD_BROKE
    try:
        null = os.open(os.devnull, os.O_RDWR)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        stdout = os.open(out, flags, 0o644) if out else null
        stderr = os.open(out.with_name(out.name + ".err"), flags, 0o644) if out else null
        for source, target in ((null, 0), (stdout, 1), (stderr, 2)):
            os.dup2(source, target)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        os.environ.pop(faults.ENV_VAR, None)
        os.environ.pop(faults.TRACE_VAR, None)
        if fault is not None:
            os.environ[faults.ENV_VAR] = fault
        if trace is not None:
            os.environ[faults.TRACE_VAR] = str(trace)
        faults.reset_hits()
        code = main(args)
    except BaseException:
        with contextlib.suppress(BaseException):
            sys.stderr.write(traceback.format_exc())
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def in_workers(items: Sequence[T], job: Callable[[T, Path], Row], scratch: Path) -> list[Row]:
    """``job(item, work_dir)`` for every item, spread over forked workers; rows in item order.

    A job that raises gives a row with ``error`` (its traceback) instead of failing silently.
    A work dir is removed when its row reports no problem, kept for inspection otherwise.
    """
    pids = []
    for worker in range(WORKERS):
        results = scratch / f"worker-{worker}.jsonl"
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                with results.open("w", encoding="utf-8") as handle:
                    for index in range(worker, len(items), WORKERS):
                        work = scratch / f"item-{index}"
                        work.mkdir()
                        try:
                            row = job(items[index], work)
                        except Exception:
                            row = {"error": traceback.format_exc()}
                        row["item"] = index
                        handle.write(json.dumps(row) + "\n")
                        handle.flush()
                        if not row.get("error") and not row.get("problems"):
                            shutil.rmtree(work, ignore_errors=True)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "a worker died; see its results file"
    rows: list[Row] = []
    for worker in range(WORKERS):
        lines = (scratch / f"worker-{worker}.jsonl").read_text("utf-8").splitlines()
        rows.extend(json.loads(line) for line in lines)
    rows.sort(key=lambda r: int(r["item"]))
    assert len(rows) == len(items), f"{len(items) - len(rows)} item(s) never reported"
    return rows


def apply_argv(ws: Path) -> list[str | Path]:
    return ["apply", PLAN_ID, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json"]


def recover_argv(ws: Path) -> list[str | Path]:
    # Recovery writes under the current policy's path rules: the one the apply ran under.
    return ["recover", "-C", ws, "--json", "--lock-timeout", "30", "--policy", PERMISSIVE_POLICY]


def json_result(stdout: str) -> dict[str, Any]:
    """The ``result`` of a ``--json`` run's envelope (empty when stdout held none)."""
    try:
        document = json.loads(stdout)
    except ValueError:
        return {}
    result = document.get("result") if isinstance(document, dict) else None
    return result if isinstance(result, dict) else {}


def copy_workspace(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


# -- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """The ``hit``-th time the run reached fault point ``name``, at ``index`` in the trace."""

    name: str
    hit: int
    index: int

    @property
    def label(self) -> str:
        return f"{self.name}@{self.hit}"

    @property
    def fault(self) -> str:
        return f"{self.name}=crash@{self.hit}"


def points_of(trace: list[str]) -> list[Point]:
    """Every crash state of a traced run: each point reached, numbered per name."""
    hits: dict[str, int] = {}
    points = []
    for index, name in enumerate(trace):
        hits[name] = hits.get(name, 0) + 1
        points.append(Point(name, hits[name], index))
    return points


def read_trace(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines() if path.exists() else []


@dataclass(frozen=True)
class Scenario:
    """The template workspace (old tree and its plan), both trees, and the traced apply."""

    template: Path
    old: Tree
    new: Tree
    points: list[Point]
    committed_from: int  # trace index from which a crash leaves the new tree
    first_write: int  # trace index of the first point inside a workspace write
    execution_id: str
    scratch: Path

    def expected(self, point: Point) -> str:
        return "new" if point.index >= self.committed_from else "old"

    def after_commit(self, first: str, last: str) -> set[str]:
        """Labels of the states after the commit point from the first ``first`` point to the
        first ``last`` point after it (both included)."""
        later = [p for p in self.points if p.index >= self.committed_from]
        start = next(i for i, p in enumerate(later) if p.name == first)
        end = next(i for i, p in enumerate(later) if i >= start and p.name == last)
        return {p.label for p in later[start : end + 1]}

    def tree(self, which: str) -> Tree:
        return self.new if which == "new" else self.old


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the hundreds of workspaces live: tmpfs when there is one.

    The crashes are process deaths, not power cuts, so what an fsync makes durable is not under
    test here (every fsync call and its fault points still run); on tmpfs they cost nothing.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("crash-points")
        return
    root = Path(tempfile.mkdtemp(prefix="agentos-crash-points-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def scenario(scratch_root: Path) -> Scenario:
    assert faults.ENV_VAR not in os.environ, "run this test without AGENTOS_FAULTS set"
    root = scratch_root
    template = root / "template"
    write_tree(template, OLD_FILES)
    manifest = root / "changes.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    code, out, err = run_here(
        "plan", manifest, "-C", template, "--plan-id", PLAN_ID, "--policy", PERMISSIVE_POLICY
    )
    assert code == 0, out + err
    old = snapshot(template)

    # A clean apply in this process: the new tree, and every module the forks will need.
    reference = copy_workspace(template, root / "reference")
    code, out, err = run_here(*apply_argv(reference))
    assert code == 0, out + err
    execution_id = json.loads(out)["result"]["execution_id"]
    for argv in (
        ["audit", "verify"],
        ["recover", "--policy", PERMISSIVE_POLICY],
        ["history", "--json"],
        ["status"],
    ):
        code, out, err = run_here(*argv, "-C", reference)
        assert code == 0, out + err
    new = snapshot(reference)

    traced = copy_workspace(template, root / "traced")
    assert run_forked(*apply_argv(traced), trace=root / "apply.trace") == 0
    assert difference(snapshot(traced), new) is None
    trace = read_trace(root / "apply.trace")
    commit = trace.index("commit.after")
    # The commit point is the atomic journal write just before ``commit.after``: once it has
    # returned (``journal.write.after``) the journal says committed and recovery rolls forward.
    assert trace[commit - 2 : commit] == ["journal.write.before", "journal.write.after"]
    first_write = next(i for i, name in enumerate(trace) if name.startswith("fsops."))
    scratch = root / "runs"
    scratch.mkdir()
    return Scenario(
        template=template,
        old=old,
        new=new,
        points=points_of(trace),
        committed_from=commit - 1,
        first_write=first_write,
        execution_id=execution_id,
        scratch=scratch,
    )


def test_the_changeset_exercises_every_kind_of_step(scenario: Scenario) -> None:
    """The sweep is only as good as its changeset: check both trees and the points reached."""
    old, new = scenario.old, scenario.new
    assert set(old.files) == set(OLD_FILES)
    assert old.dirs == OLD_DIRS
    assert old.files["src/tool.sh"][1] & 0o111 == 0
    assert old.files["bin/run.sh"][1] & 0o111 == 0o111
    assert {p: (data, bool(mode & 0o100)) for p, (data, mode) in new.files.items()} == NEW_CONTENTS
    assert new.dirs == NEW_DIRS
    names = {p.name for p in scenario.points}
    missing = [f for f in POINT_FAMILIES if not any(n.startswith(f) for n in names)]
    assert not missing, f"the apply never reached {missing}"
    assert scenario.first_write < scenario.committed_from < len(scenario.points)


# -- crash at every step of the apply --------------------------------------------------------


def crash_apply(scenario: Scenario, point: Point, work: Path) -> Row:
    """Kill the apply at ``point``, recover, check; apply again, check.

    Only the killed apply is a fork; the rest runs in the worker, which is another process.
    """
    ws = copy_workspace(scenario.template, work / "ws")
    expect = scenario.expected(point)
    row: Row = {"point": point.label, "index": point.index, "expect": expect}
    row["crash"] = run_forked(*apply_argv(ws), fault=point.fault, out=work / "crash.out")
    row["recover"] = run_here(*recover_argv(ws))[0]
    tree = snapshot(ws)
    row["tree"] = difference(tree, scenario.tree(expect))
    row["temps"] = leftovers(tree)
    row["journals"] = active_journals(ws)
    row["verify"], out, _ = run_here("audit", "verify", "-C", ws, "--json")
    row["verify_warnings"] = json_result(out).get("warnings", [])
    row["apply"], out, _ = run_here(*apply_argv(ws))
    row["apply_status"] = json_result(out).get("status")
    row["tree_after_apply"] = difference(snapshot(ws), scenario.new)
    row["verify_after_apply"], out, _ = run_here("audit", "verify", "-C", ws, "--json")
    row["verify_after_apply_warnings"] = json_result(out).get("warnings", [])
    _, out, _ = run_here("history", "-C", ws, "--json", "--limit", "0")
    executions = json_result(out).get("executions", [])
    row["history"] = next(
        (e["status"] for e in executions if e["execution_id"] == scenario.execution_id), None
    )
    row["problems"] = apply_problems(row)
    return row


def apply_problems(row: Row) -> list[str]:
    """What is wrong with one crash state (empty when it recovered as SPEC §12 demands)."""
    problems = []
    if row["crash"] != CRASH:
        problems.append(f"the apply exited {row['crash']}, not {CRASH}")
    if row["recover"] != 0:
        problems.append(f"recover exited {row['recover']}")
    if row["tree"]:
        problems.append(f"not the {row['expect']} tree: {row['tree']}")
    if row["temps"]:
        problems.append(f"temp files left: {row['temps']}")
    if row["journals"]:
        problems.append(f"journals still active: {row['journals']}")
    return problems


@pytest.fixture(scope="module")
def apply_sweep(scenario: Scenario) -> list[Row]:
    scratch = scenario.scratch / "apply"
    scratch.mkdir()
    rows = in_workers(scenario.points, lambda p, w: crash_apply(scenario, p, w), scratch)
    COUNTS["apply"] = len(rows)
    return rows


def failures(rows: list[Row], check: Callable[[Row], list[str]]) -> str:
    """One line per failing state, or the empty string."""
    lines = []
    for row in rows:
        if row.get("error"):
            lines.append(f"item {row['item']}: the test itself raised:\n{row['error']}")
            continue
        problems = check(row)
        if problems:
            lines.append(f"{row['point']} (expect {row['expect']}): {'; '.join(problems)}")
    return "\n".join(lines)


def test_crash_at_every_apply_step_recovers_the_old_or_new_tree(
    scenario: Scenario, apply_sweep: list[Row]
) -> None:
    report = failures(apply_sweep, lambda row: row["problems"])
    assert not report, f"{report.count(chr(10)) + 1} crash state(s) failed:\n{report}"
    assert len(apply_sweep) == len(scenario.points) >= MIN_APPLY_STATES
    new = sum(row["expect"] == "new" for row in apply_sweep)
    print(
        f"\ncrash at every apply step: {len(apply_sweep)} states "
        f"({len(apply_sweep) - new} recovered to the old tree, {new} to the new tree)"
    )


def test_the_audit_trail_verifies_after_every_crash(apply_sweep: list[Row]) -> None:
    def check(row: Row) -> list[str]:
        problems = []
        if row["verify"] != 0:
            problems.append(f"audit verify after recovery exited {row['verify']}")
        if row["verify_after_apply"] != 0:
            problems.append(f"audit verify after the next apply exited {row['verify_after_apply']}")
        if row["verify_after_apply_warnings"]:
            # The next append repairs what an interrupted one left.
            problems.append(
                f"still warned after the next apply: {row['verify_after_apply_warnings']}"
            )
        return problems

    report = failures(apply_sweep, check)
    assert not report, report
    # A crash between an event's append and its HEAD update is reported, not an error; the
    # sweep does reach that state (the states right after ``audit.append.after``).
    assert any(row["verify_warnings"] for row in apply_sweep)


def test_applying_again_after_every_crash_gives_the_new_tree(apply_sweep: list[Row]) -> None:
    def check(row: Row) -> list[str]:
        want = "already_applied" if row["expect"] == "new" else "committed"
        problems = []
        if (row["apply"], row["apply_status"]) != (0, want):
            problems.append(f"apply again: exit {row['apply']}, {row['apply_status']}, not {want}")
        if row["tree_after_apply"]:
            problems.append(f"after applying again: {row['tree_after_apply']}")
        return problems

    report = failures(apply_sweep, check)
    assert not report, report


# After the commit point, recovery takes the idempotency record as the sign that every record
# was written, so ``_commit_records`` writes it last: a crash between the execution summary
# and the idempotency record must still end with the commit in the trail and a rollback that
# marks the parent reverted. Those states get their own tests below.


def history_check(row: Row) -> list[str]:
    return [] if row["history"] == "committed" else [f"history says {row['history']}"]


def test_history_tells_the_execution_committed_after_every_crash(
    scenario: Scenario, apply_sweep: list[Row]
) -> None:
    """``history`` folds the trail: whatever the crash, once applied the execution is committed."""
    report = failures(apply_sweep, history_check)
    assert not report, report


def test_history_after_a_crash_between_the_commit_records(
    scenario: Scenario, apply_sweep: list[Row]
) -> None:
    known = scenario.after_commit("execution.write.before", "idempotency.write.before")
    rows = [r for r in apply_sweep if r.get("point") in known]
    assert len(rows) == len(known) >= 3
    report = failures(rows, history_check)
    assert not report, report


def rollback_after_commit(scenario: Scenario, point: Point, work: Path) -> Row:
    """Kill the apply after its commit point, recover, roll it back, apply it again."""
    ws = copy_workspace(scenario.template, work / "ws")
    row: Row = {"point": point.label, "index": point.index, "expect": "new"}
    row["crash"] = run_forked(*apply_argv(ws), fault=point.fault)
    row["recover"] = run_here(*recover_argv(ws))[0]
    argv: list[str | Path] = ["rollback", scenario.execution_id, "-C", ws, "--json"]
    code, out, _ = run_here(*argv, "--policy", PERMISSIVE_POLICY)
    row["rollback"] = (code, json_result(out).get("status"))
    row["rolled_back_tree"] = difference(snapshot(ws), scenario.old)
    code, out, _ = run_here(*apply_argv(ws))
    row["apply"] = (code, json_result(out).get("status"))
    row["tree"] = difference(snapshot(ws), scenario.new)
    problems = []
    if row["crash"] != CRASH or row["recover"] != 0:
        problems.append(f"crash exited {row['crash']}, recover {row['recover']}")
    if row["rollback"] != (0, "committed") or row["rolled_back_tree"]:
        problems.append(f"rollback: {row['rollback']}, {row['rolled_back_tree']}")
    if row["apply"] != (0, "committed") or row["tree"]:
        problems.append(f"apply after the rollback: {row['apply']}, {row['tree']}")
    row["problems"] = problems
    return row


@pytest.fixture(scope="module")
def rollback_sweep(scenario: Scenario) -> list[Row]:
    scratch = scenario.scratch / "rollback"
    scratch.mkdir()
    forward = [p for p in scenario.points if p.index >= scenario.committed_from]
    return in_workers(forward, lambda p, w: rollback_after_commit(scenario, p, w), scratch)


def test_a_recovered_commit_can_be_rolled_back_and_applied_again(
    scenario: Scenario, rollback_sweep: list[Row]
) -> None:
    """After a crash past the commit point, the execution is an ordinary committed one."""
    report = failures(rollback_sweep, lambda r: r["problems"])
    assert not report, report


def test_rollback_after_a_crash_between_the_commit_records(
    scenario: Scenario, rollback_sweep: list[Row]
) -> None:
    known = scenario.after_commit("execution.write.before", "idempotency.write.before")
    rows = [r for r in rollback_sweep if r.get("point") in known]
    assert len(rows) == len(known) >= 2
    report = failures(rows, lambda r: r["problems"])
    assert not report, report


# -- crash during recovery -------------------------------------------------------------------


def recovery_targets(scenario: Scenario) -> list[Point]:
    """Apply states whose recovery is killed at every point.

    Between the first workspace write and the commit point (hot journals, rolled back): an even
    spread, the first state after each kind of workspace change (a folder made, a file
    renamed into place, a file unlinked, a folder removed) and the last state (everything
    written). Before them, the first state with a journal and nothing written; after the commit
    point, every state (the commit is rolled forward).
    """
    points = scenario.points
    rollbacks = [p for p in points if scenario.first_write <= p.index < scenario.committed_from]
    kinds = ("fsops.mkdir.after", "fsops.replace.after", "fsops.unlink.after", "fsops.rmdir.after")
    firsts = [next(p for p in rollbacks if p.name == kind) for kind in kinds]
    step = max(1, len(rollbacks) // RECOVERY_SPREAD)
    sample = sorted({*rollbacks[::step], *firsts, rollbacks[-1]}, key=lambda p: p.index)
    prepared = [p for p in points[: scenario.first_write] if p.name == "journal.write.after"]
    forward = [p for p in points if p.index >= scenario.committed_from]
    return prepared[:1] + sample + forward


def crash_recovery(scenario: Scenario, point: Point, work: Path) -> Row:
    """Kill the apply at ``point``; then kill its recovery at each point; recover again."""
    expect = scenario.expected(point)
    crashed = copy_workspace(scenario.template, work / "crashed")
    row: Row = {"point": point.label, "index": point.index, "expect": expect, "states": []}
    row["crash"] = run_forked(*apply_argv(crashed), fault=point.fault)
    row["journals_after_crash"] = active_journals(crashed)
    traced = copy_workspace(crashed, work / "traced")
    row["traced_recover"] = run_forked(*recover_argv(traced), trace=work / "recover.trace")
    row["traced_tree"] = difference(snapshot(traced), scenario.tree(expect))
    problems = []
    if row["crash"] != CRASH:
        problems.append(f"the apply exited {row['crash']}, not {CRASH}")
    if row["traced_recover"] != 0 or row["traced_tree"]:
        problems.append(f"traced recovery: exit {row['traced_recover']}, {row['traced_tree']}")
    for sub in points_of(read_trace(work / "recover.trace")):
        ws = copy_workspace(crashed, work / f"r{sub.index}")
        state: Row = {"point": sub.label}
        state["crash"] = run_forked(*recover_argv(ws), fault=sub.fault)
        state["recover"] = run_here(*recover_argv(ws))[0]
        tree = snapshot(ws)
        state["tree"] = difference(tree, scenario.tree(expect))
        state["temps"] = leftovers(tree)
        state["journals"] = active_journals(ws)
        state["verify"] = run_here("audit", "verify", "-C", ws)[0]
        wrong = apply_problems({**state, "expect": expect})
        if state["verify"] != 0:
            wrong.append(f"audit verify exited {state['verify']}")
        if wrong:
            problems.append(f"recovery crash at {sub.label}: {'; '.join(wrong)}")
        else:
            shutil.rmtree(ws)
        row["states"].append(state)
    row["problems"] = problems
    return row


@pytest.fixture(scope="module")
def recovery_sweep(scenario: Scenario) -> list[Row]:
    scratch = scenario.scratch / "recovery"
    scratch.mkdir()
    targets = recovery_targets(scenario)
    rows = in_workers(targets, lambda p, w: crash_recovery(scenario, p, w), scratch)
    COUNTS["recovery_targets"] = len(rows)
    COUNTS["recovery"] = sum(len(row.get("states", [])) for row in rows)
    return rows


def test_crash_during_recovery_then_recover_again(
    scenario: Scenario, recovery_sweep: list[Row]
) -> None:
    report = failures(recovery_sweep, lambda row: row["problems"])
    assert not report, report
    counted = COUNTS["recovery"]
    assert counted >= MIN_RECOVERY_STATES
    # A recovery reaches fault points whenever it has a journal to act on.
    assert all(bool(row["states"]) == bool(row["journals_after_crash"]) for row in recovery_sweep)
    assert all(row["states"] for row in recovery_sweep if row["expect"] == "old")
    rollbacks = sum(row["expect"] == "old" for row in recovery_sweep)
    print(
        f"\ncrash during recovery: {counted} states, in the recoveries of {len(recovery_sweep)} "
        f"apply crash states ({rollbacks} rolled back, {len(recovery_sweep) - rollbacks} "
        "rolled forward)"
    )


def test_crash_state_figures() -> None:
    """The figures for docs/reliability.md (printed with ``-s``)."""
    if "apply" not in COUNTS or "recovery" not in COUNTS:
        pytest.skip("the sweeps did not run in this session")
    total = COUNTS["apply"] + COUNTS["recovery"]
    print(
        f"\ncrash states tested: {COUNTS['apply']} apply + {COUNTS['recovery']} recovery = {total}"
    )
    assert COUNTS["apply"] >= MIN_APPLY_STATES
    assert COUNTS["recovery"] >= MIN_RECOVERY_STATES
